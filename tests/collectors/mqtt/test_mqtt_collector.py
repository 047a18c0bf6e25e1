"""The MQTT collector's network part against real brokers, driven the way the agent's supervisor drives it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import unique
from tests.helpers.broker import PrivateBroker
from tonghu.collectors.mqtt.collector import MqttCollector
from tonghu.collectors.mqtt.entry import MqttEntry
from tonghu.common.errors import TransientError
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta


class ListSink:
    """A real, in-memory sink; ``hold`` keeps on_durable callbacks to release them later (a slow disk)."""

    def __init__(self, hold: bool = False) -> None:
        self.samples: list[Sample] = []
        self.tags: list[TagMeta] = []
        self.pending: list[Callable[[], None]] = []
        self.hold = hold
        self.lock = threading.Lock()

    def put(self, samples: Sequence[Sample], on_durable: Callable[[], None] | None = None) -> None:
        with self.lock:
            self.samples.extend(samples)
            if on_durable is not None:
                (self.pending.append if self.hold else lambda cb: cb())(on_durable)

    def declare(self, tags: Sequence[TagMeta]) -> None:
        self.tags.extend(tags)


def _entry(port: int, prefix: str) -> MqttEntry:
    return MqttEntry.model_validate({
        "type": "mqtt", "name": "meters", "broker": {"host": "127.0.0.1", "port": port, "client_id": unique("c-")},
        "subscriptions": [{"topic": f"{prefix}/m/{{meter}}", "fields": [
            {"path": "kw", "asset": "utilities/power/{meter}", "tag": "power", "data_type": "float"}]}]})


def _publish(port: int, topic: str, payloads: list[bytes]) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("dev-"), protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    for p in payloads:
        c.publish(topic, p, qos=1).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()


async def _until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await asyncio.sleep(0.05)
    return cond()


def test_malformed_payloads_are_counted_and_skipped(tmp_path: Path, topic_prefix: str) -> None:
    async def body() -> None:
        with PrivateBroker(tmp_path) as broker:
            collector, sink = MqttCollector(_entry(broker.port, topic_prefix)), ListSink()
            await collector.connect()
            reader = asyncio.create_task(collector.read(sink))
            good = [json.dumps({"kw": float(i)}).encode() for i in range(3)]
            _publish(broker.port, f"{topic_prefix}/m/m1",
                     [good[0], b"{not json", b"\xff\xfe", json.dumps({"kw": "lots"}).encode(), good[1], good[2]])
            assert await _until(lambda: len(sink.samples) == 3)
            assert [s.value for s in sink.samples] == [0.0, 1.0, 2.0]
            assert sum(collector.malformed.values()) == 3 and collector.received == 6
            assert [t.key for t in sink.tags] == ["utilities/power/m1/power"]
            reader.cancel()
            await collector.close()

    asyncio.run(body())


def test_broker_restart_ends_read_and_reconnect_resubscribes(tmp_path: Path, topic_prefix: str) -> None:
    async def body() -> None:
        broker = PrivateBroker(tmp_path)
        broker.start()
        try:
            collector, sink = MqttCollector(_entry(broker.port, topic_prefix)), ListSink()
            await collector.connect()
            reader = asyncio.create_task(collector.read(sink))
            broker.kill()
            try:
                await asyncio.wait_for(reader, 10)
                raise AssertionError("read() returned instead of raising")
            except TransientError:
                pass
            await collector.close()
            broker.start()  # same port, and no persistence: the session and subscriptions are gone
            await collector.connect()
            reader = asyncio.create_task(collector.read(sink))
            _publish(broker.port, f"{topic_prefix}/m/m2", [json.dumps({"kw": 7.5}).encode()])
            assert await _until(lambda: [s.value for s in sink.samples] == [7.5])
            reader.cancel()
            await collector.close()
        finally:
            broker.kill()

    asyncio.run(body())


def test_messages_are_acknowledged_only_when_durable(tmp_path: Path, topic_prefix: str) -> None:
    async def body() -> None:
        with PrivateBroker(tmp_path) as broker:
            entry = _entry(broker.port, topic_prefix)
            collector, sink = MqttCollector(entry), ListSink(hold=True)
            await collector.connect()
            reader = asyncio.create_task(collector.read(sink))
            _publish(broker.port, f"{topic_prefix}/m/m3", [json.dumps({"kw": 1.0}).encode()])
            assert await _until(lambda: len(sink.samples) == 1)
            # Not durable yet: a crash now must make the broker redeliver. Simulate it: drop the connection
            # without running the callback, reconnect with the same client id (persistent session).
            reader.cancel()
            await collector.close()
            again, sink2 = MqttCollector(entry), ListSink()
            await again.connect()
            reader = asyncio.create_task(again.read(sink2))
            assert await _until(lambda: [s.value for s in sink2.samples] == [1.0]), "not redelivered"
            reader.cancel()
            await again.close()

    asyncio.run(body())
