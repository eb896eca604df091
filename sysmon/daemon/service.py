"""`sysmon daemon`: records around the clock into rotating capture files, on asyncio with uvloop.

    probe --ring buffer (kernel, bounded: drops counted per CPU)--> drain timer on the loop (every 2 ms,
    at most DRAIN_BYTES per turn) --> Pump: decode/state/filter only when a filter or a tail client
    needs it --> CaptureWriter queue (bounded in bytes, drops counted) --> writer thread --> files
                                                    `--> tail clients (bounded queue each, drops counted)

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

from sysmon.capture.format import make_header
from sysmon.capture.options import container_news
from sysmon.capture.pump import Pump
from sysmon.capture.rotate import Rotation
from sysmon.capture.writer import CaptureWriter
from sysmon.daemon import retention
from sysmon.daemon.config import ConfigError, DaemonConfig, load
from sysmon.daemon.control import ControlServer, TailHub
from sysmon.daemon.notify import Notifier
from sysmon.engine import Inspector
from sysmon.errors import CaptureError, SysmonError
from sysmon.events.decode import Decoder
from sysmon.events.schema import Schema
from sysmon.fields.catalogue import Catalogue
from sysmon.fields.clock import Clock
from sysmon.filter import KernelPlan, Predicate, compile_filter
from sysmon.fleet.shipper import Shipper
from sysmon.state import procfs
from sysmon.state.containers import cgroup2_mount
from sysmon.state.runtime import Runtimes, RuntimeSockets
from sysmon.state.state import State

log = logging.getLogger("sysmon.daemon")
POLL_S = 0.002
# Work per loop turn, so that the control socket, signals and the watchdog get their turns between.
DRAIN_BYTES = 4 << 20  # records only copied to the writer
DRAIN_BYTES_DECODED = 256 << 10  # records decoded (a filter or tail clients): ~10x the cost per record
FEED_RECORDS = 2048  # records per writer batch: files overshoot rotation.size by at most one batch
STATUS_S = 2.0


class Daemon:
    def __init__(self, config: DaemonConfig, config_path: str | None, notifier: Notifier | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.schema = Schema.default()
        self.clock = Clock()
        self.catalogue = Catalogue.default(self.clock)
        self.predicate, self.plan = self._compile(config.filter)
        self.hub = TailHub(self._repump)
        self.control = ControlServer(config.socket, self.status, self.hub, self.catalogue)
        self.phase = "starting"
        self.started_s = time.monotonic()
        self.last_drain_s = self.started_s
        self.seen = 0  # records drained from the ring
        self.reloads = 0
        self.reload_error: str | None = None
        self.usage = retention.Usage()
        self.rate = 0.0
        self.write_rate = 0.0
        self._retired: list[CaptureWriter] = []  # files of earlier configurations (closed or closing)
        self._closing: dict[asyncio.Future[None], CaptureWriter] = {}
        self._generation = 0
        self._failure: SysmonError | None = None
        self._stopped = asyncio.Event()
        self._timer: asyncio.Handle | None = None
        self.probe: Any = None
        self.ring: Any = None
        self.runtimes: Runtimes | None = None
        self.inspector: Inspector | None = None
        self.decoder: Decoder | None = None
        self.writer: CaptureWriter | None = None
        self.pump: Pump | None = None
        self.shipper: Shipper | None = None  # [stream]: ships the files to JetStream (sysmon/fleet)

    # -- set-up and tear-down --------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.stop), (signal.SIGINT, self.stop), (signal.SIGHUP, self.reload)):
            loop.add_signal_handler(sig, handler)
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
        from sysmon.probe.loader import Probe, ProbeOptions  # noqa: PLC0415 (bcc only where the probe runs)

        # The daemon reads the ring buffer itself (every supported kernel, 5.10 and up, has it).
        opts = ProbeOptions(transport="ringbuf", ringbuf_bytes=self.config.buffer_size, snaplen=self.config.snaplen,
                            self_pid=os.getpid())
        probe = Probe(self.schema.capture_specs(), opts, self.schema.state_nrs(), self._wanted())
        for note in probe.fallbacks():
            log.warning("fallback: %s", note)
        return probe

    def _start_capture(self) -> None:
        from sysmon.probe.ringbuf import RingReader  # noqa: PLC0415

        self.inspector = Inspector(procfs.snapshot(exclude_pids=(os.getpid(),)), self.clock, self.predicate, [])
        self.inspector.state.containers.go_live(cgroup2_mount())
        self.runtimes = Runtimes(self.inspector.state.containers, RuntimeSockets())
        self.decoder = Decoder(self.schema)
        self.ring = RingReader(*self.probe.ring())
        for path in retention.remove_empty(self.config.capture_dir):
            log.warning("removed %s: empty (an earlier daemon was killed as it created it)", path)
        self.writer = self._open_writer()
        if self.config.stream is not None:
            self.shipper = Shipper(self.config.stream, self.config.capture_dir)
            self.shipper.start()
        self._repump()
        self._enforce_retention()

    async def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.control.close()  # tail clients go first: what is left in the ring is only copied
        if self.probe is not None:
            self.probe.close()  # detached: nothing new arrives; the ring's mapping stays readable
        if self.ring is not None:
            while self._drain_once():
                pass
            self.ring.close()
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
        if self.inspector is not None:
            self.inspector.state.containers.stop()
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
        assert self.pump is not None and self.writer is not None
        limit = DRAIN_BYTES if self.pump.passthrough else DRAIN_BYTES_DECODED
        chunk, starts, lengths = self.ring.drain(limit)
        records = [chunk[s : s + n] for s, n in zip(starts, lengths)]
        self.seen += len(records)
        files = len(self.writer.files)
        for at in range(0, len(records), FEED_RECORDS):  # rotation is decided between feeds
            self.pump.feed_live(records[at : at + FEED_RECORDS])
        if not records:
            self.writer.tick()  # time-based rotation also when idle
        if len(self.writer.files) != files:
            self._enforce_retention()
        return len(chunk) >= limit

    def _wanted(self) -> frozenset[int] | None:
        return self.schema.wanted_nrs(self.plan.types)

    def _repump(self) -> None:
        """(Re)build the pump for the current writer, filter and tail clients."""
        if self.inspector is None or self.decoder is None:
            return
        self.inspector.predicate = self.predicate
        self.inspector.sinks = [self.hub] if self.hub.clients else []
        pump = Pump(self.decoder, self.inspector, self.writer, self._wanted())
        if self.pump is not None:
            pump.next_num = self.pump.next_num
        self.pump = pump

    def _open_writer(self) -> CaptureWriter:
        cfg = self.config
        assert self.decoder is not None and self.inspector is not None
        try:
            os.makedirs(cfg.capture_dir, mode=0o700, exist_ok=True)
        except OSError as e:
            raise CaptureError(f"cannot create the capture directory {cfg.capture_dir}: {e.strerror}") from e
        self._generation += 1
        stamp = time.strftime("%Y%m%dT%H%M%S")
        base = os.path.join(cfg.capture_dir, f"sysmon-{stamp}-{os.getpid()}-{self._generation}.smc")
        offset = self.decoder.wall_offset_ns

        def header(seq: int) -> dict[str, object]:
            return make_header(wall_offset_ns=offset, snaplen=cfg.snaplen, filter_text=cfg.filter,
                               compression=cfg.compression, seq=seq)

        inspector = self.inspector

        def state() -> State:
            inspector.parser.flush()  # removals due before the next event: not part of the next file
            return inspector.state

        rotation = Rotation(size_bytes=cfg.rotation_size, seconds=cfg.rotation_seconds)
        return CaptureWriter(base, header, state, rotation=rotation, compression=cfg.compression,
                             containers=container_news(lambda: inspector.state.containers))

    def _retire(self, writer: CaptureWriter) -> None:
        """Close a writer off the loop: its queue is flushed and its file synced by its own thread."""
        self._retired.append(writer)
        future = asyncio.get_running_loop().run_in_executor(None, _close_quietly, writer)
        self._closing[future] = writer
        future.add_done_callback(self._closing.pop)

    def _enforce_retention(self) -> None:
        cfg = self.config
        keep = frozenset(self.writer.files[-2:] if self.writer else ())  # being written, or about to be
        keep |= {w.files[-1] for w in self._closing.values() if w.files}
        if self.shipper is not None:  # and never a file not shipped yet
            keep |= self.shipper.sync(keep, self.written)
        self.usage = retention.enforce(cfg.capture_dir, max_bytes=cfg.retention_bytes,
                                       max_age_s=cfg.retention_seconds, keep=keep, now_s=time.time())
        if self.shipper is not None:
            self.shipper.check_cap(self.usage.bytes, cfg.retention_bytes)
        for path in self.usage.deleted:
            log.info("retention: deleted %s", path)

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
        self.reload_error = None
        self.reloads += 1
        logging.getLogger("sysmon").setLevel(new.log_level_no)
        for key in ("buffer_size", "socket", "stream"):
            if getattr(new, key) != getattr(old, key):
                log.warning("%s changes when the daemon restarts; keeping %r", key, getattr(old, key))
        self.predicate, self.plan = self._compile(new.filter)
        if self.probe is not None:
            self.probe.select(self._wanted())
            self.probe.set_snaplen(new.snaplen)
        if self.writer is not None:
            old_writer, self.writer = self.writer, self._open_writer()
            self._retire(old_writer)
            self._repump()
            self._enforce_retention()
        log.info("configuration reloaded; now writing %s", self.writer.files[-1] if self.writer else "-")

    def _compile(self, text: str) -> tuple[Predicate | None, KernelPlan]:
        if not text.strip():
            return None, KernelPlan()
        return compile_filter(text, self.catalogue)

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
                     "max_bytes": cfg.retention_bytes, "max_age_s": cfg.retention_seconds},
            "tail_clients": len(self.hub.clients),
            "probe": {**self.probe.describe(), "fallbacks": self.probe.fallbacks()} if self.probe else None,
            "stream": self.shipper.status() if self.shipper is not None else None,
        }

    def _status_line(self) -> str:
        drops = sum(self.dropped().values())
        return (f"{self.phase}: {self.rate:.0f} events/s, {self.seen} seen, {self.written} written, "
                f"{drops} dropped, {self.usage.bytes >> 20} MiB on disk")

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


def _close_quietly(writer: CaptureWriter) -> None:
    try:
        writer.close()
    except CaptureError as e:
        log.error("%s", e.render())


def main(config_path: str | None, make_config: Callable[[], DaemonConfig]) -> int:
    """Run until SIGTERM. Configuration errors are raised before anything starts."""
    import uvloop  # noqa: PLC0415

    config = make_config()
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(message)s")
    logging.getLogger("sysmon").setLevel(config.log_level_no)
    daemon = Daemon(config, config_path)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(daemon.run())
