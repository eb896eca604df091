"""Data buffer renderings: default, -A, -x, -X, -b, and the cut of the default one (unless -v)."""
from __future__ import annotations

import base64

import pytest

from sysmon.events.buffers import ASCII, BASE64, BUFMODES, HEX, HEX_ASCII, NORMAL, render_buffer

DNS = bytes.fromhex("0702818000010001") + b"\x03www\x06google\x03com\x00"


def test_normal_replaces_non_printables() -> None:
    assert render_buffer(b"GET / HTTP/1.1\r\n\x00\xff~", NORMAL) == "GET / HTTP/1.1....~"
    assert render_buffer(DNS) == ".........www.google.com."


def test_limit_cuts_bytes_unless_none() -> None:
    data = bytes(range(0x41, 0x41 + 26)) * 4
    assert render_buffer(data, NORMAL, 80) == data[:77].decode() + "..."  # sysdig marks the cut within the limit
    assert render_buffer(data[:80], NORMAL, 80) == data[:80].decode()
    assert render_buffer(data, NORMAL, None) == data.decode()
    assert render_buffer(data, BASE64, 3) == base64.b64encode(data).decode()  # libsinsp cuts the normal mode only


def test_ascii_keeps_text_and_end_of_lines() -> None:
    assert render_buffer(b"HTTP/1.1 200 OK\r\nDate: x\r\n\x00\x01body\tend\n", ASCII) == (
        "\nHTTP/1.1 200 OK\nDate: x\nbodyend\n")
    assert render_buffer(b"\n", ASCII) == "\n"  # a leading LF is dropped (sysdig): only the line start is left
    assert render_buffer(b"\n\nx", ASCII) == "\n\nx"


def test_hex() -> None:
    assert render_buffer(DNS[:8], HEX) == "\n\t0x0000: 0702 8180 0001 0001\n"  # sysdig ends the dump with a newline
    two_lines = render_buffer(bytes(range(17)), HEX)
    assert two_lines == ("\n\t0x0000: 0001 0203 0405 0607 0809 0a0b 0c0d 0e0f"
                         "\n\t0x0010: 10\n")


def test_hex_ascii_aligns_the_text_column() -> None:
    full = render_buffer(b"0123456789abcdef", HEX_ASCII)
    assert full == "\n\t0x0000: 3031 3233 3435 3637 3839 6162 6364 6566  0123456789abcdef\n"
    short = render_buffer(b"ab\x00", HEX_ASCII)
    assert short == "\n\t0x0000: 6162 00" + " " * 30 + "  ab.\n"  # as sysdig: 5 columns per missing group
    assert len(short) == len(full) - 15


def test_base64() -> None:
    assert render_buffer(b"\x00\xffhi", BASE64) == "AP9oaQ=="


def test_modes_and_empty() -> None:
    assert len(set(BUFMODES)) == 5
    for mode in BUFMODES:
        assert render_buffer(b"", mode) in ("", "\n")
    with pytest.raises(ValueError):
        render_buffer(b"x", "bogus")
