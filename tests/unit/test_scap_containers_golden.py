"""Containers on replay equal sysdig 0.29.3: `-pc`, `-pk` and every container.*/k8s.* field it knows, on the corpus
captures with containers (container JSON events at the start and mid-capture, cgroups in the process list and in
clone/execve exits, containers known only by their cgroups), under filters on container fields.

Expected outputs: tests/golden/scap/expected_containers/*.txt.gz, written by
`scripts/gen_scap_golden.py --containers` (runs sysdig). Every line must be equal, except in the evt.info of
502Error's haproxy fd 8, where sysdig prints an address it reads through the wrong member of a union
(145.216.3.255: see test_scap_golden.py); those lines are compared up to their evt.info.
"""
from __future__ import annotations

import json

import pytest

from tests.scap_golden import GOLDEN, expected_outputs, sysmon_outputs

CASES = json.loads((GOLDEN / "containers.json").read_text())
SYSDIG_UNION_BUG = "145.216.3.255"


def _comparable(want: list[str], got: list[str]) -> tuple[list[str], list[str]]:
    """Both outputs with the evt.info of sysdig's misread haproxy socket cut off (same line count kept)."""
    cut = [i for i, line in enumerate(want) if SYSDIG_UNION_BUG in line]
    want, got = list(want), list(got)
    for i in cut:
        if i < len(got):
            want[i] = want[i].split(" fd=8(", 1)[0]
            got[i] = got[i].split(" fd=8(", 1)[0]
    return want, got


def test_every_container_capture_has_a_golden() -> None:
    for stem in CASES["captures"]:
        assert len(expected_outputs(stem, "expected_containers")) == len(CASES["filters"]) * len(CASES["formats"])


@pytest.mark.parametrize("stem", CASES["captures"])
def test_container_output_equals_sysdig(stem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    expected = expected_outputs(stem, "expected_containers")
    capture = GOLDEN / "captures" / f"{stem}.scap"
    outputs = {flt: sysmon_outputs(capture, flt, CASES["formats"]) for flt in CASES["filters"]}
    lines = 0
    for (flt, fmt), want in expected.items():
        want, got = _comparable(want, outputs[flt][fmt])
        first = next((i for i, (a, b) in enumerate(zip([*want, "<EOF>"], [*got, "<EOF>"])) if a != b), None)
        assert first is None, (f"[{flt}] [{fmt}] line {first + 1}:\n  sysdig: {[*want, '<EOF>'][first]}\n"
                               f"  sysmon: {[*got, '<EOF>'][first]}")
        lines += len(want)
    assert lines > 0
