"""-L (event types) and -l (fields) listings, from the same tables that drive decoding and filtering."""
from __future__ import annotations

from typing import TextIO

from sysmon.events.model import ENTER, EXIT
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock


def print_events(out: TextIO) -> None:
    schema = Schema.default()
    for name in schema.names():
        t = schema.by_name(name)
        if t.name == "procexit":
            out.write(t.signature(ENTER) + "\n")
            continue
        out.write(t.signature(ENTER) + "\n" + t.signature(EXIT) + "\n")


def print_fields(out: TextIO) -> None:
    cat = Catalogue.default(Clock())
    for cls in cat.classes:
        out.write(f"\n----------------------\nField Class: {cls.name} ({cls.desc})\n\n")
        for f in cls.fields:
            if f.hidden:
                continue
            out.write(f"{f.name:<24}{f.desc}\n")
