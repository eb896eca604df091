"""proc.* and thread.* fields: the process and thread that made the call."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sysmon.events.model import NO_THREAD
from sysmon.fields.field import ArgKind, Extractor, Field, FieldClass, FieldType

if TYPE_CHECKING:
    from sysmon.events.model import Event
    from sysmon.state.state import State, ThreadInfo

T = FieldType


def _thread(evt: Event, state: State) -> ThreadInfo | None:
    return state.thread(evt.tid) or state.process(evt.pid)


def _of_thread(fn: Callable[[ThreadInfo], Any]) -> Extractor:
    """An extractor reading the event's thread; None when the thread is unknown."""

    def extract(evt: Event, state: State, arg: str | None) -> Any:
        t = _thread(evt, state)
        return None if t is None else fn(t)

    return extract


def _of_parent(fn: Callable[[ThreadInfo], Any]) -> Extractor:
    def extract(evt: Event, state: State, arg: str | None) -> Any:
        t = _thread(evt, state)
        parent = state.process(t.ppid) if t is not None else None
        return None if parent is None else fn(parent)

    return extract


def _of_ancestor(fn: Callable[[ThreadInfo], Any]) -> Extractor:
    """proc.aname[N] / proc.apid[N]: N=0 the process itself, 1 its parent...; no N: all ancestors.

    Always a list (multi field): one element with N, None when there is no such ancestor.
    """

    def extract(evt: Event, state: State, arg: str | None) -> list[Any] | None:
        t = _thread(evt, state)
        if t is None:
            return None
        if arg is None:
            return [fn(a) for a in state.ancestors(t)]
        if not arg.isdigit():
            return None
        n = int(arg)
        chain = (t, *state.ancestors(t))
        return [fn(chain[n])] if n < len(chain) else None

    return extract


def _cmdline(t: ThreadInfo) -> str:
    return t.cmdline


def _loginshellid(evt: Event, state: State, arg: str | None) -> int | None:
    t = _thread(evt, state)
    if t is None:
        return None
    shells = [p.pid for p in (t, *state.ancestors(t)) if p.comm.endswith("sh")]
    return shells[-1] if shells else None


def _duration(evt: Event, state: State, arg: str | None) -> int | None:
    main = state.process(evt.pid)
    return evt.ts_ns - main.start_ns if main is not None and main.start_ns else None


def _nthreads(evt: Event, state: State) -> int:
    return sum(1 for t in state.threads.values() if t.pid == evt.pid)


def _fdopencount(evt: Event, state: State, arg: str | None) -> int | None:
    t = _thread(evt, state)
    return None if t is None else len(t.fdtable.fds)


def _nonzero(value: int) -> int | None:
    return value or None


def _sname(evt: Event, state: State, arg: str | None) -> str | None:
    """The session leader: the process pid=sid, else the eldest ancestor in the same session."""
    t = _thread(evt, state)
    if t is None or not t.sid:
        return None
    leader = state.process(t.sid)
    if leader is not None:
        return leader.comm
    eldest = t
    for a in state.ancestors(t):
        if a.sid != t.sid:
            break
        eldest = a
    return eldest.comm


def _fdusage(t: ThreadInfo) -> float | None:
    return len(t.fdtable.fds) / t.fdlimit if t.fdlimit else None


def _cgroup(evt: Event, state: State, arg: str | None) -> str | None:
    """thread.cgroup.SUBSYS: the path of the cgroup holding controller SUBSYS (v2: the only one)."""
    t = _thread(evt, state)
    cgroups = state.cgroups(t) if t is not None else None
    if not cgroups or arg is None:
        return None
    for controllers, path in cgroups:
        if arg in controllers.split(","):
            return path
    unified = [path for controllers, path in cgroups if controllers == ""]
    return unified[0] if unified else None


def _cgroups(evt: Event, state: State, arg: str | None) -> str | None:
    t = _thread(evt, state)
    cgroups = state.cgroups(t) if t is not None else None
    if cgroups is None:
        return None
    return " ".join(f"{controllers or 'unified'}={path}" for controllers, path in cgroups)


def _session_fields() -> tuple[Field, ...]:
    return (
        Field("proc.sid", T.INT64, "the session id of the process generating the event.",
              _of_thread(lambda t: _nonzero(t.sid))),
        Field("proc.sname", T.STR, "the name of the current process's session leader. This is either the process "
              "with pid=proc.sid or the eldest ancestor that has the same sid as the current process.", _sname),
        Field("proc.is_sid_leader", T.BOOL, "'true' if this process is the leader of its session (proc.pid = "
              "proc.sid).", _of_thread(lambda t: t.sid == t.pid if t.sid else None)),
        Field("proc.vpgid", T.INT64, "the process group id of the process generating the event, as seen from its "
              "current PID namespace.", _of_thread(lambda t: _nonzero(t.vpgid))),
        Field("proc.is_vpgid_leader", T.BOOL, "'true' if this process is the leader of its process group "
              "(proc.vpid = proc.vpgid).", _of_thread(lambda t: t.vpgid == t.vpid if t.vpgid and t.vpid else None)),
        Field("proc.vpid", T.INT64, "the id of the process generating the event as seen from its current PID "
              "namespace.", _of_thread(lambda t: _nonzero(t.vpid))),
        Field("proc.pvpid", T.INT64, "the id of the parent process as seen from its current PID namespace.",
              _of_parent(lambda t: _nonzero(t.vpid))),
        Field("proc.tty", T.INT64, "The controlling terminal of the process (device number). 0 for processes "
              "without a terminal.", _of_thread(lambda t: t.tty)),
        Field("proc.fdlimit", T.INT64, "maximum number of FDs the process can open.",
              _of_thread(lambda t: _nonzero(t.fdlimit))),
        Field("proc.fdusage", T.UINT64, "the ratio between open FDs and maximum available FDs for the process "
              "(print only: a fraction).", _of_thread(_fdusage), print_only=True),
        Field("proc.pexe", T.STR, "the first command line argument of the parent process.",
              _of_parent(lambda t: t.exe or None)),
        Field("proc.pexepath", T.STR, "the full executable path of the parent process.",
              _of_parent(lambda t: t.exepath or None)),
    )


