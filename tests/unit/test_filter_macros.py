"""Filter macros: the .flt format, expansion with spans, and every shipped macro compiling."""
from __future__ import annotations

from pathlib import Path

import pytest

from sysmon.errors import FilterError
from sysmon.fields.catalogue import Catalogue
from sysmon.filter import KernelPlan, compile_filter
from sysmon.filter.ast import dump
from sysmon.filter.macros import MacroLibrary, expand, parse_file, search_path, shipped_dir
from sysmon.filter.parse import parse
from sysmon.state.state import State, ThreadInfo
from tests.factories import make_event

CAT = Catalogue.default()
REQUIRED = ("spawned_process", "open_read", "open_write", "inbound", "outbound", "shell_procs", "sensitive_files")


def lib(text: str) -> MacroLibrary:
    return MacroLibrary({m.name: m for m in parse_file(text, "t.flt")})


def test_file_format() -> None:
    macros = parse_file(
        "# file header\n"
        "\n"
        "# Shells.\n"
        "# Interactive ones.\n"
        "macro shells = proc.name in (bash,\n"
        "      sh)   # trailing comment\n"
        "    # an indented comment inside the macro\n"
        "    or proc.name='a # not a comment'\n"
        "macro net=fd.type in (ipv4, ipv6)\n",
        "x.flt",
    )
    assert [(m.name, m.desc, m.origin) for m in macros] == [
        ("shells", "Shells. Interactive ones.", "x.flt:5"), ("net", "", "x.flt:9")]
    assert macros[0].body == "proc.name in (bash, sh) or proc.name='a # not a comment'"


@pytest.mark.parametrize(("text", "message"), [
    ("macro = evt.type=open", "x.flt:1: expected `macro NAME = FILTER`"),
    ("macro proc.x = evt.type=open", "x.flt:1: expected `macro NAME = FILTER`"),
    ("define a = b", "x.flt:1: expected `macro NAME = FILTER`"),
    ("macro a =", 'x.flt:1: macro "a" has an empty body'),
    ("  evt.type=open", "x.flt:1: continuation line outside a macro"),
])
def test_file_errors(text: str, message: str) -> None:
    with pytest.raises(FilterError) as info:
        parse_file(text, "x.flt")
    assert info.value.message == message and info.value.code == "bad-macro"


def test_expansion_substitutes_as_if_bracketed_and_flattens() -> None:
    library = lib("macro either = evt.type=open or evt.type=close\nmacro both = proc.name=a and either\n")
    tree = expand(parse("both and not either"), library)
    assert dump(tree) == ("(and (= proc.name 'a') (or (= evt.type 'open') (= evt.type 'close')) "
                          "(not (or (= evt.type 'open') (= evt.type 'close'))))")


def test_expanded_nodes_point_at_the_reference() -> None:
    text = "proc.name=x or bad_macro"
    library = lib("macro bad_macro = evt.num=abc\n")
    with pytest.raises(FilterError) as info:
        compile_filter(text, CAT, library=library)
    assert (info.value.code, info.value.span, info.value.message) == \
        ("bad-value", (15, 24), '\'=\' needs a number, got "abc"')


def test_unknown_macro_with_suggestion_and_span() -> None:
    text = "evt.type=open and spawned_proces"
    with pytest.raises(FilterError) as info:
        compile_filter(text, CAT)
    e = info.value
    assert (e.code, e.span, e.message, e.hints) == (
        "unknown-macro", (18, 32), 'unknown macro "spawned_proces"', ['did you mean "spawned_process"?'])
    assert e.render(text).splitlines()[1:3] == ["    " + text, "    " + " " * 18 + "^" + "~" * 13]


def test_unknown_name_without_suggestion_explains_bare_names() -> None:
    with pytest.raises(FilterError) as info:
        compile_filter("zzzz", CAT, library=MacroLibrary({}))
    assert info.value.hints == ["a bare name must be a macro (sysmon --list-macros); a check is FIELD OP VALUE"]


def test_cycles_and_syntax_errors_in_macros_point_at_the_use() -> None:
    library = lib("macro a = b and evt.type=open\nmacro b = a\nmacro broken = evt.type=open and\n")
    with pytest.raises(FilterError) as info:
        compile_filter("proc.name=x and a", CAT, library=library)
    assert (info.value.code, info.value.span, info.value.message) == ("bad-macro", (16, 17), "macro cycle: a -> b -> a")
    with pytest.raises(FilterError) as info:
        compile_filter("broken", CAT, library=library)
    assert info.value.span == (0, 6) and info.value.message.startswith('macro "broken" (t.flt:3) does not parse')


def test_shipped_library_has_the_required_macros_and_all_compile() -> None:
    assert shipped_dir() is not None and shipped_dir() in search_path()
    library = MacroLibrary.load([shipped_dir()])  # type: ignore[list-item]
    names = {m.name for m in library}
    assert set(REQUIRED) <= names
    for m in library:
        assert m.desc, f"{m.name} has no description"
        compile_filter(m.name, CAT, library=library)  # parses, expands and type-checks


def test_macro_plans() -> None:
    _, p = compile_filter("spawned_process and proc.name=bash", CAT)
    assert p == KernelPlan(types=frozenset({"execve", "execveat"}), comms=frozenset({"bash"}))
    _, p = compile_filter("inbound or outbound", CAT)
    assert p.types == frozenset({"accept", "listen", "connect"})


def test_spawned_process_and_shell_procs_match_real_events() -> None:
    state = State({5: ThreadInfo(5, 5, 1, "bash")})
    pred, _ = compile_filter("spawned_process and shell_procs", CAT)
    assert pred(make_event("execve", tid=5, comm="bash", res=0), state)
    assert not pred(make_event("execve", tid=5, comm="bash", res=-2), state)
    assert not pred(make_event("execve", tid=5, comm="python3", res=0), state)


def test_user_directories_override_shipped_macros(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mine.flt").write_text("# Mine.\nmacro shell_procs = proc.name=fish\nmacro mine = proc.pid=1\n")
    monkeypatch.setenv("SYSMON_FILTER_PATH", str(tmp_path))
    library = MacroLibrary.default()
    assert library.get("shell_procs").body == "proc.name=fish"  # type: ignore[union-attr]
    assert library.get("spawned_process") is not None and library.get("mine") is not None


def test_duplicate_names_in_one_directory_are_errors(tmp_path: Path) -> None:
    (tmp_path / "a.flt").write_text("macro x = proc.pid=1\n")
    (tmp_path / "b.flt").write_text("macro x = proc.pid=2\n")
    with pytest.raises(FilterError, match='macro "x" is already defined'):
        MacroLibrary.load([tmp_path])
