"""A list-backed sink, a collector running on its own event loop thread, and simulated edge nodes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MQTT_HOST, MQTT_PORT, unique
from tonghu.collectors.sparkplug.collector import SparkplugCollector
from tonghu.collectors.sparkplug.entry import SparkplugEntry
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta
from tonghu.device_sims.sparkplug_node import SimDevice, SimMetric, SparkplugNode


class ListSink:
    """Stores in memory and calls ``on_durable`` at once, as if every put were on disk immediately."""

    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.tags: list[TagMeta] = []
        self.durable_calls = 0
        self._lock = threading.Lock()

    def put(self, samples: Sequence[Sample], on_durable: Callable[[], None] | None = None) -> None:
        with self._lock:
            self.samples.extend(samples)
        if on_durable is not None:
            self.durable_calls += 1
            on_durable()

    def declare(self, tags: Sequence[TagMeta]) -> None:
        with self._lock:
            self.tags.extend(tags)

    def values(self, key: str) -> list[object]:
        with self._lock:
            return [s.value for s in self.samples if s.key == key]

    def by_key(self) -> dict[str, list[Sample]]:
        out: dict[str, list[Sample]] = {}
        with self._lock:
            for s in self.samples:
                out.setdefault(s.key, []).append(s)
        return out


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


class RunningCollector:
    """connect → read on an event loop in a thread, as the agent's supervisor runs it; ``stop`` cancels the
    read and closes."""

    def __init__(self, entry: SparkplugEntry, sink: ListSink) -> None:
        self.collector = SparkplugCollector(entry)
        self.sink = sink
        self.error: BaseException | None = None
        self.read_error: BaseException | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self.thread.start()
        assert self._ready.wait(20), "collector did not connect"
        if self.error is not None:
            raise self.error

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.collector.connect()
        except Exception as err:
            self.error = err
        self._ready.set()
        if self.error is None:
            reader = asyncio.create_task(self.collector.read(self.sink))
            stopper = asyncio.create_task(self._stop.wait())
            await asyncio.wait([reader, stopper], return_when=asyncio.FIRST_COMPLETED)
            if reader.done() and not reader.cancelled():
                self.read_error = reader.exception()
            for task in (reader, stopper):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.collector.close()

    @property
    def stats(self) -> dict[str, Any]:
        return self.collector.stats()

    def stop(self) -> None:
        if self.thread.is_alive() and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)
        assert not self.thread.is_alive(), "collector did not stop"


def entry(group: str, **extra: Any) -> SparkplugEntry:
    session = {"reorder_timeout": "PT0.3S", "rebirth_min_interval": "PT0.5S", **extra.pop("session", {})}
    return SparkplugEntry.model_validate({
        "type": "sparkplug", "host_id": unique("host-"), "groups": [group], "session": session,
        "broker": {"host": MQTT_HOST, "port": MQTT_PORT, "client_id": unique("spb-")}, **extra})


@pytest.fixture
def group() -> str:
    return unique("spg-")


@pytest.fixture
def run_collector() -> Iterator[Callable[[SparkplugEntry, ListSink], RunningCollector]]:
    running: list[RunningCollector] = []

    def start(e: SparkplugEntry, sink: ListSink) -> RunningCollector:
        r = RunningCollector(e, sink)
        running.append(r)
        return r

    yield start
    for r in running:
        r.stop()


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., SparkplugNode]]:
    nodes: list[SparkplugNode] = []

    def make(group: str, node: str = "gw1", *, metrics: Sequence[SimMetric] = (),
             devices: Sequence[SimDevice] = (), **kwargs: Any) -> SparkplugNode:
        kwargs.setdefault("bdseq_file", tmp_path / f"{node}.bdseq")
        n = SparkplugNode(MQTT_HOST, MQTT_PORT, group, node, metrics=metrics, devices=devices, **kwargs)
        nodes.append(n)
        return n

    yield make
    for n in nodes:
        n.stop()
