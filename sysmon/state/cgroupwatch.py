"""Cgroups as they are created, by inotify on the cgroup v2 tree (a thread of its own).

A container's cgroup is made before its first process runs and removed soon after its last one ends; the
events of a process that lived a millisecond may be read after that. So new cgroup directories are
noted when they appear: `paths` maps each one's inode (the kernel's cgroup id) to its path under the
root, and the container table consults it before walking the tree. Standard library only (ctypes).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import select
import struct
import threading

from sysmon import threads

log = logging.getLogger(__name__)

IN_CREATE, IN_ISDIR, IN_IGNORED, IN_ONLYDIR = 0x100, 0x40000000, 0x8000, 0x1000000
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then the name
MAX_PATHS = 1 << 16  # a bound on what is remembered (oldest first out)


class CgroupWatch:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self.paths: dict[int, str] = {}  # cgroup id (inode) -> path under the root ("/docker/ID")
        self._wds: dict[int, str] = {}
        self._libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)  # stop() wakes the thread's select at once
        for dirpath, _dirs, _files in os.walk(self.root):
            self._watch(dirpath)
        self._thread = threads.start(self._run, "sysmon-cgroups")

    def _watch(self, path: str) -> None:
        wd = self._libc.inotify_add_watch(self._fd, os.fsencode(path), IN_CREATE | IN_ONLYDIR)
        if wd >= 0:
            self._wds[wd] = path

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        self._thread.join(2)
        for fd in (self._fd, self._wake_r, self._wake_w):
            os.close(fd)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd, self._wake_r], [], [])
            if self._fd not in ready:
                continue
            try:
                data = os.read(self._fd, 64 << 10)
            except BlockingIOError:
                continue
            off = 0
            while off + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, off)
                name = data[off + _EVENT.size : off + _EVENT.size + length].rstrip(b"\0")
                off += _EVENT.size + length
                if mask & IN_IGNORED:
                    self._wds.pop(wd, None)
                elif mask & IN_CREATE and mask & IN_ISDIR and wd in self._wds:
                    self._created(os.path.join(self._wds[wd], os.fsdecode(name)))

    def _created(self, path: str) -> None:
        try:
            ino = os.stat(path).st_ino
        except OSError:
            return  # gone already
        if len(self.paths) >= MAX_PATHS:
            del self.paths[next(iter(self.paths))]
        self.paths[ino] = path[len(self.root):]
        self._watch(path)
        try:  # subdirectories made before the watch was in place
            subdirs = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return
        for sub in subdirs:
            self._created(sub)
