"""A small, realistic capture for the capture tests: probe-layout records plus the state they start from.

nginx (pid 500) had /var/log/app.log open as fd 3 before the capture started (known only from the
snapshot); during the capture it reads fd 3, opens /etc/hosts as fd 4, reads and closes it, and a
`ticker` process makes filler calls. Names resolve only if snapshot and state events both work.
"""
from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from sysmon.cli import build_parser, run_config
from sysmon.config import RunConfig
from sysmon.events.record import BLOB_HEADER, RECORD_HEADER
from sysmon.events.model import BLOB_BUF, BLOB_STR, ENTER, EXIT
from sysmon.events.syscalls import BY_NAME
from sysmon.state.state import FdInfo, FdTable, State, ThreadInfo

WALL_OFFSET_NS = 1_700_000_000 * 10**9
AT_FDCWD = 2**64 - 100


def record(call: str, direction: int, *, ret: int = 0, args: tuple[int, ...] = (), blobs: tuple = (), tid: int = 500,
           pid: int | None = None, comm: bytes = b"nginx", ts: int = 1_000) -> bytes:
    body = b"".join(BLOB_HEADER.pack(len(d), k, s) + d for k, s, d in blobs)
    args6 = tuple(args) + (0,) * (6 - len(args))
    return RECORD_HEADER.pack(ts, *args6, ret, tid, tid if pid is None else pid, 1, 33, 33, BY_NAME[call], direction,
                              len(blobs), 0, RECORD_HEADER.size + len(body), 0, comm, 0) + body


def start_state() -> State:
    nginx = ThreadInfo(500, 500, 1, "nginx", exe="nginx", exepath="/usr/sbin/nginx", args=["-g", "daemon off;"],
                       cwd="/", uid=33, gid=33)
    nginx.fdtable = FdTable({3: FdInfo(3, "file", "/var/log/app.log")})
    ticker = ThreadInfo(600, 600, 1, "ticker", exe="ticker", uid=0)
    return State({500: nginx, 600: ticker}, {0: "root", 33: "www-data"}, {0: "root", 33: "www-data"})


def records(rounds: int = 3) -> list[bytes]:
    """`rounds` x (nginx work + ticker filler), timestamps 1 ms apart."""
    out: list[bytes] = []
    ts = 1_000_000

    def add(*recs: bytes) -> None:
        nonlocal ts
        for r in recs:
            out.append(r[:0] + RECORD_HEADER.pack(ts, *RECORD_HEADER.unpack_from(r)[1:]) + r[RECORD_HEADER.size:])
            ts += 1_000_000

    for i in range(rounds):
        add(record("read", ENTER, args=(3, 0, 4096)),
            record("read", EXIT, ret=5, args=(3, 0, 4096), blobs=((BLOB_BUF, 1, b"hello"),)),
            record("openat", ENTER, args=(AT_FDCWD, 0, 0), blobs=((BLOB_STR, 1, b"/etc/hosts"),)),
            record("openat", EXIT, ret=4, args=(AT_FDCWD, 0, 0), blobs=((BLOB_STR, 1, b"/etc/hosts"),)),
            record("read", ENTER, args=(4, 0, 100)),
            record("read", EXIT, ret=9, args=(4, 0, 100), blobs=((BLOB_BUF, 1, b"127.0.0.1"),)),
            record("close", ENTER, args=(4,)),
            record("close", EXIT, args=(4,)))
        for _ in range(4 + i):
            add(record("getpid", ENTER, tid=600, comm=b"ticker"), record("getpid", EXIT, ret=600, tid=600, comm=b"ticker"))
    return out


def cli_args(*argv: str, chisels: Sequence[tuple[str, str | None]] = ()) -> RunConfig:
    """The RunConfig of `sysmon ARGV` (with `chisels` as -c would give them)."""
    return run_config(build_parser().parse_args(list(argv)), chisels)


class Out(io.StringIO):
    def lines(self) -> list[str]:
        return self.getvalue().splitlines()


def ring_chunk(records: list[bytes]) -> tuple[bytes, list[int], list[int]]:
    """The records as the ring buffer holds them (8-byte header, padded to 8), as RingReader.drain gives them."""
    chunk, starts = b"", []
    for rec in records:
        starts.append(len(chunk) + 8)
        chunk += len(rec).to_bytes(4, "little") + bytes(4) + rec + bytes(-len(rec) % 8)
    return chunk, starts, [len(r) for r in records]


def live_run(argv: list[str], batches: list[list[bytes]], state: State | None = None, *,
             packed: bool = False) -> list[str]:
    """What `sysmon ARGV` prints (and writes with -w) when the probe delivers `batches`: the live
    session's pipeline with the probe replaced by the given records (`packed`: in ring bytes)."""
    return live_output(cli_args(*argv), batches, state, packed=packed).splitlines()


def live_output(cfg: RunConfig, batches: list[list[bytes]], state: State | None = None, *,
                packed: bool = False) -> str:
    """The output of a live run of `cfg` on `batches` of probe records, as live.LiveSession assembles it."""
    from sysmon.events.decode import Decoder
    from sysmon.pipeline import Pipeline

    out = Out()
    pipe = Pipeline.build(cfg, out)
    pipe.start(state or start_state())
    writer = pipe.open_writer(cfg.capture, WALL_OFFSET_NS) if cfg.capture is not None else None
    feed = pipe.feed(Decoder(pipe.schema, WALL_OFFSET_NS), writer)
    for batch in batches:
        if packed:
            feed.feed_live_packed(*ring_chunk(batch))
        else:
            feed.feed_live(batch)
        if feed.done:
            break
    if writer is not None:
        writer.close()
    pipe.finish()
    return out.getvalue()


def replay_output(cfg: RunConfig, report: Callable[[str], None] = lambda line: None) -> str:
    """What a replay of `cfg` (with inputs) prints on stdout; report lines go to `report`."""
    from sysmon.pipeline import Pipeline
    from sysmon.replay import ReplaySession

    out = Out()
    ReplaySession(Pipeline.build(cfg, out), out, report).run()
    return out.getvalue()


def replay_run(argv: list[str], out: Out | None = None) -> tuple[list[str], list[str]]:
    """What `sysmon ARGV` (with -r) prints on stdout, and its stderr report lines; `out` keeps what
    was printed before an error."""
    from sysmon.pipeline import Pipeline
    from sysmon.replay import ReplaySession

    out = Out() if out is None else out
    reports: list[str] = []
    ReplaySession(Pipeline.build(cli_args(*argv), out), out, reports.append).run()
    return out.lines(), reports
