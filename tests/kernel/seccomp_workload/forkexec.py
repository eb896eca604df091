"""Forks; the child execs /bin/echo; the parent waits and checks its status."""
import os

pid = os.fork()
if pid == 0:
    os.execv("/bin/echo", ["echo", "child exec'd"])
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
