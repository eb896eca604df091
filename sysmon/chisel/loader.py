"""Finding chisels: directories in search order, then the `sysmon.chisels` entry-point group.

Search order (the first chisel of a name wins, so a user can override a built-in):
    $SYSMON_CHISEL_PATH (colon-separated), ~/.config/sysmon/chisels, /usr/share/sysmon/chisels,
    the copy of chisels/ installed with sysmon, then entry points (`name = "module:Class"`).

sysmon runs as root and executes chisel files, so a file or directory that another user could
write (group/other-writable, or owned by someone else than root or the current user) is refused.
"""
from __future__ import annotations

import difflib
import importlib.resources
import importlib.util
import os
import stat
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sysmon.chisel.api import Chisel
from sysmon.errors import ChiselError

if TYPE_CHECKING:
    import importlib.metadata

ENTRY_POINT_GROUP = "sysmon.chisels"


@dataclass(frozen=True, slots=True)
class Found:
    """A chisel class and where it came from (a file path, or `entry point NAME (module:Class)`)."""

    name: str
    origin: str
    cls: type[Chisel]


def builtin_dir() -> Path:
    """The chisels/ shipped with sysmon (package data under sysmon/_data)."""
    return Path(str(importlib.resources.files("sysmon") / "_data" / "chisels"))


def default_dirs(environ: os._Environ[str] | dict[str, str] | None = None) -> list[Path]:
    env = os.environ if environ is None else environ
    dirs = [Path(p) for p in env.get("SYSMON_CHISEL_PATH", "").split(os.pathsep) if p]
    dirs += [Path("~/.config/sysmon/chisels").expanduser(), Path("/usr/share/sysmon/chisels"), builtin_dir()]
    return dirs


def check_safe(path: Path) -> None:
    """Refuse files and directories other users could change (sysmon runs them as root)."""
    st = path.stat()
    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file"
    if st.st_uid not in (0, os.geteuid()):
        raise ChiselError(f"refusing chisel {kind} {path}: it is owned by uid {st.st_uid}, not by root or you",
                          hints=[f"chown root {path}"])
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ChiselError(f"refusing chisel {kind} {path}: it is writable by other users "
                          f"(mode {stat.S_IMODE(st.st_mode):04o})", hints=[f"chmod go-w {path}"])


def load_file(path: Path) -> type[Chisel]:
    """Execute a chisel file and return the Chisel subclass it defines (after the permission check,
    of the link and of the file it leads to, and of both their directories)."""
    check_safe(path.parent)
    check_safe(path)
    real = path.resolve()
    if real != path.absolute():
        check_safe(real.parent)
        check_safe(real)
    module_name = f"sysmon_chisel_{abs(hash(str(path)))}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ChiselError(f"cannot load chisel {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        del sys.modules[module_name]
        raise ChiselError(f"chisel {path} failed to load: {type(e).__name__}: {e}") from e
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, Chisel) and c.__module__ == module_name]
    if len(classes) != 1:
        raise ChiselError(f"chisel {path} must define exactly one Chisel subclass, found {len(classes)}")
    cls = classes[0]
    if not cls.name:
        cls.name = path.stem
    elif cls.name != path.stem:
        raise ChiselError(f"chisel {path} is named '{cls.name}': the file must be named {cls.name}.py")
    validate(cls, str(path))
    return cls


def validate(cls: type[Chisel], origin: str) -> None:
    reserved = set(dir(Chisel))
    for arg in cls.args:
        if arg.name in reserved or not arg.name.isidentifier():
            raise ChiselError(f"chisel {origin}: argument name '{arg.name}' is not usable")


class Loader:
    """Finds chisels by name or lists them all. `dirs` and `entry_points` default to the standard places."""

    def __init__(self, dirs: Sequence[Path] | None = None, *, entry_points: bool = True) -> None:
        self.dirs = list(default_dirs() if dirs is None else dirs)
        self.use_entry_points = entry_points

    def _files(self) -> Iterator[tuple[str, Path]]:
        for d in self.dirs:
            if not d.is_dir():
                continue
            for path in sorted(d.glob("*.py")):
                if not path.name.startswith("_"):
                    yield path.stem, path

    def _entry_points(self) -> Iterable[importlib.metadata.EntryPoint]:
        if not self.use_entry_points:
            return ()
        import importlib.metadata  # noqa: PLC0415 (slow to import: only when chisels are looked up)

        return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> Found:
        origin = f"entry point {ep.name} ({ep.value})"
        try:
            cls = ep.load()
        except Exception as e:
            raise ChiselError(f"chisel {origin} failed to load: {type(e).__name__}: {e}") from e
        if not (isinstance(cls, type) and issubclass(cls, Chisel)):
            raise ChiselError(f"chisel {origin} is not a Chisel subclass")
        if not cls.name:
            cls.name = ep.name
        validate(cls, origin)
        return Found(ep.name, origin, cls)

    def find(self, name: str) -> Found:
        """The first chisel called `name`; a refused or broken first match is an error, not skipped."""
        for stem, path in self._files():
            if stem == name:
                return Found(name, str(path), load_file(path))
        for ep in self._entry_points():
            if ep.name == name:
                return self._load_entry_point(ep)
        known = sorted(f.name for f in self.all()[0])
        close = difflib.get_close_matches(name, known, n=1)
        raise ChiselError(f"chisel '{name}' not found",
                          hints=([f"did you mean '{close[0]}'?"] if close else []) + ["'sysmon -cl' lists the chisels"])

    def all(self) -> tuple[list[Found], list[ChiselError]]:
        """Every loadable chisel (first of each name), and the problems met on the way."""
        found: dict[str, Found] = {}
        problems: list[ChiselError] = []
        for stem, path in self._files():
            if stem in found:
                continue
            try:
                found[stem] = Found(stem, str(path), load_file(path))
            except ChiselError as e:
                if all(p.message != e.message for p in problems):
                    problems.append(e)
        for ep in self._entry_points():
            if ep.name in found:
                continue
            try:
                found[ep.name] = self._load_entry_point(ep)
            except ChiselError as e:
                problems.append(e)
        return sorted(found.values(), key=lambda f: f.name), problems
