"""scap event types as our EventType: sysdig's names, parameters and flags; values decoded on demand.

A `ScapEventType` covers one enter/exit pair of sysdig's table (ppm types 2k, 2k+1). Its
`decode_params` decodes the event's own parameter bytes (kept in `evt.blobs`, kind BLOB_SCAP) plus,
for an exit, the parameters of its paired enter that the exit lacks (kind BLOB_SCAP_ENTER), so that
downstream code finds what a live exit event carries. `evt.category` is sysdig's for that row; flags and
`fd_arg` come from our live schema where it knows the event, so the state parser means the same.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sysmon.events.model import ENTER, EXIT, Event
from sysmon.events.schema import (
    EF_CREATES_FD,
    EF_IO_READ,
    EF_IO_WRITE,
    EF_MODIFIES_STATE,
    EF_USES_FD,
    EF_WAIT,
    EC_NAMES,
    EventType,
    Param,
    Schema,
)
from sysmon.scap import compat, params
from sysmon.events.ppm_table import EVENTS, FLAGSETS, SYSCALL_CATEGORIES, SYSCALL_NAMES

BLOB_SCAP = 8  # an event's own parameter bytes; slot = parameter index
BLOB_SCAP_ENTER = 9  # the paired enter event's parameter bytes, on an exit event

EC_INTERNAL = 256
EF_LARGE_PAYLOAD = 1 << 11
PT_FLAGS = (28, 29, 30, 42)
_EF_NAMES = ((1 << 0, EF_CREATES_FD), (1 << 2, EF_USES_FD), (1 << 3, EF_IO_READ), (1 << 4, EF_IO_WRITE),
             (1 << 5, EF_MODIFIES_STATE), (1 << 7, EF_WAIT))
INBOUND = frozenset({"accept", "recvfrom", "recvmsg"})  # tuples whose source is the peer


def _no_source(evt: Event) -> Any:
    return None  # scap values come from ScapEventType.decode_params, never from live sources


@dataclass(frozen=True, slots=True)
class ScapEventType(EventType):
    enter_decoders: tuple[Callable[[bytes], Any], ...] = ()
    exit_decoders: tuple[Callable[[bytes], Any], ...] = ()
    internal: bool = False
    large: bool = False  # u32 parameter lengths (EF_LARGE_PAYLOAD)
    # (direction the value is read from, parameter index, raw arg index, converter): rebuilds raw_args
    raw_slots: tuple[tuple[int, int, int, Callable[[Any], int] | None], ...] = ()
    ppm_type: int = -1  # sysdig's enter event type of the pair (exit = ppm_type + 1)
    syscall_id: int = -1  # generic `syscall` events: the ppm syscall id

    def decode_params(self, evt: Event) -> dict[str, Any]:
        own, own_dec = (self.enter_params, self.enter_decoders) if evt.dir == ENTER else (
            self.exit_params, self.exit_decoders)
        out: dict[str, Any] = {}
        enter: dict[str, Any] = {}
        for kind, i, data in evt.blobs:
            if kind == BLOB_SCAP:
                if i < len(own):
                    v = own_dec[i](data)
                    if v is not None:
                        out[own[i].name] = v
            elif kind == BLOB_SCAP_ENTER and i < len(self.enter_params):
                v = self.enter_decoders[i](data)
                if v is not None:
                    enter[self.enter_params[i].name] = v
        for name, v in enter.items():
            out.setdefault(name, v)
        _to_model(self.name, out)
        return out

    def param(self, evt: Event, name: str) -> Any:
        return evt.params.get(name)  # values come from all the blobs together (_to_model)

    def empty_params(self, evt: Event) -> frozenset[str]:
        """The event's own parameters stored with length 0 (sysdig renders them NULL)."""
        own = self.enter_params if evt.dir == ENTER else self.exit_params
        return frozenset(own[i].name for kind, i, data in evt.blobs if kind == BLOB_SCAP and not data and i < len(own))


def _to_model(name: str, out: dict[str, Any]) -> None:
    """Values in our model's encoding (compat.PARAM_TO_LIVE; execve/clone argv)."""
    for pname, v in out.items():
        conv = compat.PARAM_TO_LIVE.get((name, pname))
        if conv is not None and isinstance(v, int):
            out[pname] = conv(v)
    args = out.get("args")
    if isinstance(args, bytes) and "exe" in out:
        rest = args.rstrip(b"\0")
        out["args"] = [out["exe"], *(a.decode("utf-8", "surrogateescape") for a in rest.split(b"\0"))] if rest \
            else [out["exe"]]
    tup = out.get("tuple")
    if isinstance(tup, bytes):  # decoded with the event's direction, see _decoder
        out["tuple"] = params.socktuple(tup, name in INBOUND)


