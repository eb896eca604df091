"""docs/sysmon.8 is what `python -m sysmon.manpage` makes from the parser now, and it covers every option."""
from __future__ import annotations

from pathlib import Path

import pytest

from sysmon.cli import build_parser

PAGE = Path(__file__).resolve().parent.parent.parent / "docs" / "sysmon.8"


def test_the_checked_in_page_is_current() -> None:
    pytest.importorskip("argparse_manpage")
    from sysmon.manpage import render

    assert PAGE.read_text() == render(), "options changed: run `python -m sysmon.manpage > docs/sysmon.8`"


def test_the_page_names_every_option() -> None:
    page = PAGE.read_text().replace("\\-", "-")
    assert page.startswith('.TH SYSMON "8"')
    for action in build_parser()._actions:
        for flag in set(action.option_strings) - {"-h", "--help"}:  # argparse-manpage leaves help out
            assert f"\\fB{flag}\\fR" in page, flag
