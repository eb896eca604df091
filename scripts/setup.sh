#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine, as root: system packages, the venv with sysmon
# installed, the BTF kernel type tree, and `sysmon` on PATH. Re-running it takes ~2 s.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${SYSMON_VENV:-$ROOT/.venv}

if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root (sudo $0)" >&2
    exit 1
fi

packages=(python3-bpfcc bpftool python3-venv python3-pip strace)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# bcc lives in Debian's dist-packages: the venv must be built on Debian's python with system site packages.
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import bcc; bcc.BPF" 2>/dev/null; then
    rm -rf "$VENV"
    /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
stamp="$VENV/.sysmon-installed"
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$VENV/bin/pip" install -q --disable-pip-version-check -e ".[test]"
    echo "$want" > "$stamp"
fi

# Kernel types from BTF (no kernel headers needed); regenerated when the kernel changes.
"$VENV/bin/python" -m sysmon.probe.btf >/dev/null
ln -sf "$VENV/bin/sysmon" /usr/local/bin/sysmon
