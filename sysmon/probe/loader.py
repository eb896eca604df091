"""Build, load and attach the BPF probe. bcc is imported only to compile (compiled.py) and for perf buffers."""
from __future__ import annotations

import importlib.util
import os
import struct
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sysmon.errors import ProbeError, SetupError
from sysmon.events.schema import Spec
from sysmon.events.syscalls import X86_64
from sysmon.probe import bpfsys, kernel, selfpid, tracefs
from sysmon.probe import compiled as compiled_probe
from sysmon.probe.kernel import KernelSetup

MAX_SYSCALLS = 512
SPECS_PER_SYSCALL = 4
SNAPLEN_MAX = 16384
COUNTER_NAMES = ("sent", "dropped", "read_failed", "tgid_mismatch")
SC_ENABLED, SC_STATE = 1, 2  # sysmon.h
IDF_PIDS, IDF_TIDS, IDF_COMMS, IDF_UIDS, IDF_CGROUPS = 1, 2, 4, 8, 16
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")
_SC_TAIL = struct.Struct("<HBB")  # struct sysmon_sc after its specs: enabled, nargs, pad


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    transport: str = "auto"  # "ringbuf", "perf", or "auto": the ring buffer where the kernel has it
    ringbuf_bytes: int = 64 << 20  # per machine; perf buffers get this split across CPUs
    snaplen: int = 80
    str_max: int = 4096
    args_max: int = 4096
    self_pid: int = 0
    shard: tuple[int, int] | None = None  # (I, N): only the events of the CPUs numbered I modulo N
    probe_cache: Path = compiled_probe.DEFAULT_CACHE  # compiled probes kept between runs

    def validate(self) -> None:
        if self.transport not in ("auto", "ringbuf", "perf"):
            raise ProbeError(f"unknown transport {self.transport!r}", hints=["use auto, ringbuf or perf"])
        pages = self.ringbuf_bytes // 4096
        if pages < 1 or pages & (pages - 1):
            raise ProbeError(
                f"buffer size {self.ringbuf_bytes} is not a power-of-two number of pages",
                hints=["use for example 16M, 64M or 256M"],
            )
        if not 0 <= self.snaplen <= SNAPLEN_MAX:
            raise ProbeError(f"snaplen {self.snaplen} is out of range", hints=[f"use 0..{SNAPLEN_MAX}"])


def probe_source() -> tuple[str, Path]:
    pkg = resources.files("sysmon.probe")
    src = pkg.joinpath("sysmon.bpf.c").read_text()
    return src, Path(str(pkg))


def resolve_transport(opts: ProbeOptions, setup: KernelSetup) -> str:
    if opts.transport == "auto":
        return "ringbuf" if setup.has("ringbuf") else "perf"
    if opts.transport == "ringbuf" and not setup.has("ringbuf"):
        raise ProbeError(f"kernel {setup.release} has no BPF ring buffer (Linux 5.8)",
                         hints=["use --transport perf (or auto)"])
    return opts.transport


def cflags(opts: ProbeOptions, transport: str, setup: KernelSetup) -> list[str]:
    """Every parameter of the C code: integers and kernel features only, never user text."""
    _, incdir = probe_source()
    flags = [
        f"-I{incdir}",
        f"-DSELF_PID={int(opts.self_pid or os.getpid())}",
        f"-DNCPU={int(os.cpu_count() or 1)}",
        f"-DRINGBUF_PAGES={int(opts.ringbuf_bytes // 4096)}",
        f"-DSTR_MAX={int(opts.str_max)}",
        f"-DARGS_MAX={int(opts.args_max)}",
        "-Wno-unused-function",
    ]
    if transport == "perf":
        flags.append("-DPERF_TRANSPORT")
    return flags + setup.cflags()


def import_bcc() -> Any:
    try:
        import bcc  # noqa: PLC0415  (only here: the rest of sysmon works without bcc)
    except ImportError as e:
        raise SetupError(
            "the bcc Python module is not importable",
            hints=[
                "apt-get install python3-bpfcc (never 'pip install bcc': that is another project)",
                "run sysmon from a venv made with --system-site-packages on /usr/bin/python3",
            ],
        ) from e
    if not hasattr(bcc, "BPF"):
        raise SetupError(
            f"the 'bcc' module at {getattr(bcc, '__file__', '?')} is not BPF Compiler Collection",
            hints=["pip uninstall bcc; apt-get install python3-bpfcc"],
        )
    return bcc


