"""A Sparkplug B 3.0.0 edge node on a real MQTT broker, for tests and the device simulators.

It behaves as the specification asks of an edge node: the CONNECT carries the NDEATH as its Will (QoS 1, not
retained, only the bdSeq metric; §4.2.1.3) with a bdSeq incremented on every CONNECT and kept in a file, so
a restarted process keeps counting (§4.2.1.1); NBIRTH (seq 0, bdSeq, 'Node Control/Rebirth' = false, every
metric with name, alias, datatype and current value) and one DBIRTH per device follow; afterwards only
changed values go out (NDATA/DDATA by exception, aliases only, no datatype; §6.4.6); an NCMD 'Node
Control/Rebirth' = true is answered with a new birth sequence under the same bdSeq (§5.17). Births and data
are QoS 0 as §4.2.1.1–§4.2.2.2 require; ``qos`` raises that for tests of acknowledgement paths.

Metrics are data: ``SimMetric(name, datatype, value)`` where ``value(tick, rng)`` is the value at each step,
drawn from the node's seeded generator, so a run is reproducible. Every value published is appended to
``log``, which tests compare with what arrived.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from tonghu.collectors.sparkplug.codec import (
    BDSEQ_METRIC,
    REBIRTH_METRIC,
    Metric,
    Payload,
    PropertyValue,
    decode_payload,
    encode_payload,
)
from tonghu.collectors.sparkplug.datatypes import DataType
from tonghu.collectors.sparkplug.topic import MessageType, node_topic
from tonghu.common.errors import PayloadError
from tonghu.common.sample import Value

Clock = Callable[[], int]


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class SimMetric:
    name: str
    datatype: DataType
    value: Callable[[int, random.Random], Value]
    unit: str = ""


@dataclass(frozen=True, slots=True)
class SimDevice:
    device_id: str
    metrics: tuple[SimMetric, ...]


@dataclass(frozen=True, slots=True)
class Published:
    device: str | None
    name: str
    timestamp_ms: int
    value: Value
    birth: bool


class SparkplugNode:
    """One edge node with its devices. Thread-safe: commands arrive on paho's thread, steps on the caller's."""

    def __init__(self, host: str, port: int, group: str, node: str, *, bdseq_file: Path,
                 metrics: Sequence[SimMetric] = (), devices: Sequence[SimDevice] = (), seed: int = 0,
                 qos: int = 0, client_id: str | None = None, clock: Clock = _wall_ms) -> None:
        self.host, self.port, self.group, self.node = host, port, group, node
        self.bdseq_file, self.qos, self.clock = bdseq_file, qos, clock
        self.client_id = client_id or f"sim-{node}-{uuid.uuid4().hex[:8]}"
        self._scopes: dict[str | None, tuple[SimMetric, ...]] = {None: tuple(metrics)}
        self._scopes.update({d.device_id: tuple(d.metrics) for d in devices})
        # §6.4.6: aliases are unique across the edge node's whole set of metrics, devices included.
        self._alias = {(dev, m.name): i for i, (dev, m) in enumerate(
            ((dev, m) for dev, ms in self._scopes.items() for m in ms), start=1)}
        self._rng = random.Random(seed)
        self._tick = 0
        self.values: dict[tuple[str | None, str], Value] = {
            (dev, m.name): m.value(0, self._rng) for dev, ms in self._scopes.items() for m in ms}
        self.log: list[Published] = []
        self.births = self.rebirths = 0
        self.bdseq = -1
        self._seq = 0
        self._lock = threading.RLock()
        self._subscribed = threading.Event()
        self._client: mqtt.Client | None = None

    # ------------------------------------------------------------------------------------------ session

    def start(self, *, birth: bool = True, timeout: float = 10.0) -> None:
        """Connect (Will = NDEATH with the next bdSeq), subscribe to NCMD, then publish the births."""
        self.bdseq = self._take_bdseq()
        client = self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                                            protocol=mqtt.MQTTv5)
        client.will_set(self._topic(MessageType.NDEATH), self._death(), qos=1, retain=False)
        client.on_connect = lambda c, *_: c.subscribe(self._topic(MessageType.NCMD), qos=1)
        client.on_subscribe = lambda *_: self._subscribed.set()
        client.on_message = self._on_command
        self._subscribed.clear()
        client.connect(self.host, self.port, keepalive=30)  # MQTT 5 clean start by default, as §5.4 asks
        client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"edge node {self.node}: no SUBACK within {timeout} s")
        if birth:
            self.birth()

    def stop(self, *, graceful: bool = True) -> None:
        """Graceful: NDEATH, then DISCONNECT (§5.5). Otherwise the broker publishes the Will, as on a crash."""
        client, self._client = self._client, None
        if client is None:
            return
        if graceful:
            client.publish(self._topic(MessageType.NDEATH), self._death(), qos=1).wait_for_publish(5)
            client.disconnect()
        else:
            client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
        client.loop_stop()

    def birth(self) -> None:
        """NBIRTH with seq 0 and the current bdSeq, then a DBIRTH per device, every value current."""
        with self._lock:
            ts = self.clock()
            self._seq = 0
            metrics = [Metric.of(BDSEQ_METRIC, DataType.INT64, self.bdseq, timestamp=ts),
                       Metric.of(REBIRTH_METRIC, DataType.BOOLEAN, False, timestamp=ts)]
            self._publish(MessageType.NBIRTH, None, metrics + self._birth_metrics(None, ts), ts)
            for device in self._scopes:
                if device is not None:
                    self._publish(MessageType.DBIRTH, device, self._birth_metrics(device, ts), ts)
            self.births += 1

    def _birth_metrics(self, device: str | None, ts: int) -> list[Metric]:
        out = []
        for m in self._scopes[device]:
            value = self.values[(device, m.name)]
            props = {"engUnit": PropertyValue.of(DataType.STRING, m.unit)} if m.unit else None
            out.append(Metric.of(m.name, m.datatype, value, alias=self._alias[(device, m.name)], timestamp=ts,
                                 properties=props))
            self.log.append(Published(device, m.name, ts, value, True))
        return out

    # ------------------------------------------------------------------------------------------ data

    def step(self, ts_ms: int | None = None) -> int:
        """Advance one tick; publish the values that changed (one NDATA/DDATA per scope). Returns how many."""
        with self._lock:
            self._tick += 1
            changed: dict[str | None, dict[str, Value]] = {}
            for device, metrics in self._scopes.items():
                for m in metrics:
                    value = m.value(self._tick, self._rng)
                    if value != self.values[(device, m.name)]:
                        changed.setdefault(device, {})[m.name] = value
            for device, values in changed.items():
                self.publish(values, device, ts_ms)
            return sum(len(v) for v in changed.values())

    def publish(self, values: Mapping[str, Value], device: str | None = None, ts_ms: int | None = None) -> None:
        """Publish these values now (NDATA for the node, DDATA for a device), by alias."""
        with self._lock:
            ts = self.clock() if ts_ms is None else ts_ms
            metrics = []
            for name, value in values.items():
                spec = next(m for m in self._scopes[device] if m.name == name)
                full = Metric.of(None, spec.datatype, value, alias=self._alias[(device, name)], timestamp=ts)
                metrics.append(replace(full, datatype=None))  # §6.4.6: DATA messages omit the datatype
                self.values[(device, name)] = value
                self.log.append(Published(device, name, ts, value, False))
            kind = MessageType.NDATA if device is None else MessageType.DDATA
            self._publish(kind, device, metrics, ts)

    def device_death(self, device: str) -> None:
        with self._lock:
            self._publish(MessageType.DDEATH, device, [], self.clock())

    def skip_seq(self, count: int = 1) -> None:
        """Lose ``count`` messages on the way: the next message arrives with a seq gap."""
        with self._lock:
            self._seq = (self._seq + count) % 256

    def publish_raw(self, kind: MessageType, payload: bytes, device: str | None = None) -> None:
        """Publish bytes as they are (malformed payloads for tests); the seq is not touched."""
        if self._client is None:
            raise RuntimeError("start() first")
        self._client.publish(self._topic(kind, device), payload, qos=self.qos).wait_for_publish(5)

    # ------------------------------------------------------------------------------------------ internals

    def _publish(self, kind: MessageType, device: str | None, metrics: list[Metric], ts: int) -> None:
        if self._client is None:
            raise RuntimeError("start() first")
        payload = encode_payload(Payload(timestamp=ts, metrics=metrics, seq=self._seq))
        self._seq = (self._seq + 1) % 256
        info = self._client.publish(self._topic(kind, device), payload, qos=self.qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish of {kind} failed: {mqtt.error_string(info.rc)}")

    def _on_command(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            rebirth = any(m.name == REBIRTH_METRIC and m.value(DataType.BOOLEAN) is True
                          for m in decode_payload(bytes(msg.payload)).metrics)
        except PayloadError:
            return  # a command nobody could act on
        if rebirth and self._client is not None:
            with self._lock:
                self.rebirths += 1
                self.birth()

    def _death(self) -> bytes:
        return encode_payload(Payload(metrics=[Metric.of(BDSEQ_METRIC, DataType.INT64, self.bdseq)]))

    def _topic(self, kind: MessageType, device: str | None = None) -> str:
        return node_topic(self.group, kind, self.node, device)

    def _take_bdseq(self) -> int:
        """The bdSeq for this CONNECT; the next one is on disk before the CONNECT, so a crash cannot reuse it."""
        try:
            current = int(self.bdseq_file.read_text().strip()) % 256
        except (FileNotFoundError, ValueError):
            current = 0
        self.bdseq_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.bdseq_file.with_name(self.bdseq_file.name + ".tmp")
        tmp.write_text(f"{(current + 1) % 256}\n")
        os.replace(tmp, self.bdseq_file)
        return current
