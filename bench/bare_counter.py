"""The floor: a BPF program on both raw syscall tracepoints that only counts, in a per-CPU map.

Prints "ready" once attached, counts until SIGINT/SIGTERM, then prints "events N".
"""
from __future__ import annotations

import ctypes
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


def main() -> None:
    import os

    os.environ["BCC_KERNEL_SOURCE"] = str(btf.ensure_tree())
    import bcc

    b = bcc.BPF(text=SRC)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("ready", flush=True)
    while not stop:
        time.sleep(0.05)
    print(f"events {sum(b[b'counts'][ctypes.c_int(0)])}", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
