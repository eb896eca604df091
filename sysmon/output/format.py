"""sysdig `-p` output formats: `%field`, `%field[arg]`, `%12field` widths, a leading `*`, and `-j`.

Without the leading `*` an event is printed only if every field in the format resolves;
with it, unresolved fields print as `<NA>` (null in JSON). A width pads on the right and cuts,
as sysdig does; `%-12f` is accepted and means the same.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sysmon.errors import FormatError
from sysmon.fields import clock as tm
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.field import ArgKind, Extractor, Field
from sysmon.fields.evt import arg_extractor, info_extractor
from sysmon.events.buffers import NORMAL, render_buffer

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State

DEFAULT_FORMAT = "*%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info"
CONTAINER_FORMAT = ("*%evt.num %evt.outputtime %evt.cpu %container.name (%container.id) %proc.name "
                    "(%thread.tid:%thread.vtid) %evt.dir %evt.type %evt.info")
K8S_FORMAT = ("*%evt.num %evt.outputtime %evt.cpu %k8s.pod.name (%container.id) %proc.name "
              "(%thread.tid:%thread.vtid) %evt.dir %evt.type %evt.info")
# sysdig's -p presets: -pc/-pcontainer, -pk/-pkubernetes, -pp (the default)
PRESETS = {"c": CONTAINER_FORMAT, "container": CONTAINER_FORMAT, "k": K8S_FORMAT, "kubernetes": K8S_FORMAT,
           "p": DEFAULT_FORMAT}


def format_text(arg: str | None) -> str:
    """The format a -p argument names: a preset's, the argument itself, or the default without one."""
    return DEFAULT_FORMAT if arg is None else PRESETS.get(arg, arg)
TIME_TYPES = "hardD"  # -t: human, absolute, relative to the first event, enter->exit delta, delta to previous print
NA = "<NA>"
JSON_ZERO_LATENCY = frozenset({"evt.latency", "evt.latency.s", "evt.latency.ns"})
# nanosecond fields sysdig's text pads to 9 digits (PF_10_PADDED_DEC)
PADDED_NS = frozenset({"evt.rawtime.ns", "evt.reltime", "evt.reltime.ns", "evt.latency.ns", "evt.deltatime.ns"})
# fields sysdig's -j prints as the event's timestamp in ns (libsinsp's extract_as_js)
JSON_TIMESTAMPS = frozenset({"evt.time", "evt.time.s", "evt.time.iso8601", "evt.datetime", "evt.datetime.s",
                             "evt.outputtime"})
_PLAIN = frozenset({str, int})  # value types a text line takes as they are (str(v) is their text)
_to_json = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode

_NAME = re.compile(r"(-?)(\d*)([A-Za-z_][A-Za-z0-9_.]*)(\[[^\]]*\])?")


@dataclass(frozen=True, slots=True)
class Token:
    """Literal text (field None) or one field reference; `text` is the reference as written."""

    text: str
    field: Field | None = None
    arg: str | None = None
    width: int = 0


def parse(fmt: str, catalogue: Catalogue) -> tuple[bool, list[Token]]:
    """(require_all, tokens) of a -p format; raises FormatError on unknown or unprintable fields."""
    require_all = not fmt.startswith("*")
    pos = 0 if require_all else 1
    tokens: list[Token] = []
    literal = ""
    while pos < len(fmt):
        i = fmt.find("%", pos)
        if i < 0:
            literal += fmt[pos:]
            break
        literal += fmt[pos:i]
        m = _NAME.match(fmt, i + 1)
        if m is None:
            raise FormatError(f"invalid formatting token at position {i}: a field name must follow '%'",
                              span=(i, i + 1), hints=["write %proc.name, %12proc.name or %evt.arg[0]"])
        token, end = _field_token(m, catalogue, (i, m.end()))
        if literal:
            tokens.append(Token(literal))
        tokens.append(token)
        literal = fmt[end : m.end()]  # what a shorter field name left over (`%evt.type.` -> '.')
        pos = m.end()
    if literal:
        tokens.append(Token(literal))
    return require_all, tokens


