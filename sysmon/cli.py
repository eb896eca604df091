# PYTHON_ARGCOMPLETE_OK
"""`sysmon [options] [filter]`: sysdig's command line -> RunConfig, then the run it asks for.
The only place that prints errors and exits; no argparse.Namespace goes past this module."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from sysmon.config import CaptureConfig, OutputConfig, ProbeConfig, RunConfig, parse_size
from sysmon.capture.writable import check_writable
from sysmon.errors import CaptureError, FilterError, SysmonError, UsageError
from sysmon.events import buffers


def _shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/N with 0 <= I < N, e.g. 0/2")
    return int(index), int(count)


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# sysdig options sysmon does not have, with what to do instead (refused before anything starts).
_REFUSED = {
    ("-d", "--displayflt"): "sysmon always updates state for every event and applies the filter to what is "
                            "shown and written, so -d is not needed",
    ("-E", "--exclude-users"): "user names come from the host's account database; filter on user.uid instead",
    ("-R", "--resolve-ports"): "ports are printed as numbers; filter on fd.sport/fd.cport",
    ("-T", "--force-tracers-capture"): "sysdig's tracers (writes to /dev/null) are not captured",
    ("-U", "--suppress-comm"): "filter with `not proc.name in (NAME, ...)` instead",
    ("--page-faults",): "the probe does not capture page faults; page_fault events of .scap files are read",
}


class _Refused(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        raise argparse.ArgumentError(self, f"not supported: {self.help}")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sysmon")
    except PackageNotFoundError:
        return "unknown"


_EPILOG = """\
subcommands:
  sysmon daemon [--config FILE]       record around the clock into rotating files (systemd/sysmon.toml)
  sysmon status                       the running daemon: events, drops, files, probe and fallbacks
  sysmon tail [FILTER] [-j]           the running daemon's events, through FILTER
  sysmon seccomp record|check ...     a seccomp profile from what a command did (docs/seccomp.md)

