#!/usr/bin/env python3
"""Regenerate tests/golden/chisel_oracle/expected*/*.txt.gz: sysdig 0.29.3's own Lua chisels on every capture.

For each capture of tests/golden/scap/captures and each chisel of tests/golden/chisel_oracle/cases.json,
runs `TZ=UTC sysdig -r CAPTURE -c CHISEL [ARG]` and stores its output under a `### CHISEL ARG` header.
With --tty: the chisels of cases.json's "tty" (spectrogram: it refuses anything but an ANSI terminal),
each run on a pseudo-terminal of "tty_columns" x 24 (script(1)), into expected_tty/.
Needs sysdig (Debian: `apt-get install --no-install-recommends sysdig`, which brings the chisels in
/usr/share/sysdig/chisels) and, for --tty, script (bsdutils); CI only reads the results.
"""
from __future__ import annotations

import gzip
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from gen_scap_golden import GOLDEN, write_goldens  # scripts/ is on sys.path when a script there runs

ORACLE = Path(__file__).resolve().parent.parent / "tests" / "golden" / "chisel_oracle"


def write_tty_goldens(cases: list[list[str]], columns: int) -> None:
    """Each chisel of `cases` on every capture, on a pseudo-terminal `columns` wide, raw output kept."""
    out_dir = ORACLE / "expected_tty"
    out_dir.mkdir(exist_ok=True)
    env = {**os.environ, "TZ": "UTC"}
    for capture in sorted((GOLDEN / "captures").glob("*.scap")):
        parts = []
        for chisel in cases:
            command = f"stty cols {columns} rows 24; sysdig -r {shlex.quote(str(capture))} -c {shlex.join(chisel)}"
            res = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, env=env, check=True,
                                 timeout=300)
            parts.append(f"### {' '.join(chisel)}\n" + res.stdout.decode("utf-8", "surrogateescape"))
        (out_dir / f"{capture.stem}.txt.gz").write_bytes(gzip.compress("".join(parts).encode(
            "utf-8", "surrogateescape"), mtime=0))
        print(f"{capture.name}: {len(parts)} terminal cases")


def main() -> int:
    cases = json.loads((ORACLE / "cases.json").read_text())
    if "--tty" in sys.argv[1:]:
        write_tty_goldens(cases["tty"], cases["tty_columns"])
    else:
        write_goldens(ORACLE / "expected", [(" ".join(chisel), ["-c", *chisel]) for chisel in cases["chisels"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
