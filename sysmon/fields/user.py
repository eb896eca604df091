"""user.* and group.* fields: who made the call (uid/gid from the event header)."""
from __future__ import annotations

from sysmon.fields.catalogue import Field, FieldClass, FieldType

T = FieldType


def field_classes() -> list[FieldClass]:
    return [
        FieldClass("user", "Information about the user executing the specific event.", (
            Field("user.uid", T.UINT64, "user ID.", lambda e, s, a: e.uid),
            Field("user.name", T.STR, "user name.", lambda e, s, a: s.user_name(e.uid)),
        )),
        FieldClass("group", "Information about the user group.", (
            Field("group.gid", T.UINT64, "group ID.", lambda e, s, a: e.gid),
            Field("group.name", T.STR, "group name.", lambda e, s, a: s.group_name(e.gid)),
        )),
    ]
