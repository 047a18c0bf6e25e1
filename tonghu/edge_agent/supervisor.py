"""The one owner of reconnection: runs a collector connect → read → close, forever, with capped jittered backoff.

Each collector gets a ``connection`` state tag (``edge/{edge}/{collector}/connection``: connected /
disconnected), written at every change, so an outage is recorded in the data itself: from the ``disconnected``
sample to the next ``connected`` one. Failures are logged when they start and when they end, not at every retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tonghu.collectors.base import Collector, SampleSink
from tonghu.common.backoff import Backoff
from tonghu.common.errors import ConfigError, PermanentError
from tonghu.common.sample import STATUS_GOOD, Sample
from tonghu.common.uplink import TagMeta

log = logging.getLogger(__name__)


def connection_tag(edge: str, collector: str) -> TagMeta:
    return TagMeta(f"edge/{edge}/{collector}/connection", "state", role="connection",
                   description=f"connection state of collector {collector} on edge {edge}")


@dataclass(slots=True)
class SourceState:
    connected: bool = False
    since_us: int = 0
    outages: int = 0
    last_error: str = ""
    attempts: int = 0
    samples: int = 0
    last_value_us: int = 0  # when the source last delivered a sample: a silent source shows a growing age


class _SourceSink:
    """The agent's sink seen by one collector: counts what the source delivers and when."""

    def __init__(self, sink: SampleSink, state: SourceState) -> None:
        self._sink, self._state = sink, state

    def put(self, samples: Sequence[Sample], on_durable: Callable[[], None] | None = None) -> None:
        if samples:
            self._state.samples += len(samples)
            self._state.last_value_us = time.time_ns() // 1000
        self._sink.put(samples, on_durable)

    def declare(self, tags: Sequence[TagMeta]) -> None:
        self._sink.declare(tags)


class Supervisor:
    def __init__(self, collector: Collector, sink: SampleSink, edge: str, first_delay: float = 0.5,
                 max_delay: float = 30.0) -> None:
        self.collector = collector
        self.sink = sink
        self.tag = connection_tag(edge, collector.name)
        self.state = SourceState(since_us=time.time_ns() // 1000)
        self._source_sink = _SourceSink(sink, self.state)
        self._backoff = Backoff(first_delay, max_delay)
        self._marked: bool | None = None

    def _mark(self, connected: bool, reason: str = "") -> None:
        now = time.time_ns() // 1000
        if connected == self._marked:
            return
        self._marked = connected
        self.state.connected, self.state.since_us = connected, now
        self.sink.put([Sample(self.tag.key, now, "connected" if connected else "disconnected", STATUS_GOOD)])
        if connected:
            log.info("%s: connected", self.collector.name)
        else:
            self.state.outages += 1
            log.warning("%s: disconnected (%s); reconnecting with backoff", self.collector.name, reason)

    async def run(self) -> None:
        """Never returns except by cancellation; the collector is closed on the way out."""
        failing = False
        while True:
            try:
                await self.collector.connect()
                if failing:
                    log.info("%s: connection restored after %d attempts", self.collector.name, self._backoff.attempt)
                failing = False
                self._backoff.reset()
                self.state.attempts += 1
                self._mark(True)
                await self.collector.read(self._source_sink)
                reason = "read ended"
            except asyncio.CancelledError:
                await self._close()
                raise
            except ConfigError:
                await self._close()
                raise  # a wrong configuration cannot heal by retrying; `tonghu edge check` names it
            except Exception as err:
                reason = f"{type(err).__name__}: {err}"
                if not failing:
                    level = logging.ERROR if isinstance(err, PermanentError) else logging.WARNING
                    log.log(level, "%s: %s", self.collector.name, reason)
                failing = True
            self.state.last_error = reason
            self.state.attempts += 1
            self._mark(False, reason)
            await self._close()
            await asyncio.sleep(self._backoff.next())

    async def _close(self) -> None:
        try:
            await self.collector.close()
        except Exception as err:
            log.debug("%s: close failed: %s", self.collector.name, err)
