"""sysmon reads every corpus .scap like sysdig 0.29.3: output equal line for line, per (file, filter, format).

Expected outputs: tests/golden/scap/expected/*.txt.gz, written by scripts/gen_scap_golden.py (runs sysdig;
CI only reads them). Lines are compared without trailing blanks, and blank lines are skipped on both
sides: sysdig ends evt.info with a space, so a value ending in a newline (a container event's JSON)
leaves it a line of one space.

Lines where sysmon differs on purpose are listed one by one in tests/golden/scap/known_differences.tsv:
(file, filter, format, line, sysdig's line, sysmon's line, reason), the reason an id defined in that
file's `#reason` lines, each naming the libsinsp source (falcosecurity/libs e5c53d64, the libsinsp
Debian's sysdig 0.29.3 links) that makes sysdig print what it prints. Any other difference fails, and
so does a listed one that went away. SYSMON_UPDATE_SCAP_KNOWN=1 drops the lines that went away and
writes new differences with the reason `?`, which fails until someone checks them and names a reason.
"""
from __future__ import annotations

import difflib
import gzip
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sysmon.scap.replay import replay_formats

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "scap"
KNOWN = GOLDEN / "known_differences.tsv"
CAPTURES = sorted((GOLDEN / "captures").glob("*.scap"))
CASES = json.loads((GOLDEN / "cases.json").read_text())
UNREVIEWED = "?"
Line = tuple[str, str, str, str, str, str]  # file, filter, format, line, sysdig, sysmon


def _expected(stem: str) -> dict[tuple[str, str], list[str]]:
    text = gzip.decompress((GOLDEN / "expected" / f"{stem}.txt.gz").read_bytes()).decode("utf-8", "surrogateescape")
    out: dict[tuple[str, str], list[str]] = {}
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith("### "):
            flt, fmt = line[4:].split(" | ", 1)
            lines = out.setdefault((flt, fmt), [])
        elif line.strip():
            lines.append(line.rstrip())
    return out


def _known() -> tuple[dict[str, str], dict[Line, str]]:
    """(reason id -> text, allowed line -> reason id)."""
    reasons: dict[str, str] = {}
    lines: dict[Line, str] = {}
    for row in KNOWN.read_text().splitlines():
        if row.startswith("#reason\t"):
            _, rid, text = row.split("\t", 2)
            reasons[rid] = text
        elif row and not row.startswith("#"):
            *key, reason = row.split("\t")
            assert len(key) == 6, f"{KNOWN.name}: want 7 tab-separated fields: {row!r}"
            lines[tuple(key)] = reason  # type: ignore[index]
    return reasons, lines


def _write_known(reasons: dict[str, str], lines: dict[Line, str]) -> None:
    head = [row for row in KNOWN.read_text().splitlines() if row.startswith("#")]
    body = ["\t".join((*key, reason)) for key, reason in sorted(lines.items(), key=_order)]
    KNOWN.write_text("\n".join(head + body) + "\n")


def _order(item: tuple[Line, str]) -> tuple[str, str, str, int]:
    key = item[0]
    return key[0], key[1], key[2], int(key[3].lstrip("+"))


def differences(want: list[str], got: list[str]) -> Iterator[tuple[str, str, str]]:
    """(line, sysdig's, sysmon's) for each line that differs: `line` numbers sysdig's output, `+N`
    sysmon's for a line sysdig does not have; a missing side is ''."""
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, want, got, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            w, g = (want[i] if i < i2 else ""), (got[j] if j < j2 else "")
            yield (str(i + 1) if i < i2 else f"+{j + 1}"), w, g


def _sysmon(capture: Path, flt: str, fmts: list[str]) -> dict[str, list[str]]:
    """sysmon's output for one filter in every format: one pass over the file (CI time)."""
    bufs = [io.StringIO() for _ in fmts]
    replay_formats(capture, flt, list(zip(fmts, bufs)))
    return {fmt: [line.rstrip() for line in buf.getvalue().split("\n") if line.strip()] for fmt, buf in zip(fmts, bufs)}


def test_every_capture_and_case_has_a_golden() -> None:
    assert len(CAPTURES) == 22
    for capture in CAPTURES:
        assert len(_expected(capture.stem)) == len(CASES["filters"]) * len(CASES["formats"]), capture.name


def test_every_allowed_line_has_a_checked_reason() -> None:
    reasons, lines = _known()
    assert all("libsinsp" in text or "libs " in text for text in reasons.values()), "a reason names no source"
    unchecked = [key for key, reason in lines.items() if reason not in reasons]
    assert not unchecked, f"{len(unchecked)} lines of {KNOWN.name} have no checked reason, e.g. {unchecked[0]}"
    assert all("\t" not in field for key in lines for field in key)


def test_differences_pair_lines() -> None:
    assert list(differences(["a", "b", "c"], ["a", "x", "c"])) == [("2", "b", "x")]
    assert list(differences(["a", "c"], ["a", "b", "c"])) == [("+2", "", "b")]
    assert list(differences(["a", "b"], ["a"])) == [("2", "b", "")]


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_scap_output_equals_sysdig(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    reasons, known = _known()
    mine = {key: reason for key, reason in known.items() if key[0] == capture.stem}
    expected = _expected(capture.stem)
    outputs = {flt: _sysmon(capture, flt, CASES["formats"]) for flt in CASES["filters"]}
    found: set[Line] = set()
    for (flt, fmt), want in expected.items():
        found.update((capture.stem, flt, fmt, *d) for d in differences(want, outputs[flt][fmt]))
    unexpected = sorted(found - mine.keys(), key=lambda k: _order((k, "")))
    gone = sorted(mine.keys() - found, key=lambda k: _order((k, "")))
    if os.environ.get("SYSMON_UPDATE_SCAP_KNOWN"):
        rest = {k: r for k, r in known.items() if k[0] != capture.stem or k in found}
        rest.update(dict.fromkeys(unexpected, UNREVIEWED))
        _write_known(reasons, rest)
        assert not unexpected, f"{len(unexpected)} new differences written to {KNOWN.name} with reason " \
                               f"{UNREVIEWED!r}: check each against libsinsp and name its reason"
        return
    shown = "\n".join(f"[{k[1]}] [{k[2]}] line {k[3]}:\n  sysdig: {k[4]}\n  sysmon: {k[5]}" for k in unexpected[:10])
    assert not unexpected, f"{len(unexpected)} lines differ from sysdig:\n{shown}"
    assert not gone, f"now equal to sysdig, remove from {KNOWN.name}: {gone[:5]}"
