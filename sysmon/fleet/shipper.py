"""The daemon's shipper: capture files -> JetStream, on a thread with its own event loop.

The daemon goes on recording whatever happens to the broker: the files are the spool. The shipper
publishes one message at a time and waits for the broker's acknowledgement (the stream stays in file
order), moves the checkpoint on, and retries the same message (same Nats-Msg-Id, dropped by the
broker if it was stored after all) when anything fails. `sync()` is how the daemon tells it which
files are still being written and learns which ones retention must keep.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

import zstandard

from sysmon import threads
from sysmon.fleet import wire
from sysmon.fleet.config import StreamConfig, connect_options
from sysmon.fleet.spool import Checkpoint, Chunk, FileTail, order_key, spool_files

log = logging.getLogger(__name__)
PUBLISH_TIMEOUT_S = 5.0
CONNECT_S = 15.0  # a server that never completes the handshake (TLS expected) counts as a failure
IDLE_S = 0.2  # when caught up, look for new frames this often: at most 5 messages/s from an idle host
RETRY_S = (0.5, 1.0, 2.0, 5.0)
SAVE_S = 0.5  # the checkpoint is written at most this often (a stale one re-sends; the broker drops those)
HEADROOM = 1024  # message bytes besides the body
ABANDONED_S = 10.0  # a file of this daemon, no longer written and without a trailer: its writer failed


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Run in the shipper's loop: all_tasks is not safe from another thread."""
    for task in asyncio.all_tasks(loop):
        task.cancel()


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return ""


