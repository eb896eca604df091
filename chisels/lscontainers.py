"""lscontainers: the containers of the machine (or of the capture file), with their metadata."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, extend
from sysmon.events.model import Event


class Lscontainers(Chisel):
    name = "lscontainers"
    short_description = "List the running containers"
    description = ("List the containers known when the capture starts (live: those the processes run in and those "
                   "the Docker/Podman sockets describe; replay: the capture's container records), with their type, "
                   "image, name and id.")
    category = "System State"

    def on_event(self, evt: Event) -> bool:
        self.ctx.end_capture()
        return False

    def on_capture_end(self) -> None:
        state = self.ctx.state
        for thread in list(state.threads.values()):  # live: place every process now
            if thread.is_main:
                state.thread_container_id(thread)
        table = state.containers
        table.drain()
        ctx = self.ctx
        ctx.print(extend("container.type", 15) + extend("container.image", 16) + extend("container.name", 20)
                  + extend("container.id", 13))
        ctx.print(extend("-" * 15, 15) + extend("-" * 16, 16) + extend("-" * 20, 20) + extend("-" * 13, 13))
        for cid in sorted(table.by_id):
            c = table.by_id[cid]
            ctx.print(extend(c.type, 15) + extend(c.image, 16) + extend(c.name, 20) + extend(c.id, 13))

