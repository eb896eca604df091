"""A field: its name, type, description and extractor, declared once beside its class's extractors
(fields/evt.py, proc.py...); fields/catalogue.py gathers the classes."""
from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
