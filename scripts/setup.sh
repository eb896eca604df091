#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine, as root: system packages, the venv with sysmon
# installed, the BTF kernel type tree, and `sysmon` on PATH. Re-running it takes ~2 s.
# --install-service also installs the systemd unit and /etc/sysmon/sysmon.toml (kept if present),
# and enables and starts the service where systemd is PID 1.
set -euo pipefail
INSTALL_SERVICE=0
for arg in "$@"; do
    case $arg in
        --install-service) INSTALL_SERVICE=1 ;;
        *) echo "setup: unknown option $arg (known: --install-service)" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${SYSMON_VENV:-$ROOT/.venv}

if [ "$(id -u)" != 0 ]; then
    echo "setup: run as root (sudo $0)" >&2
    exit 1
fi

# systemd: systemd-analyze; docker.io, podman, busybox-static: the container tests' runtimes and image;
# apparmor: docker.io runs apparmor_parser where the kernel has AppArmor (Debian's stock kernels: the VM matrix);
# sysdig: the oracle the .scap golden files were made with (scripts/gen_scap_golden.py);
# systemd-container, debootstrap: tests/systemd boot a guest with systemd-nspawn; nats-server: the fleet tests' brokers
packages=(python3-bpfcc bpftool python3-venv python3-pip strace python3-seccomp systemd docker.io podman busybox-static
          apparmor sysdig systemd-container debootstrap nats-server)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Debian enables a nats-server on 0.0.0.0:4222 when it installs the package: nothing should listen
    # by default (the tests start their own brokers on 127.0.0.1; a fleet's broker is set up on purpose).
    if [[ " ${missing[*]} " == *" nats-server "* ]] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
        systemctl disable --now nats-server.service >/dev/null 2>&1 || true
    fi
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

# Bytecode written once: a start then reads it even where PYTHONDONTWRITEBYTECODE is set (~0.5 s a start).
"$VENV/bin/python" -m compileall -q "$ROOT/sysmon" >/dev/null

# Kernel types from BTF (no kernel headers needed); regenerated when the kernel changes.
"$VENV/bin/python" -m sysmon.probe.btf >/dev/null
ln -sf "$VENV/bin/sysmon" /usr/local/bin/sysmon
install -D -m 0644 docs/sysmon.8 /usr/local/share/man/man8/sysmon.8  # `man sysmon`

if [ "$INSTALL_SERVICE" = 1 ]; then
    install -D -m 0644 systemd/sysmon.service /etc/systemd/system/sysmon.service
    [ -f /etc/sysmon/sysmon.toml ] || install -D -m 0600 systemd/sysmon.toml /etc/sysmon/sysmon.toml
    if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
        systemctl daemon-reload
        systemctl enable --now sysmon.service
        echo "setup: sysmon.service enabled and started (sysmon status)"
    else
        echo "setup: unit installed; systemd is not PID 1 here, so not started (run: sysmon daemon)"
    fi
fi
