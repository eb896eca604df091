"""-l, --list-markdown (docs/fields.md), --list-macros and --explain."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sysmon import cli, listing
from sysmon.fields.catalogue import Catalogue

ROOT = Path(__file__).resolve().parents[2]
SYSDIG_FIELDS = ROOT.parent / "shared" / "docs" / "sysdig-fields.txt"
CLASSES = ("evt.", "syscall.", "proc.", "thread.", "user.", "group.", "fd.", "container.")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_catalogue_size_and_sysdig_coverage() -> None:
    listed = {f.name for f in Catalogue.default().fields() if not f.hidden}
    assert len(listed) >= 120
    if SYSDIG_FIELDS.exists():  # shared/ beside the repo (always in CI)
        sysdig = set(re.findall(r"^([a-z][\w.]+)\s", SYSDIG_FIELDS.read_text(), re.M))
        ours_in_sysdig = {n for n in listed if n in sysdig}
        assert len(ours_in_sysdig) >= 110  # the rest are sysmon's own (proc.pexe, container.type...)
        relevant = {n for n in sysdig if n.startswith(CLASSES)}
        assert len(ours_in_sysdig) / len(relevant) > 0.7


def test_list_shows_types_and_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "-l")
    assert code == 0
    assert re.search(r"^fd\.sport\s+PORT\s+for TCP/UDP FDs, the server port\.$", out, re.M)
    assert re.search(r"^container\.id\s+CHARBUF\s+the container id", out, re.M)
    assert re.search(r"^Field Class:\s+container$", out, re.M)
    assert "evt.outputtime" not in out  # hidden, like sysdig
    assert max(len(line) for line in out.splitlines()) <= listing.WIDTH


def test_fields_markdown_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-markdown")
    assert code == 0
    doc = ROOT / "docs" / "fields.md"
    assert doc.read_text() == out, "docs/fields.md is stale: run `sysmon --list-markdown > docs/fields.md`"
    assert "| `fd.net` | IPNET | (FILTER ONLY) matches the IP network" in out


def test_list_macros(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--list-macros")
    assert code == 0
    for name in ("spawned_process", "open_read", "open_write", "inbound", "outbound", "shell_procs",
                 "sensitive_files"):
        assert re.search(rf"^{name}  \(.*\.flt:\d+\)$", out, re.M), name
    assert "    = evt.type in (execve, execveat) and evt.dir=< and evt.rawres=0\n" in out


def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--explain", "evt.type in (open, openat) and fd.name pmatch (/etc) or "
                       "spawned_process and proc.name=bash and user.uid=0")
    assert code == 0
    assert "parsed (not > and > or):\n  or\n    and\n      evt.type in (open, openat)\n" in out
    assert "      spawned_process  (macro)\n" in out
    assert "after macro expansion:" in out and "      evt.type in (execve, execveat)\n" in out
    assert "      fd.name pmatch '/etc'    [CHARBUF]\n" in out
    assert ("  types: execve, execveat, open, openat\n  pids: all\n  tids: all\n  comms: all\n"
            "  uids: all\n  containers: all\n\nthis machine (what the probe would run with):\n  kernel ") in out
    assert "  hooks: the selected syscalls' tracepoints" in out


def test_explain_without_macros_and_with_pins(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--explain", "proc.name=curl and user.uid=1000 and not evt.failed=true")
    assert "after macro expansion" not in out
    assert "  comms: curl\n" in out and "  uids: 1000\n" in out


def test_explain_bad_filter_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--explain", "fd.prot=80")
    assert (code, out) == (2, "")
    assert err.startswith('sysmon: unknown field "fd.prot" (did you mean "fd.port"?)\n')
