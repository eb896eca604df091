"""user.* and group.* fields: who made the call (uid/gid from the event header; none for NO_THREAD)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from sysmon.events.model import NO_THREAD
from sysmon.fields.field import Extractor, Field, FieldClass, FieldType

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State

T = FieldType


def _account(index: int) -> Extractor:
    """user.homedir (0) / user.shell (1) from the passwd entries of the snapshot."""

    def extract(evt: Event, state: State, arg: str | None) -> str | None:
        entry = state.accounts.get(evt.uid)
        return None if entry is None else entry[index]

    return extract


def _loginuid(evt: Event, state: State) -> int | None:
    t = state.thread(evt.tid) or state.process(evt.pid)
    return None if t is None else t.loginuid


def field_classes() -> list[FieldClass]:
    return [
        FieldClass("user", "Information about the user executing the specific event.", (
            Field("user.uid", T.UINT64, "user ID.", lambda e, s, a: e.uid if e.pid != NO_THREAD else None,
                  kernel="uid"),
            Field("user.name", T.STR, "user name.",
                  lambda e, s, a: s.user_name(e.uid) if e.pid != NO_THREAD else None),
            Field("user.homedir", T.STR, "home directory of the user.", _account(0)),
            Field("user.shell", T.STR, "user's shell.", _account(1)),
            Field("user.loginuid", T.INT64, "audit user id (auid); -1 when the process has none.",
                  lambda e, s, a: _loginuid(e, s)),
            Field("user.loginname", T.STR, "audit user name (auid).",
                  lambda e, s, a: s.user_name(uid) if (uid := _loginuid(e, s)) is not None and uid >= 0 else None),
        )),
        FieldClass("group", "Information about the user group.", (
            Field("group.gid", T.UINT64, "group ID.", lambda e, s, a: e.gid if e.pid != NO_THREAD else None),
            Field("group.name", T.STR, "group name.",
                  lambda e, s, a: s.group_name(e.gid) if e.pid != NO_THREAD else None),
        )),
    ]
