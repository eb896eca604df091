"""around: export to a capture file the events within a time range of each filter match."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext
from sysmon.errors import ChiselError
from sysmon.events.model import Event


class Around(Chisel):
    name = "around"
    short_description = "Export to file the events around the time range where the given filter matches."
    description = ("Given a filter on the command line, save to a capture file every event (of any process) "
                   "within dump_range_ms before and after each event the filter matches, e.g. "
                   "'sysmon -c around \"ctx.smc 500\" evt.type=connect and evt.failed=true'. Works live and on "
                   "a replay; the file replays on its own with sysmon -r.")
    category = "Misc"
    args = (
        ChiselArg("dump_file_name", "the name of the capture file the events around each match are written to",
                  "string"),
        ChiselArg("dump_range_ms", "the time, in milliseconds, to save before and after each match; 500 saves "
                  "one second around each match", "int", optional=True, default=1000),
    )
    dump_file_name: str
    dump_range_ms: int

    def on_init(self, ctx: ChiselContext) -> None:
        if not ctx.user_filter.strip():
            raise ChiselError("the around chisel needs a filter: the events to save the surroundings of",
                              hints=["sysmon -c around 'around.smc 500' 'evt.type=open and evt.failed=true'"])
        self.dump = ctx.dump_around(self.dump_file_name, self.dump_range_ms)

    def on_event(self, evt: Event) -> bool:
        self.dump.mark(evt)
        return True

    def on_capture_end(self) -> None:
        self.ctx.print(self.dump.summary())
