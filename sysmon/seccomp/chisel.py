"""The `seccomp_profile` chisel: a seccomp profile from the syscalls of the events it sees.

    sysmon -c seccomp_profile 'output=nginx.json' proc.name=nginx          # live, until Ctrl-C
    sysmon -c seccomp_profile 'root_pid=4242 output=app.json'              # a tree; ends when 4242 exits
    sysmon -r app.scap -c seccomp_profile 'root_pid=4242 output=app.json'  # the same, from a capture

Options (key=value, space separated): output=FILE (default: the profile on stdout), root_pid=N,
baseline=FILE (a profile to merge with), arg_rules=yes (socket families as argument rules),
report=FILE (what was seen, per process; printed on stdout when the profile goes to a file).
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, replace

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext
from sysmon.errors import ChiselError, SeccompError
from sysmon.events.model import Event
from sysmon.seccomp import profile, report
from sysmon.seccomp.observe import Recorder

YES = ("yes", "true", "1", "on")
NO = ("no", "false", "0", "off")


@dataclass(frozen=True, slots=True)
class Settings:
    output: str | None = None
    root_pid: int | None = None
    baseline: str | None = None
    arg_rules: bool = False
    report: str | None = None


def parse_options(text: str | None) -> Settings:
    values: dict[str, str] = {}
    for word in shlex.split(text or ""):
        key, eq, value = word.partition("=")
        if not eq or key not in Settings.__slots__:
            raise ChiselError(f"seccomp_profile: unknown option {word!r}",
                              hints=[f"options are key=value with key one of {', '.join(Settings.__slots__)}"])
        values[key] = value
    root = values.get("root_pid")
    if root is not None and not (root.isdigit() and int(root) > 0):
        raise ChiselError(f"seccomp_profile: root_pid must be a process id, not {root!r}")
    rules = values.get("arg_rules", "no").lower()
    if rules not in YES + NO:
        raise ChiselError(f"seccomp_profile: arg_rules is yes or no, not {rules!r}")
    return Settings(values.get("output") or None, int(root) if root else None, values.get("baseline") or None,
                    rules in YES, values.get("report") or None)


class ProfileChisel(Chisel):
    name = "seccomp_profile"
    short_description = "Seccomp profile allowing the syscalls seen"
    description = ("Collects the syscalls of the events that pass the filter (e.g. proc.name=nginx, "
                   "container.id=...) or of a process tree (root_pid=N, children started later included; "
                   "the capture ends when N exits) and writes an OCI/Docker seccomp profile that allows "
                   "them and denies the rest with EPERM. Options, key=value: output=FILE, root_pid=N, "
                   "baseline=FILE, arg_rules=yes, report=FILE. See docs/seccomp.md.")
    category = "Security"
    args = (ChiselArg("options", "key=value options: output=FILE root_pid=N baseline=FILE arg_rules=yes "
                      "report=FILE", "string", optional=True),)
    options: str | None
    settings: Settings | None = None

    def on_init(self, ctx: ChiselContext) -> None:
        if self.settings is None:
            self.settings = parse_options(self.options)
        self.baseline = profile.load(self.settings.baseline) if self.settings.baseline else None
        self.recorder = Recorder(self.settings.root_pid)

    def follow(self, pid: int) -> None:
        """Record the tree of `pid` (a workload started after on_init, by `sysmon seccomp record`)."""
        assert self.settings is not None
        self.settings = replace(self.settings, root_pid=pid)
        self.recorder = Recorder(pid)

    def on_event(self, evt: Event) -> bool:
        self.recorder.add(evt)
        if self.recorder.root_exited:
            self.ctx.end_capture()
        return False

    def on_capture_end(self) -> None:
        s = self.settings
        assert s is not None
        obs = self.recorder.result()
        if not obs.processes:
            raise SeccompError("no syscall was seen for the profile: nothing is written",
                               hints=["check the filter or root_pid (a root that started during the capture is "
                                      "followed from its execve)"])
        prof = profile.build(obs, arg_rules=s.arg_rules, baseline=self.baseline)
        text = report.render(obs, prof, root_pid=s.root_pid)
        if s.output:
            profile.write(prof, s.output)
        else:
            self.ctx.write(profile.dumps(prof))
        if s.report:
            profile.write_private(s.report, text, "report")
        elif s.output:
            self.ctx.write(text)
