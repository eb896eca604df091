"""Named filter macros from `*.flt` files, and their expansion into a parsed filter.

File format (`filters/*.flt`, UTF-8):

    # Comment lines start with '#'. The comment block right above a macro describes it.
    # Processes that have just started a new program.
    macro spawned_process = evt.type in (execve, execveat) and evt.dir=<
    macro web = fd.sport in (80, 443)
        and fd.type in (ipv4, ipv6)        # a line starting with blanks continues the macro

A macro's name is an identifier (no dots, so it never shadows a field) and its body is a filter,
which may use other macros. A filter uses a macro by its bare name: `spawned_process and
proc.name=bash`; the macro behaves as if bracketed. Expansion replaces the reference by the
macro's tree, with every node's span set to the reference's, so an error inside a macro points
at the name in the user's filter.

Search path (first definition of a name wins): `$SYSMON_FILTER_PATH` (':'-separated directories),
`~/.config/sysmon/filters`, the shipped set (`filters/` of the source tree, or
`<prefix>/share/sysmon/filters` when installed), `/usr/share/sysmon/filters`.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sysmon.errors import FilterError
from sysmon.filter import ast
from sysmon.filter.parse import Parser, is_macro_name, parse

SUFFIX = ".flt"


@dataclass(slots=True)
class Macro:
    name: str
    body: str
    desc: str
    origin: str  # "path:line"
    _tree: ast.Node | None = field(default=None, repr=False)

    def tree(self, parser: Parser | None = None) -> ast.Node:
        """The body parsed once (a syntax error names the macro's file and line)."""
        if self._tree is None:
            try:
                self._tree = parse(self.body, parser)
            except FilterError as e:
                raise FilterError(f'macro "{self.name}" ({self.origin}) does not parse: {e.message}',
                                  code="bad-macro", hints=e.hints) from e
        return self._tree


@dataclass(frozen=True, slots=True)
class MacroLibrary:
    macros: Mapping[str, Macro]

    def get(self, name: str) -> Macro | None:
        return self.macros.get(name)

    def __iter__(self) -> Iterator[Macro]:
        return iter(sorted(self.macros.values(), key=lambda m: m.name))

    @staticmethod
    def load(dirs: Iterable[Path]) -> MacroLibrary:
        """Every `*.flt` of `dirs`; an earlier directory's macro hides a later one's of the same name."""
        found: dict[str, Macro] = {}
        for d in dirs:
            try:
                files = sorted(p for p in d.iterdir() if p.suffix == SUFFIX and p.is_file())
            except OSError:
                continue
            here: dict[str, Macro] = {}
            for path in files:
                for m in parse_file(path.read_text(encoding="utf-8"), str(path)):
                    if m.name in here:
                        raise FilterError(f'{m.origin}: macro "{m.name}" is already defined at {here[m.name].origin}',
                                          code="bad-macro")
                    here[m.name] = m
            for name, m in here.items():
                found.setdefault(name, m)
        return MacroLibrary(found)

    @staticmethod
    def default() -> MacroLibrary:
        return MacroLibrary.load(search_path())


def shipped_dir() -> Path | None:
    """The `filters/` directory shipped with sysmon (source tree, or installed data files)."""
    for d in (Path(__file__).resolve().parents[2] / "filters", Path(sys.prefix) / "share" / "sysmon" / "filters"):
        if d.is_dir():
            return d
    return None


def search_path() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("SYSMON_FILTER_PATH", "").split(":") if p]
    dirs.append(Path.home() / ".config" / "sysmon" / "filters")
    shipped = shipped_dir()
    if shipped is not None:
        dirs.append(shipped)
    dirs.append(Path("/usr/share/sysmon/filters"))
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def parse_file(text: str, origin: str) -> list[Macro]:
    """The macros of one `.flt` file (bodies are parsed on first use)."""
    macros: list[Macro] = []
    comment: list[str] = []
    current: tuple[str, list[str], str, str] | None = None  # name, body lines, desc, origin

    def flush() -> None:
        if current is not None:
            name, lines, desc, where = current
            body = " ".join(s.strip() for s in lines).strip()
            if not body:
                raise FilterError(f'{where}: macro "{name}" has an empty body', code="bad-macro")
            macros.append(Macro(name, body, desc, where))

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw)
        indented = raw[:1] in (" ", "\t")
        if not line.strip():
            stripped = raw.strip()
            if not stripped:
                comment = []
            elif not indented:
                comment.append(stripped.lstrip("#").strip())
            continue
        if indented:
            if current is None:
                raise FilterError(f"{origin}:{lineno}: continuation line outside a macro", code="bad-macro")
            current[1].append(line)
            continue
        flush()
        where = f"{origin}:{lineno}"
        keyword, _, rest = line.partition(" ")
        name, eq, body = rest.partition("=")
        name = name.strip()
        if keyword != "macro" or not eq or not is_macro_name(name):
            raise FilterError(f"{where}: expected `macro NAME = FILTER`", code="bad-macro")
        current = (name, [body], " ".join(c for c in comment if c), where)
        comment = []
    flush()
    return macros


def _strip_comment(line: str) -> str:
    """`line` without a trailing `# comment` (a '#' inside quotes stays)."""
    quote = ""
    for i, c in enumerate(line):
        if quote:
            if c == "\\":
                continue
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


# -- expansion ------------------------------------------------------------------------------------


def expand(node: ast.Node, library: MacroLibrary, parser: Parser | None = None) -> ast.Node:
    """`node` with every known macro name replaced by its tree (recursively); unknown names stay
    for `check` to report."""
    return _expand(node, library, parser, ())


def _expand(node: ast.Node, lib: MacroLibrary, parser: Parser | None, stack: tuple[str, ...]) -> ast.Node:
    if isinstance(node, ast.Name):
        macro = lib.get(node.name)
        if macro is None:
            return node
        if node.name in stack:
            chain = " -> ".join((*stack, node.name))
            raise FilterError(f"macro cycle: {chain}", span=node.span.as_tuple(), code="bad-macro")
        try:
            body = _expand(macro.tree(parser), lib, parser, (*stack, node.name))
        except FilterError as e:  # point at the reference in the text being expanded
            raise FilterError(e.message, span=node.span.as_tuple(), code=e.code, hints=e.hints) from e
        return respan(body, node.span)
    if isinstance(node, ast.Not):
        return ast.Not(_expand(node.operand, lib, parser, stack), node.span)
    if isinstance(node, (ast.And, ast.Or)):
        kind = type(node)
        operands: list[ast.Node] = []
        for n in node.operands:
            sub = _expand(n, lib, parser, stack)
            operands += sub.operands if isinstance(sub, kind) else [sub]  # a and (b and c) = a and b and c
        return kind(tuple(operands), node.span)
    return node


def respan(node: ast.Node, span: ast.Span) -> ast.Node:
    """A copy of `node` whose every span is `span`."""
    if isinstance(node, ast.Check):
        return ast.Check(ast.FieldRef(node.field.name, span), node.op,
                         tuple(dataclasses.replace(v, span=span) for v in node.values), span, span)
    if isinstance(node, ast.Name):
        return ast.Name(node.name, span)
    if isinstance(node, ast.Not):
        return ast.Not(respan(node.operand, span), span)
    return type(node)(tuple(respan(n, span) for n in node.operands), span)
