"""sysmon reads every corpus .scap like sysdig 0.29.3: output equal line for line, per (file, filter, format).

Expected outputs: tests/golden/scap/expected/*.txt.gz, written by scripts/gen_scap_golden.py (runs sysdig;
CI only reads them). Lines are compared without trailing blanks, and blank lines are skipped on both
sides: sysdig ends evt.info with a space, so a value ending in a newline (a container event's JSON)
leaves it a line of one space.

Lines where sysmon differs on purpose are listed one by one in tests/golden/scap/known_differences.tsv
(tests/allowlist.py): file, filter, format, line, sysdig's line, sysmon's line and a reason whose text
names the libsinsp source (falcosecurity/libs e5c53d64, the libsinsp Debian's sysdig 0.29.3 links) that
makes sysdig print what it prints.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.allowlist import Allowlist, differences
from tests.scap_golden import GOLDEN, expected_outputs, sysmon_outputs

KNOWN = GOLDEN / "known_differences.tsv"
CAPTURES = sorted((GOLDEN / "captures").glob("*.scap"))
CASES = json.loads((GOLDEN / "cases.json").read_text())


def test_every_capture_and_case_has_a_golden() -> None:
    assert len(CAPTURES) == 22
    for capture in CAPTURES:
        assert len(expected_outputs(capture.stem)) == len(CASES["filters"]) * len(CASES["formats"]), capture.name


def test_every_allowed_line_has_a_checked_reason() -> None:
    known = Allowlist(KNOWN, 3)
    assert all("libsinsp" in text for text in known.reasons.values()), "a reason names no libsinsp source"
    unchecked = known.unchecked()
    assert not unchecked, f"{len(unchecked)} lines of {KNOWN.name} have no checked reason, e.g. {unchecked[0]}"


def test_differences_pair_lines() -> None:
    assert list(differences(["a", "b", "c"], ["a", "x", "c"])) == [("2", "b", "x")]
    assert list(differences(["a", "c"], ["a", "b", "c"])) == [("+2", "", "b")]
    assert list(differences(["a", "b"], ["a"])) == [("2", "b", "")]


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_scap_output_equals_sysdig(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    expected = expected_outputs(capture.stem)
    outputs = {flt: sysmon_outputs(capture, flt, CASES["formats"]) for flt in CASES["filters"]}
    found = {(capture.stem, flt, fmt, *d) for (flt, fmt), want in expected.items()
             for d in differences(want, outputs[flt][fmt])}
    Allowlist(KNOWN, 3).check(capture.stem, found)
