"""Field declarations: one table drives filtering, `-p` formatting, `-l` listing and chisels."""
from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sysmon.fields.clock import Clock

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State


class FieldType(enum.Enum):
    INT64 = "INT64"
    UINT64 = "UINT64"
    PORT = "PORT"
    IPADDR = "IPADDR"
    IPNET = "IPNET"
    STR = "CHARBUF"
    BUF = "BYTEBUF"
    BOOL = "BOOL"
    ABSTIME = "ABSTIME"
    RELTIME = "RELTIME"
    ERRNO = "ERRNO"
    DIR = "DIR"
    DYNAMIC = "DYNAMIC"  # evt.rawarg: the parameter's own type (int, str, bytes, SockTuple...)

    @property
    def numeric(self) -> bool:
        return self in _NUMERIC


_NUMERIC = frozenset(
    {FieldType.INT64, FieldType.UINT64, FieldType.PORT, FieldType.ABSTIME, FieldType.RELTIME, FieldType.ERRNO}
)

# extract(event, state, argument) -> value, a list of values (multi fields), or None (unavailable).
Extractor = Callable[["Event", "State", "str | None"], Any]


class ArgKind(enum.Enum):
    NONE = "none"  # no [arg] allowed
    OPTIONAL = "optional"  # proc.aname or proc.aname[2]
    REQUIRED = "required"  # evt.arg.NAME / evt.arg[N]


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    type: FieldType
    desc: str
    extract: Extractor
    multi: bool = False  # the value is a list; a comparison matches if any element does
    filter_only: bool = False
    print_only: bool = False
    arg: ArgKind = ArgKind.NONE
    symbols: Mapping[str, int] | None = None  # allowed symbolic values (evt.type names, fd.type names)
    hidden: bool = False  # usable but not listed by -l (sysdig's evt.outputtime)
    kernel: str | None = None  # what the probe can pin for `=`/`in`: type, pid, tid, comm, uid (pushdown)


@dataclass(frozen=True, slots=True)
class FieldClass:
    name: str
    desc: str
    fields: tuple[Field, ...]


@dataclass(slots=True)
class Catalogue:
    """The fields of one capture. The engine feeds `clock.observe(evt)` every event, before filtering."""

    classes: list[FieldClass] = field(default_factory=list)
    _by_name: dict[str, Field] = field(default_factory=dict)
    clock: Clock = field(default_factory=Clock)

    def add(self, cls: FieldClass) -> None:
        self.classes.append(cls)
        for f in cls.fields:
            self._by_name[f.name] = f

    def fields(self) -> Iterable[Field]:
        return self._by_name.values()

    def lookup(self, name: str) -> tuple[Field, str | None] | None:
        """Resolve `proc.aname[2]`, `evt.arg.fd`, `evt.arg[0]` or a plain name to (field, argument)."""
        f = self._by_name.get(name)
        if f is not None:
            return f, None
        if name.endswith("]") and "[" in name:
            base, _, rest = name.partition("[")
            f = self._by_name.get(base)
            if f is not None and f.arg is not ArgKind.NONE:
                return f, rest[:-1]
            return None
        # dotted argument: the longest declared prefix that takes an argument (evt.arg.NAME)
        parts = name.split(".")
        for i in range(len(parts) - 1, 0, -1):
            f = self._by_name.get(".".join(parts[:i]))
            if f is not None and f.arg is not ArgKind.NONE:
                return f, ".".join(parts[i:])
        return None

    def suggest(self, name: str) -> str | None:
        matches = difflib.get_close_matches(name, list(self._by_name), n=1, cutoff=0.6)
        return matches[0] if matches else None

    @staticmethod
    def default(clock: Clock | None = None) -> Catalogue:
        """All fields; the time fields read `clock`, which the engine must feed every event."""
        from sysmon.fields import container, evt, fd, proc, user

        cat = Catalogue(clock=Clock() if clock is None else clock)
        for cls in (*evt.field_classes(cat.clock), *proc.field_classes(), *user.field_classes(),
                    *container.field_classes(), *fd.field_classes()):
            cat.add(cls)
        return cat
