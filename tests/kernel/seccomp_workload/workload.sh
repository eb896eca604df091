#!/bin/sh
# The workload of tests/kernel/test_seccomp_live.py: usage: workload.sh PYTHON DIR
# Every step is deterministic (no retries, no timing, no sh `wait`), so a second run makes the same syscalls.
set -e
PY=$1
DIR=$2
HERE=$(dirname "$0")

# file-heavy: create, copy, checksum, list, rename and delete a tree of files
mkdir -p "$DIR/src"
i=0
while [ $i -lt 40 ]; do
    echo "line $i of a file" > "$DIR/src/f$i"
    i=$((i + 1))
done
cp -r "$DIR/src" "$DIR/copy"
(cd "$DIR/copy" && sha256sum ./* > "$DIR/sums" && sha256sum -c --quiet "$DIR/sums")
find "$DIR/copy" -type f | sort > "$DIR/list"
mv "$DIR/copy" "$DIR/moved"
rm -r "$DIR/moved" "$DIR/src"

# network: a server and a client on loopback; the port goes through a FIFO (no polling)
mkfifo "$DIR/port"
"$PY" -I "$HERE/net.py" "$DIR/port"

# fork and exec
"$PY" -I "$HERE/forkexec.py"
echo "workload done"
