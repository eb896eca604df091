"""`-cl`, `-i NAME` and `-c` errors through sysmon's command line (no capture needed)."""
from __future__ import annotations

from sysmon.cli import main


def test_list_chisels_by_category(capsys):
    assert main(["-cl"]) == 0
    out = capsys.readouterr().out
    assert "Category: Net\n-------------\n" in out and "\ntopconns        Top network connections by total bytes\n" in out
    assert out.endswith("Use the -i flag to get detailed information about a specific chisel\n")


def test_describe_one_chisel(capsys):
    assert main(["-i", "spy_port"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Category: Net\n")
    assert "[int] host_port - the remote host IP port number\n" in out


def test_unknown_chisel_and_bad_arguments_are_user_errors(capsys):
    assert main(["-c", "topfile_bytes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sysmon: chisel 'topfile_bytes' not found (did you mean 'topfiles_bytes'?)")
    assert main(["-c", "fileslower"]) == 1  # min_ms is required: no next word
    assert "needs the argument min_ms" in capsys.readouterr().err


def test_other_writable_chisel_dir_is_refused_with_a_message(tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.py").write_text("from sysmon.chisel.api import Chisel\n\nclass Mine(Chisel):\n    pass\n")
    tmp_path.chmod(0o777)
    monkeypatch.setenv("SYSMON_CHISEL_PATH", str(tmp_path))
    assert main(["-cl"]) == 0
    captured = capsys.readouterr()
    assert f"refusing chisel directory {tmp_path}: it is writable by other users (mode 0777)" in captured.err
    assert "mine" not in captured.out
