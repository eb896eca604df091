"""`sysmon [options] [filter]`: sysdig's command line. The only place that prints errors and exits."""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from sysmon.errors import FilterError, SysmonError
from sysmon.output import buffers


def _size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().rstrip("ib").rstrip("b")
    mult = units.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if t[-1:] in units else t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 64M)") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sysmon",
        usage="sysmon [options] [-p FORMAT] [filter ...]",
        description="System-wide syscall capture with eBPF, speaking sysdig's filters, fields and output.",
        epilog="Example: sysmon -p '%proc.name %evt.type %fd.name' 'evt.type=openat and evt.dir=<'",
    )
    p.add_argument("filter", nargs="*", help="sysdig filter expression (words are joined with spaces)")
    p.add_argument("-p", "--print", dest="format", metavar="FORMAT", help="output format (default: sysdig's)")
    p.add_argument("-j", "--json", action="store_true", help="one JSON object per event")
    bufs = p.add_mutually_exclusive_group()
    bufs.add_argument("-A", "--print-ascii", dest="bufmode", action="store_const", const=buffers.ASCII, help="buffers as text")
    bufs.add_argument("-x", "--print-hex", dest="bufmode", action="store_const", const=buffers.HEX, help="buffers in hex")
    bufs.add_argument("-X", "--print-hex-ascii", dest="bufmode", action="store_const", const=buffers.HEX_ASCII, help="hex and ASCII")
    bufs.add_argument("-b", "--print-base64", dest="bufmode", action="store_const", const=buffers.BASE64, help="base64")
    p.add_argument("-s", "--snaplen", type=int, default=80, metavar="BYTES", help="bytes of I/O buffers captured (80)")
    p.add_argument("-n", "--numevents", type=int, metavar="N", help="stop after N events")
    p.add_argument("-M", dest="max_seconds", type=float, metavar="SECONDS", help="stop after SECONDS")
    p.add_argument("-t", "--timetype", choices=list("hardD"), default="h", help="time: h a r d D (as sysdig)")
    p.add_argument("-S", "--summary", action="store_true", help="print per-event-type counts at the end")
    p.add_argument("-v", "--verbose", action="store_true", help="full buffers; statistics on stderr at the end")
    p.add_argument("-L", "--list-events", action="store_true", help="list the event types and their parameters")
    p.add_argument("-l", "--list", action="store_true", help="list the fields usable in filters and -p")
    p.add_argument("--unbuffered", action="store_true", help="flush every output line")
    p.add_argument("--transport", choices=("ringbuf", "perf"), default="ringbuf", help="kernel to user transport")
    p.add_argument("--buffer-size", type=_size, default=64 << 20, metavar="SIZE", help="ring buffer size (64M)")
    p.add_argument("--dump-bpf", action="store_true", help="print the BPF source and flags, then exit")
    return p


def render_error(err: SysmonError, text: str | None = None) -> str:
    lines = []
    errors = err.errors if isinstance(err, FilterError) else [err]
    for e in errors:
        head = f"sysmon: {e.message}"
        hint_inline = [h for h in e.hints if h.startswith("did you mean")]
        if hint_inline:
            head += f" ({hint_inline[0]})"
        lines.append(head)
        if text is not None and e.span is not None:
            start, end = e.span
            lines.append("    " + text)
            lines.append("    " + " " * start + "^" + "~" * max(0, end - start - 1))
        lines += [f"  hint: {h}" for h in e.hints if h not in hint_inline]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    filter_text = " ".join(args.filter)
    try:
        return _dispatch(args, filter_text, sys.stdout)
    except SysmonError as e:
        print(render_error(e, filter_text if isinstance(e, FilterError) else None), file=sys.stderr)
        return 2 if isinstance(e, FilterError) else 1
    except BrokenPipeError:
        # `sysmon | head`: the reader left. Quiet exit, and no second error when Python flushes stdout.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _dispatch(args: argparse.Namespace, filter_text: str, out: TextIO) -> int:
    from sysmon import listing

    if args.list_events:
        listing.print_events(out)
        return 0
    if args.list:
        listing.print_fields(out)
        return 0
    if args.dump_bpf:
        from sysmon.probe.loader import ProbeOptions, cflags, probe_source

        src, _ = probe_source()
        out.write(f"// cflags: {' '.join(cflags(ProbeOptions()))}\n{src}")
        return 0
    from sysmon import session

    return session.run(args, filter_text, out)


if __name__ == "__main__":
    sys.exit(main())
