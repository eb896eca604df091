# sysmon in a container: the daemon by default, or any sysmon command.
#
#   .venv/bin/pip wheel -q -w wheels .          # on the host: the project and its dependencies
#   docker build -t sysmon .                     # (--build-arg BASE=... for another Debian 12 image)
#   docker run -d --name sysmon --cap-add SYS_ADMIN --pid=host \
#       -v /sys/kernel/btf:/sys/kernel/btf:ro -v /var/lib/sysmon:/var/lib/sysmon sysmon
#   docker exec sysmon sysmon status
#
# --pid=host: the probe reports host pids, and the container's /proc is then the host's process
# tree (docker refuses a bind mount over /proc itself). CAP_SYS_ADMIN loads BPF on Docker versions
# that do not know CAP_BPF. The BTF type tree is made from the host kernel at container start.
ARG BASE=debian:bookworm-slim
FROM ${BASE}

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3-bpfcc bpftool python3-venv \
 && rm -rf /var/lib/apt/lists/*

# bcc comes from Debian: a venv on Debian's python with its site packages; the rest from the wheelhouse.
COPY wheels /tmp/wheels
RUN python3 -m venv --system-site-packages /opt/sysmon \
 && /opt/sysmon/bin/pip install -q --no-index --find-links /tmp/wheels sysmon \
 && rm -rf /tmp/wheels \
 && ln -s /opt/sysmon/bin/sysmon /usr/local/bin/sysmon \
 && /opt/sysmon/bin/python -c "import bcc, sysmon.daemon.service"

COPY systemd/sysmon.toml /etc/sysmon/sysmon.toml
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint
VOLUME /var/lib/sysmon
ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]
CMD ["daemon", "--config", "/etc/sysmon/sysmon.toml"]
