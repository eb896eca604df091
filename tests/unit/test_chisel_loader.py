"""Finding chisels: search order, third-party directories, entry points, and refusing unsafe files."""
from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from sysmon.chisel.loader import Loader, builtin_dir, default_dirs
from sysmon.errors import ChiselError
from tests.chisel_harness import run_chisels
from tests.factories import make_event

COUNTER = textwrap.dedent('''
    from sysmon.chisel.api import Chisel, ChiselArg


    class Counter(Chisel):
        name = "{name}"
        description = "Counts events of a type"
        category = "Third party"
        args = (ChiselArg("type", "event type to count"),)

        def on_init(self, ctx):
            ctx.set_filter(f"evt.type={{self.type}}")
            self.n = 0

        def on_event(self, evt):
            self.n += 1

        def on_capture_end(self):
            self.ctx.print(f"{{self.type}}: {{self.n}}")
''')


def _write(directory: Path, name: str, text: str | None = None, mode: int = 0o644) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.py"
    path.write_text(COUNTER.format(name=name) if text is None else text)
    path.chmod(mode)
    return path


def _events():
    return [make_event("getpid", ts_ns=1), make_event("close", ts_ns=2), make_event("getpid", ts_ns=3)]


def test_search_order_starts_with_the_env_path_and_ends_with_the_builtins():
    dirs = default_dirs({"SYSMON_CHISEL_PATH": "/a:/b"})
    assert dirs[:2] == [Path("/a"), Path("/b")]
    assert dirs[-2:] == [Path("/usr/share/sysmon/chisels"), builtin_dir()]
    assert Path("~/.config/sysmon/chisels").expanduser() in dirs
    assert (builtin_dir() / "echo_fds.py").is_file()


def test_third_party_chisel_from_a_directory_is_found_and_runs(tmp_path):
    _write(tmp_path, "counter")
    out, err, _ = run_chisels([("counter", "getpid")], _events(), dirs=[tmp_path])
    assert out == "getpid: 2\n" and err == ""


def test_an_earlier_directory_overrides_a_builtin(tmp_path):
    _write(tmp_path, "topscalls")
    found = Loader([tmp_path, builtin_dir()], entry_points=False).find("topscalls")
    assert found.origin == str(tmp_path / "topscalls.py")


@pytest.mark.parametrize("mode", [0o646, 0o664])
def test_a_chisel_writable_by_others_is_refused(tmp_path, mode):
    path = _write(tmp_path, "counter", mode=mode)
    with pytest.raises(ChiselError, match="writable by other users") as e:
        Loader([tmp_path], entry_points=False).find("counter")
    assert str(path) in e.value.message and e.value.hints == [f"chmod go-w {path}"]
    found, problems = Loader([tmp_path], entry_points=False).all()
    assert found == [] and len(problems) == 1


def test_a_chisel_in_a_directory_writable_by_others_is_refused(tmp_path):
    d = tmp_path / "open"
    _write(d, "counter")
    d.chmod(0o777)
    with pytest.raises(ChiselError, match=f"refusing chisel directory {d}"):
        Loader([d], entry_points=False).find("counter")


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_chisel_owned_by_another_user_is_refused(tmp_path):
    path = _write(tmp_path, "counter")
    os.chown(path, 12345, -1)
    with pytest.raises(ChiselError, match="owned by uid 12345"):
        Loader([tmp_path], entry_points=False).find("counter")


def test_broken_and_misnamed_chisels_are_clear_errors(tmp_path):
    _write(tmp_path, "broken", "raise RuntimeError('boom')\n")
    _write(tmp_path, "other", COUNTER.format(name="different"))
    _write(tmp_path, "empty", "x = 1\n")
    loader = Loader([tmp_path], entry_points=False)
    with pytest.raises(ChiselError, match="failed to load: RuntimeError: boom"):
        loader.find("broken")
    with pytest.raises(ChiselError, match="must be named different.py"):
        loader.find("other")
    with pytest.raises(ChiselError, match="exactly one Chisel subclass, found 0"):
        loader.find("empty")


def test_unknown_chisel_suggests_a_close_name():
    with pytest.raises(ChiselError, match="chisel 'echo_fd' not found") as e:
        Loader([builtin_dir()], entry_points=False).find("echo_fd")
    assert "did you mean 'echo_fds'?" in e.value.hints


def test_entry_point_chisel_is_found_and_runs(tmp_path, monkeypatch):
    (tmp_path / "acme_chisels.py").write_text(COUNTER.format(name="acme_counter"))
    dist = tmp_path / "acme_chisels-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-chisels\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sysmon.chisels]\nacme_counter = acme_chisels:Counter\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = Loader([], entry_points=True).find("acme_counter")
    assert found.origin == "entry point acme_counter (acme_chisels:Counter)"
    out, _, _ = run_chisels([("acme_counter", "close")], _events(), dirs=[], entry_points=True)
    assert out == "close: 1\n"
    sys.modules.pop("acme_chisels", None)
