"""Reading captures written by other sysmon versions (cf. mitmproxy io/compat.py).

`migrate(header)` brings a header of any known format version up to the current one, and returns a
record converter when the file's record layout differs from this sysmon's probe layout: records
are then unpacked field by field with the file's layout and repacked with ours (fields we have and
the file lacks are 0). Each format version has a frozen sample under tests/golden/captures/.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from sysmon.capture.format import CAPTURE_VERSION, current_layout
from sysmon.errors import CaptureError

Convert = Callable[[bytes], bytes]

# version -> step that rewrites a header of that version into the next version's shape.
_STEPS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def migrate(header: dict[str, Any]) -> tuple[dict[str, Any], Convert | None]:
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise CaptureError(f"capture header has no valid format version ({version!r})")
    if version > CAPTURE_VERSION:
        raise CaptureError(f"capture format version {version} is newer than this sysmon reads ({CAPTURE_VERSION})",
                           hints=["upgrade sysmon to read this file"])
    while version < CAPTURE_VERSION:
        header = _STEPS[version](header)
        version = header["version"]
    return header, layout_converter(header.get("layout") or {})


def layout_converter(layout: dict[str, Any]) -> Convert | None:
    """None when records already have our layout, else a function rewriting one record."""
    if not isinstance(layout, dict):
        raise CaptureError(f"capture header's record layout is not a table ({type(layout).__name__})")
    ours = current_layout()
    if layout.get("record") == ours["record"] and layout.get("blob") == ours["blob"]:
        return None
    if layout.get("arch") != ours["arch"]:
        raise CaptureError(f"capture was taken on {layout.get('arch')!r}; this sysmon decodes {ours['arch']!r} only")
    try:
        src_rec = struct.Struct(layout["record"]["struct"])
        src_fields = list(layout["record"]["fields"])
        src_blob = struct.Struct(layout["blob"]["struct"])
        src_blob_fields = list(layout["blob"]["fields"])
        if "nblobs" not in src_fields or "len" not in src_blob_fields:
            raise KeyError("nblobs/len")
    except (KeyError, TypeError, struct.error) as e:
        raise CaptureError(f"capture header has an unreadable record layout: {e}") from e
    dst_rec = struct.Struct(ours["record"]["struct"])
    dst_fields = ours["record"]["fields"]
    dst_blob = struct.Struct(ours["blob"]["struct"])
    dst_blob_fields = ours["blob"]["fields"]

    def convert(rec: bytes) -> bytes:
        values = dict(zip(src_fields, src_rec.unpack_from(rec)))
        off = src_rec.size
        blobs = []
        for _ in range(values["nblobs"]):
            b = dict(zip(src_blob_fields, src_blob.unpack_from(rec, off)))
            off += src_blob.size
            data = rec[off : off + b["len"]]
            off += b["len"]
            blobs.append(dst_blob.pack(*(b.get(f, 0) for f in dst_blob_fields)) + data)
        body = b"".join(blobs)
        values["size"] = min(dst_rec.size + len(body), 0xFFFF)
        return dst_rec.pack(*(values.get(f, b"" if f == "comm" else 0) for f in dst_fields)) + body

    return convert