class Shipper:
    def __init__(self, cfg: StreamConfig, directory: str) -> None:
        self.cfg = cfg
        self.dir = directory
        self.host = cfg.host_name
        self.subject = wire.subject(self.host)
        self.boot = boot_id()
        self.ckpt_path = Checkpoint.path(directory, cfg.stream)
        self.ckpt = Checkpoint.load(self.ckpt_path)
        self.connected = False
        self.last_error: str | None = None
        self.last_error_at = 0.0
        self.shipped_events = 0  # acknowledged, this run
        self.shipped_bytes = 0  # message bytes acknowledged
        self.messages = 0
        self.duplicates = 0  # retries the broker had stored already
        self.last_t1 = 0  # wall time of the last event acknowledged
        self._started_ns = time.time_ns()  # before the first acknowledgement, lag counts from here
        self.over_cap: str | None = None  # retention keeps unshipped files beyond the disk cap
        self._cap_warned_s = -1e9
        self._active: frozenset[str] = frozenset()  # files being written (names)
        self._written = 0
        self._mine = 0  # events acknowledged from this daemon's own files
        self._pid = os.getpid()
        self._zc = zstandard.ZstdCompressor(level=3)
        self._stop = threading.Event()
        self._saved_s = 0.0
        self._dirty = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- the daemon's side -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threads.start(self._main, "sysmon-shipper")

    def stop(self, grace_s: float = 3.0) -> None:
        """Stop within `grace_s` (what is not shipped by then ships at the next start)."""
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(grace_s if self.connected else 0.2)  # nothing to finish when not connected
        loop = self._loop
        if self._thread.is_alive() and loop is not None:
            try:
                loop.call_soon_threadsafe(_cancel_all, loop)
            except RuntimeError:  # the loop closed meanwhile: the thread is on its way out
                pass
            self._thread.join(2.0)

    def sync(self, active: frozenset[str], written: int) -> None:
        """The files being written (paths) and the events this daemon wrote."""
        self._active = frozenset(os.path.basename(p) for p in active)
        self._written = written

    def unshipped(self) -> frozenset[str]:
        """The paths of files not shipped yet, which retention must not delete (asked by the writer threads)."""
        return frozenset(os.path.join(self.dir, n) for n in self.ckpt.unshipped(spool_files(self.dir)))

    def check_cap(self, used: int, cap: int | None) -> None:
        """After retention: over the disk cap only because of files not shipped yet? Say so (each minute)."""
        over = cap is not None and used > cap
        self.over_cap = f"{used >> 20} MiB on disk, over the cap of {cap >> 20} MiB: files not shipped yet are " \
            "kept (retention never deletes them)" if over and cap is not None else None
        now = time.monotonic()
        if self.over_cap and now - self._cap_warned_s >= 60:
            log.warning("retention: %s; shipping lag %s", self.over_cap, self.last_error or "(broker slow)")
            self._cap_warned_s = now

    def status(self) -> dict[str, Any]:
        names = spool_files(self.dir)
        pending = self.ckpt.unshipped(names)
        lag_bytes = 0
        for name in pending:
            try:
                lag_bytes += os.path.getsize(os.path.join(self.dir, name))
            except OSError:
                continue
        if pending and pending[0] == self.ckpt.file:
            lag_bytes = max(0, lag_bytes - self.ckpt.off)
        lag_events = max(0, self._written - self._mine)
        behind = lag_events > 0 or lag_bytes > 0
        lag_s = round(time.time() - (self.last_t1 or self._started_ns) / 1e9, 1) if behind else 0.0
        return {
            "servers": list(self.cfg.servers), "stream": self.cfg.stream, "host": self.host,
            "subject": self.subject, "connected": self.connected,
            "shipped_events": self.shipped_events, "shipped_bytes": self.shipped_bytes, "messages": self.messages,
            "duplicates": self.duplicates, "lag_events": lag_events, "lag_s": lag_s, "lag_bytes": lag_bytes,
            "unshipped_files": len(pending), "file": self.ckpt.file or None, "offset": self.ckpt.off,
            "last_error": self.last_error, "over_cap": self.over_cap,
            "last_error_age_s": round(time.monotonic() - self.last_error_at, 1) if self.last_error else None,
        }

    # -- the shipping thread -------------------------------------------------------------------------

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._run())
        except asyncio.CancelledError:
            pass
        finally:
            self._save(force=True)
            loop.close()

    def _error(self, what: str) -> None:
        if what != self.last_error:
            log.warning("shipping to %s: %s", ",".join(self.cfg.servers), what)
        self.last_error, self.last_error_at = what, time.monotonic()

    async def _run(self) -> None:
        import nats  # noqa: PLC0415

        attempt = 0
        while not self._stop.is_set():
            nc = None
            try:
                nc = await asyncio.wait_for(nats.connect(
                    **connect_options(self.cfg), name=f"sysmon shipper {self.host}", allow_reconnect=True,
                    max_reconnect_attempts=-1, reconnect_time_wait=1, connect_timeout=3, error_cb=self._on_error,
                    disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect), CONNECT_S)
                self.connected = True
                js = nc.jetstream(timeout=PUBLISH_TIMEOUT_S)
                await self._ensure_stream(js)
                attempt = 0
                await self._ship(nc, js)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the broker, the network, credentials: say why, wait, try again
                self._error(_describe(e))
            finally:
                self.connected = False
                if nc is not None:
                    try:
                        await asyncio.wait_for(nc.close(), 2)
                    except Exception:
                        pass
            if not self._stop.is_set():
                await self._sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1

    async def _on_error(self, e: Exception) -> None:
        self._error(_describe(e))

    async def _on_disconnect(self) -> None:
        self.connected = False

    async def _on_reconnect(self) -> None:
        self.connected = True

    async def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop.is_set() and time.monotonic() < end:
            await asyncio.sleep(min(0.05, seconds))

    async def _ensure_stream(self, js: Any) -> None:
        from nats.js.api import DiscardPolicy, StorageType, StreamConfig  # noqa: PLC0415
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        cfg = self.cfg
        want = StreamConfig(name=cfg.stream, subjects=[wire.ALL_HOSTS], max_age=cfg.max_age_s,
                            max_bytes=cfg.max_bytes or -1, num_replicas=cfg.replicas,
                            duplicate_window=cfg.duplicate_window_s, storage=StorageType.FILE,
                            discard=DiscardPolicy.OLD)
        try:
            info = await js.stream_info(cfg.stream)
        except NotFoundError:
            await js.add_stream(want)
            log.info("created the stream %s (%d replicas)", cfg.stream, cfg.replicas)
            return
        have = info.config
        if (have.max_age or None) != (want.max_age or None) or (have.max_bytes or -1) != want.max_bytes or \
                abs((have.duplicate_window or 0) - want.duplicate_window) > 1e-3:
            await js.update_stream(have.evolve(max_age=want.max_age, max_bytes=want.max_bytes,
                                               duplicate_window=want.duplicate_window))
            log.info("updated the limits of the stream %s", cfg.stream)

    async def _ship(self, nc: Any, js: Any) -> None:
        tail: FileTail | None = None
        limit = max(4096, min(self.cfg.batch_bytes, nc.max_payload - HEADROOM))
        try:
            while not self._stop.is_set():
                if tail is None:
                    tail = self._open_next()
                    if tail is None:
                        self._save()
                        await asyncio.sleep(IDLE_S)
                        continue
                chunk = tail.take(limit)
                if chunk is None:
                    if tail.ended or self._abandoned(tail):
                        self._finish(tail)
                        tail.close()
                        tail = None
                    else:
                        self._save()
                        await asyncio.sleep(IDLE_S)
                    continue
                await self._publish(nc, js, tail, chunk)
                tail.advance(chunk)
                if chunk.ended:
                    self._finish(tail)
                    tail.close()
                    tail = None
        finally:
            if tail is not None:
                tail.close()

    async def _publish(self, nc: Any, js: Any, tail: FileTail, chunk: Chunk) -> None:
        """Publish until acknowledged: a retry carries the same message id, so the broker stores it once."""
        body, z = chunk.data, None
        if not tail.compressed:
            body, z = self._zc.compress(body), "zstd"
        head = wire.Head(self.host, self.boot, tail.name, chunk.off, chunk.end, self.ckpt.fseq if chunk.off else 0,
                         chunk.first, chunk.last, chunk.events, chunk.t0, chunk.t1, z)
        payload = wire.encode(head, body)
        headers = {"Nats-Msg-Id": wire.msg_id(self.host, tail.name, chunk.off)}
        attempt = 0
        while True:
            try:
                ack = await js.publish(self.subject, payload, timeout=PUBLISH_TIMEOUT_S, stream=self.cfg.stream,
                                       headers=headers)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if nc.is_closed or self._stop.is_set():
                    raise
                self._error(f"publishing failed, retrying: {_describe(e)}")
                await self._sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
        if self.last_error is not None:
            log.info("shipping to %s again", self.cfg.stream)
        self.last_error = None
        if ack.duplicate:
            self.duplicates += 1
        self.messages += 1
        self.shipped_events += chunk.events
        self.shipped_bytes += len(payload)
        if _pid_of(tail.name) == self._pid:
            self._mine += chunk.events
        if chunk.events:
            self.last_t1 = chunk.t1
        self.ckpt.off = chunk.end
        if chunk.off == 0:
            self.ckpt.fseq = ack.seq
        self.ckpt.done = chunk.ended
        self._dirty = True
        self._save()

    def _open_next(self) -> FileTail | None:
        """The file at the checkpoint if it is not done, else the next one (checkpoint moved onto it)."""
        names = spool_files(self.dir)
        ck = self.ckpt
        if ck.file and not ck.done and ck.file in names:
            return FileTail(self.dir, ck.file, ck.off)
        later = [n for n in names if not ck.file or order_key(n) > order_key(ck.file)]
        if not later:
            return None
        if ck.file and not ck.done:
            log.warning("shipping: %s is gone before it was shipped whole (%d bytes were)", ck.file, ck.off)
        self.ckpt = Checkpoint(later[0], 0, 0, False)
        self._dirty = True
        return FileTail(self.dir, later[0], 0)

    def _abandoned(self, tail: FileTail) -> bool:
        """A file without its trailer that nobody writes any more: of an earlier daemon, or one whose
        writer failed (not being written, unchanged for a while), with a later file after it."""
        name = tail.name
        if name in self._active:
            return False
        if _pid_of(name) == self._pid:
            try:
                if time.time() - os.stat(tail.path).st_mtime < ABANDONED_S:
                    return False
            except OSError:
                return True
        key = order_key(name)
        return any(order_key(n) > key for n in spool_files(self.dir))

    def _finish(self, tail: FileTail) -> None:
        if not self.ckpt.done:
            self.ckpt.done = True
            self._dirty = True
            if not tail.ended:
                log.info("shipping: %s ends without its trailer (its writer stopped abruptly)", tail.name)
        self._save()

    def _save(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._dirty and (force or now - self._saved_s >= SAVE_S):
            try:
                self.ckpt.save(self.ckpt_path)
                self._dirty = False
                self._saved_s = now
            except OSError as e:
                self._error(f"cannot save the checkpoint {self.ckpt_path}: {e.strerror}")


def _pid_of(name: str) -> int:
    return order_key(name)[1]


def _describe(e: BaseException) -> str:
    text = str(e).strip() or type(e).__name__
    if isinstance(e, asyncio.TimeoutError):
        text = "the server does not answer (TLS or credentials expected?)"
    elif isinstance(e, OSError) and e.errno:
        text = f"cannot connect: {os.strerror(e.errno)}"
    elif type(e).__name__ == "NoServersError":
        text = "no server could be reached"
    return text.replace("nats: ", "")


def format_status(st: dict[str, Any]) -> list[str]:
    """`sysmon status` lines for the stream section."""
    state = "connected" if st["connected"] else "NOT connected"
    lines = [f"stream:  {st['stream']} as {st['subject']} on {', '.join(st['servers'])}: {state}",
             f"shipped: {st['shipped_events']} events in {st['messages']} messages ({st['shipped_bytes']} bytes); "
             f"lag {st['lag_events']} events, {st['lag_s']:.1f} s, {st['lag_bytes']} bytes in "
             f"{st['unshipped_files']} files"]
    if st["last_error"]:
        lines.append(f"warning: shipping: {st['last_error']} ({st['last_error_age_s']:.0f} s ago)")
    if st.get("over_cap"):
        lines.append(f"warning: {st['over_cap']}")
    return lines
