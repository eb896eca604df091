"""The `regex` operator's engine: RE2 (google-re2), linear in the text matched, as libsinsp uses.

Python's `re` backtracks: `fd.name regex '/tmp/(a+)+'` against a 41-character path takes minutes, and
any local user can create such a path. RE2 matches in time linear in the subject, and refuses what
it cannot do that way (backreferences, lookaround). Patterns and subjects are bytes: UTF-8 for
string fields (`.` is one character), Latin-1 for buffers (`.` is one byte).
"""
from __future__ import annotations

import re2

MAX_PROGRAM_BYTES = 1 << 20  # RE2's memory budget per pattern: a bigger one is refused when compiled


class RegexError(ValueError):
    """A pattern RE2 refuses; `str()` is RE2's reason."""


class Regex:
    """A compiled pattern; `fullmatch(subject)` holds when the whole subject matches."""

    __slots__ = ("pattern", "_match")

    def __init__(self, pattern: bytes, *, binary: bool) -> None:
        opts = re2.Options()
        opts.log_errors = False
        opts.max_mem = MAX_PROGRAM_BYTES
        if binary:
            opts.encoding = re2.Options.Encoding.LATIN1
        try:
            compiled = re2.compile(pattern, opts)
        except re2.error as e:
            reason = e.args[0] if e.args else e
            raise RegexError(reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)) from None
        self.pattern = pattern
        self._match = compiled.fullmatch

    def fullmatch(self, subject: bytes) -> bool:
        return self._match(subject) is not None
