#!/usr/bin/env python3
"""Regenerate tests/golden/scap/expected/*.txt.gz by running sysdig 0.29.3 on every capture.

For each capture and each (filter, format) of tests/golden/scap/cases.json, runs
`TZ=UTC sysdig -r CAPTURE -p FORMAT FILTER` and stores its output under a `### <filter> | <format>` header.
With --containers: the same for tests/golden/scap/containers.json (its captures only; a one-letter format
is a preset, `-pc`) into tests/golden/scap/expected_containers/. With --parity: parity_cases.json (issue 19's
event names, ancestry and derived fields) into tests/golden/scap/expected-parity/. With --cli: cli_cases.json
(`-j`, buffer modes, `-t`; each case the arguments after `-r CAPTURE`, its header their JSON) into
tests/golden/scap/expected-cli/.
Needs sysdig (Debian: `apt-get install --no-install-recommends sysdig`); CI only reads the results.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent.parent / "tests" / "golden" / "scap"
SETS = {"": ("cases.json", "expected"), "--containers": ("containers.json", "expected_containers"),
        "--parity": ("parity_cases.json", "expected-parity"),
        "--cli": ("cli_cases.json", "expected-cli")}  # option -> (cases, expected outputs)


def write_goldens(out_dir: Path, cases: list[tuple[str, list[str]]], captures: list[Path] | None = None) -> None:
    """For every corpus capture (or `captures`), `TZ=UTC sysdig -r CAPTURE ARGS...` per (header, ARGS) of
    `cases`, each output under a `### header` line, gzipped into out_dir/CAPTURE.txt.gz."""
    version = subprocess.run(["sysdig", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if version != "sysdig version 0.29.3":
        print(f"warning: expected sysdig 0.29.3, found {version!r}", file=sys.stderr)
    out_dir.mkdir(exist_ok=True)
    env = {**os.environ, "TZ": "UTC"}
    for capture in captures if captures is not None else sorted((GOLDEN / "captures").glob("*.scap")):
        parts = []
        for header, args in cases:
            res = subprocess.run(["sysdig", "-r", str(capture), *args], capture_output=True, env=env, check=False,
                                 timeout=120)
            if res.returncode != 0:
                raise SystemExit(f"sysdig failed on {capture.name} {args}: {res.stderr.decode()}")
            parts.append(f"### {header}\n" + res.stdout.decode("utf-8", "surrogateescape"))
        data = "".join(parts).encode("utf-8", "surrogateescape")
        (out_dir / f"{capture.stem}.txt.gz").write_bytes(gzip.compress(data, mtime=0))
        print(f"{capture.name}: {len(parts)} cases")


def main() -> int:
    option = next((a for a in sys.argv[1:] if a in SETS), "")
    cases_file, expected = SETS[option]
    cases = json.loads((GOLDEN / cases_file).read_text())
    captures = sorted((GOLDEN / "captures").glob("*.scap"))
    if "captures" in cases:
        captures = [c for c in captures if c.stem in cases["captures"]]
    if option == "--cli":
        write_goldens(GOLDEN / expected, [(json.dumps(args), args) for args in cases["cases"]], captures)
        return 0
    write_goldens(GOLDEN / expected,
                  [(f"{flt} | {fmt}", [f"-p{fmt}"] + ([flt] if flt else []))
                   for flt in cases["filters"] for fmt in cases["formats"]], captures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
