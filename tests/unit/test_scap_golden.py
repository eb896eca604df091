"""sysmon reads every corpus .scap like sysdig 0.29.3: output equal line for line, per (file, filter, format).

Expected outputs: tests/golden/scap/expected/*.txt.gz, written by scripts/gen_scap_golden.py (runs sysdig;
CI only reads them). Lines are compared without trailing blanks, and blank lines are skipped on both
sides: sysdig ends evt.info with a space, so a value ending in a newline (a container event's JSON)
leaves it a line of one space.

Cases where sysmon still differs are listed in tests/golden/scap/known_differences.txt. They are
strict: a listed case that starts to match fails until it is removed from the list (regenerate it with
SYSMON_UPDATE_SCAP_KNOWN=1). What is left is a sysdig bug, not ours:
  - 502Error, haproxy's fd 8 (23 cases): a UDP socket the fd list gives as bound (0.0.0.0:55441) sends
    with sendmsg. libsinsp turns it into a connected socket by reading the bound socket's fields
    through the other member of a C union (sinsp_sockinfo: ipv4serverinfo {ip, port, l4proto} over
    ipv4info {sip, dip, sport, dport, l4proto}), so the destination address it prints, 145.216.3.255,
    is the bytes of port 55441 (0x91 0xd8), of SCAP_L4_UDP (3) and of one uninitialised byte (255);
    the source 192.168.128.156 is then the first interface that is not loopback, inferred for that
    bogus address. sysmon applies the same rules to the real values: 127.0.0.1:514 and 127.0.0.1.
Fixed causes, for the record: PID/UID/path/fd-list rendering with state (events.render.RenderContext),
unix tuples with the kernel pointers, fd.l4proto by socket role, scheduler events of unknown threads,
fd.num/fd.typechar/fd.name on fd events without a known fd, the stale fd of an exit without its enter,
sockets of the fd lists named client->server, generic syscall events shown without arguments;
inet tuples merged as libsinsp does (sysmon.state.inet: the destination kept once set, unset addresses
inferred from the interface list), a procexit's thread dropped before the next event is read, a clone
child whose parent libsinsp never saw (the parent made up from the clone's parameters), a clone in a pid
namespace leaving the child to its own side, the container event's made-up thread `container:ID`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.scap_golden import GOLDEN, expected_outputs, sysmon_outputs

KNOWN = GOLDEN / "known_differences.txt"
CAPTURES = sorted((GOLDEN / "captures").glob("*.scap"))
CASES = json.loads((GOLDEN / "cases.json").read_text())


def _known() -> set[tuple[str, str, str]]:
    if not KNOWN.exists():
        return set()
    return {tuple(line.split("\t")) for line in KNOWN.read_text().splitlines() if line and not line.startswith("#")}  # type: ignore[misc]


def test_every_capture_and_case_has_a_golden() -> None:
    assert len(CAPTURES) == 22
    for capture in CAPTURES:
        assert len(expected_outputs(capture.stem)) == len(CASES["filters"]) * len(CASES["formats"]), capture.name


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_scap_output_equals_sysdig(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    known = _known()
    unexpected, fixed, still = [], [], []
    expected = expected_outputs(capture.stem)
    outputs = {flt: sysmon_outputs(capture, flt, CASES["formats"]) for flt in CASES["filters"]}
    for (flt, fmt), want in expected.items():
        got = outputs[flt][fmt]
        key = (capture.stem, flt, fmt)
        if got == want:
            (fixed if key in known else []).append(key)
            continue
        still.append(key)
        if key not in known:
            first = next(i for i, (a, b) in enumerate(zip([*want, "<EOF>"], [*got, "<EOF>"])) if a != b)
            unexpected.append(f"[{flt}] [{fmt}] line {first + 1}:\n  sysdig: {([*want, '<EOF>'])[first]}\n"
                              f"  sysmon: {([*got, '<EOF>'])[first]}")
    if os.environ.get("SYSMON_UPDATE_SCAP_KNOWN"):
        rest = {k for k in known if k[0] != capture.stem} | set(still)
        header = "# (file, filter, format) cases where sysmon differs from sysdig 0.29.3; see test_scap_golden.py\n"
        KNOWN.write_text(header + "".join("\t".join(k) + "\n" for k in sorted(rest)))
        return
    assert not unexpected, "\n".join(unexpected)
    assert not fixed, f"now equal to sysdig, remove from {KNOWN.name}: {fixed}"
