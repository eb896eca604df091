"""The floor: a BPF program that only counts, in a per-CPU map, on both raw syscall tracepoints, or
with --filter on exactly the per-syscall tracepoints sysmon attaches for that filter (the floor of a
type-selective run: what remains above it is sysmon's own).

    bench/bare_counter.py [--filter 'evt.type=connect']

Prints "ready" once attached (with --filter, how many tracepoints), counts until SIGINT/SIGTERM, then
prints "events N".
"""
from __future__ import annotations

import argparse
import ctypes
import os
import signal
import sys
import time

from sysmon.probe import btf

SRC = b"""
BPF_PERCPU_ARRAY(counts, u64, 1);
static inline int bump(void) { int k = 0; u64 *v = counts.lookup(&k); if (v) (*v)++; return 0; }
RAW_TRACEPOINT_PROBE(sys_enter) { return bump(); }
RAW_TRACEPOINT_PROBE(sys_exit) { return bump(); }
"""


def sysmon_hooks(filter_text: str) -> list[str]:
    """The syscalls whose tracepoints sysmon attaches for `filter_text` (probe/loader.py `select`)."""
    from sysmon.config import RunConfig
    from sysmon.pipeline import Pipeline
    from sysmon.events.syscalls import X86_64
    from sysmon.probe import tracefs

    wanted = Pipeline.build(RunConfig(filter=filter_text), sys.stdout).wanted_nrs
    if wanted is None:
        raise SystemExit(f"{filter_text!r} selects every syscall: sysmon uses raw_syscalls (run without --filter)")
    found = tracefs.ensure().path
    if found is None:
        raise SystemExit("tracefs is unavailable: sysmon would use raw_syscalls too")
    events = found / "events" / "syscalls"
    names = sorted(X86_64[nr] for nr in wanted if nr in X86_64)
    if not all((events / f"sys_enter_{name}").is_dir() for name in names):
        raise SystemExit("a selected syscall has no tracepoint: sysmon uses raw_syscalls (run without --filter)")
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--filter", help="count on the syscall tracepoints sysmon attaches for this filter")
    opts = ap.parse_args()
    os.environ["BCC_KERNEL_SOURCE"] = str(btf.ensure_tree())
    import bcc

    src, names = SRC, []
    if opts.filter:
        names = sysmon_hooks(opts.filter)
        src = SRC.split(b"RAW_TRACEPOINT_PROBE")[0] + b"".join(
            b"TRACEPOINT_PROBE(syscalls, sys_%s_%s) { return bump(); }\n" % (d, n.encode())
            for n in names for d in (b"enter", b"exit"))
    b = bcc.BPF(text=src)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready" + (f" on {2 * len(names)} syscall tracepoints" if opts.filter else ""), flush=True)
    while not stop:
        time.sleep(0.05)
    print(f"events {sum(b[b'counts'][ctypes.c_int(0)])}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
