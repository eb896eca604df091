"""docs/sysmon.8, the manual page, made from the command line's own parser (argparse-manpage):
`python -m sysmon.manpage > docs/sysmon.8`; tests/unit/test_manpage.py checks the page is current."""
from __future__ import annotations

import os
import sys

from sysmon.cli import _version, build_parser

DATE = "2026-12-03"  # the page's date (.TH): a fixed one, so that the page only changes with the options
WIDTH = "100"  # the help texts are wrapped by argparse at COLUMNS: fixed too


def render() -> str:
    from argparse_manpage.manpage import Manpage

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        page = Manpage(build_parser(), _data={
            "project_name": "sysmon", "version": _version(), "date": DATE, "manual_section": "8",
            "manual_title": "System Manager's Manual",
            "description": "system-wide syscall capture with eBPF, speaking sysdig's filters, fields and output"})
        return _unfilled(str(page), ".SH COMMENTS\n")
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns


def _unfilled(page: str, heading: str) -> str:
    """The section under `heading` (the help's epilog: subcommands, examples) kept line for line."""
    start = page.index(heading) + len(heading)
    end = page.find("\n.SH ", start)
    end = len(page.rstrip("\n")) if end < 0 else end
    return f"{page[:start]}.nf\n{page[start:end].rstrip()}\n.fi{page[end:]}"


if __name__ == "__main__":
    sys.stdout.write(render())
