"""sysmon's command line prints what sysdig 0.29.3 prints for the same arguments on whole captures: `-j`
(its value types: times as ns, evt.arg.* resolved, fd.num null where the event has no fd), the buffer
modes under `-j`, and `-t`.

Expected outputs: tests/golden/scap/expected-cli/*.txt.gz, one section per case of cli_cases.json, written
by `scripts/gen_scap_golden.py --cli` (runs sysdig; CI only reads them). Lines are compared without
trailing blanks (sysdig ends evt.info with a space in text), blank lines skipped; JSON lines are exact.
`-t d` and the evt.latency fields are left out: libsinsp's latency is the time since the thread's last enter
of any type (switch events leave it alone), sysmon's since the exit's own enter.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from sysmon import cli
from tests.scap_golden import GOLDEN

CASES = json.loads((GOLDEN / "cli_cases.json").read_text())
PAIRS = [(capture, i) for capture in CASES["captures"] for i in range(len(CASES["cases"]))]


def _sysdig(capture: str) -> dict[str, list[str]]:
    """sysdig's lines per case (its arguments as JSON) for one capture."""
    text = gzip.decompress((GOLDEN / "expected-cli" / f"{capture}.txt.gz").read_bytes()).decode(
        "utf-8", "surrogateescape")
    out: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith("### "):
            lines = out.setdefault(line[4:], [])
        elif line.strip():
            lines.append(line.rstrip())
    return out


def test_every_capture_has_every_case() -> None:
    for capture in CASES["captures"]:
        assert list(_sysdig(capture)) == [json.dumps(args) for args in CASES["cases"]], capture


@pytest.mark.parametrize(("capture", "case"), PAIRS, ids=[f"{c}-{i}" for c, i in PAIRS])
def test_cli_output_equals_sysdig(capture: str, case: int, utc_tz: None, capsys: pytest.CaptureFixture[str]) -> None:
    args = CASES["cases"][case]
    assert cli.main(["-r", str(GOLDEN / "captures" / f"{capture}.scap"), *args]) == 0
    got = [line.rstrip() for line in capsys.readouterr().out.split("\n") if line.strip()]
    want = _sysdig(capture)[json.dumps(args)]
    diff = [(n, w, g) for n, (w, g) in enumerate(zip(want, got), 1) if w != g]
    assert not diff and len(got) == len(want), (
        f"{len(diff)} lines differ, {len(got)} lines for sysdig's {len(want)}; first: {diff[:1]}")


def test_relative_time_starts_at_the_capture_not_the_first_shown_event(utc_tz: None,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """-t r counts from the capture's first event block, procinfo events sysdig never shows included."""
    cli.main(["-r", str(GOLDEN / "captures" / "connect_localhost.scap"), "-t", "r", "-n", "1"])
    assert capsys.readouterr().out.split()[:2] == ["184", "0.470393499"]