examples:
  sysmon 'evt.type=connect and fd.port=80'            who connects to port 80
  sysmon -p '%proc.name %fd.name' 'evt.type=openat and evt.dir=< and proc.name=cat'
  sysmon -pc 'container.name=web1'                    one container's calls, with container columns
  sysmon -w trace.smc -z; sysmon -r trace.smc -c topfiles_bytes
  sysmon -r capture.scap 'evt.type=execve'            sysdig/Falco captures; -w x.scap writes one
  sysmon --explain 'proc.name=nginx and evt.type in (open, openat)'
  sysmon -r nats://127.0.0.1:4222/SYSMON --host web1 'evt.type=connect'   a fleet (docs/fleet.md)
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sysmon",
        usage="sysmon [options] [-p FORMAT] [filter ...]",
        description="System-wide syscall capture with eBPF, speaking sysdig's filters, fields and output.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("filter", nargs="*", help="sysdig filter expression (words are joined with spaces)")
    p.add_argument("-V", "--version", action="version", version=f"sysmon {_version()}")
    refused = p.add_argument_group("sysdig options sysmon refuses, and why")
    for flags, why in _REFUSED.items():
        refused.add_argument(*flags, nargs=0, action=_Refused, help=why)
    p.add_argument("-p", "--print", dest="format", metavar="FORMAT", help="output format (default: sysdig's)")
    p.add_argument("-j", "--json", action="store_true", help="one JSON object per event (--sink json)")
    p.add_argument("--sink", default="text", metavar="NAME", help="where events go: text (default), json, or "
                   "another printer listed in sysmon/pipeline.py SINKS")
    bufs = p.add_mutually_exclusive_group()
    bufs.add_argument("-A", "--print-ascii", dest="bufmode", action="store_const", const=buffers.ASCII, help="buffers as text")
    bufs.add_argument("-x", "--print-hex", dest="bufmode", action="store_const", const=buffers.HEX, help="buffers in hex")
    bufs.add_argument("-X", "--print-hex-ascii", dest="bufmode", action="store_const", const=buffers.HEX_ASCII, help="hex and ASCII")
    bufs.add_argument("-b", "--print-base64", dest="bufmode", action="store_const", const=buffers.BASE64, help="base64")
    p.add_argument("-s", "--snaplen", type=int, default=80, metavar="BYTES", help="bytes of I/O buffers captured (80)")
    p.add_argument("-n", "--numevents", type=int, metavar="N", help="stop after N events")
    p.add_argument("-M", dest="max_seconds", type=float, metavar="SECONDS", help="stop after SECONDS")
    cap = p.add_argument_group("capture files (docs/capture-format.md)")
    cap.add_argument("-w", "--writefile", metavar="FILE", help="write events to a capture file (implies -q unless -p/-j)")
    cap.add_argument("-r", "--readfile", metavar="FILE", action="append",
                     help="replay a capture file instead of capturing live (repeatable; globs)")
    cap.add_argument("-P", "--progress", action="store_true",
                     help="with -r: a progress bar on stderr even when it is no terminal (on one: after 1 s)")
    cap.add_argument("-q", "--quiet", action="store_true", help="do not print events")
    cap.add_argument("-C", "--file-size", type=float, metavar="MB", help="with -w: new file every MB megabytes (10^6)")
    cap.add_argument("-G", "--seconds", type=float, metavar="SECONDS",
                     help="with -w: new file every SECONDS; FILE may hold strftime codes")
    cap.add_argument("-W", "--limit", type=int, metavar="N", help="with -C/-e: ring of N files; with -G: stop after N")
    cap.add_argument("-e", "--event-limit", type=int, metavar="N", help="with -w: new file every N events")
    cap.add_argument("-z", "--compress", action="store_true", help="with -w: zstd-compress the records (scap: gzip)")
    cap.add_argument("--format", dest="file_format", choices=("smc", "scap"),
                     help="with -w: sysmon's format (smc) or sysdig's (scap); default: scap for a .scap name, else smc")
    p.add_argument("-t", "--timetype", choices=list("hardD"), default="h", help="time: h a r d D (as sysdig)")
    p.add_argument("-S", "--summary", action="store_true", help="print per-event-type counts at the end")
    p.add_argument("-v", "--verbose", action="store_true", help="full buffers; statistics on stderr at the end")
    p.add_argument("-L", "--list-events", action="store_true", help="list the event types and their parameters")
    p.add_argument("-l", "--list", action="store_true", help="list the fields usable in filters and -p, with types")
    p.add_argument("--list-markdown", action="store_true", help="print the field list as markdown (docs/fields.md)")
    p.add_argument("--list-macros", action="store_true", help="list the filter macros (filters/*.flt)")
    p.add_argument("--explain", action="store_true",
                   help="print how the filter parses, its typed checks and its kernel plan, then exit")
    p.add_argument("--unbuffered", action="store_true", help="flush every output line")
    p.add_argument("--transport", choices=("auto", "ringbuf", "perf"), default="auto",
                   help="kernel to user transport (auto: the BPF ring buffer where the kernel has it, else perf)")
    p.add_argument("--buffer-size", type=_size, default=64 << 20, metavar="SIZE", help="ring buffer size (64M)")
    p.add_argument("--shard", type=_shard, metavar="I/N",
                   help="only the events of the CPUs numbered I modulo N: N sysmon -w, one per shard, share a "
                        "storm no single one keeps up with (docs/scaling.md)")
    p.add_argument("--dump-bpf", action="store_true", help="print the BPF source and flags, then exit")
    p.add_argument("--no-pushdown", action="store_true",
                   help="deliver every event to userspace (the filter then runs only there; for comparison)")
    ct = p.add_argument_group("containers (docs/containers.md)")
    ct.add_argument("--docker-socket", metavar="PATH", default="/run/docker.sock",
                    help="Docker API socket for container metadata ('' to not ask)")
    ct.add_argument("--podman-socket", metavar="PATH", default="/run/podman/podman.sock",
                    help="Podman API socket for container metadata ('' to not ask)")
    ch = p.add_argument_group("chisels (sysmon/chisel/api.py)")
    ch.add_argument("-c", "--chisel", metavar="NAME [ARGS]", help="run a chisel; its arguments are the next word "
                    "(quote several); repeatable")
    ch.add_argument("-cl", "--list-chisels", action="store_true", help="list the chisels by category")
    ch.add_argument("-i", "--chisel-info", metavar="NAME", help="describe a chisel and its arguments")
    from sysmon.fleet.options import add_arguments as fleet_arguments

    fleet_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("daemon", "status", "tail"):  # subcommands (sysmon/daemon/commands.py)
        return _subcommand(argv[0], argv[1:])
    if argv and argv[0] == "seccomp":  # record|check (sysmon/seccomp/command.py, docs/seccomp.md)
        from sysmon.seccomp.command import main as seccomp_main

        return seccomp_main(argv[1:])
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (sysmon/completion.py): answer, exit
        from sysmon.completion import autocomplete

        autocomplete(parser)
    try:  # -c NAME [ARGS] and -cl first: how many words a chisel takes depends on the chisel
        rest, chisels, list_chisels = _chisel_argv(parser, argv)
    except SysmonError as e:
        print(e.render(), file=sys.stderr)
        return 1
    args = parser.parse_args(rest)
    filter_text = " ".join(args.filter)
    try:
        return _dispatch(args, [(c.name, c.args) for c in chisels], list_chisels, filter_text, sys.stdout)
    except SysmonError as e:
        print(e.render(filter_text if isinstance(e, FilterError) else None), file=sys.stderr)
        return 2 if isinstance(e, (FilterError, UsageError)) else 1
    except BrokenPipeError:
        # `sysmon | head`: the reader left. Quiet exit, and no second error when Python flushes stdout.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C before capture started (e.g. while the probe compiles)
        return 130