def check_privileges() -> None:
    if os.geteuid() != 0:
        raise SetupError(
            "sysmon needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) to load its probe",
            hints=["run it with sudo"],
        )


class Probe:
    """The loaded BPF program: maps, counters and the kernel-side syscall selection."""

    def __init__(self, specs: Mapping[int, Iterable[Spec]], opts: ProbeOptions,
                 state_nrs: Iterable[int] = (), nrs: Iterable[int] | None = None,
                 on_compile: Callable[[], None] | None = None) -> None:
        """Loaded and attached to the syscalls `nrs` (None: all), see select().

        `on_compile` is called before a compile starts (nothing usable in the cache)."""
        opts.validate()
        check_privileges()
        self.tracefs = tracefs.ensure()
        self.kernel = kernel.detect()
        self.transport = resolve_transport(opts, self.kernel)
        self.opts = opts
        self.cflags = cflags(opts, self.transport, self.kernel)
        self.compiled_now = False  # whether this start ran the compiler (else: the cache)
        compiled = self._compiled(on_compile)
        sizes = {"events": opts.ringbuf_bytes} if self.transport == "ringbuf" else {}
        self_pid = int(opts.self_pid or os.getpid())
        if self_pid == os.getpid():  # ours: as the kernel numbers it (not our pid namespace's number)
            self_pid = selfpid.kernel_tgid()
        self.objects = compiled_probe.instantiate(compiled, self_pid, sizes)
        self._counter_cpus = _possible_cpus()
        self._set_config(0, opts.snaplen)
        if opts.shard is not None:
            self.set_shard(*opts.shard)
        self._specs = {nr: list(s) for nr, s in specs.items()}
        self._state_nrs = frozenset(state_nrs)
        self._tracefs = self.tracefs.path
        self._links: dict[tuple[str, bool], int] = {}  # (tracepoint, raw) -> attachment fd
        self.objects.load(["proc_exit"])
        self._links[("sched_process_exit", True)] = bpfsys.raw_tracepoint_open(
            "sched_process_exit", self.objects.programs["proc_exit"])
        self.hooks: tuple[str, ...] = ()  # what the syscall programs are attached to now
        self.warnings: list[str] = []  # fallbacks that cost something the user asked for
        self.select(nrs)

    def _compiled(self, on_compile: Callable[[], None] | None) -> compiled_probe.CompiledProbe:
        src, _ = probe_source()
        build_flags = [f"-DSELF_PID={compiled_probe.SELF_PID_SENTINEL}" if f.startswith("-DSELF_PID=") else
                       "-DRINGBUF_PAGES=1" if f.startswith("-DRINGBUF_PAGES=") else f for f in self.cflags]
        key = compiled_probe.cache_key(src, build_flags, self.kernel.key, _bcc_version())
        found = compiled_probe.load_cached(key, self.opts.probe_cache)
        if found is not None:
            return found
        if on_compile is not None:
            on_compile()
        bcc = import_bcc()
        if self.kernel.tree is not None:
            os.environ["BCC_KERNEL_SOURCE"] = str(self.kernel.tree)
        else:  # headers: bcc looks in /lib/modules/RELEASE/build, then unpacks kheaders
            os.environ.pop("BCC_KERNEL_SOURCE", None)
        try:
            made = compiled_probe.compile_with_bcc(bcc, src, build_flags)
        except ProbeError:
            raise
        except Exception as e:  # bcc raises bare Exception on compile/load failure
            raise ProbeError(f"the BPF probe failed to compile: {e}",
                             hints=["run `sysmon --dump-bpf` to see the source"]) from e
        self.compiled_now = True
        compiled_probe.store(key, made, self.opts.probe_cache)
        return made

    def _set_config(self, index: int, value: int) -> None:
        bpfsys.map_update(self.objects.map_fd("sysmon_config"), _U32.pack(index), _U64.pack(value))

    def set_snaplen(self, snaplen: int) -> None:
        if not 0 <= snaplen <= SNAPLEN_MAX:
            raise ProbeError(f"snaplen {snaplen} is out of range", hints=[f"use 0..{SNAPLEN_MAX}"])
        self._set_config(0, snaplen)

    def set_shard(self, index: int, count: int) -> None:
        """Deliver only the events of the CPUs numbered `index` modulo `count` (docs/scaling.md)."""
        if not 0 <= index < count:
            raise ProbeError(f"shard {index}/{count} does not exist", hints=["use I/N with 0 <= I < N, e.g. 0/2"])
        self._set_config(2, count << 32 | index)

    def ring(self) -> tuple[int, int]:
        """The ring buffer's map fd and data size (ringbuf transport)."""
        fd, spec = self.objects.maps["events"]
        return fd, spec.max_entries

    def perf_map_fd(self) -> int:
        return self.objects.map_fd("events")

    def select(self, nrs: Iterable[int] | None) -> None:
        """Enable syscalls in the kernel: None = all; otherwise only these (pushdown).

        A selection whose syscalls all have tracepoints is attached to just those
        (syscalls:sys_enter_NAME/sys_exit_NAME), so other syscalls run no BPF program; otherwise
        (or with None) raw_syscalls' sys_enter/sys_exit see every syscall and the table selects."""
        wanted = None if nrs is None else {nr for nr in nrs if nr < MAX_SYSCALLS}
        nargs = None if wanted is None else self._tracepoint_nargs(wanted)
        table = self.objects.map_fd("sc_table")
        for nr in range(MAX_SYSCALLS):
            spec_bytes = bytearray(4 * SPECS_PER_SYSCALL)
            for i, spec in enumerate(self._specs.get(nr, ())[:SPECS_PER_SYSCALL]):
                spec_bytes[4 * i : 4 * i + 4] = bytes(spec)
            enabled = SC_ENABLED if wanted is None or nr in wanted else 0
            enabled |= SC_STATE if nr in self._state_nrs else 0
            leaf = bytes(spec_bytes) + _SC_TAIL.pack(enabled, nargs.get(nr, 6) if nargs else 6, 0)
            bpfsys.map_update(table, _U32.pack(nr), leaf)
        hooks = ("raw_syscalls",) if nargs is None else tuple(sorted(X86_64[nr] for nr in nargs))
        if hooks != self.hooks:
            self._attach(hooks)

    def describe_hooks(self) -> str:
        return "raw_syscalls" if self.hooks == ("raw_syscalls",) else f"{len(self.hooks)} syscall tracepoints"

    def describe(self) -> dict[str, str]:
        """What the probe runs with, for -v and `sysmon status`."""
        return {"kernel": self.kernel.release, "types": self.kernel.types, "transport": self.transport,
                "enter_args": self.kernel.enter_store, "hooks": self.describe_hooks(),
                "tracefs": self.tracefs.note, "compiled": "now" if self.compiled_now else "cached"}

    def fallbacks(self) -> list[str]:
        return [*self.kernel.fallbacks, *self.warnings]

    def _tracepoint_nargs(self, nrs: set[int]) -> dict[int, int] | None:
        """Declared argument count of each syscall's enter tracepoint; None if one has none."""
        if self._tracefs is None:
            warning = (f"{self.tracefs.note}; selected syscalls are picked from raw_syscalls, so every "
                       "syscall of the machine runs the probe (about 2x the cost of a type filter)")
            if warning not in self.warnings:
                self.warnings.append(warning)
            return None
        out = {}
        events = self._tracefs / "events" / "syscalls"
        for nr in nrs:
            name = X86_64.get(nr)
            if name is None or not (events / f"sys_exit_{name}").is_dir():
                return None
            try:
                fmt = (events / f"sys_enter_{name}" / "format").read_text()
                fields = [line for line in fmt.splitlines() if line.strip().startswith("field:")]
            except OSError:
                return None
            out[nr] = len(fields) - 5  # after the 4 common fields and __syscall_nr
        return out

    def _attach(self, hooks: tuple[str, ...]) -> None:
        """Attach the new hooks before detaching the old: a switch may double an event, never lose one."""
        old = self.hooks
        points = _hook_points(hooks)
        progs = self.objects.programs
        made: list[tuple[str, bool]] = []
        try:
            self.objects.load([fn for _, fn, _ in points])
            for tp, fn, raw in points:
                if raw:
                    self._links[(tp, raw)] = bpfsys.raw_tracepoint_open(tp, progs[fn])
                else:
                    assert self._tracefs is not None
                    category, event = tp.split(":")
                    self._links[(tp, raw)] = bpfsys.tracepoint_attach(self._tracefs, category, event, progs[fn])
                made.append((tp, raw))
        except ProbeError as e:
            self._close_links(made)
            raise ProbeError(f"attaching the probe to {hooks[0] if len(hooks) == 1 else 'syscall tracepoints'} "
                             f"failed: {e}", hints=["run `sysmon --dump-bpf` to see the source"]) from e
        self.hooks = hooks
        self._close_links([(tp, raw) for tp, _, raw in _hook_points(old)])

    def _close_links(self, links: list[tuple[str, bool]]) -> None:
        """Detach in parallel: each detach waits for an RCU grace period (~40 ms here), one after the
        other 90 tracepoints took 3.5 s; concurrent waits share grace periods (close releases the GIL)."""
        fds = [self._links.pop(link) for link in links if link in self._links]
        if not fds:
            return
        with ThreadPoolExecutor(max_workers=min(len(fds), 64)) as pool:
            list(pool.map(os.close, fds))

    def pin(self, *, pids: Iterable[int] | None = None, tids: Iterable[int] | None = None,
            comms: Iterable[str] | None = None, uids: Iterable[int] | None = None, cgroups: bool = False) -> None:
        """Identity pushdown: deliver non-state syscalls only of these pids/tids/comms/uids (None: any),
        and with `cgroups`, none of the cgroups `deny_cgroups` names."""
        mask = IDF_CGROUPS if cgroups else 0
        for bit, name, values in ((IDF_PIDS, "pid_filter", pids), (IDF_TIDS, "tid_filter", tids),
                                  (IDF_UIDS, "uid_filter", uids)):
            if values is not None:
                mask |= bit
                for v in values:
                    bpfsys.map_update(self.objects.map_fd(name), _U32.pack(v), b"\x01")
        if comms is not None:
            mask |= IDF_COMMS
            for comm in comms:
                bpfsys.map_update(self.objects.map_fd("comm_filter"), comm.encode()[:15].ljust(16, b"\0"), b"\x01")
        self._set_config(1, mask)

    def deny_cgroups(self, ids: Iterable[int]) -> None:
        """Cgroups whose tasks' non-state syscalls stay in the kernel (with `pin(cgroups=True)`)."""
        fd = self.objects.map_fd("cgroup_deny")
        for cgid in ids:
            bpfsys.map_update(fd, _U64.pack(cgid), b"\x01")

    def counters(self) -> dict[str, int]:
        fd = self.objects.map_fd("counters")
        out = {}
        for i, name in enumerate(COUNTER_NAMES):
            raw = bpfsys.map_lookup(fd, _U32.pack(i), 8 * self._counter_cpus)
            out[name] = sum(struct.unpack(f"<{self._counter_cpus}Q", raw)) if raw else 0
        return out

    def detach(self) -> None:
        """No program runs any more (the syscall hooks and the process-exit hook); the maps and the
        ring stay readable, so what was sent can still be drained and counted."""
        self._close_links(list(self._links))
        self.hooks = ()

    def close(self) -> None:
        self.detach()
        self.objects.close()


