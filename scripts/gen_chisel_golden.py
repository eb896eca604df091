#!/usr/bin/env python3
"""Regenerate tests/golden/chisel_oracle/expected/*.txt.gz: sysdig 0.29.3's own Lua chisels on every capture.

For each capture of tests/golden/scap/captures and each chisel of tests/golden/chisel_oracle/cases.json,
runs `TZ=UTC sysdig -r CAPTURE -c CHISEL [ARG]` and stores its output under a `### CHISEL ARG` header.
Needs sysdig (Debian: `apt-get install --no-install-recommends sysdig`, which brings the chisels in
/usr/share/sysdig/chisels); CI only reads the results.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from gen_scap_golden import write_goldens  # scripts/ is on sys.path when a script there runs

ORACLE = Path(__file__).resolve().parent.parent / "tests" / "golden" / "chisel_oracle"


def main() -> int:
    cases = json.loads((ORACLE / "cases.json").read_text())["chisels"]
    write_goldens(ORACLE / "expected", [(" ".join(chisel), ["-c", *chisel]) for chisel in cases])
    return 0


if __name__ == "__main__":
    sys.exit(main())
