"""sysmon's chisels against sysdig 0.29.3's own Lua chisels, on every corpus capture.

Expected outputs: tests/golden/chisel_oracle/expected/*.txt.gz, written by scripts/gen_chisel_golden.py
(`sysdig -r CAPTURE -c CHISEL ARGS`). sysmon runs the same chisel as `sysmon -r CAPTURE -c CHISEL ARGS`
does (the replayed state and events, the chisel runner). Lines are compared without trailing blanks,
ordered as cases.json's "order" says where sysdig's order comes from a Lua hash, and without ANSI
colour codes: sysdig 0.29.3's echo_fds, spy_port, scallslower... call terminal.enable_color(true) at load,
so they colour pipes too, where sysmon colours only a terminal (removed on both sides: some data holds
colour codes of its own). Every line that still differs is listed with a reason in
tests/golden/chisel_oracle/known_differences.tsv (tests/allowlist.py).
"""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from sysmon.scap.reader import open_scap
from tests.allowlist import Allowlist, differences
from tests.chisel_harness import run_chisels

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
ORACLE = GOLDEN / "chisel_oracle"
KNOWN = ORACLE / "known_differences.tsv"
CAPTURES = sorted((GOLDEN / "scap" / "captures").glob("*.scap"))
CASES = json.loads((ORACLE / "cases.json").read_text())
ANSI = re.compile(r"\x1b\[[0-9;]*m")
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


def ordered(lines: list[str], rule: str | None) -> list[str]:
    """`lines` in a canonical order: 'unordered' sorts them all but the header, 'ties' sorts each run
    of lines with the same first column (a top table's value)."""
    if rule == "unordered":
        return lines[:1] + sorted(lines[1:])
    if rule != "ties":
        return lines
    out: list[str] = []
    run: list[str] = []
    for line in lines:
        if run and line.split(" ", 1)[0] != run[0].split(" ", 1)[0]:
            out += sorted(run)
            run = []
        run.append(line)
    return out + sorted(run)


def _sysmon(capture: Path, chisel: list[str]) -> list[str]:
    cap = open_scap(capture)
    try:
        out, err, _ = run_chisels([(chisel[0], " ".join(chisel[1:]) or None)], cap.events(), cap.state)
    finally:
        cap.close()
    return [ANSI.sub("", line).rstrip() for line in out.split("\n") if ANSI.sub("", line).strip()]


def test_ordered() -> None:
    assert ordered(["h", "2 b", "2 a", "1 c"], "ties") == ["h", "2 a", "2 b", "1 c"]
    assert ordered(["h", "b", "a"], "unordered") == ["h", "a", "b"]


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