def _field_token(m: re.Match[str], catalogue: Catalogue, span: tuple[int, int]) -> tuple[Token, int]:
    """The longest known field at the match (sysdig's parser also stops where a field name ends)."""
    name, bracket = m.group(3), m.group(4) or ""
    width = int(m.group(2) or 0)
    found = catalogue.lookup(name + bracket)
    end = m.end()
    if found is None and not bracket:
        parts = name.split(".")
        for n in range(len(parts) - 1, 0, -1):
            found = catalogue.lookup(".".join(parts[:n]))
            if found is not None:
                name = ".".join(parts[:n])
                end = m.start(3) + len(name)
                break
    if found is None:
        suggestion = catalogue.suggest(name)
        hints = [f"did you mean '{suggestion}'?"] if suggestion else []
        raise FormatError(f"unknown field '{name + bracket}' in output format", span=span,
                          hints=hints + ["'sysmon -l' lists the fields"])
    field, arg = found
    _check_printable(field, arg, span)
    return Token(name + bracket, field, arg, width), end


def _check_printable(field: Field, arg: str | None, span: tuple[int, int]) -> None:
    if field.filter_only or (field.multi and field.arg is ArgKind.OPTIONAL and arg is None):
        hint = f"use {field.name}[N] to print one of them" if field.arg is ArgKind.OPTIONAL else ""
        raise FormatError(f"field '{field.name}' can only be used in filters", span=span,
                          hints=[hint] if hint else [])
    if field.arg is ArgKind.REQUIRED and arg is None:
        raise FormatError(f"field '{field.name}' needs an argument, e.g. {field.name}.NAME or {field.name}[0]",
                          span=span)


