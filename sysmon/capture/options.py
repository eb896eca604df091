"""The command line's capture options (-w -C -G -W -e -z --format) -> a CaptureWriter, or a ScapWriter."""
from __future__ import annotations

import argparse
from collections.abc import Callable

from sysmon.capture.format import make_header
from sysmon.capture.rotate import Rotation
from sysmon.capture.writer import CaptureSink, CaptureWriter
from sysmon.errors import CaptureError
from sysmon.scap.writer import ScapWriter
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
                     state: Callable[[], State]) -> CaptureSink:
    fmt = getattr(args, "file_format", None) or ("scap" if str(args.writefile).endswith(".scap") else "smc")
    if fmt == "scap":
        if rotation_from_args(args).active:
            raise CaptureError("-C, -G and -e rotate sysmon captures only: write smc, or leave them out for .scap")
        return ScapWriter(args.writefile, state, wall_offset_ns, compress=bool(args.compress))
    compression = "zstd" if args.compress else None

    def header(seq: int) -> dict[str, object]:
        return make_header(wall_offset_ns=wall_offset_ns, snaplen=args.snaplen, filter_text=filter_text,
                           compression=compression, seq=seq)

    return CaptureWriter(args.writefile, header, state, rotation=rotation_from_args(args), compression=compression)
