"""Shell completion through argcomplete's protocol, on a real `python -m sysmon`: the shell's variables in
the environment, the answers on fd 8."""
from __future__ import annotations

import os
import subprocess
import sys

from pathlib import Path

import pytest

import sysmon

pytest.importorskip("argcomplete")


def complete(line: str) -> list[str]:
    read, write = os.pipe()
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_IFS": "\n", "COMP_WORDBREAKS": " \t\n\"'><;|&("}
    with subprocess.Popen([sys.executable, "-m", "sysmon"], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(8,),
                          preexec_fn=lambda: os.dup2(write, 8) and None) as proc:  # before fds are closed
        os.close(write)
        with os.fdopen(read) as answers:
            out = answers.read()
        assert proc.wait(timeout=30) == 0
    return [word.rstrip() for word in out.split("\n") if word]


def test_the_entry_points_carry_the_marker() -> None:
    package = Path(sysmon.__file__).parent
    for name in ("cli.py", "__main__.py"):  # argcomplete looks in a script's first 1024 bytes
        assert "PYTHON_ARGCOMPLETE_OK" in (package / name).read_text()[:1024]


def test_options_and_their_choices() -> None:
    assert complete("sysmon --prog") == ["--progress"]
    assert complete("sysmon -t ") == list("hardD")


def test_filter_fields_and_event_types() -> None:
    assert complete("sysmon fd.na") == ["fd.name"]
    assert "evt.type=open and proc.name" in complete("sysmon 'evt.type=open and proc.")
    assert complete("sysmon 'evt.type in (open, clon") == ["evt.type in (open, clone", "evt.type in (open, clone3"]
    types = complete("sysmon evt.type=opena")
    assert types == ["evt.type=openat", "evt.type=openat2"]
    assert complete("sysmon evt.type in (open, clon") == ["clone", "clone3"]  # words of their own


def test_format_fields_and_chisels() -> None:
    assert complete("sysmon -p '%evt.num %proc.na") == ["%evt.num %proc.name"]
    assert complete("sysmon -c topsc") == ["topscalls", "topscalls_time"]
