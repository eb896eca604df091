#!/bin/sh
# Container start: the kernel type tree from the host's BTF (it depends on the running kernel,
# so it cannot be made at build time), then sysmon with the container's arguments.
set -e
/opt/sysmon/bin/python -m sysmon.probe.btf >/dev/null
exec /usr/local/bin/sysmon "$@"
