"""netstat: the network connections of every process, optionally filtered."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, extend
from sysmon.chisel.table import FdProbe, thread_table
from sysmon.events.model import Event


class Netstat(Chisel):
    name = "netstat"
    short_description = "List (and optionally filter) network connections."
    description = ("Print the system network connections, with an output similar to netstat. The list is taken "
                   "at the first event of the capture (or of the filter, e.g. 'evt.num=1000').")
    category = "System State"
    args = (ChiselArg("filter", "a filter that restricts the list, e.g. 'proc.name=foo and fd.port=80'", "filter",
                      optional=True),)
    filter: str | None

    def on_init(self, ctx: ChiselContext) -> None:
        self.fields = {f: ctx.request_field(f"fd.{f}") for f in ("l4proto", "sip", "sport", "cip", "cport")}
        self.matched = False

    def on_event(self, evt: Event) -> bool:
        self.matched = True
        self.ctx.end_capture()
        return False

    def on_capture_end(self) -> None:
        ctx = self.ctx
        if not self.matched:
            ctx.print("empty capture or no event matching the filter")
            return
        inet = "(fd.type=ipv4 or fd.type=ipv6)"
        rows = thread_table(ctx, f"{inet} and ({self.filter})" if self.filter else inet)
        ctx.print(extend("Proto", 6) + extend("Server Address", 25) + extend("Client Address", 25)
                  + extend("State", 15) + "TID/PID/Program Name")
        probe = FdProbe(ctx.last_ts_ns)
        for row in rows:
            t = row.thread
            for fd in row.fds:
                v = {name: get(probe.event(t, fd.num)) for name, get in self.fields.items()}
                if fd.is_servsock() and fd.tuple is not None:  # get_thread_table: a SERVSOCK's own address
                    v["sip"] = fd.tuple.local.ip
                if v["cip"] is None or not v["cport"]:  # bound or listening: no peer yet
                    client, state = "0.0.0.0:*", "LISTEN"
                else:
                    client, state = f"{v['cip']}:{v['cport']}", "ESTABLISHED"
                ctx.print(extend(v["l4proto"] or "", 6) + extend(f"{v['sip']}:{v['sport']}", 25)
                          + extend(client, 25) + extend(state, 15) + f"{t.tid}/{t.pid}/{t.comm}")
