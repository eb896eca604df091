"""The daemon's configuration and seccomp profiles: any bytes, any JSON/TOML shape, deep nesting.
Loading gives a value or a ConfigError/SeccompError naming the file, never a traceback."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysmon.daemon.config import ConfigError, load
from sysmon.errors import SeccompError
from sysmon.seccomp import profile
from tests.fuzz.harness import NO_SHRINK, bounded

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), phases=NO_SHRINK)
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                          max_size=4), max_leaves=16)
KEYS = ["capture.filter", "capture.snaplen", "capture.buffer_size", "capture.dir", "rotation.size", "rotation.time",
        "retention.max_bytes", "retention.max_age", "capture.compression", "log.level", "control.socket", "x.y"]
TOML_VALUES = ['"100M"', "12", "-1", "true", '"zstd"', '"/tmp/x"', '"proc.name=bash"', "[1, 2]", "{a = 1}",
               '"((((("', "1e400", '"\\u00e9"', '"fd.name regex \'(a+)+\'"']


@SETTINGS
@given(st.one_of(st.binary(max_size=400),
                 st.lists(st.tuples(st.sampled_from(KEYS), st.sampled_from(TOML_VALUES)), max_size=8).map(
                     lambda kv: "\n".join(f"{k} = {v}" for k, v in kv).encode()),
                 st.integers(1, 3000).map(lambda n: b"a = " + b"[" * n + b"]" * n),
                 st.integers(1, 3000).map(lambda n: b"[" + b".".join([b"t"] * n) + b"]\nx = 1")))
def test_daemon_configuration_files(tmp_path_factory, text: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "sysmon.toml"
    path.write_bytes(text)
    with bounded(3.0, 64):
        try:
            load(path)
        except ConfigError as e:
            assert str(path) in e.message or "configuration" in e.message, e.message


@SETTINGS
@given(st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"defaultAction": st.sampled_from(["SCMP_ACT_ERRNO", "SCMP_ACT_ALLOW", 3, ["x"]]),
                           "syscalls": st.one_of(json_values, st.lists(st.fixed_dictionaries(
                               {"names": st.one_of(json_values, st.lists(st.sampled_from(["read", "opne", "write"]))),
                                "action": st.sampled_from(["SCMP_ACT_ALLOW", {"a": 1}, None]),
                                "args": json_values}), max_size=3)),
                           }).map(lambda v: json.dumps(v).encode()),
    st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 5000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)))
def test_seccomp_profiles(tmp_path_factory, text: bytes) -> None:
    path = tmp_path_factory.mktemp("prof") / "profile.json"
    path.write_bytes(text)
    with bounded(3.0, 64):
        try:
            prof = profile.load(str(path))
        except SeccompError as e:
            assert str(path) in e.message, e.message
        else:
            profile.allowed(prof)
            profile.conditional(prof)
            profile.unknown_names(prof)
