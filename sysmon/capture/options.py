"""The command line's capture options (-w -C -G -W -e -z) -> a CaptureWriter."""
from __future__ import annotations

import argparse
from collections.abc import Callable

from sysmon.capture.format import Batch, PackedBatch, cgroup_ids, make_header
from sysmon.capture.rotate import Rotation
from sysmon.capture.writer import CaptureWriter
from sysmon.errors import CaptureError
from sysmon.state.containers import ContainerTable, Delta
from sysmon.state.state import State


def rotation_from_args(args: argparse.Namespace) -> Rotation:
    rotation = Rotation(
        size_bytes=int(args.file_size * 1_000_000) if args.file_size else None,
        seconds=args.seconds or None,
        files=args.limit or None,
        events=args.event_limit or None,
    )
    given = [flag for flag, on in (("-C", args.file_size), ("-G", args.seconds), ("-W", args.limit),
                                   ("-e", args.event_limit), ("-z", args.compress)) if on]
    if given and not args.writefile:
        raise CaptureError(f"{', '.join(given)} only make sense with -w FILE")
    if rotation.files and not rotation.active:
        raise CaptureError("-W needs -C, -G or -e: it bounds the number of rotated files")
    for flag, value in (("-C", args.file_size), ("-G", args.seconds), ("-W", args.limit), ("-e", args.event_limit)):
        if value is not None and value <= 0:
            raise CaptureError(f"{flag} must be positive")
    return rotation


def writer_from_args(args: argparse.Namespace, filter_text: str, wall_offset_ns: int,
                     state: Callable[[], State]) -> CaptureWriter:
    """`state()` is the inspector's state: snapshots of it start each file, its container table's news
    go in as `C` records."""
    compression = "zstd" if args.compress else None

    def header(seq: int) -> dict[str, object]:
        return make_header(wall_offset_ns=wall_offset_ns, snaplen=args.snaplen, filter_text=filter_text,
                           compression=compression, seq=seq)

    current = state()  # the same object all along (a replay swaps its contents in place)
    return CaptureWriter(args.writefile, header, state, rotation=rotation_from_args(args), compression=compression,
                         containers=container_news(lambda: current.containers))


def container_news(table: Callable[[], ContainerTable]) -> Callable[[Batch | PackedBatch | None], Delta]:
    """The writer's `containers` hook: the batch's cgroup ids resolved, then the table's news."""

    def news(batch: Batch | PackedBatch | None) -> Delta:
        containers = table()
        if batch is not None and containers.cgroup_root is not None:
            containers.note_cgroup_ids(cgroup_ids(batch))
        return containers.take_delta()

    return news
