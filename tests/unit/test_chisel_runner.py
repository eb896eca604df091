"""The runner: filters ANDed with the user's, event-time intervals, the error barrier, end of capture."""
from __future__ import annotations

import textwrap
from pathlib import Path

from sysmon.chisel.api import RunOptions
from tests.chisel_harness import run_chisels
from tests.factories import make_event

NS = 1_000_000_000

CHISELS = {
    "ticks": '''
        from sysmon.chisel.api import Chisel

        class Ticks(Chisel):
            def on_init(self, ctx):
                ctx.set_interval_s(1)
                ctx.set_filter("evt.type=close")
                self.n = 0

            def on_event(self, evt):
                self.n += 1

            def on_interval(self, ts_ns):
                self.ctx.print(f"{ts_ns} closes={self.n}")
                self.n = 0
    ''',
    "faulty": '''
        from sysmon.chisel.api import Chisel

        class Faulty(Chisel):
            def on_event(self, evt):
                return 1 / 0
    ''',
    "stopper": '''
        from sysmon.chisel.api import Chisel

        class Stopper(Chisel):
            def on_init(self, ctx):
                self.seen = []

            def on_event(self, evt):
                self.seen.append(evt.ts_ns)
                self.ctx.end_capture()
                return False

            def on_capture_end(self):
                self.ctx.print(f"stopped after {self.seen}")
    ''',
    "printer": '''
        from sysmon.chisel.api import Chisel

        class Printer(Chisel):
            def on_init(self, ctx):
                ctx.set_event_formatter("%evt.type %proc.name")

            def on_event(self, evt):
                return evt.type != "getpid"
    ''',
}


def _dir(tmp_path: Path) -> list[Path]:
    for name, text in CHISELS.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    return [tmp_path]


def test_intervals_follow_event_time_not_the_wall_clock(tmp_path):
    events = [make_event("close", ts_ns=t) for t in (int(0.2 * NS), int(0.7 * NS), int(1.1 * NS), int(3.5 * NS))]
    events.insert(3, make_event("getpid", ts_ns=int(2.2 * NS)))  # unfiltered events advance the clock too
    out, _, _ = run_chisels([("ticks", None)], events, dirs=_dir(tmp_path))
    assert out.splitlines() == [f"{1 * NS} closes=2", f"{2 * NS} closes=1", f"{3 * NS} closes=0"]


def test_a_failing_chisel_is_reported_once_and_disabled_while_others_go_on(tmp_path):
    events = [make_event("close", ts_ns=t * NS // 2) for t in range(1, 6)]
    out, err, _ = run_chisels([("faulty", None), ("ticks", None)], events, dirs=_dir(tmp_path))
    assert err.count("chisel 'faulty' failed in on_event and was disabled") == 1
    assert "faulty.py" in err and "return 1 / 0" in err and err.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "sysmon/chisel" not in err  # the trace shows the chisel's frames only
    assert out.splitlines() == [f"{1 * NS} closes=1", f"{2 * NS} closes=2"]


def test_user_filter_and_chisel_filter_are_anded(tmp_path):
    events = [make_event("close", comm="a", ts_ns=1), make_event("close", comm="b", ts_ns=2),
              make_event("getpid", comm="a", ts_ns=3), make_event("close", comm="a", ts_ns=NS + 1)]
    out, _, _ = run_chisels([("ticks", None)], events, user_filter="proc.name=a", dirs=_dir(tmp_path))
    assert out == f"{NS} closes=1\n"


def test_end_capture_stops_after_the_event_and_capture_end_runs(tmp_path):
    events = [make_event("close", ts_ns=t) for t in (5, 6, 7)]
    out, _, _ = run_chisels([("stopper", None)], events, dirs=_dir(tmp_path))
    assert out == "stopped after [5]\n"


def test_event_formatter_prints_unless_on_event_says_false(tmp_path):
    events = [make_event("close", comm="a"), make_event("getpid", comm="b")]
    out, _, _ = run_chisels([("printer", None)], events, dirs=_dir(tmp_path))
    assert out == "close a\n"
    out, _, _ = run_chisels([("printer", None)], events, dirs=_dir(tmp_path),
                            options=RunOptions(output_format="json"))
    assert out == '{"evt.type":"close","proc.name":"a"}\n'


def test_snaplen_and_kernel_types_are_collected_from_the_chisels():
    _, _, runner = run_chisels([("echo_fds", None), ("proc_exec_time", None)], [])
    assert runner.snaplen == 2000
    assert runner.kernel_types is None  # echo_fds matches any I/O type
    _, _, runner = run_chisels([("proc_exec_time", None), ("topscalls_time", None)], [])
    assert runner.kernel_types is None
    _, _, runner = run_chisels([("proc_exec_time", None)], [])
    assert runner.kernel_types == frozenset({"procexit"})
