#!/usr/bin/env python3
"""Regenerate tests/golden/chisel_oracle/expected/*.txt.gz: sysdig 0.29.3's own Lua chisels on every capture.

For each capture of tests/golden/scap/captures and each chisel of tests/golden/chisel_oracle/cases.json,
runs `TZ=UTC sysdig -r CAPTURE -c CHISEL [ARG]` and stores its output under a `### CHISEL ARG` header.
Needs sysdig (Debian: `apt-get install --no-install-recommends sysdig`, which brings the chisels in
/usr/share/sysdig/chisels); CI only reads the results.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "tests" / "golden"
ORACLE = ROOT / "chisel_oracle"


def main() -> int:
    cases = json.loads((ORACLE / "cases.json").read_text())["chisels"]
    version = subprocess.run(["sysdig", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    if version != "sysdig version 0.29.3":
        print(f"warning: expected sysdig 0.29.3, found {version!r}", file=sys.stderr)
    out_dir = ORACLE / "expected"
    out_dir.mkdir(exist_ok=True)
    env = {**os.environ, "TZ": "UTC"}
    for capture in sorted((ROOT / "scap" / "captures").glob("*.scap")):
        parts = []
        for chisel in cases:
            cmd = ["sysdig", "-r", str(capture), "-c", chisel[0], *chisel[1:]]
            res = subprocess.run(cmd, capture_output=True, env=env, check=False, timeout=120)
            if res.returncode != 0:
                raise SystemExit(f"sysdig failed on {capture.name} {chisel}: {res.stderr.decode()}")
            parts.append(f"### {' '.join(chisel)}\n" + res.stdout.decode("utf-8", "surrogateescape"))
        data = "".join(parts).encode("utf-8", "surrogateescape")
        (out_dir / f"{capture.stem}.txt.gz").write_bytes(gzip.compress(data, mtime=0))
        print(f"{capture.name}: {len(parts)} chisels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