def _subcommand(word: str, argv: Sequence[str]) -> int:
    from sysmon.daemon import commands

    try:
        return commands.run(word, argv, sys.stdout)
    except SysmonError as e:
        print(e.render(), file=sys.stderr)
        return commands.exit_status(e)
    except BrokenPipeError:  # `sysmon tail | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:  # Ctrl-C on `sysmon tail`
        return 130


def _chisel_argv(parser: argparse.ArgumentParser, argv: Sequence[str]) -> tuple[list[str], list[Any], bool]:
    from sysmon.chisel.argv import from_command_line

    value_options = frozenset(s for a in parser._actions for s in a.option_strings if a.nargs != 0)
    return from_command_line(argv, value_options)


def run_config(args: argparse.Namespace, chisels: Sequence[tuple[str, str | None]] = ()) -> RunConfig:
    """The parsed command line as a RunConfig; capture options that make no sense together are errors."""
    from sysmon.fleet.options import stream_query

    stream = stream_query(args)
    if args.progress and not args.readfile:
        raise CaptureError("-P shows the progress of a replay: use it with -r FILE")
    return RunConfig(
        filter=" ".join(args.filter),
        output=OutputConfig(format=args.format, sink="json" if args.json else args.sink, bufmode=args.bufmode or "",
                            full_buffers=args.verbose,
                            time_type=args.timetype, unbuffered=args.unbuffered,
                            # -w implies -q, as sysdig, unless -p or -j ask for output
                            quiet=args.quiet or bool(args.writefile and not args.format and not args.json
                                                     and args.sink == "text")),
        probe=ProbeConfig(transport=args.transport, buffer_size=args.buffer_size, snaplen=args.snaplen,
                          pushdown=not args.no_pushdown, shard=args.shard),
        capture=_capture_config(args),
        inputs=() if stream else tuple(args.readfile or ()),
        stream=stream,
        chisels=tuple(chisels),
        max_events=args.numevents,
        max_seconds=args.max_seconds,
        summary=args.summary,
        verbose=args.verbose,
        progress=args.progress,
        runtime_sockets=(args.docker_socket or None, args.podman_socket or None),
    )


