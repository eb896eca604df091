#!/usr/bin/env bash
# Builds the image and runs the daemon in it once, on a machine without an image registry
# (docs: ../shared/docs/platform.md section 6): dockerd started by hand under a temporary directory,
# a debootstrap'ed bookworm as the base image, the project from a wheelhouse made here.
# Everything it creates is removed at the end, dockerd stopped by its pid. Not part of CI.
#   sudo bench/docker_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d /tmp/sysmon-docker.XXXXXX)
export DOCKER_HOST=unix://$WORK/docker.sock
DOCKERD_PID=

cleanup() {
    docker rm -f sysmon-smoke >/dev/null 2>&1 || true
    docker rmi -f sysmon:smoke local/debian:bookworm >/dev/null 2>&1 || true
    if [ -n "$DOCKERD_PID" ]; then
        kill "$DOCKERD_PID" 2>/dev/null || true
        while kill -0 "$DOCKERD_PID" 2>/dev/null; do sleep 0.2; done
    fi
    umount -R "$WORK/exec/netns/default" "$WORK/data" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "packages"
need=()
for p in docker.io debootstrap; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi

step "dockerd by hand"
dockerd --data-root "$WORK/data" --exec-root "$WORK/exec" --pidfile "$WORK/docker.pid" -H "$DOCKER_HOST" \
    --bridge=none --iptables=false >"$WORK/dockerd.log" 2>&1 &
DOCKERD_PID=$!
for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
docker version --format 'server {{.Server.Version}}'

step "base image: debootstrap --variant=minbase bookworm"
debootstrap --variant=minbase bookworm "$WORK/rootfs" >"$WORK/debootstrap.log" 2>&1
tar -C "$WORK/rootfs" -c . | docker import - local/debian:bookworm >/dev/null

step "wheelhouse and build context"
mkdir -p "$WORK/ctx/systemd" "$WORK/ctx/scripts"
"$ROOT/.venv/bin/pip" wheel -q --disable-pip-version-check -w "$WORK/ctx/wheels" "$ROOT"
cp Dockerfile .dockerignore "$WORK/ctx/"
cp systemd/sysmon.toml "$WORK/ctx/systemd/"
cp scripts/docker-entrypoint.sh "$WORK/ctx/scripts/"

step "docker build"
docker build -q --network host --build-arg BASE=local/debian:bookworm -t sysmon:smoke "$WORK/ctx"
docker images sysmon:smoke --format 'image {{.Repository}}:{{.Tag}} {{.Size}}'

step "docker run (the daemon)"
mkdir -p "$WORK/captures"
docker run -d --name sysmon-smoke --cap-add SYS_ADMIN --pid=host \
    -v /sys/kernel/btf:/sys/kernel/btf:ro -v "$WORK/captures:/var/lib/sysmon" sysmon:smoke >/dev/null
for _ in $(seq 240); do  # the control socket answers while the probe compiles; wait for "recording"
    docker exec sysmon-smoke sysmon status 2>/dev/null | grep -q '^sysmon daemon: recording' && break; sleep 0.5
done
cp /bin/cat "$WORK/dockersmoke"
for _ in 1 2 3; do "$WORK/dockersmoke" /etc/hostname >/dev/null; sleep 0.5; done
sleep 2
docker exec sysmon-smoke sysmon status

step "docker stop (SIGTERM), then replay on the host"
docker stop -t 20 sysmon-smoke >/dev/null
echo "container exit code: $(docker inspect -f '{{.State.ExitCode}}' sysmon-smoke)"
docker logs sysmon-smoke 2>&1 | tail -5
ls -l "$WORK/captures"
"$ROOT/.venv/bin/python" -m sysmon -r "$WORK/captures/sysmon-*" -p '%proc.name %evt.type %fd.name' \
    'proc.name=dockersmoke and evt.type=openat and evt.dir=< and fd.name=/etc/hostname'
step "done"
