"""What the running kernel offers the probe, and where its types come from.

Each missing feature has a fallback; `KernelSetup.fallbacks` names those taken, for `-v`,
`sysmon status` and `--explain`:
- kernel types: BTF (/sys/kernel/btf/vmlinux, a generated stub tree) -> the kernel's headers
  (/lib/modules/RELEASE/build, or /sys/kernel/kheaders.tar.xz which bcc unpacks itself);
- transport: BPF ring buffer (5.8) -> per-CPU perf buffers;
- enter arguments: BPF task storage (5.11) -> an LRU hash keyed by thread id;
- the current task: bpf_get_current_task_btf (5.11) -> bpf_get_current_task + explicit reads;
- user registers at execve exit: bpf_task_pt_regs (5.15) -> the top of the task's kernel stack.
"""
from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from sysmon.errors import SetupError
from sysmon.probe import btf

# The helpers whose absence changes the probe, with the kernel that brought each (headers mode).
_FEATURE_HELPERS = {
    "ringbuf": ("ringbuf_output", (5, 8)),
    "task_storage": ("task_storage_get", (5, 11)),
    "task_btf": ("get_current_task_btf", (5, 11)),
    "task_pt_regs": ("task_pt_regs", (5, 15)),
}
KHEADERS = Path("/sys/kernel/kheaders.tar.xz")
# Features to treat as absent (comma-separated keys of _FEATURE_HELPERS): runs the fallbacks of an
# older kernel on this one, as the kernel tests do.
FEATURES_OFF_ENV = "SYSMON_KERNEL_FEATURES_OFF"


@dataclass(frozen=True, slots=True)
class KernelSetup:
    release: str
    types: str  # "btf" or "headers"
    tree: Path | None  # BCC_KERNEL_SOURCE for the BTF stub tree; None: bcc finds the headers itself
    features: frozenset[str]  # of _FEATURE_HELPERS' keys
    fallbacks: tuple[str, ...] = field(default=())
    key: str = ""  # identifies the kernel and its types (the compiled-probe cache is keyed on it)

    def has(self, feature: str) -> bool:
        return feature in self.features

    def cflags(self) -> list[str]:
        flags = []
        if self.has("task_btf"):
            flags.append("-DHAVE_TASK_BTF")
        if self.has("task_storage") and self.has("task_btf"):
            flags.append("-DHAVE_TASK_STORAGE")
        if self.has("task_pt_regs") and self.has("task_btf"):
            flags.append("-DHAVE_TASK_PT_REGS")
        return flags

    @property
    def enter_store(self) -> str:
        return "task-storage" if "-DHAVE_TASK_STORAGE" in self.cflags() else "lru-hash"


def _version(release: str) -> tuple[int, int]:
    parts = release.split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return (0, 0)


def _fallback_notes(features: frozenset[str]) -> list[str]:
    notes = []
    if "ringbuf" not in features:
        notes.append("no BPF ring buffer (Linux 5.8): the perf buffer carries events")
    if "task_storage" not in features or "task_btf" not in features:
        notes.append("no BPF task storage (Linux 5.11): enter arguments kept in an LRU hash by thread id")
    if "task_pt_regs" not in features:
        notes.append("no bpf_task_pt_regs (Linux 5.15): execve argv read via the task's kernel stack")
    return notes


def _off() -> frozenset[str]:
    return frozenset(os.environ.get(FEATURES_OFF_ENV, "").replace(" ", "").split(",")) & _FEATURE_HELPERS.keys()


def detect(vmlinux_btf: Path = btf.VMLINUX_BTF, cache: Path = btf.DEFAULT_CACHE,
           modules: Path = Path("/lib/modules"), kheaders: Path = KHEADERS) -> KernelSetup:
    """The kernel's types and features; SetupError naming what to install when there are no types."""
    release = platform.release()
    if vmlinux_btf.exists():
        tree = btf.ensure_tree(cache, vmlinux_btf)
        helpers = btf.tree_helpers(tree)
        features = frozenset(k for k, (helper, _) in _FEATURE_HELPERS.items() if helper in helpers) - _off()
        return KernelSetup(release, "btf", tree, features, tuple(_fallback_notes(features)), key=tree.name)
    build = modules / release / "build"
    if not build.is_dir() and not kheaders.exists():
        raise SetupError(
            f"no kernel types for {release}: {vmlinux_btf} is missing (a kernel without BTF) and so are "
            f"its headers ({build}, {kheaders})",
            hints=[f"apt-get install linux-headers-{release}",
                   "or boot a kernel built with CONFIG_DEBUG_INFO_BTF=y (Debian's kernels are)"],
        )
    version = _version(release)
    features = frozenset(k for k, (_, since) in _FEATURE_HELPERS.items() if version >= since) - _off()
    source = str(build) if build.is_dir() else str(kheaders)
    notes = [f"no kernel BTF: kernel types from the headers in {source}", *_fallback_notes(features)]
    build_id = hashlib.sha256(Path("/proc/version").read_bytes()).hexdigest()[:16]
    return KernelSetup(release, "headers", None, features, tuple(notes), key=f"{release}-headers-{build_id}")


def explain_lines(plan_types: frozenset[str] | None) -> list[str]:
    """For --explain: how this machine's kernel would run the probe, without loading or mounting anything."""
    from sysmon.probe import tracefs  # noqa: PLC0415

    try:
        setup = detect()
    except (SetupError, OSError) as e:
        return [f"kernel types: unavailable ({e})"]
    transport = "ringbuf" if setup.has("ringbuf") else "perf"
    found = tracefs.find()
    lines = [f"kernel {setup.release} ({setup.types} types), transport {transport}, "
             f"enter args in {setup.enter_store}"]
    if plan_types is None:
        lines.append("hooks: raw_syscalls (the filter does not pin event types)")
    elif found is not None:
        lines.append(f"hooks: the selected syscalls' tracepoints (tracefs at {found})")
    else:
        lines.append(f"hooks: the selected syscalls' tracepoints once sysmon mounts tracefs at "
                     f"{tracefs.MOUNT_POINT} (not mounted now)")
    return lines + [f"fallback: {note}" for note in setup.fallbacks]
