"""The import order of ../shared/DESIGN.md, read from the source (an AST walk, nothing imported):
no module imports one on a higher floor, and no modules import each other in a circle.

Floors, lowest first; a module may import its own floor and those below. Type-only imports
(`if TYPE_CHECKING:`) count for the floors but not for circles (they never run).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "sysmon"
FLOORS = [
    {"sysmon", "sysmon.errors", "sysmon.config"},
    {"sysmon.events"},
    {"sysmon.probe", "sysmon.state"},
    {"sysmon.fields"},
    {"sysmon.filter", "sysmon.output"},
    {"sysmon.engine", "sysmon.summary"},
    {"sysmon.capture", "sysmon.scap", "sysmon.listing"},  # -L lists sysdig's table as scap.etypes types it
    {"sysmon.chisel"},
    {"sysmon.pipeline"},
    {"sysmon.live", "sysmon.replay"},
    {"sysmon.daemon", "sysmon.fleet", "sysmon.seccomp", "sysmon.completion"},
    {"sysmon.cli", "sysmon.__main__", "sysmon.manpage"},
]


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        mods[name] = path
    return mods


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, only for type checking) of every sysmon import in a file, lazy ones included."""
    tree = ast.parse(path.read_text())
    typing_only = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for sub in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                     for a in node.names]
        else:
            continue
        out += [(name, id(node) in typing_only) for name in names if name.startswith("sysmon")]
    return out


def _floor(module: str) -> int:
    parts = module.split(".")
    for depth in (2, 1):
        prefix = ".".join(parts[:depth])
        for level, members in enumerate(FLOORS):
            if prefix in members:
                return level
    raise AssertionError(f"{module} is on no floor: add it to FLOORS (and to DESIGN.md)")


def test_every_module_is_on_a_floor() -> None:
    for module in MODULES:
        _floor(module)


def test_no_module_imports_one_on_a_higher_floor() -> None:
    upward = [f"{module} -> {dep}" for module, path in MODULES.items() for dep, _ in _imports(path)
              if _floor(dep) > _floor(module)]
    assert upward == []


def test_no_import_circles() -> None:
    graph = {m: {dep for dep, typing_only in _imports(p) if not typing_only and dep in MODULES and dep != m}
             for m, p in MODULES.items()}
    circles = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        for dep in sorted(graph[module]):
            visit(dep, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert circles == []
