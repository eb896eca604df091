"""sysmon's chisels against sysdig 0.29.3's own Lua chisels, on every corpus capture.

Expected outputs: tests/golden/chisel_oracle/expected/*.txt.gz, written by scripts/gen_chisel_golden.py
(`sysdig -r CAPTURE -c CHISEL ARGS`). sysmon runs the same chisel as `sysmon -r CAPTURE -c CHISEL ARGS`
does (the replayed state and events, the chisel runner). Lines are compared without trailing blanks,
ordered as cases.json's "order" says where sysdig's order comes from a Lua hash, and without ANSI
colour codes: sysdig 0.29.3's echo_fds, spy_port, scallslower... call terminal.enable_color(true) at load,
so they colour pipes too, where sysmon colours only a terminal (removed on both sides: some data holds
colour codes of its own). Every line that still differs is listed with a reason in
tests/golden/chisel_oracle/known_differences.tsv (tests/allowlist.py).

Terminal-only chisels (cases.json's "tty": spectrogram) are compared with sysdig run on a pseudo-terminal
(expected_tty/, `gen_chisel_golden.py --tty`): colours and cursor moves kept, each row's cells shown as
`[column:fg/bg char]` for the non-blank ones; differing lines are in known_differences_tty.tsv.
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from sysmon.chisel.api import RunOptions
from sysmon.scap.reader import open_scap
from tests.allowlist import Allowlist, differences
from tests.chisel_harness import run_chisels

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
ORACLE = GOLDEN / "chisel_oracle"
KNOWN = ORACLE / "known_differences.tsv"
KNOWN_TTY = ORACLE / "known_differences_tty.tsv"
CAPTURES = sorted((GOLDEN / "scap" / "captures").glob("*.scap"))
CASES = json.loads((ORACLE / "cases.json").read_text())
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL = re.compile(r"\x1b\[38;5;(\d+)m\x1b\[48;5;(\d+)m(.)", re.S)  # one spectrogram cell: fg, bg, character
pytestmark = pytest.mark.usefixtures("utc_tz")


def _expected(stem: str) -> dict[str, list[str]]:
    text = gzip.decompress((ORACLE / "expected" / f"{stem}.txt.gz").read_bytes()).decode("utf-8", "surrogateescape")
    out: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith("### "):
            lines = out.setdefault(line[4:], [])
        elif ANSI.sub("", line).strip():
            lines.append(ANSI.sub("", line).rstrip())
    return out


def _expected_tty(stem: str) -> dict[str, list[str]]:
    text = gzip.decompress((ORACLE / "expected_tty" / f"{stem}.txt.gz").read_bytes()).decode("utf-8")
    out: dict[str, list[str]] = {}
    for part in text.split("### ")[1:]:
        name, _, body = part.partition("\n")
        out[name] = [cells(line) for line in body.replace("\r", "").split("\n")]
    return out


def cells(line: str) -> str:
    """A terminal row with its cells numbered: `[column:fg/bg char]` for a non-blank one, '' for a blank."""
    column = 0

    def one(m: re.Match[str]) -> str:
        nonlocal column
        column += 1
        return "" if m.group(0) == "\x1b[38;5;0m\x1b[48;5;0m " else f"[{column}:{m[1]}/{m[2]} {m[3]}]"

    return CELL.sub(one, line)


def ordered(lines: list[str], rule: str | None) -> list[str]:
    """`lines` in a canonical order: 'unordered' sorts them all but the header, 'ties' sorts each run
    of lines with the same first column (a top table's value), 'ties_last' each run with the same last
    tab-separated column (fdcount_by's `key<TAB>count`)."""
    if rule == "unordered":
        return lines[:1] + sorted(lines[1:])
    if rule not in ("ties", "ties_last"):
        return lines

    def value(line: str) -> str:
        return line.split(" ", 1)[0] if rule == "ties" else line.rsplit("\t", 1)[-1]

    out: list[str] = []
    run: list[str] = []
    for line in lines:
        if run and value(line) != value(run[0]):
            out += sorted(run)
            run = []
        run.append(line)
    return out + sorted(run)


def _sysmon(capture: Path, chisel: list[str]) -> list[str]:
    cap = open_scap(capture)
    cap.internal = True  # as `sysmon -r CAPTURE -c CHISEL` (replay.py): chisels see procinfo events
    try:
        out, err, _ = run_chisels([(chisel[0], " ".join(chisel[1:]) or None)], cap.events(), cap.state)
    finally:
        cap.close()
    return [ANSI.sub("", line).rstrip() for line in out.split("\n") if ANSI.sub("", line).strip()]


def test_ordered() -> None:
    assert ordered(["h", "2 b", "2 a", "1 c"], "ties") == ["h", "2 a", "2 b", "1 c"]
    assert ordered(["h", "b", "a"], "unordered") == ["h", "a", "b"]
    assert ordered(["b\t2", "a\t2", "c\t1"], "ties_last") == ["a\t2", "b\t2", "c\t1"]


def test_every_allowed_line_has_a_checked_reason() -> None:
    known = Allowlist(KNOWN, 2)
    unchecked = known.unchecked()
    assert not unchecked, f"{len(unchecked)} lines of {KNOWN.name} have no checked reason, e.g. {unchecked[0]}"


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_chisels_equal_sysdigs(capture: Path) -> None:
    expected = _expected(capture.stem)
    found = set()
    for chisel in CASES["chisels"]:
        name, rule = " ".join(chisel), CASES["order"].get(chisel[0])
        want, got = ordered(expected[name], rule), ordered(_sysmon(capture, chisel), rule)
        found |= {(capture.stem, name, *d) for d in differences(want, got)}
    Allowlist(KNOWN, 2).check(capture.stem, found)


def test_cells() -> None:
    blank, cell = "\x1b[38;5;0m\x1b[48;5;0m ", "\x1b[38;5;28m\x1b[48;5;64m\u2591"
    assert cells("\x1b[1F" + blank + cell + blank + "\x1b[0m") == "\x1b[1F[2:28/64 \u2591]\x1b[0m"


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_terminal_chisels_equal_sysdigs(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(CASES["tty_columns"]))
    expected = _expected_tty(capture.stem)
    found = set()
    for chisel in CASES["tty"]:
        cap = open_scap(capture)
        cap.internal = True
        try:
            out, _, _ = run_chisels([(chisel[0], " ".join(chisel[1:]) or None)], cap.events(), cap.state,
                                    options=RunOptions(is_tty=True))
        finally:
            cap.close()
        name = " ".join(chisel)
        found |= {(capture.stem, name, *d) for d in differences(expected[name], [cells(x) for x in out.split("\n")])}
    Allowlist(KNOWN_TTY, 2).check(capture.stem, found)
