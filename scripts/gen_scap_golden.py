#!/usr/bin/env python3
"""Regenerate tests/golden/scap/expected/*.txt.gz by running sysdig 0.29.3 on every capture.

For each capture and each (filter, format) of tests/golden/scap/cases.json, runs
`TZ=UTC sysdig -r CAPTURE -p FORMAT FILTER` and stores its output under a `### <filter> | <format>` header.
`gen_scap_golden.py CASES.json OUTDIR` does the same for another case set (parity_cases.json ->
expected-parity/). Needs sysdig (Debian: `apt-get install --no-install-recommends sysdig`); CI only reads
the results.
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
    cases = json.loads((GOLDEN / (sys.argv[1] if len(sys.argv) > 1 else "cases.json")).read_text())
    version = subprocess.run(["sysdig", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if version != "sysdig version 0.29.3":
        print(f"warning: expected sysdig 0.29.3, found {version!r}", file=sys.stderr)
    out_dir = GOLDEN / (sys.argv[2] if len(sys.argv) > 2 else "expected")
    out_dir.mkdir(exist_ok=True)
    env = {**os.environ, "TZ": "UTC"}
    for capture in sorted((GOLDEN / "captures").glob("*.scap")):
        parts = []
        for flt in cases["filters"]:
            for fmt in cases["formats"]:
                cmd = ["sysdig", "-r", str(capture), "-p", fmt] + ([flt] if flt else [])
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
