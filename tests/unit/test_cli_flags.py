"""Flags a sysdig user types: --version, and sysdig options sysmon refuses with a reason (never misread)."""
from __future__ import annotations

import pytest

from sysmon import cli


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["-V"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("sysmon 0.")


@pytest.mark.parametrize("flag", ["-d", "-E", "-R", "-T", "-U", "--page-faults", "--resolve-ports"])
def test_sysdig_options_sysmon_lacks_are_refused_with_a_reason(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([flag, "evt.type=open"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "not supported: " in err and len(err.split("not supported: ")[1].strip()) > 20


def test_help_lists_the_subcommands_and_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for word in ("sysmon daemon", "sysmon status", "sysmon tail", "sysmon seccomp", "examples:"):
        assert word in out
