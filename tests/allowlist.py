"""Per-line allowlists of differences from sysdig's output, each line with a reason checked in sysdig's source.

A list is a tab-separated file: `#reason<TAB>id<TAB>text` lines define the reasons, other `#` lines are
comments, and each other line is one allowed difference (a tab in a field written \\t): the case's
fields (file, filter, format... as the test defines them), the line number (`+N`: a line only sysmon
prints), sysdig's line, sysmon's line, and a reason id. `check` fails on any difference not listed and on any listed one that went away; with
SYSMON_UPDATE_SCAP_KNOWN=1 it drops those that went away and writes new ones with the reason `?`, which
`unchecked` reports until someone names a reason: nothing is ever added silently.
"""
from __future__ import annotations

import difflib
import re
import os
from collections.abc import Iterator
from pathlib import Path

UNREVIEWED = "?"
Key = tuple[str, ...]


def differences(want: list[str], got: list[str]) -> Iterator[tuple[str, str, str]]:
    """(line, sysdig's, sysmon's) for each line that differs: `line` numbers sysdig's output, `+N`
    sysmon's for a line sysdig does not have; a missing side is ''."""
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, want, got, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        for k in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + k, j1 + k
            yield (str(i + 1) if i < i2 else f"+{j + 1}"), (want[i] if i < i2 else ""), (got[j] if j < j2 else "")


class Allowlist:
    def __init__(self, path: Path, fields: int) -> None:
        self.path, self.fields = path, fields  # fields: the case's fields before line, sysdig, sysmon
        self.reasons: dict[str, str] = {}
        self.lines: dict[Key, str] = {}
        for row in path.read_text().splitlines():
            if row.startswith("#reason\t"):
                _, rid, text = row.split("\t", 2)
                self.reasons[rid] = text
            elif row and not row.startswith("#"):
                *key, reason = row.split("\t")
                assert len(key) == fields + 3, f"{path.name}: want {fields + 4} tab-separated fields: {row!r}"
                self.lines[tuple(_unescape(f) for f in key)] = reason

    def unchecked(self) -> list[Key]:
        return [key for key, reason in self.lines.items() if reason not in self.reasons]

    def check(self, stem: str, found: set[Key]) -> None:
        """Compare the differences `found` for capture `stem` with the list (see the module doc)."""
        mine = {key for key in self.lines if key[0] == stem}
        unexpected, gone = sorted(found - mine, key=self._order), sorted(mine - found, key=self._order)
        if os.environ.get("SYSMON_UPDATE_SCAP_KNOWN"):
            for key in gone:
                del self.lines[key]
            self.lines.update(dict.fromkeys(unexpected, UNREVIEWED))
            self._write()
            assert not unexpected, (f"{len(unexpected)} new differences written to {self.path.name} with reason "
                                    f"{UNREVIEWED!r}: check each against sysdig's source and name its reason")
            return
        n = self.fields
        shown = "\n".join(f"{list(k[1:n])} line {k[n]}:\n  sysdig: {k[n + 1]}\n  sysmon: {k[n + 2]}"
                          for k in unexpected[:10])
        assert not unexpected, f"{len(unexpected)} lines differ from sysdig:\n{shown}"
        assert not gone, f"now equal to sysdig, remove from {self.path.name}: {gone[:5]}"

    def _order(self, key: Key) -> tuple[Key, int]:
        return key[:self.fields], int(key[self.fields].lstrip("+"))

    def _write(self) -> None:
        head = [row for row in self.path.read_text().splitlines() if row.startswith("#")]
        body = ["\t".join((*map(_escape, key), self.lines[key])) for key in sorted(self.lines, key=self._order)]
        self.path.write_text("\n".join(head + body) + "\n")


def _escape(field: str) -> str:
    return field.replace("\\", "\\\\").replace("\t", "\\t")


def _unescape(field: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\t" if m[1] == "t" else m[1], field)
