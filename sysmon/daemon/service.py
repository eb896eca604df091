"""`sysmon daemon`: records around the clock into rotating capture files, on asyncio with uvloop.

    probe --ring buffer (kernel, bounded: drops counted per CPU)--> drain timer on the loop (every 2 ms,
    at most DRAIN_BYTES per turn) --> Feed: decode/state/filter only when the daemon's filter needs
    it --> CaptureWriter queue (bounded in bytes, drops counted) --> writer thread --> files
          `--> raw batches to the tail thread (daemon/tailfeed.py: bounded, budgeted, its own drops)

The probe submits without waking anyone (a wakeup per event costs ~10 us here), so the loop polls the
mmap'ed ring on a short timer instead of waiting for the fd to become readable.

systemd: READY=1 once the probe is attached, STATUS= every few seconds, WATCHDOG=1 at half of
WATCHDOG_USEC while the drain timer keeps running, STOPPING=1 on SIGTERM. SIGHUP re-reads the
configuration (an invalid one is logged and the running one kept) and starts a new file.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from sysmon.capture.feed import Feed
from sysmon.capture.snapshot import state_to_wire
from sysmon.capture.writer import CaptureWriter
from sysmon.config import CaptureConfig
from sysmon.daemon import retention
from sysmon.daemon.config import ConfigError, DaemonConfig, load
from sysmon.daemon.control import ControlServer, TailHub
from sysmon.daemon.notify import Notifier, log_formatter
from sysmon.daemon.tailfeed import TailFeed
from sysmon.errors import CaptureError, SysmonError
from sysmon.events.decode import Decoder
from sysmon.fleet.shipper import Shipper
from sysmon.pipeline import Pipeline
from sysmon.state import procfs
from sysmon.state.containers import cgroup2_mount
from sysmon.state.runtime import Runtimes, RuntimeSockets

log = logging.getLogger("sysmon.daemon")
POLL_S = 0.002
# Work per loop turn, so that the control socket, signals and the watchdog get their turns between.
DRAIN_BYTES = 4 << 20  # records only copied to the writer
# Tail clients wait while the ring holds more than this after a drain, and BEHIND_HOLD_S after the
# last time it did: a storm is the writer's alone (their lines resume once it has passed).
BEHIND_BYTES = 256 << 10
BEHIND_HOLD_S = 0.5
FEED_RECORDS = 2048  # records per writer batch: files overshoot rotation.size by at most one batch
STATUS_S = 2.0


class Daemon:
    def __init__(self, config: DaemonConfig, config_path: str | None, notifier: Notifier | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.pipe = Pipeline.build(config.run_config(), sys.stdout)
        self.hub = TailHub(self._clients_changed)
        self.tail = TailFeed(self.pipe.schema, None, self.hub, self._wake_tail)
        self.control = ControlServer(config.socket, self.status, self.hub, self.tail.catalogue)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.phase = "starting"
        self.started_s = time.monotonic()
        self.last_drain_s = self.started_s
        self.seen = 0  # records drained from the ring
        self.reloads = 0
        self.reload_error: str | None = None
        self.usage = retention.Usage()
        self.shipper: Shipper | None = None  # [stream]: ships the files to JetStream (sysmon/fleet)
        self.retention = self._retention(config)
        self.rate = 0.0
        self.write_rate = 0.0
        self._retired: list[CaptureWriter] = []  # files of earlier configurations (closed or closing)
        self._closing: dict[asyncio.Future[None], CaptureWriter] = {}
        self._generation = 0
        self._failure: SysmonError | None = None
        self._full_logged: str | None = None
        self._stopped = asyncio.Event()
        self._timer: asyncio.Handle | None = None
        self._storm_until = 0.0  # monotonic time until which tail clients wait (a backlog was seen)
        self.probe: Any = None
        self.source: Any = None  # LiveSource over the probe's ring
        self.runtimes: Runtimes | None = None
        self.decoder: Decoder | None = None
        self.writer: CaptureWriter | None = None
        self.feed: Feed | None = None

    # -- set-up and tear-down --------------------------------------------------------------------

    async def run(self) -> int:
        loop = self._loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop), (signal.SIGHUP, self.reload)):
            loop.add_signal_handler(sig, handler)
        _usable_dir(self.config.capture_dir)  # before the probe: a bad directory is said in a second
        await self.control.start()
        tasks = [asyncio.ensure_future(self._heartbeat())]
        try:
            self.probe = await loop.run_in_executor(None, self._load_probe)
            if self._stopped.is_set():  # SIGTERM while the probe compiled
                return 0
            self._start_capture()
            self.phase = "recording"
            self.notifier.send(READY=1, STATUS=self._status_line(), MAINPID=os.getpid())
            log.info("recording into %s (filter %r)", self.config.capture_dir, self.config.filter)
            self._timer = loop.call_soon(self._drain)
            await self._stopped.wait()
        finally:
            self.phase = "stopping"
            self.notifier.send(STOPPING=1, STATUS="stopping: flushing the capture")
            for task in tasks:
                task.cancel()
            await self._shutdown()
        if self._failure is not None:
            raise self._failure
        log.info("stopped: %d events seen, %d written", self.seen, self.written)
        return 0

    def _load_probe(self) -> Any:
        from sysmon.live import open_probe, probe_options  # noqa: PLC0415 (bcc only where the probe runs)

        # Not pinned to the filter's pids/comms: a reload may widen the filter, and pins only add.
        probe = open_probe(self.pipe, probe_options(self.pipe, os.getpid()), pin=False)
        for note in probe.fallbacks():
            log.warning("fallback: %s", note)
        return probe

    def _start_capture(self) -> None:
        from sysmon.probe.source import LiveSource  # noqa: PLC0415

        containers = self.pipe.start(procfs.snapshot(exclude_pids=(os.getpid(),))).state.containers
        containers.go_live(cgroup2_mount())
        self.runtimes = Runtimes(containers, RuntimeSockets())
        self.decoder = Decoder(self.pipe.schema)
        self.source = LiveSource(self.probe)
        for path in retention.remove_empty(self.config.capture_dir):
            log.warning("removed %s: empty (an earlier daemon was killed as it created it)", path)
        if self.config.stream is not None:  # before the first write: retention asks it what is not shipped
            self.shipper = Shipper(self.config.stream, self.config.capture_dir)
            self.shipper.start()
        self.writer = self._open_writer()
        self._refeed()
        self._enforce_retention()

    async def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.control.close()  # tail clients go first: what is left in the ring is only copied
        self.tail.close()
        if self.probe is not None:
            self.probe.close()  # detached: nothing new arrives; the ring's mapping stays readable
        if self.source is not None:
            while self.writer is not None and self.feed is not None and self._drain_once():
                pass
            self.source.close()
        if self.writer is not None:
            self._retire(self.writer)
            self.writer = None
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        for writer in self._retired:
            try:
                writer.check()
            except CaptureError as e:
                self._failure = self._failure or e
        if self.runtimes is not None:
            self.runtimes.stop()
        if self.pipe.inspector is not None:
            self.pipe.inspector.state.containers.stop()
        if self.shipper is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.shipper.stop)
        self.notifier.close()

    def stop(self) -> None:
        log.info("stopping")
        self._stopped.set()

    # -- the capture path --------------------------------------------------------------------------

    def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            full = self._drain_once()
        except CaptureError as e:  # the disk failed: end with that error (systemd restarts us)
            log.error("%s", e.render())
            self._failure = e
            self._stopped.set()
            return
        self.last_drain_s = time.monotonic()
        self._timer = loop.call_later(0 if full else POLL_S, self._drain)

    def _drain_once(self) -> bool:
        """Move what the ring holds into the pipeline; True when there may be more."""
        assert self.feed is not None and self.writer is not None
        limit = DRAIN_BYTES if self.feed.passthrough else self.source.decoded_limit
        chunk, starts, lengths = self.source.poll_packed(limit, wait=False)
        records = [chunk[s : s + n] for s, n in zip(starts, lengths)]
        self.seen += len(records)
        files = len(self.writer.files)
        if self.hub.clients:
            self.tail.offer(records, self.feed.next_num)
        for at in range(0, len(records), FEED_RECORDS):  # rotation is decided between feeds
            self.feed.feed_live(records[at : at + FEED_RECORDS])
        if not records:
            self.writer.tick()  # time-based rotation also when idle
        if len(self.writer.files) != files:
            self._enforce_retention()
        full = len(chunk) >= limit
        now = time.monotonic()
        if full or self.source.backlog() > BEHIND_BYTES:
            self._storm_until = now + BEHIND_HOLD_S
        was_behind, self.tail.behind = self.tail.behind, now < self._storm_until
        if was_behind and not self.tail.behind:
            self.hub.wake()  # the lines held back during the storm
        return full

    def _refeed(self) -> None:
        """(Re)build the feed for the current writer and filter (tail clients are the tail thread's)."""
        if self.pipe.inspector is None or self.decoder is None:
            return
        feed = self.pipe.feed(self.decoder, self.writer)
        if self.feed is not None:
            feed.next_num = self.feed.next_num
        self.feed = feed

    def _clients_changed(self) -> None:
        def state() -> dict[str, Any]:
            if self.pipe.inspector is None:
                return state_to_wire(procfs.snapshot(exclude_pids=(os.getpid(),)))
            return state_to_wire(self.pipe.snapshot_state())

        self.tail.plans_changed([c.plan for c in self.hub.clients], state)

    def _wake_tail(self) -> None:
        """From the tail thread: the clients have lines to write (not while the drain is behind the
        ring: writing them out would take the loop from the drain; the loop wakes them after)."""
        if self._loop is not None and not self.tail.behind:
            try:
                self._loop.call_soon_threadsafe(self.hub.wake)
            except RuntimeError:  # the loop has closed
                pass

    def _open_writer(self) -> CaptureWriter:
        cfg = self.config
        assert self.decoder is not None
        _usable_dir(cfg.capture_dir)
        self._generation += 1
        stamp = time.strftime("%Y%m%dT%H%M%S")
        base = os.path.join(cfg.capture_dir, f"sysmon-{stamp}-{os.getpid()}-{self._generation}.smc")
        capture = CaptureConfig(base, size_bytes=cfg.rotation_size, seconds=cfg.rotation_seconds,
                                compression=cfg.compression)
        writer = self.pipe.open_writer(capture, self.decoder.wall_offset_ns, space=self.retention, keep_going=True,
                                       full_hint="free some space, or lower retention.max_bytes in the configuration")
        assert isinstance(writer, CaptureWriter)  # an .smc name: sysmon's format, rotated and retained
        return writer

    def _retire(self, writer: CaptureWriter) -> None:
        """Close a writer off the loop: its queue is flushed and its file synced by its own thread."""
        self._retired.append(writer)
        future = asyncio.get_running_loop().run_in_executor(None, _close_quietly, writer)
        self._closing[future] = writer
        future.add_done_callback(self._closing.pop)

    def _retention(self, cfg: DaemonConfig) -> retention.Retention:
        """The directory's limits, kept before each write; files not shipped yet ([stream]) are kept too."""
        return retention.Retention(cfg.capture_dir, cfg.retention_bytes, cfg.retention_seconds, self._unshipped)

    def _unshipped(self) -> frozenset[str]:
        return self.shipper.unshipped() if self.shipper is not None else frozenset()

    def _enforce_retention(self) -> None:
        cfg = self.config
        keep = frozenset(self.writer.files[-2:] if self.writer else ())  # being written, or about to be
        keep |= {w.files[-1] for w in self._closing.values() if w.files}
        if self.shipper is not None:
            self.shipper.sync(keep, self.written)
        self.usage = self.retention.enforce(time.time(), keep)
        if self.shipper is not None:
            self.shipper.check_cap(self.usage.bytes, cfg.retention_bytes)
        for path in self.retention.take_deleted():
            log.info("retention: deleted %s", path)
        full = self.writer.full if self.writer else None
        if full != self._full_logged:
            if full:
                log.error("%s; dropping events and retrying (free some space, or lower retention.max_bytes)", full)
            else:
                log.warning("the disk has room again: writing resumed")
            self._full_logged = full

    # -- reload ------------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.config_path is None:
            log.warning("SIGHUP: no configuration file to re-read; starting a new file")
            new = self.config
        else:
            try:
                new = load(self.config_path)
            except ConfigError as e:
                self.reload_error = e.message
                log.error("reload refused, keeping the running configuration: %s", e.render())
                self.notifier.send(STATUS=f"reload refused: {e.message}")
                return
        self.notifier.send(RELOADING=1, MONOTONIC_USEC=time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
        self._apply(new)
        self.notifier.send(READY=1, STATUS=self._status_line())

    def _apply(self, new: DaemonConfig) -> None:
        old, self.config = self.config, new
        self.retention = self._retention(new)
        self.reload_error = None
        self.reloads += 1
        logging.getLogger("sysmon").setLevel(new.log_level_no)
        for key in ("buffer_size", "socket", "stream"):
            if getattr(new, key) != getattr(old, key):
                log.warning("%s changes when the daemon restarts; keeping %r", key, getattr(old, key))
        self.pipe.reconfigure(new.run_config())
        if self.probe is not None:
            self.probe.select(self.pipe.wanted_nrs)
            self.probe.set_snaplen(new.snaplen)
        if self.writer is not None:
            old_writer, self.writer = self.writer, self._open_writer()
            self._retire(old_writer)
            self._refeed()
            self._enforce_retention()
        log.info("configuration reloaded; now writing %s", self.writer.files[-1] if self.writer else "-")

    # -- reporting ---------------------------------------------------------------------------------

    @property
    def written(self) -> int:
        return sum(w.written for w in self._writers())

    def _writers(self) -> list[CaptureWriter]:
        return [*self._retired, *([self.writer] if self.writer else [])]

    def dropped(self) -> dict[str, int]:
        kernel = self.probe.counters()["dropped"] if self.probe is not None and self.phase == "recording" else 0
        return {"kernel": kernel, "disk": sum(w.dropped for w in self._writers()), "tail": self.hub.dropped}

    def status(self) -> dict[str, Any]:
        cfg = self.config
        files = retention.capture_files(cfg.capture_dir)
        return {
            "state": self.phase, "pid": os.getpid(), "uptime_s": round(time.monotonic() - self.started_s, 1),
            "config": self.config_path, "filter": cfg.filter, "reloads": self.reloads,
            "reload_error": self.reload_error,
            "events": {"seen": self.seen, "written": self.written, "dropped": self.dropped()},
            "rates": {"seen_per_s": round(self.rate, 1), "written_per_s": round(self.write_rate, 1)},
            "file": self.writer.files[-1] if self.writer and self.writer.files else None,
            "disk": {"dir": cfg.capture_dir, "files": len(files), "bytes": sum(size for _, _, size in files),
                     "max_bytes": cfg.retention_bytes, "max_age_s": cfg.retention_seconds,
                     "full": self.writer.full if self.writer else None},
            "tail_clients": len(self.hub.clients),
            "probe": {**self.probe.describe(), "fallbacks": self.probe.fallbacks()} if self.probe else None,
            "stream": self.shipper.status() if self.shipper is not None else None,
        }

    def _status_line(self) -> str:
        drops = sum(self.dropped().values())
        full = self.writer.full if self.writer else None
        return (f"{self.phase}{' (disk full, retrying)' if full else ''}: {self.rate:.0f} events/s, "
                f"{self.seen} seen, {self.written} written, {drops} dropped, {self.usage.bytes >> 20} MiB on disk")

    async def _heartbeat(self) -> None:
        """STATUS=, rates and retention every STATUS_S; WATCHDOG=1 while the drain timer runs."""
        watchdog = self.notifier.watchdog_s
        step = min(STATUS_S, watchdog / 2) if watchdog else STATUS_S
        last_s, last_seen, last_written = time.monotonic(), 0, 0
        last_status = last_s
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            if watchdog and (self.phase == "starting" or now - self.last_drain_s < watchdog):
                self.notifier.send(WATCHDOG=1)
            if self.phase == "starting":
                last_s = last_status = now  # rates count from READY on
            elif now - last_status >= STATUS_S - 1e-3 and self.phase == "recording":
                written = self.written
                self.rate = (self.seen - last_seen) / (now - last_s)
                self.write_rate = (written - last_written) / (now - last_s)
                last_s, last_seen, last_written, last_status = now, self.seen, written, now
                self.notifier.send(STATUS=self._status_line())
                self._enforce_retention()  # also at each rotation; here for max_age and late writes


def _usable_dir(path: str) -> None:
    """Create the capture directory (0700) if need be; a path that is not a writable directory is an error."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as e:
        why = "it is not a directory" if isinstance(e, FileExistsError) else e.strerror or str(e)
        raise CaptureError(f"cannot use the capture directory {path}: {why}",
                           hints=["set capture.dir in the configuration to a directory root can write"]) from e


def _close_quietly(writer: CaptureWriter) -> None:
    try:
        writer.close()
    except CaptureError as e:
        log.error("%s", e.render())


def main(config_path: str | None, make_config: Callable[[], DaemonConfig]) -> int:
    """Run until SIGTERM. Configuration errors are raised before anything starts."""
    import uvloop  # noqa: PLC0415

    config = make_config()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter("%(levelname)s %(message)s"))  # priorities for the journal
    logging.basicConfig(handlers=[handler])
    logging.getLogger("sysmon").setLevel(config.log_level_no)
    daemon = Daemon(config, config_path)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(daemon.run())
