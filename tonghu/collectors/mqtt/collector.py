"""The MQTT JSON device collector: subscribes to device topics and maps their payloads to samples.

Messages are decoded on paho's network thread and handed to the sink at once (the sink is thread-safe and never
blocks). With QoS 1 and a persistent session a message is acknowledged to the device broker only when its
samples are on disk (``on_durable``), so a crash of the agent makes the broker redeliver instead of losing it.
Subscriptions are made on every connect and the granted QoS is checked; paho's own reconnection is not used:
a lost connection ends ``read`` with TransientError and the agent's supervisor reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import paho.mqtt.client as mqtt

from tonghu.collectors.base import SampleSink
from tonghu.collectors.mqtt.client import connect_subscribed, make_client
from tonghu.collectors.mqtt.config import QoS
from tonghu.collectors.mqtt.entry import MqttEntry
from tonghu.collectors.mqtt.mapping import MessageMapper
from tonghu.common.errors import PayloadError, TransientError
from tonghu.common.uplink import TagMeta

log = logging.getLogger(__name__)
EARLY_MAX = 10_000


class MqttCollector:
    def __init__(self, entry: MqttEntry, edge: str = "") -> None:
        self.name = entry.name
        self.cfg = entry
        self.mapper = MessageMapper(entry)
        self.received = 0
        self.samples = 0
        self.malformed: Counter[str] = Counter()
        self._client: mqtt.Client | None = None
        self._sink: SampleSink | None = None
        self._generation = 0
        self._lost: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error = ""
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._problems: list[str] = []
        # Messages that arrive between SUBACK and read(): held (unacknowledged) until the sink is there.
        self._early: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()

    def tags(self) -> Sequence[TagMeta]:
        """Only tags whose asset paths need no topic capture are known before messages arrive."""
        out: list[TagMeta] = []
        for sub in self.mapper.subscriptions:
            if not sub.filter.captures:
                out.extend(sub.tags({}))
        return out

    def _make_client(self) -> mqtt.Client:
        client = make_client(self.cfg.broker)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    async def connect(self) -> None:
        b = self.cfg.broker
        self._loop = asyncio.get_running_loop()
        self._lost = asyncio.Event()
        self._connected.clear()
        self._subscribed.clear()
        self._error = ""
        self._generation += 1
        client = self._client = self._make_client()
        await connect_subscribed(client, b, self._subscribed, lambda: (self._error, self._problems))

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        if rc.is_failure:
            self._error = f"broker refused the connection: {rc}"
            self._subscribed.set()
            return
        self._connected.set()
        client.subscribe(self.mapper.subscribe_list())

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, codes: list[mqtt.ReasonCode],
                      _p: object) -> None:
        self._problems = self.mapper.check_granted([c.value for c in codes])
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        self._error = f"connection to the device broker lost: {rc}"
        self._subscribed.set()
        if self._loop is not None and self._lost is not None:
            self._loop.call_soon_threadsafe(self._lost.set)

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            if self._sink is None:
                if len(self._early) < EARLY_MAX:
                    self._early.append(msg)  # beyond that, left unacknowledged: the broker redelivers later
                return
        self._handle(client, msg)

    def _handle(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        generation = self._generation
        now = time.time_ns() // 1000
        try:
            samples = self.mapper.decode(msg.topic, msg.payload, now)
        except PayloadError as err:
            if self.malformed[err.reason] == 0:
                log.warning("%s: skipping malformed message on %s: %s (further ones are only counted)",
                            self.name, msg.topic, err)
            self.malformed[err.reason] += 1
            samples = []
        sink = self._sink
        if sink is None:
            return
        new = self.mapper.take_new_tags()
        if new:
            sink.declare(new)
        mid, qos = msg.mid, msg.qos

        def durable() -> None:
            # A PUBACK on a newer connection could name a reused packet id; the broker redelivers instead.
            if qos > 0 and generation == self._generation:
                client.ack(mid, qos)

        self.samples += len(samples)
        if samples:
            sink.put(samples, on_durable=durable)
        else:
            durable()  # nothing to keep: a malformed or unmatched message is acknowledged and counted

    async def read(self, sink: SampleSink) -> None:
        if self._lost is None:
            raise TransientError("read() before connect()")
        with self._lock:
            self._sink = sink
            early, self._early = self._early, []
        if self._client is not None:
            for msg in early:
                self._handle(self._client, msg)
        await self._lost.wait()
        raise TransientError(self._error or "connection to the device broker lost")

    async def close(self) -> None:
        with self._lock:
            self._sink = None
            self._early = []
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.to_thread(client.loop_stop)

    def stats(self) -> dict[str, Any]:
        return {"received": self.received, "samples": self.samples, "malformed": dict(self.malformed),
                "unmatched": self.mapper.unmatched, "qos": int(QoS(self.cfg.qos))}
