"""What travels: one message per run of whole frames of one capture file.

    subject   sysmon.<host>.events
    header    Nats-Msg-Id: <host>:<file>:<offset>   (the broker drops a retry it has stored already)
    payload   msgpack [1, head, body]
              head  {host, boot (boot id), file (name), off, end (the body is the file's bytes off..end),
                     fseq (stream sequence of the file's first message; 0 in that message itself),
                     first, last (event numbers of the first and last event), n (events),
                     t0, t1 (their wall times, ns), z ("zstd" when body is compressed here, else null)}
              body  the file's bytes, frames unchanged (files written with zstd are not compressed twice)

Concatenating the bodies of a file's messages gives the file back, so a reader replays a host's
files with the ordinary capture reader, snapshot first: state resolves per host.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

VERSION = 1
SUBJECT_PREFIX = "sysmon."
SUBJECT_SUFFIX = ".events"
ALL_HOSTS = "sysmon.*.events"
MAX_HEAD = 4096


def subject(host: str) -> str:
    return f"{SUBJECT_PREFIX}{host}{SUBJECT_SUFFIX}"


def host_of(subj: str) -> str:
    return subj[len(SUBJECT_PREFIX) : -len(SUBJECT_SUFFIX)]


def msg_id(host: str, file: str, off: int) -> str:
    return f"{host}:{file}:{off}"


@dataclass(frozen=True, slots=True)
class Head:
    host: str
    boot: str
    file: str
    off: int
    end: int
    fseq: int
    first: int
    last: int
    n: int
    t0: int
    t1: int
    z: str | None

    def to_wire(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def encode(head: Head, body: bytes) -> bytes:
    data: bytes = msgpack.packb([VERSION, head.to_wire(), body], use_bin_type=True)
    return data


def decode(data: bytes) -> tuple[Head, bytes]:
    """A message's head and body (the body as sent: see Head.z). ValueError when it is not ours."""
    try:
        version, head, body = msgpack.unpackb(data, raw=False, max_bin_len=len(data), max_map_len=64,
                                              max_str_len=MAX_HEAD)
        if version != VERSION:
            raise ValueError(f"message version {version!r}, this sysmon reads {VERSION}")
        return Head(**{name: head[name] for name in Head.__slots__}), body
    except (KeyError, TypeError, msgpack.UnpackException) as e:
        raise ValueError(f"not a sysmon message ({e})") from None
