"""A pytest plugin for guests: each test's outcome and duration, and a failure's traceback, written to
$SYSMON_VM_REPORT as the test ends (a guest that times out is killed before pytest's summary)."""
from __future__ import annotations

import os

import pytest


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = os.environ.get("SYSMON_VM_REPORT")
    if not path or (report.when != "call" and report.passed):
        return
    with open(path, "a") as out:
        out.write(f"{report.outcome.upper()} {report.nodeid} ({report.when}, {report.duration:.1f} s)\n")
        if report.failed:
            out.write(report.longreprtext[-6000:] + "\n\n")
