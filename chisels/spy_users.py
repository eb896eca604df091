"""spy_users: the commands users run from shells, and the directories they visit."""
from __future__ import annotations

from sysmon.chisel.api import Chisel, ChiselArg, ChiselContext, wants_no_color
from sysmon.events.model import Event

MAX_ANCESTORS = 16


class SpyUsers(Chisel):
    name = "spy_users"
    short_description = "Display interactive user activity"
    description = ("Lists every command that users launch interactively (e.g. from bash) and every directory "
                   "users visit. A command shows when one of its ancestors is a shell (a name ending in 'sh'); "
                   "the line starts with that shell's pid, indented by the depth under it.")
    category = "Security"
    args = (ChiselArg("max_depth", "the maximum depth to show in the hierarchy of processes", "int", optional=True,
                      default=-1),
            ChiselArg("disable_color", "Set to 'disable_color' if you want to disable color output", "string",
                      optional=True))
    max_depth: int
    disable_color: str | None

    def on_init(self, ctx: ChiselContext) -> None:
        self.get_type = ctx.request_field("evt.type")
        self.get_exe = ctx.request_field("proc.exe")
        self.get_args = ctx.request_field("proc.args")
        self.get_path = ctx.request_field("evt.arg.path")
        self.get_user = ctx.request_field("user.name")
        self.get_time = ctx.request_field("evt.time.s")
        self.get_pid = ctx.request_field("proc.pid")
        self.get_ppid = ctx.request_field("proc.ppid")
        self.get_aname = [ctx.request_field(f"proc.aname[{j}]") for j in range(MAX_ANCESTORS + 1)]
        self.get_apid = [ctx.request_field(f"proc.apid[{j}]") for j in range(MAX_ANCESTORS + 1)]
        ctx.set_filter("((evt.type=execve and evt.dir=<) or (evt.type=chdir and evt.dir=< and proc.name contains sh "
                       "and not proc.name contains sshd)) and evt.failed=false")
        if wants_no_color(self.disable_color):
            ctx.disable_colors()
        self.tree: dict[int, tuple[int, int]] = {}  # pid -> (depth under its shell, shell pid); depth -1: no shell

    def on_event(self, evt: Event) -> bool:
        pid, ppid = self.get_pid(evt), self.get_ppid(evt)
        is_cd = self.get_type(evt) == "chdir"
        if is_cd:
            ppid = pid  # a shell's own cd: its ancestry starts at itself
        if ppid not in self.tree:
            self.tree[ppid] = self._find_shell(evt, 1 if is_cd else 0)
        depth, shell = self.tree[ppid]
        if depth == -1:
            return True
        if pid not in self.tree:
            self.tree[pid] = (depth + 1, shell)
        level = self.tree[pid][0] - (0 if is_cd else 1)
        if self.max_depth != -1 and level > self.max_depth:
            return True
        user = self.get_user(evt) or "<NA>"
        indent = " " * ((4 if is_cd else 3) * level)
        what = f"cd {self.get_path(evt)}" if is_cd else f"{self.get_exe(evt)} {self.get_args(evt)}"
        self.ctx.print(f"{indent}{shell} {self.get_time(evt)} {user}) {what}")
        return True

    def _find_shell(self, evt: Event, offset: int) -> tuple[int, int]:
        """(depth, shell pid) for a parent: the outermost ancestor within reach whose name ends in 'sh'
        (as sysdig: depth 0 unless that shell was seen before). (-1, 0): no shell, hide its commands."""
        found = (-1, 0)
        for j in range(1, MAX_ANCESTORS + 1):
            k = j - offset
            name = self.get_aname[k](evt)
            if name is None:
                if self.get_apid[k](evt) is None:
                    break
            elif len(name) >= 2 and name.endswith("sh"):
                apid = self.get_apid[k](evt)
                found = (j - 1, apid) if apid in self.tree else (0, apid)
        return found
