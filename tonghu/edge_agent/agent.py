"""The edge agent: collectors under one supervisor each → ingress → durable buffer → uplink.

Threads: the asyncio loop runs the collectors; the writer thread moves samples from the ingress into the SQLite
buffer (and tells sources that can redeliver when their samples are durable); the uplink thread drains the
buffer to the platform. SIGTERM/SIGINT: collectors stop (sessions closed), everything in memory is flushed
to the buffer, the uplink says offline, exit 0. Whatever is in the buffer goes out at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tonghu.collectors import registry
from tonghu.common.errors import TonghuError
from tonghu.edge_agent.buffer import Buffer
from tonghu.edge_agent.config import EdgeConfig
from tonghu.edge_agent.ingress import Ingress
from tonghu.edge_agent.supervisor import Supervisor
from tonghu.edge_agent.uplink import Uplink

log = logging.getLogger(__name__)
EXPIRE_EVERY_S = 60.0
STATS_EVERY_S = 5.0


def _under(entry: Any, data_dir: Path) -> Any:
    """Relative state paths of a collector (its OPC-UA PKI folder) live beside the buffer, not in the cwd."""
    pki = getattr(entry, "pki", None)
    if pki is not None and not pki.dir.is_absolute():
        return entry.model_copy(update={"pki": pki.model_copy(update={"dir": data_dir / pki.dir})})
    return entry


class Agent:
    def __init__(self, cfg: EdgeConfig) -> None:
        self.cfg = cfg
        self.buffer = Buffer(cfg.buffer)
        self.uplink = Uplink(cfg.uplink, cfg.edge, self.buffer, health=self.health)
        self.ingress = Ingress(cfg.ingress_max_samples, on_new_tags=self.uplink.declare)
        data_dir = cfg.buffer.path.parent
        self.collectors = [registry.build(_under(entry, data_dir), cfg.edge.name) for entry in cfg.collectors]
        self.supervisors = [Supervisor(c, self.ingress, cfg.edge.name) for c in self.collectors]
        self.buffer_errors = 0
        self.snapshot: dict[str, Any] = {}
        self._stop_writer = threading.Event()
        self._writer: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------------------------ observation

    def health(self) -> dict[str, Any]:
        """What the status message and the metrics report; refreshed by the writer thread."""
        return dict(self.snapshot)

    def _refresh(self) -> None:
        s = self.buffer.stats()
        self.snapshot = {
            "samples_in": s.samples_in, "buffered_samples": s.samples_buffered + s.samples_in_flight,
            "buffered_bytes": s.bytes_buffered, "oldest_age_s": s.oldest_age_s,
            "acked_batches": s.acked_batches, "resent_batches": s.resent_batches,
            "dropped": {**{str(k): v for k, v in s.dropped.items()}, "ingress_full": self.ingress.dropped},
            "sources": {sup.collector.name: {"connected": sup.state.connected, "since_us": sup.state.since_us,
                                             "outages": sup.state.outages, "samples": sup.state.samples,
                                             "last_value_us": sup.state.last_value_us}
                        for sup in self.supervisors},
        }

    # ------------------------------------------------------------------------------------ writer thread

    def _write_loop(self) -> None:
        pending: list[Any] = []
        callbacks: list[Callable[[], None]] = []
        next_expire = time.monotonic() + EXPIRE_EVERY_S
        next_stats = 0.0
        flush = self.cfg.flush_interval.total_seconds()
        while True:
            stopping = self._stop_writer.is_set()
            samples, cbs = self.ingress.drain(0 if stopping else flush)
            pending.extend(samples)
            callbacks.extend(cbs)
            if pending:
                try:
                    self.buffer.put(pending)
                    pending = []
                except TonghuError as err:
                    self.buffer_errors += 1
                    # Held in memory for the retry, but bounded like the ingress queue they came from; what
                    # exceeds it is dropped oldest first and counted with the ingress drops.
                    excess = len(pending) - self.cfg.ingress_max_samples
                    if excess > 0:
                        del pending[:excess]
                        self.ingress.count_dropped(excess)
                    log.error("cannot write %d samples to the buffer (kept in memory, retrying): %s",
                              len(pending), err)
                    if stopping:
                        break
                    time.sleep(1.0)
                    continue
            for cb in callbacks:
                cb()
            callbacks = []
            if samples:
                self.uplink.nudge()
            now = time.monotonic()
            if now >= next_expire:
                self.buffer.expire()
                next_expire = now + EXPIRE_EVERY_S
            if now >= next_stats:
                self._refresh()
                next_stats = now + STATS_EVERY_S
            if stopping and not len(self.ingress):
                break

    # ------------------------------------------------------------------------------------ lifecycle

    def request_stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            # Fails off the main thread (tests run the agent in a thread and call request_stop).
            with contextlib.suppress(RuntimeError, ValueError):
                self._loop.add_signal_handler(sig, self._stop.set)
        tasks = [asyncio.create_task(s.run(), name=f"collector-{s.collector.name}") for s in self.supervisors]
        stopper = asyncio.create_task(self._stop.wait())
        await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        stopper.cancel()
        for r in results:
            if isinstance(r, Exception) and not isinstance(r, asyncio.CancelledError):
                raise r

    def run(self) -> None:
        """Run until SIGTERM/SIGINT or request_stop(); raises ConfigError if a collector's config is unusable."""
        self.buffer.open()
        tags = [s.tag for s in self.supervisors]
        for c in self.collectors:
            tags.extend(c.tags())
        self.uplink.declare(tags)
        self._refresh()
        self.uplink.start()
        self._writer = threading.Thread(target=self._write_loop, name="tonghu-buffer-writer", daemon=True)
        self._writer.start()
        try:
            asyncio.run(self._main())
        finally:
            self._stop_writer.set()
            self._writer.join(30)
            self.uplink.stop()
            self.buffer.close()
            log.info("edge agent stopped; %d samples stay buffered for the next start",
                     self.snapshot.get("buffered_samples", 0))
