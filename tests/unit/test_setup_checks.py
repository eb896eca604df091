"""Start-up checks say what is wrong and how to fix it; the core imports without bcc."""
from __future__ import annotations

import subprocess
import sys

import pytest

from sysmon.errors import ProbeError, SetupError
from sysmon.probe import btf, loader


def test_core_and_cli_import_without_bcc():
    code = "import sys; sys.modules['bcc'] = None; import sysmon.engine, sysmon.cli, sysmon.live; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr


def test_missing_bcc_names_the_debian_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "bcc", None)
    with pytest.raises(SetupError) as e:
        loader.import_bcc()
    assert "not importable" in e.value.message
    assert any("apt-get install python3-bpfcc" in h for h in e.value.hints)


def test_non_root_is_told_to_use_sudo(monkeypatch):
    monkeypatch.setattr(loader.os, "geteuid", lambda: 1000)
    with pytest.raises(SetupError) as e:
        loader.check_privileges()
    assert "needs root" in e.value.message


def test_no_btf_suggests_headers(tmp_path):
    with pytest.raises(SetupError) as e:
        btf.ensure_tree(cache=tmp_path, btf=tmp_path / "missing")
    assert "no BTF" in e.value.message and "linux-headers" in e.value.hints[0]


def test_buffer_size_must_be_power_of_two_pages():
    with pytest.raises(ProbeError):
        loader.ProbeOptions(ringbuf_bytes=3 * 4096).validate()
    loader.ProbeOptions(ringbuf_bytes=64 << 10).validate()


def test_cflags_are_integers_only():
    from pathlib import Path

    from sysmon.probe.kernel import KernelSetup

    setup = KernelSetup("5.10.0-32-amd64", "btf", Path("/tree"), frozenset({"ringbuf", "task_btf"}))
    flags = loader.cflags(loader.ProbeOptions(self_pid=123, snaplen=80), "perf", setup)
    assert "-DSELF_PID=123" in flags and not any("'" in f or '"' in f for f in flags)
    assert {"-DPERF_TRANSPORT", "-DHAVE_TASK_BTF"} <= set(flags) and "-DHAVE_TASK_STORAGE" not in flags


def test_cli_reports_setup_errors_without_traceback(monkeypatch, capsys):
    from sysmon import cli

    monkeypatch.setattr(loader.os, "geteuid", lambda: 1000)
    assert cli.main(["-n", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sysmon: sysmon needs root") and "Traceback" not in err
