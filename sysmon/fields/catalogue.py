"""The field table of a capture: one table drives filtering, `-p` formatting, `-l` listing and chisels."""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

from sysmon.fields import container, evt, fd, proc, user
from sysmon.fields.clock import Clock
from sysmon.fields.field import ArgKind, Field, FieldClass


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
        cat = Catalogue(clock=Clock() if clock is None else clock)
        for cls in (*evt.field_classes(cat.clock), *proc.field_classes(), *user.field_classes(),
                    *container.field_classes(), *fd.field_classes()):
            cat.add(cls)
        return cat