class Formatter:
    """Turns events into lines of text (`format`) or JSON objects (`format_json`).

    A text line is one `str.format` of a template made from the format once: the literals, and a
    `{}` (or `{!s:<W.W}` for a width) per field, filled with the fields' values. Values that are
    already str or int go in as they are; others (None, bools, buffers, lists...) take the slow path
    through `_to_text`.
    """

    def __init__(
        self,
        fmt: str,
        catalogue: Catalogue,
        *,
        time_type: str = "h",
        bufmode: str = NORMAL,
        max_buf: int | None = 80,
    ) -> None:
        if time_type not in TIME_TYPES:
            raise FormatError(f"invalid -t time type '{time_type}'", hints=["use one of h, a, r, d, D"])
        self.require_all, self.tokens = parse(fmt, catalogue)
        self._clock = catalogue.clock
        self._time_type = time_type
        self._bufmode, self._max_buf = bufmode, max_buf
        self._last_printed_ns = 0
        info = info_extractor(bufmode, max_buf)
        # Fields whose value depends on the output options, not just on the event.
        self._overrides: dict[str, Extractor] = {
            "evt.info": info,
            "evt.args": info,
            "evt.arg": arg_extractor(bufmode, max_buf),
        }
        fields = [tok for tok in self.tokens if tok.field is not None]
        self._texts = [(self._text_extractor(tok), tok.arg) for tok in fields]
        # JSON: one member per distinct field text, in key order (as json.dumps(sort_keys=True) writes them)
        by_key = {tok.text: tok for tok in reversed(fields)}
        self._keys = sorted(by_key)
        self._values = [(self._json_extractor(by_key[k]), by_key[k].arg) for k in self._keys]
        self._heads = [("{" if i == 0 else ",") + encode_basestring_ascii(k) + ":" for i, k in enumerate(self._keys)]
        self._template = "".join(
            tok.text.replace("{", "{{").replace("}", "}}") if tok.field is None
            else "{!s:<%d.%d}" % (tok.width, tok.width) if tok.width else "{}"
            for tok in self.tokens
        )

    def format(self, evt: Event, state: State) -> str | None:
        values = [extract(evt, state, arg) for extract, arg in self._texts]
        if not _PLAIN.issuperset(map(type, values)):
            texts = self._as_texts(values)
            if texts is None:
                return None
            values = texts
        self._last_printed_ns = evt.ts_ns
        return self._template.format(*values)

    def _as_texts(self, values: list[Any]) -> list[Any] | None:
        """The values as the template takes them (str or int); None if a field is unavailable and
        the format requires all of them."""
        texts: list[Any] = []
        for v in values:
            if v.__class__ not in _PLAIN:
                v = self._to_text(v)
                if v is None:
                    if self.require_all:
                        return None
                    v = NA
            texts.append(v)
        return texts

    def format_json(self, evt: Event, state: State) -> str | None:
        """`{"evt.num":1,"proc.name":"cat"}`: what json.dumps(sort_keys=True, separators=(",", ":")) gives.

        Written from the precomputed keys when every value is a str or an int (json's own text for
        them); other values go through json."""
        values = [extract(evt, state, arg) for extract, arg in self._values]
        if not _PLAIN.issuperset(map(type, values)):
            values = [self._json(v) for v in values]
            if self.require_all and None in values:
                return None
            return _to_json(dict(zip(self._keys, values)))
        if not values:
            return "{}"
        return "".join([head + (encode_basestring_ascii(v) if v.__class__ is str else str(v))
                        for head, v in zip(self._heads, values)]) + "}"

    # -- values --------------------------------------------------------------------------------

    def _extractor(self, tok: Token) -> Extractor:
        assert tok.field is not None
        return self._overrides.get(tok.field.name, tok.field.extract)

    def _json_extractor(self, tok: Token) -> Extractor:
        """sysdig's JSON values: time fields as the event's ns (whatever -t says), evt.info/evt.args
        with the space sysdig ends them with, evt.latency 0 for an exit whose enter was not seen."""
        assert tok.field is not None
        name = tok.field.name
        if name in JSON_TIMESTAMPS:
            return lambda evt, state, arg: evt.ts_ns
        extract = self._extractor(tok)
        if name in ("evt.info", "evt.args"):
            return lambda evt, state, arg: _spaced(extract(evt, state, arg))
        if name in JSON_ZERO_LATENCY:  # libsinsp's thread latency is a number even without an enter
            return lambda evt, state, arg: extract(evt, state, arg) or 0
        return extract

    def _text_extractor(self, tok: Token) -> Extractor:
        """The extractor of the text form: the same, but evt.outputtime gives its -t text."""
        assert tok.field is not None
        if tok.field.name in PADDED_NS:
            extract = self._extractor(tok)
            return lambda evt, state, arg: _padded(extract(evt, state, arg))
        if tok.field.name != "evt.outputtime":
            return self._extractor(tok)
        render: Callable[[int], str] = {"h": tm.clock_time, "a": tm.epoch_seconds}.get(self._time_type, tm.seconds)
        if self._time_type in "ha":  # the event's own time
            return lambda evt, state, arg: render(evt.ts_ns)
        return lambda evt, state, arg: render(self._output_ns(evt))

    def _to_text(self, v: Any) -> str | None:
        if v is None:
            return None
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, bytes):
            return render_buffer(v, self._bufmode, self._max_buf)
        if isinstance(v, list):
            items = [self._to_text(x) for x in v]
            return ",".join(x for x in items if x is not None)
        return str(v)

    def _json(self, v: Any) -> Any:
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [self._json(x) for x in v]
        return self._to_text(v)

    # -- evt.outputtime ------------------------------------------------------------------------

    def _output_ns(self, evt: Event) -> int:
        """The -t time as nanoseconds, the base of its text forms."""
        t, ts = self._time_type, evt.ts_ns
        if t == "r":
            return ts - (self._clock.first_ns or ts)
        if t == "d":
            return self._clock.latency_ns or 0
        if t == "D":
            return ts - self._last_printed_ns if self._last_printed_ns else 0
        return ts


def _spaced(info: str) -> str:
    """evt.info as sysdig's JSON has it: every argument followed by a space."""
    return info + " " if info else info


def _padded(ns: Any) -> Any:
    return f"{ns:09d}" if isinstance(ns, int) else ns
