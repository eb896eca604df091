"""Chisel arguments on the command line, as sysdig takes them.

`-c NAME [ARGS]`: ARGS is the one next argv element (quote several: `-c spy_port "80 disable_color"`).
A chisel without arguments takes none. If all its arguments are optional, the next element is taken
as its arguments only when it does not look like the start of a filter (sysdig tries to compile it;
we also treat a leading field name as a filter, so `-c echo_fds fd.name contains /tmp/x` works).
"""
from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sysmon.chisel.api import Chisel
from sysmon.errors import ChiselError

CHISEL_FLAGS = ("-c", "--chisel")
LIST_FLAGS = ("-cl", "--list-chisels")


@dataclass(frozen=True, slots=True)
class ChiselRequest:
    name: str
    args: str | None  # the raw argv element, or None


def split_values(cls: type[Chisel], text: str | None) -> dict[str, Any]:
    """Map an argument string onto the chisel's declared arguments, converting `int` ones.

    Values are space-separated (shell quotes respected); surplus words go to the last argument,
    so a `filter` argument may contain spaces."""
    words: list[str] = []
    if text:
        try:
            words = shlex.split(text)
        except ValueError:
            words = text.split()
    declared = cls.args
    if len(words) > len(declared) and declared:
        words = words[: len(declared) - 1] + [" ".join(words[len(declared) - 1 :])]
    if len(words) > len(declared):
        raise ChiselError(f"chisel '{cls.name}' takes no arguments, got {text!r}")
    missing = [a.name for a in declared[len(words):] if not a.optional]
    if missing:
        raise ChiselError(f"chisel '{cls.name}' needs the argument{'s' if len(missing) > 1 else ''} "
                          f"{', '.join(missing)}", hints=[f"'sysmon -i {cls.name}' describes them"])
    values: dict[str, Any] = {}
    for arg, word in zip(declared, words):
        if arg.type == "int":
            try:
                values[arg.name] = int(word)
            except ValueError:
                raise ChiselError(f"chisel '{cls.name}': argument {arg.name} must be a number, not {word!r}") from None
        else:
            values[arg.name] = word
    return values


def extract(argv: Sequence[str], value_options: frozenset[str], find: Callable[[str], type[Chisel]],
            looks_like_filter: Callable[[str], bool]) -> tuple[list[str], list[ChiselRequest], bool]:
    """Take `-c NAME [ARGS]` and `-cl` out of argv: (remaining argv, chisel requests, list asked).

    `value_options` are the other options that take a value (their value is skipped, never read
    as -c); `find` loads a chisel class by name (to know its arguments)."""
    rest: list[str] = []
    requests: list[ChiselRequest] = []
    listing = False
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "--":
            rest += argv[i:]
            break
        if tok in LIST_FLAGS:
            listing = True
            i += 1
            continue
        name = None
        if tok in CHISEL_FLAGS:
            if i + 1 >= len(argv):
                raise ChiselError("-c needs a chisel name", hints=["'sysmon -cl' lists the chisels"])
            name, i = argv[i + 1], i + 2
        elif tok.startswith("--chisel="):
            name, i = tok.split("=", 1)[1], i + 1
        if name is None:
            rest.append(tok)
            if tok in value_options and i + 1 < len(argv):
                rest.append(argv[i + 1])
                i += 1
            i += 1
            continue
        cls = find(name)
        args = None
        if cls.args and i < len(argv):
            nxt = argv[i]
            all_optional = all(a.optional for a in cls.args)
            if not all_optional or not (nxt.startswith("-") or looks_like_filter(nxt)):
                args, i = nxt, i + 1
        requests.append(ChiselRequest(name, args))
    return rest, requests, listing


def from_command_line(argv: Sequence[str], value_options: frozenset[str]) -> tuple[list[str], list[ChiselRequest], bool]:
    """`extract` with the standard chisel places and the default field catalogue (made only if a chisel
    takes optional arguments: most command lines name no chisel)."""
    from sysmon.chisel.loader import Loader
    from sysmon.fields.catalogue import Catalogue

    loader = Loader()

    def looks_like_filter(text: str) -> bool:
        words = text.replace("(", " ( ").split()
        if not words:
            return False
        field = words[0].split("=")[0].split("!")[0]
        return words[0] in ("not", "(") or Catalogue.default().lookup(field) is not None

    return extract(argv, value_options, lambda name: loader.find(name).cls, looks_like_filter)