def _decoder(pt: int, info: object) -> Callable[[bytes], Any]:
    if pt == 13:
        return lambda b: b  # SOCKTUPLE: direction depends on the event (_to_model)
    return params.decoder(pt, info if pt == 27 else None)  # type: ignore[arg-type]


_PF = {2: "hex", 6: "oct"}  # PF_HEX, PF_OCT


def _param(evt_name: str, name: str, pt: int, fmt: int, info: object) -> Param:
    flagset: Any = ""
    if pt in PT_FLAGS and isinstance(info, str):
        flagset = compat.LIVE_FLAGSET.get((evt_name, name), FLAGSETS[info])
    return Param(name, params.PT_NAMES.get(pt, "NONE"), _no_source, flagset, fmt=_PF.get(fmt, ""))


def _live_raw_slots(live: EventType | None) -> dict[str, int]:
    """Live parameter name -> raw syscall argument index, found by probing the sources with marked args."""
    if live is None:
        return {}
    mark = 0x5EED_0000_0000
    probe = Event(ts_ns=0, cpu=0, tid=0, pid=0, ppid=0, uid=0, gid=0, comm="", nr=0, dir=EXIT, res=None,
                  raw_args=tuple(mark + i for i in range(6)), blobs=(), etype=live)
    out: dict[str, int] = {}
    for p in (*live.enter_params, *live.exit_params):
        try:
            v = p.source(probe)
        except (TypeError, IndexError, AttributeError):
            continue
        if isinstance(v, int) and mark <= v < mark + 6:
            out.setdefault(p.name, v - mark)
    return out


class ScapTypes:
    """ScapEventType by ppm type (and, for generic `syscall` events, by syscall id); built once, lazily."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    @functools.lru_cache(maxsize=None)  # noqa: B019 (one instance per reader)
    def get(self, ppm_type: int, syscall_id: int = -1) -> ScapEventType:
        base = ppm_type & ~1
        name, cat, eflags, enter = EVENTS[base]
        xname, _xcat, xflags, exit_ = EVENTS[base + 1] if base + 1 < len(EVENTS) else (name, cat, 0, ())
        if syscall_id >= 0:
            known = syscall_id < len(SYSCALL_NAMES)
            name = SYSCALL_NAMES[syscall_id] if known else "<unknown>"
            cat = SYSCALL_CATEGORIES[syscall_id] if known else 0
        live = self.schema.by_type_name.get(name)
        # sysdig's flags decide which fd an event is about; the live parser's state events stay state-first
        flags = {n for bit, n in _EF_NAMES if (eflags | xflags) & bit}
        if live is not None:
            flags |= live.flags & {EF_MODIFIES_STATE}
        category = EC_NAMES.get(cat, "unknown")  # sysdig's, of this very row (or syscall id)
        slots = _live_raw_slots(live)
        raw_slots = []
        for direction, plist in ((ENTER, enter), (EXIT, exit_)):
            for i, (pname, _pt, _fmt, _info) in enumerate(plist):
                live_name = compat.RENAMES.get((name, pname), pname)
                if live_name in slots:
                    conv = compat.RAW_TO_LIVE.get((name, pname)) or compat.PARAM_TO_LIVE.get((name, pname))
                    raw_slots.append((direction, i, slots[live_name], conv))
        fd_arg = (live.fd_arg if live is not None and live.fd_arg is not None else 0) if eflags & 4 else None
        if fd_arg is not None and enter and enter[0][1] == 14 and all(r[2] != fd_arg for r in raw_slots):
            raw_slots.append((ENTER, 0, fd_arg, None))  # libsinsp: the fd is the enter event's first parameter
        return ScapEventType(
            name=name,
            category=category,
            flags=frozenset(flags),
            enter_params=tuple(_param(name, n, pt, f, info) for n, pt, f, info in enter),
            exit_params=tuple(_param(name, n, pt, f, info) for n, pt, f, info in exit_),
            fd_arg=fd_arg,
            syscalls=live.syscalls if live is not None else (),
            enter_decoders=tuple(_decoder(pt, info) for _n, pt, _f, info in enter),
            exit_decoders=tuple(_decoder(pt, info) for _n, pt, _f, info in exit_),
            internal=bool(cat & EC_INTERNAL),
            large=bool((eflags | xflags) & EF_LARGE_PAYLOAD),
            raw_slots=tuple(raw_slots),
            generic=syscall_id >= 0,
            ppm_type=base,
            syscall_id=syscall_id,
        )
