"""Least privilege from what was observed: seccomp profiles recorded by sysmon, checked by enforcing them.

    tree.py     which events belong to the workload (a process tree rooted at a pid, children included)
    observe.py  the syscalls a workload made, counted per process (`Recorder`: tree + counts)
    profile.py  the OCI/Docker seccomp JSON: build from an observation, merge a baseline, load, validate
    report.py   what was observed, per process, as text
    enforce.py  a profile -> a libseccomp filter (python3-seccomp), loaded by launch.py before exec
    check.py    which syscalls a profile denied a workload (seen by the probe: EPERM exits without enter)
    chisel.py   the `seccomp_profile` chisel (live or on a capture)
    command.py  `sysmon seccomp record|check` (the only module here that runs the probe)

Design and rationale: docs/seccomp.md.
"""