def _possible_cpus() -> int:
    """Per-CPU map values hold one slot per possible CPU (/sys/devices/system/cpu/possible: "0-3")."""
    try:
        text = Path("/sys/devices/system/cpu/possible").read_text().strip()
    except OSError:
        return os.cpu_count() or 1
    return sum(int(b) - int(a) + 1 if "-" in part else 1
               for part in text.split(",") for a, _, b in [part.partition("-")] if part) or 1


def _bcc_version() -> str:
    """bcc's version without importing it (the import loads LLVM): the cache key needs it."""
    spec = importlib.util.find_spec("bcc")
    if spec is None or spec.origin is None:
        return "none"
    try:
        return (Path(spec.origin).parent / "version.py").read_text().strip()
    except OSError:
        return "unknown"


def _hook_points(hooks: tuple[str, ...]) -> list[tuple[str, str, bool]]:
    """(tracepoint, program, is raw) of each attachment a set of hooks makes."""
    if hooks == ("raw_syscalls",):
        return [("sys_enter", "raw_enter", True), ("sys_exit", "raw_exit", True)]
    return [(f"syscalls:sys_{d}_{name}", f"tp_{d}", False) for name in hooks for d in ("enter", "exit")]


def describe_probe(probe: Probe) -> str:
    """The -v lines: what the probe runs with and every fallback taken."""
    d = probe.describe()
    size = f", {probe.opts.ringbuf_bytes >> 10} KiB" if d["transport"] == "ringbuf" else ""
    compiled = "compiled now" if d["compiled"] == "now" else "from the cache"
    lines = [f"sysmon: probe: kernel {d['kernel']} ({d['types']} types, probe {compiled}), transport "
             f"{d['transport']}{size}, enter args in {d['enter_args']}, hooks: {d['hooks']}; {d['tracefs']}\n"]
    lines += [f"sysmon: fallback: {note}\n" for note in probe.fallbacks()]
    return "".join(lines)
