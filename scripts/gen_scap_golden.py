#!/usr/bin/env python3
"""Regenerate tests/golden/scap/expected/*.txt.gz by running sysdig 0.29.3 on every capture.

For each capture and each (filter, format) of tests/golden/scap/cases.json, runs
`TZ=UTC sysdig -r CAPTURE -p FORMAT FILTER` and stores its output under a `### <filter> | <format>` header.
With --containers: the same for tests/golden/scap/containers.json (its captures only; a one-letter format
is a preset, `-pc`) into tests/golden/scap/expected_containers/.
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


def main() -> int:
    containers = "--containers" in sys.argv[1:]
    cases = json.loads((GOLDEN / ("containers.json" if containers else "cases.json")).read_text())
    version = subprocess.run(["sysdig", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if version != "sysdig version 0.29.3":
        print(f"warning: expected sysdig 0.29.3, found {version!r}", file=sys.stderr)
    out_dir = GOLDEN / ("expected_containers" if containers else "expected")
    out_dir.mkdir(exist_ok=True)
    env = {**os.environ, "TZ": "UTC"}
    captures = sorted((GOLDEN / "captures").glob("*.scap"))
    if containers:
        captures = [c for c in captures if c.stem in cases["captures"]]
    for capture in captures:
        parts = []
        for flt in cases["filters"]:
            for fmt in cases["formats"]:
                cmd = ["sysdig", "-r", str(capture), f"-p{fmt}"] + ([flt] if flt else [])
                res = subprocess.run(cmd, capture_output=True, env=env, check=False)
                if res.returncode != 0:
                    raise SystemExit(f"sysdig failed on {capture.name} {flt!r} {fmt!r}: {res.stderr.decode()}")
                parts.append(f"### {flt} | {fmt}\n" + res.stdout.decode("utf-8", "surrogateescape"))
        data = "".join(parts).encode("utf-8", "surrogateescape")
        (out_dir / f"{capture.stem}.txt.gz").write_bytes(gzip.compress(data, mtime=0))
        print(f"{capture.name}: {len(parts)} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