def _capture_config(args: argparse.Namespace) -> CaptureConfig | None:
    """-w -C -G -W -e -z --format."""
    given = [flag for flag, on in (("-C", args.file_size), ("-G", args.seconds), ("-W", args.limit),
                                   ("-e", args.event_limit), ("-z", args.compress)) if on]
    if given and not args.writefile:
        raise CaptureError(f"{', '.join(given)} only make sense with -w FILE")
    for flag, value in (("-C", args.file_size), ("-G", args.seconds), ("-W", args.limit), ("-e", args.event_limit)):
        if value is not None and value <= 0:
            raise CaptureError(f"{flag} must be positive")
    if not args.writefile:
        return None
    if args.limit and not (args.file_size or args.seconds or args.event_limit):
        raise CaptureError("-W needs -C, -G or -e: it bounds the number of rotated files")
    capture = CaptureConfig(args.writefile, size_bytes=int(args.file_size * 1_000_000) if args.file_size else None,
                            seconds=args.seconds or None, files=args.limit or None, events=args.event_limit or None,
                            compression="zstd" if args.compress else None, format=args.file_format)
    if capture.scap and (args.file_size or args.seconds or args.event_limit):
        raise CaptureError("-C, -G and -e rotate sysmon captures only: write smc, or leave them out for .scap")
    return capture


def _dispatch(args: argparse.Namespace, chisels: list[tuple[str, str | None]], list_chisels: bool, filter_text: str,
              out: TextIO) -> int:
    from sysmon import listing

    if args.list_events:
        listing.print_events(out)
        return 0
    if args.list:
        listing.print_fields(out)
        return 0
    if args.list_markdown:
        out.write(listing.fields_markdown())
        return 0
    if args.list_macros:
        listing.print_macros(out)
        return 0
    if args.explain:
        from sysmon.fields.catalogue import Catalogue
        from sysmon.filter.explain import render
        from sysmon.filter.pushdown import analyze
        from sysmon.probe.kernel import explain_lines

        analysis = analyze(filter_text, Catalogue.default())
        out.write(render(analysis))
        out.write("\nthis machine (what the probe would run with):\n")
        out.write("".join(f"  {line}\n" for line in explain_lines(analysis.plan.types)))
        return 0
    if list_chisels or args.chisel_info:
        from sysmon.chisel import info
        from sysmon.chisel.loader import Loader

        loader = Loader()
        if args.chisel_info:
            out.write(info.describe(loader.find(args.chisel_info)))
            return 0
        found, problems = loader.all()
        for problem in problems:
            print(problem.render(), file=sys.stderr)
        out.write(info.list_chisels(found))
        return 0
    if args.dump_bpf:
        from sysmon.probe import kernel
        from sysmon.probe.loader import ProbeOptions, cflags, probe_source, resolve_transport

        src, _ = probe_source()
        opts = ProbeOptions(transport=args.transport)
        setup = kernel.detect()
        out.write(f"// cflags: {' '.join(cflags(opts, resolve_transport(opts, setup), setup))}\n{src}")
        return 0
    cfg = run_config(args, chisels)
    if cfg.capture is not None:
        check_writable(cfg.capture.path)
    return run(cfg, out)


def run(cfg: RunConfig, out: TextIO) -> int:
    """Capture live, or replay cfg.inputs, through the one pipeline."""
    from sysmon.pipeline import Pipeline

    pipe = Pipeline.build(cfg, out)
    if not cfg.live:
        from sysmon.replay import ReplaySession

        def report(line: str) -> None:
            sys.stderr.write(line + "\n")

        if cfg.stream is not None:
            from sysmon.fleet.replay import StreamReplay

            return StreamReplay(pipe, cfg.stream, out, report).run()
        return ReplaySession(pipe, out, report).run()
    from sysmon.live import LiveSession  # not for replays: the probe's modules

    session = LiveSession(pipe, out, self_pid=os.getpid())

    def stop(signum: int, _frame: object) -> None:
        """Stop between batches, so that every event shown is also written; a second Ctrl-C forces."""
        if signum == signal.SIGINT and session.stopping:
            session.force()
        session.stop()

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, stop)
    return session.run()


if __name__ == "__main__":
    sys.exit(main())
