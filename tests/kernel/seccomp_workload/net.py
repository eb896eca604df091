"""Starts the loopback server, then the client, and waits for both.

Blocking waits make the same syscalls whichever program ends first (sh's `wait` builtin does not:
it sleeps in rt_sigsuspend only when the job is still running, so a profile recorded in one run
could miss it in the next)."""
import os
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
fifo = sys.argv[1]
server = subprocess.Popen([sys.executable, "-I", os.path.join(here, "server.py"), fifo])
client = subprocess.Popen([sys.executable, "-I", os.path.join(here, "client.py"), fifo])
sys.exit(client.wait() or server.wait())
