"""Event.param: one parameter decoded alone gives what the whole decoding gives."""
from __future__ import annotations

import pytest

from tests.capture_scenario import AT_FDCWD, record
from sysmon.events.decode import Decoder
from sysmon.events.model import BLOB_BUF, BLOB_STR, ENTER, EXIT
from sysmon.events.schema import Schema

DECODER = Decoder(Schema.default(), 0)
RECORDS = [
    record("openat", ENTER, args=(AT_FDCWD, 0o2000002, 0o644), blobs=((BLOB_STR, 1, b"etc/../hosts"),)),
    record("openat", EXIT, ret=4, args=(AT_FDCWD, 0o2000002, 0o644), blobs=((BLOB_STR, 1, b"etc/../hosts"),)),
    record("read", EXIT, ret=5, args=(3, 0, 4096), blobs=((BLOB_BUF, 1, b"hello"),)),
    record("close", EXIT, ret=-9, args=(3,)),
]


@pytest.mark.parametrize("rec", RECORDS, ids=["openat>", "openat<", "read<", "close<"])
def test_each_parameter_alone_equals_the_full_decoding(rec):
    full = DECODER.decode(rec).params
    assert full
    for name in full:
        assert DECODER.decode(rec).param(name) == full[name]
    assert DECODER.decode(rec).param("nosuch") is None


def test_param_reads_the_decoded_parameters_once_there():
    evt = DECODER.decode(RECORDS[1])
    evt.params["name"] = "/patched"  # the cached dict is what param reads from then on
    assert evt.param("name") == "/patched"
