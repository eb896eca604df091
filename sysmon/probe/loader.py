"""Build, load and attach the BPF probe. The only module (with source.py) that imports bcc."""
from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sysmon.errors import ProbeError, SetupError
from sysmon.events.schema import Spec
from sysmon.events.syscalls import X86_64
from sysmon.probe import kernel, tracefs
from sysmon.probe.kernel import KernelSetup

MAX_SYSCALLS = 512
SPECS_PER_SYSCALL = 4
SNAPLEN_MAX = 16384
COUNTER_NAMES = ("sent", "dropped", "read_failed", "tgid_mismatch")
SC_ENABLED, SC_STATE = 1, 2  # sysmon.h
IDF_PIDS, IDF_TIDS, IDF_COMMS, IDF_UIDS = 1, 2, 4, 8


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    transport: str = "auto"  # "ringbuf", "perf", or "auto": the ring buffer where the kernel has it
    ringbuf_bytes: int = 64 << 20  # per machine; perf buffers get this split across CPUs
    snaplen: int = 80
    str_max: int = 4096
    args_max: int = 4096
    self_pid: int = 0

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
                 state_nrs: Iterable[int] = (), nrs: Iterable[int] | None = None) -> None:
        """Loaded and attached to the syscalls `nrs` (None: all), see select()."""
        opts.validate()
        check_privileges()
        self.tracefs = tracefs.ensure()  # before bcc's import, which settles its tracefs path
        bcc = import_bcc()
        self.kernel = kernel.detect()
        if self.kernel.tree is not None:
            os.environ["BCC_KERNEL_SOURCE"] = str(self.kernel.tree)
        else:  # headers: bcc looks in /lib/modules/RELEASE/build, then unpacks kheaders
            os.environ.pop("BCC_KERNEL_SOURCE", None)
        self.transport = resolve_transport(opts, self.kernel)
        src, _ = probe_source()
        self.opts = opts
        self.cflags = cflags(opts, self.transport, self.kernel)
        try:
            self.bpf = bcc.BPF(text=src.encode(), cflags=self.cflags)
        except Exception as e:  # bcc raises bare Exception on compile/load failure
            raise ProbeError(f"the BPF probe failed to load: {e}", hints=["run `sysmon --dump-bpf` to see the source"]) from e
        self.bpf[b"sysmon_config"][ctypes.c_int(0)] = ctypes.c_uint64(opts.snaplen)
        self._table = self.bpf[b"sc_table"]
        self._specs = {nr: list(s) for nr, s in specs.items()}
        self._state_nrs = frozenset(state_nrs)
        self._tracefs = Path(bcc.TRACEFS) if self.tracefs.path is not None else None
        self.hooks: tuple[str, ...] = ()  # what the syscall programs are attached to now
        self.warnings: list[str] = []  # fallbacks that cost something the user asked for
        self.select(nrs)

    def select(self, nrs: Iterable[int] | None) -> None:
        """Enable syscalls in the kernel: None = all; otherwise only these (pushdown).

        A selection whose syscalls all have tracepoints is attached to just those
        (syscalls:sys_enter_NAME/sys_exit_NAME), so other syscalls run no BPF program; otherwise
        (or with None) raw_syscalls' sys_enter/sys_exit see every syscall and the table selects."""
        wanted = None if nrs is None else {nr for nr in nrs if nr < MAX_SYSCALLS}
        nargs = None if wanted is None else self._tracepoint_nargs(wanted)
        for nr in range(MAX_SYSCALLS):
            leaf = self._table.Leaf()
            for i, spec in enumerate(self._specs.get(nr, ())[:SPECS_PER_SYSCALL]):
                leaf.spec[i].kind, leaf.spec[i].when, leaf.spec[i].slot, leaf.spec[i].aux = spec
            enabled = SC_ENABLED if wanted is None or nr in wanted else 0
            leaf.enabled = enabled | (SC_STATE if nr in self._state_nrs else 0)
            leaf.nargs = nargs.get(nr, 6) if nargs else 6
            self._table[ctypes.c_int(nr)] = leaf
        hooks = ("raw_syscalls",) if nargs is None else tuple(sorted(X86_64[nr] for nr in nargs))
        if hooks != self.hooks:
            self._attach(hooks)

    def describe_hooks(self) -> str:
        return "raw_syscalls" if self.hooks == ("raw_syscalls",) else f"{len(self.hooks)} syscall tracepoints"

    def describe(self) -> dict[str, str]:
        """What the probe runs with, for -v and `sysmon status`."""
        return {"kernel": self.kernel.release, "types": self.kernel.types, "transport": self.transport,
                "enter_args": self.kernel.enter_store, "hooks": self.describe_hooks(),
                "tracefs": self.tracefs.note}

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
        try:
            for tp, fn, raw in _hook_points(hooks):
                if raw:
                    self.bpf.attach_raw_tracepoint(tp=tp, fn_name=fn)
                else:
                    self.bpf.attach_tracepoint(tp=tp, fn_name=fn)
        except Exception as e:  # bcc raises bare Exception on attach failure
            raise ProbeError(f"attaching the probe to {hooks[0] if len(hooks) == 1 else 'syscall tracepoints'} "
                             f"failed: {e}", hints=["run `sysmon --dump-bpf` to see the source"]) from e
        self.hooks = hooks
        self._detach(old)

    def _detach(self, hooks: tuple[str, ...]) -> None:
        """Detach in parallel: each detach waits for an RCU grace period (~40 ms here), one after the
        other 90 tracepoints took 3.5 s; concurrent waits share grace periods. bcc's ctypes calls
        release the GIL."""
        points = _hook_points(hooks)
        if not points:
            return

        def detach(point: tuple[bytes, bytes, bool]) -> None:
            tp, _, raw = point
            if raw:
                self.bpf.detach_raw_tracepoint(tp=tp)
            else:
                self.bpf.detach_tracepoint(tp=tp)

        with ThreadPoolExecutor(max_workers=min(len(points), 64)) as pool:
            list(pool.map(detach, points))

    def pin(self, *, pids: Iterable[int] | None = None, tids: Iterable[int] | None = None,
            comms: Iterable[str] | None = None, uids: Iterable[int] | None = None) -> None:
        """Identity pushdown: deliver non-state syscalls only of these pids/tids/comms/uids (None: any)."""
        mask = 0
        for bit, name, values in ((IDF_PIDS, b"pid_filter", pids), (IDF_TIDS, b"tid_filter", tids),
                                  (IDF_UIDS, b"uid_filter", uids)):
            if values is not None:
                mask |= bit
                table = self.bpf[name]
                for v in values:
                    table[ctypes.c_uint32(v)] = ctypes.c_uint8(1)
        if comms is not None:
            mask |= IDF_COMMS
            table = self.bpf[b"comm_filter"]
            for comm in comms:
                key = table.Key()
                key.comm = comm.encode()[:15]
                table[key] = ctypes.c_uint8(1)
        self.bpf[b"sysmon_config"][ctypes.c_int(1)] = ctypes.c_uint64(mask)

    def counters(self) -> dict[str, int]:
        table = self.bpf[b"counters"]
        return {name: int(sum(table[ctypes.c_int(i)])) for i, name in enumerate(COUNTER_NAMES)}

    def close(self) -> None:
        self._detach(self.hooks)
        self.hooks = ()
        self.bpf.cleanup()


def _hook_points(hooks: tuple[str, ...]) -> list[tuple[bytes, bytes, bool]]:
    """(tracepoint, program, is raw) of each attachment a set of hooks makes."""
    if hooks == ("raw_syscalls",):
        return [(b"sys_enter", b"raw_enter", True), (b"sys_exit", b"raw_exit", True)]
    return [(f"syscalls:sys_{d}_{name}".encode(), f"tp_{d}".encode(), False) for name in hooks for d in ("enter", "exit")]


def describe_probe(probe: Probe) -> str:
    """The -v lines: what the probe runs with and every fallback taken."""
    d = probe.describe()
    size = f", {probe.opts.ringbuf_bytes >> 10} KiB" if d["transport"] == "ringbuf" else ""
    lines = [f"sysmon: probe: kernel {d['kernel']} ({d['types']} types), transport {d['transport']}{size}, "
             f"enter args in {d['enter_args']}, hooks: {d['hooks']}; {d['tracefs']}\n"]
    lines += [f"sysmon: fallback: {note}\n" for note in probe.fallbacks()]
    return "".join(lines)
