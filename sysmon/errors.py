"""Errors carry what went wrong, where, and how to fix it; only cli.py renders them."""
from __future__ import annotations


class SysmonError(Exception):
    """Base of every error sysmon reports to a user (never as a traceback)."""

    def __init__(
        self, message: str, *, span: tuple[int, int] | None = None, hints: list[str] | None = None, code: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hints = list(hints or [])
        self.code = code


class FilterError(SysmonError):
    """A filter that does not parse or check. `errors` holds every diagnostic when there are several."""

    def __init__(
        self,
        message: str,
        *,
        span: tuple[int, int] | None = None,
        hints: list[str] | None = None,
        code: str = "",
        errors: list[FilterError] | None = None,
    ) -> None:
        super().__init__(message, span=span, hints=hints, code=code)
        self.errors = errors or [self]

    def render(self, text: str, prog: str = "sysmon") -> str:
        """Every diagnostic as `prog: message (hints)`, the filter line and a caret under the span."""
        return "\n".join(_render_one(e, text, prog) for e in self.errors)


def _render_one(err: SysmonError, text: str, prog: str) -> str:
    head = f"{prog}: {err.message}" + (f" ({'; '.join(err.hints)})" if err.hints else "")
    if err.span is None:
        return head
    start, end = err.span
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    line_end = len(text) if line_end < 0 else line_end
    col = start - line_start
    width = max(1, min(end, line_end) - start)
    caret = " " * col + "^" + "~" * (width - 1)
    return f"{head}\n    {text[line_start:line_end]}\n    {caret}"


class FormatError(SysmonError):
    """A bad -p output format."""


class ProbeError(SysmonError):
    """The BPF probe could not be built, loaded or attached."""


class CaptureError(SysmonError):
    """A capture file could not be written or read."""


class SetupError(SysmonError):
    """The machine lacks something sysmon needs (privileges, bcc, kernel types)."""
