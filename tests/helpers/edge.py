"""A minimal uplink client for platform tests: publishes batches and resends until the ingester acks.

It speaks the real uplink protocol over the real broker; it stands in for the edge agent only so that the
platform can be tested on its own (the edge agent's own tests cover its buffer and uplink).
"""

from __future__ import annotations

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tonghu.common import topics
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta, decode_ack, encode_data, encode_meta


class TestEdge:
    __test__ = False

    def __init__(self, host: str, port: int, prefix: str, company: str, site: str, edge: str) -> None:
        self.prefix, self.company, self.site, self.edge = prefix, company, site, edge
        self.seq = 0
        self.pending: dict[int, tuple[str, bytes]] = {}
        self.acked: set[int] = set()
        self.dead: set[int] = set()
        self._lock = threading.Lock()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-edge-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv5)
        self._client.max_inflight_messages_set(1000)
        self._client.on_connect = lambda c, *_: c.subscribe(self.topic(topics.Kind.ACK), qos=1)
        self._client.on_message = self._on_ack
        self._client.connect(host, port)
        self._client.loop_start()

    def topic(self, kind: topics.Kind) -> str:
        return topics.topic(self.prefix, self.company, self.site, self.edge, kind)

    def _on_ack(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        ok, dead = decode_ack(msg.payload)
        with self._lock:
            self.acked.update(ok)
            self.dead.update(dead)
            for s in ok + dead:
                self.pending.pop(s, None)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send_raw(self, kind: topics.Kind, payload: bytes, seq: int | None = None) -> None:
        if seq is not None:
            with self._lock:
                self.pending[seq] = (self.topic(kind), payload)
        info = self._client.publish(self.topic(kind), payload, qos=1)
        info.wait_for_publish(10)

    def send_meta(self, tags: list[TagMeta]) -> int:
        seq = self.next_seq()
        self.send_raw(topics.Kind.META, encode_meta(self.edge, seq, time.time_ns() // 1000, tags), seq)
        return seq

    def send_data(self, samples: list[Sample], events: tuple = ()) -> int:
        seq = self.next_seq()
        self.send_raw(topics.Kind.DATA, encode_data(self.edge, seq, time.time_ns() // 1000, samples, events), seq)
        return seq

    def resend_pending(self) -> int:
        with self._lock:
            items = list(self.pending.items())
        for _seq, (topic, payload) in items:
            self._client.publish(topic, payload, qos=1).wait_for_publish(10)
        return len(items)

    def wait_all_acked(self, timeout: float = 30.0, resend_every: float | None = None) -> bool:
        deadline = time.monotonic() + timeout
        last_resend = time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                if not self.pending:
                    return True
            if resend_every is not None and time.monotonic() - last_resend > resend_every:
                self.resend_pending()
                last_resend = time.monotonic()
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
