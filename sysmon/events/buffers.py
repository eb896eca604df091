"""Text renderings of I/O data buffers: sysdig's default, -A, -x, -X and -b modes."""
from __future__ import annotations

import base64

NORMAL = ""  # the default: non-printable bytes as '.'
ASCII = "ascii"  # -A: printable text only, end-of-lines kept
HEX = "hex"  # -x
HEX_ASCII = "hexascii"  # -X
BASE64 = "base64"  # -b
BUFMODES = (NORMAL, ASCII, HEX, HEX_ASCII, BASE64)

_PRINTABLE = bytes(range(0x20, 0x7F))
_DOTS = bytes(b if b in _PRINTABLE else 0x2E for b in range(256))
_LINE = 16  # bytes per hex dump line


def render_buffer(data: bytes, mode: str = NORMAL, limit: int | None = 80) -> str:
    """Render `data` the way sysdig prints data parameters.

    Only the normal mode is cut, to `limit` characters (unless None) ending in `...`, as libsinsp does."""
    if mode == NORMAL:
        if limit is not None and len(data) > limit:
            return data[: max(limit - 3, 0)].translate(_DOTS).decode("ascii") + "..."
        return data.translate(_DOTS).decode("ascii")
    if mode == ASCII:
        return _ascii(data) if data else ""
    if mode in (HEX, HEX_ASCII):  # the dump ends with a newline (libsinsp's binary_buffer_to_hex_string)
        lines = "".join(_hex_line(data, off, mode == HEX_ASCII) for off in range(0, len(data), _LINE))
        return lines + "\n" if lines else lines
    if mode == BASE64:
        return base64.b64encode(data).decode("ascii")
    raise ValueError(f"unknown buffer mode {mode!r}")


def _ascii(data: bytes) -> str:
    # sysdig starts the text on its own line, turns CRLF / CR into one newline and drops a leading LF
    text = data.removeprefix(b"\n").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return "\n" + bytes(b for b in text if b in _PRINTABLE or b == 0x0A).decode("ascii")


def _hex_line(data: bytes, off: int, with_ascii: bool) -> str:
    chunk = data[off : off + _LINE]
    groups = " ".join(chunk[i : i + 2].hex() for i in range(0, len(chunk), 2))
    line = f"\n\t0x{off:04x}: {groups}"
    if with_ascii:
        # 5 columns per missing 2-byte group: an odd last byte (2 digits) leaves the text 2 columns left
        line += " " * (5 * (_LINE // 2 - (len(chunk) + 1) // 2)) + "  " + chunk.translate(_DOTS).decode("ascii")
    return line
