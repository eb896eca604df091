"""seccomp_profile: a seccomp profile (OCI/Docker JSON) from the syscalls matching processes made."""
from __future__ import annotations

from sysmon.seccomp.chisel import ProfileChisel


class SeccompProfile(ProfileChisel):
    """The logic lives in sysmon/seccomp/chisel.py, shared with `sysmon seccomp record`."""
