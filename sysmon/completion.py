"""Shell completion of sysmon's command line (argcomplete): the filter's field names and, after
`evt.type=`/`evt.type in (`, event types; `%field` names for -p; chisel names for -c and -i.

Only loaded when the shell asks (_ARGCOMPLETE is set), so a normal start never imports argcomplete.
"""
from __future__ import annotations

import argparse
import re
from typing import Any

_TYPE_VALUE = re.compile(r".*\bevt\.type\s*(?:!?=\s*|in\s*\((?:\s*[\w-]+\s*,)*\s*)([\w-]*)$", re.S)  # group: the type so far
_LAST_WORD = re.compile(r"(.*[\s(,]|)([^\s(,]*)$", re.S)  # (the filter before the word, the word)


def field_names() -> list[str]:
    from sysmon.fields.catalogue import Catalogue

    return sorted(f.name for cls in Catalogue.default().classes for f in cls.fields if not f.hidden)


def complete_filter(prefix: str, parsed_args: argparse.Namespace | None = None, **_: Any) -> list[str]:
    """A filter word (in quotes or not): an event type after `evt.type=` or in its list, else a field name."""
    before = " ".join(getattr(parsed_args, "filter", None) or [])
    m = _TYPE_VALUE.match(f"{before} {prefix}")
    if m is not None:
        from sysmon.events.schema import Schema

        head = prefix[: len(prefix) - len(m[1])]
        return [head + name for name in Schema.default().type_names() if name.startswith(m[1])]
    head, word = _LAST_WORD.match(prefix).groups()  # type: ignore[union-attr]
    return [head + name for name in field_names() if name.startswith(word)]


def complete_format(prefix: str, **_: Any) -> list[str]:
    """-p: the text typed so far, then `%` and a field name."""
    head, sep, tail = prefix.rpartition("%")
    if not sep:
        return ["%" + name for name in field_names() if name.startswith(prefix)] if not prefix else []
    return [f"{head}%{name}" for name in field_names() if name.startswith(tail)]


def complete_chisel(prefix: str, **_: Any) -> list[str]:
    from sysmon.chisel.loader import Loader

    found, _problems = Loader().all()
    return sorted(f.name for f in found if f.name.startswith(prefix))


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell and exit when it asks for completions (argcomplete's protocol); else return."""
    import argcomplete

    completers = {"filter": complete_filter, "format": complete_format, "chisel": complete_chisel,
                  "chisel_info": complete_chisel}
    for action in parser._actions:
        if action.dest in completers:
            action.completer = completers[action.dest]  # type: ignore[attr-defined]
    argcomplete.autocomplete(parser)