def _proc_fields() -> tuple[Field, ...]:
    return (
        Field("proc.pid", T.INT64, "the id of the process generating the event.",
              lambda e, s, a: e.pid if e.pid != NO_THREAD else None, kernel="pid"),
        Field("proc.exe", T.STR, "the first command line argument (usually the executable name or a custom one).",
              _of_thread(lambda t: t.exe)),
        Field("proc.name", T.STR, "the name (excluding the path) of the executable generating the event.",
              lambda e, s, a: e.comm if e.pid != NO_THREAD else None, kernel="comm"),
        Field("proc.args", T.STR, "the arguments passed on the command line when starting the process generating "
              "the event.", _of_thread(lambda t: " ".join(t.args))),
        Field("proc.env", T.STR, "the environment variables of the process generating the event.",
              _of_thread(lambda t: " ".join(t.env))),
        Field("proc.cmdline", T.STR, "full process command line, i.e. proc.name + proc.args.", _of_thread(_cmdline)),
        Field("proc.exeline", T.STR, "full process command line, with exe as first argument, i.e. proc.exe + "
              "proc.args.", _of_thread(lambda t: " ".join([t.exe, *t.args]))),
        Field("proc.cwd", T.STR, "the current working directory of the event.", _of_thread(lambda t: t.cwd or None)),
        Field("proc.nthreads", T.UINT64, "the number of threads that the process generating the event currently "
              "has, including the main process thread.", lambda e, s, a: _nthreads(e, s)),
        Field("proc.nchilds", T.UINT64, "the number of child threads that the process generating the event "
              "currently has. This excludes the main process thread.",
              lambda e, s, a: max(_nthreads(e, s) - 1, 0)),
        Field("proc.ppid", T.INT64, "the pid of the parent of the process generating the event.",
              lambda e, s, a: e.ppid if e.pid != NO_THREAD else None),
        Field("proc.pname", T.STR, "the name (excluding the path) of the parent of the process generating the "
              "event.", _of_parent(lambda t: t.comm)),
        Field("proc.pcmdline", T.STR, "the full command line (proc.name + proc.args) of the parent of the process "
              "generating the event.", _of_parent(_cmdline)),
        Field("proc.apid", T.INT64, "the pid of one of the process ancestors. E.g. proc.apid[1] returns the parent "
              "pid, proc.apid[2] returns the grandparent pid, and so on. proc.apid[0] is the pid of the current "
              "process. proc.apid without arguments can be used in filters only and matches any of the process "
              "ancestors, e.g. proc.apid=1234.", _of_ancestor(lambda t: t.pid), multi=True, arg=ArgKind.OPTIONAL),
        Field("proc.aname", T.STR, "the name (excluding the path) of one of the process ancestors. E.g. "
              "proc.aname[1] returns the parent name, proc.aname[2] returns the grandparent name, and so on. "
              "proc.aname[0] is the name of the current process. proc.aname without arguments can be used in "
              "filters only and matches any of the process ancestors, e.g. proc.aname=bash.",
              _of_ancestor(lambda t: t.comm), multi=True, arg=ArgKind.OPTIONAL),
        Field("proc.loginshellid", T.INT64, "the pid of the oldest shell among the ancestors of the current "
              "process, if there is one. This field can be used to separate different user sessions, and is useful "
              "in conjunction with chisels like spy_user.", _loginshellid),
        Field("proc.duration", T.RELTIME, "number of nanoseconds since the process started.", _duration),
        Field("proc.fdopencount", T.UINT64, "number of open FDs for the process", _fdopencount),
        Field("proc.exepath", T.STR, "The full executable path of the process.",
              _of_thread(lambda t: t.exepath or None)),
    )


def _thread_fields() -> tuple[Field, ...]:
    return (
        Field("thread.tid", T.INT64, "the id of the thread generating the event.", lambda e, s, a: e.tid,
              kernel="tid"),
        Field("thread.ismain", T.BOOL, "'true' if the thread generating the event is the main one in the process.",
              lambda e, s, a: e.tid == e.pid if e.pid != NO_THREAD else None),
        Field("thread.vtid", T.INT64, "the id of the thread generating the event as seen from its current PID "
              "namespace.", _of_thread(lambda t: _nonzero(t.vtid))),
        Field("thread.cgroups", T.STR, "all the cgroups the thread belongs to, aggregated into a single string "
              "(`controllers=path`, `unified=path` for cgroup v2).", _cgroups),
        Field("thread.cgroup", T.STR, "the cgroup the thread belongs to, for a specific subsystem. E.g. "
              "thread.cgroup.cpuacct (cgroup v2: the unified path for any subsystem).", _cgroup,
              arg=ArgKind.REQUIRED),
    )


def field_classes() -> list[FieldClass]:
    return [
        FieldClass("process", "Additional information about the process and thread executing the syscall event.",
                   _proc_fields() + _session_fields() + _thread_fields()),
    ]
