"""systemd tier: sysmon.service under a real systemd (PID 1 of an nspawn guest), driven through systemctl.

Needs root, systemd-nspawn and debootstrap (scripts/setup.sh installs them). The first run debootstraps
the guest tree (about 5 minutes, cached in /var/cache/sysmon/nspawn). Elsewhere these tests skip with the
reason, except under SYSMON_REQUIRE_BPF=1 (CI), where a missing prerequisite fails them.
"""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from nspawn_guest import Guest, missing_tools, prepare


@pytest.fixture(scope="module")
def guest() -> Iterator[Guest]:
    problem = "not root" if os.geteuid() != 0 else ""
    if not problem and missing_tools():
        problem = f"{', '.join(missing_tools())} missing (apt-get install systemd-container debootstrap)"
    if problem:
        if os.environ.get("SYSMON_REQUIRE_BPF") == "1":
            pytest.fail(f"systemd tests required (SYSMON_REQUIRE_BPF=1) but {problem}")
        pytest.skip(problem)
    prepare()
    g = Guest()
    try:
        yield g
    finally:
        g.close()
