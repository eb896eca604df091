"""`python -m sysmon.seccomp.launch PROFILE CMD [ARGS...]`: load PROFILE as a seccomp filter, then exec CMD.

The launcher of `sysmon seccomp check`, doing what a container runtime does: everything (reading the
profile, finding CMD on PATH) happens before the filter is loaded; then the only call left is the
execve, made under the filter like the runtime's. Exit status 126 if the exec failed, 127 if CMD
was not found, 125 if the profile could not be loaded.
"""
from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

from sysmon.errors import SysmonError
from sysmon.seccomp.enforce import build_filter
from sysmon.seccomp.profile import load


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write("usage: python -m sysmon.seccomp.launch PROFILE CMD [ARGS...]\n")
        return 125
    path, cmd = argv[0], list(argv[1:])
    exe = shutil.which(cmd[0])
    if exe is None:
        sys.stderr.write(f"sysmon: {cmd[0]}: command not found\n")
        return 127
    try:
        filt, _ = build_filter(load(path))
        filt.load()
    except SysmonError as e:
        sys.stderr.write(e.render() + "\n")
        return 125
    except (RuntimeError, ValueError, OSError) as e:
        sys.stderr.write(f"sysmon: the kernel refused the filter of {path}: {e}\n")
        return 125
    try:
        os.execv(exe, cmd)
    except OSError as e:  # under the filter now: a denied execve ends here, the write may be denied too
        try:
            os.write(2, f"sysmon: cannot exec {exe}: {e.strerror}\n".encode())
        finally:
            os._exit(126)
    return 126  # not reached: execv replaced the process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
