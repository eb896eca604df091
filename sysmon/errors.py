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

    def render(self, text: str | None = None, prog: str = "sysmon") -> str:
        """The one renderer of user errors: `prog: message (did you mean ...)`, then, when there is a
        span and the `text` it points into, that line with a caret under the span, then `hint:` lines."""
        return _render_one(self, text, prog)


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

    def render(self, text: str | None = None, prog: str = "sysmon") -> str:
        """Every diagnostic, each with its caret."""
        return "\n".join(_render_one(e, text, prog) for e in self.errors)


def _render_one(err: SysmonError, text: str | None, prog: str) -> str:
    inline = [h for h in err.hints if h.startswith("did you mean")]
    lines = [f"{prog}: {err.message}" + (f" ({inline[0]})" if inline else "")]
    if err.span is not None and text is not None:
        start, end = err.span
        start = max(0, min(start, len(text)))
        end = max(start, min(end, len(text)))
        line_start = text.rfind("\n", 0, start) + 1
        line_end = text.find("\n", start)
        line_end = len(text) if line_end < 0 else line_end
        col = start - line_start
        width = max(1, min(end, line_end) - start)
        lines += [f"    {text[line_start:line_end]}", "    " + " " * col + "^" + "~" * (width - 1)]
    lines += [f"  hint: {h}" for h in err.hints if h not in inline[:1]]
    return "\n".join(lines)


class FormatError(SysmonError):
    """A bad -p output format."""


class ProbeError(SysmonError):
    """The BPF probe could not be built, loaded or attached."""


class UsageError(SysmonError):
    """Arguments that cannot work, refused before anything starts (exit status 2, as argparse's)."""


class CaptureError(SysmonError):
    """A capture file could not be written or read."""


class SetupError(SysmonError):
    """The machine lacks something sysmon needs (privileges, bcc, kernel types)."""


class ChiselError(SysmonError):
    """A chisel that cannot be found, loaded (unsafe permissions, broken file) or started (bad arguments)."""


class SeccompError(SysmonError):
    """A seccomp profile that cannot be read, merged or enforced (docs/seccomp.md)."""
