"""The Sparkplug B 3.0.0 host collector: one MQTT connection feeding the pure ``HostSession``.

Threads: paho's network thread only queues incoming messages (bounded); the ``read`` task owns the session:
it handles the queued messages, fires the session's timers, publishes the rebirth requests it returns and
persists the alias cache. Reconnection belongs to the agent's supervisor; a lost connection ends ``read``.

Host STATE (§4.2.3, §5.3): the CONNECT carries the Will ``{"online": false}`` (retained, QoS 1) stamped with
the connect time; once the group filters and the host's own STATE topic are subscribed, the birth
``{"online": true}`` with that same timestamp is published retained at QoS 1. A later "offline" for this host
(a Will of an earlier connection arriving late) is answered at once with a new birth. ``close`` publishes
the death before DISCONNECT; should it go unacknowledged, the DISCONNECT asks for the Will instead.

Acknowledgement: QoS 1/2 messages are acknowledged once the samples they produced are durable (the sink's
``on_durable``). A message the session holds back for reordering (§5.9) produced nothing yet, so its ack
waits for the output that carries its samples. Messages with nothing to store are acknowledged at once.

Connection loss: §5.3 asks a host that loses the broker to mark every known metric stale, since deaths and
births may pass unseen meanwhile; each online node gets the treatment of an NDEATH, and its next message
after the reconnect makes the session ask it for a rebirth.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import paho.mqtt.client as mqtt

from tonghu.collectors.base import SampleSink
from tonghu.collectors.sparkplug import client as mqttc
from tonghu.collectors.sparkplug.cache import CacheWriter, load_session
from tonghu.collectors.sparkplug.codec import Payload, encode_payload
from tonghu.collectors.sparkplug.config import Transient
from tonghu.collectors.sparkplug.entry import SparkplugEntry
from tonghu.collectors.sparkplug.mapping import KeyMapper
from tonghu.collectors.sparkplug.session import HostSession, Output, Rebirth, SessionConfig
from tonghu.collectors.sparkplug.topic import MessageType, Topic, decode_state, encode_state
from tonghu.common.errors import PayloadError, TransientError
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta

log = logging.getLogger(__name__)
STATE_TIMEOUT_S = 5.0
# Beyond this many queued messages new ones are dropped (counted in ``overflow``): the seq gap they leave
# makes the session ask for a rebirth, which restores every current value.
INBOX_MAX = 10_000
# Messages handled before the task yields, so that other collectors on the loop keep running.
CHUNK = 500

Ack = Callable[[], None]


def _now_us() -> int:
    return time.time_ns() // 1000


class SparkplugCollector:
    def __init__(self, entry: SparkplugEntry, edge: str = "") -> None:
        self.name = entry.name
        self.cfg = entry
        self.mapper = KeyMapper(entry.mapping)
        s = entry.session
        self._session_cfg = SessionConfig(reorder_timeout=s.reorder_timeout, max_held=s.max_held,
                                          rebirth_min_interval=s.rebirth_min_interval,
                                          store_transient=s.transient is Transient.STORE)
        self._reorder_us = s.reorder_timeout.total_seconds() * 1e6
        self.session: HostSession | None = None  # created at the first connect, kept across reconnects
        self.received = self.overflow = self.rebirths_sent = self.publish_failures = 0
        self.state_republished = 0
        self.cache = CacheWriter(entry.alias_cache, entry.alias_cache_interval)
        self.malformed: Counter[str] = Counter()
        self._client: mqtt.Client | None = None
        self._generation = 0
        self._lock = threading.Lock()
        self._inbox: deque[tuple[mqtt.MQTTMessage, int]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._subscribed = threading.Event()
        self._lost = self._closing = False
        self._error = ""
        self._problems: list[str] = []
        self._connected_ms = 0
        self._pending_acks: list[Ack] = []
        self._nodes: set[tuple[str, str]] = set()

    def tags(self) -> Sequence[TagMeta]:
        """Nothing is known before the births: tags are declared as births arrive."""
        return []

    # ------------------------------------------------------------------------------------------ connection

    async def connect(self) -> None:
        b = self.cfg.broker
        self._loop = asyncio.get_running_loop()
        if self.session is None:
            self.session = await asyncio.to_thread(load_session, self.cfg.alias_cache, self.mapper.key_of,
                                                   self._session_cfg)
            self.cache.loaded(self.session)
            self._nodes = {(n["group"], n["node"]) for n in json.loads(self.session.to_json())["nodes"]}
        self._generation += 1
        with self._lock:
            self._inbox.clear()
        self._wake = asyncio.Event()
        self._lost = self._closing = False
        self._error, self._problems, self._pending_acks = "", [], []
        self._subscribed.clear()
        client = self._client = mqttc.make_client(b)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        # §4.2.3.2: the Will is stamped with the time of the CONNECT; the birth repeats it (§4.2.3.1).
        self._connected_ms = time.time_ns() // 1_000_000
        client.will_set(self.cfg.state_topic, encode_state(False, self._connected_ms), qos=1, retain=True)
        await mqttc.connect_subscribed(client, b, self._subscribed, lambda: (self._error, self._problems))
        # §5.3: the birth follows the subscriptions, so nothing published in answer to it can be missed.
        # Connected means announced: edge nodes waiting for this host see it once connect returns.
        info = self._publish_state(True, self._connected_ms)
        if info is None or not await asyncio.to_thread(mqttc.wait_published, info, STATE_TIMEOUT_S):
            raise TransientError(f"the host's STATE birth was not acknowledged within {STATE_TIMEOUT_S} s")

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        if rc.is_failure:
            self._error = f"broker refused the connection: {rc}"
            self._subscribed.set()
        elif not self._lost:
            client.subscribe(self.cfg.subscriptions())

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, codes: list[mqtt.ReasonCode],
                      _p: object) -> None:
        self._problems = mqttc.granted_problems(self.cfg.subscriptions(), [c.value for c in codes])
        self._subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        self._error = f"connection to the Sparkplug broker lost: {rc}"
        self._lost = True
        self._subscribed.set()
        self._notify()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            if len(self._inbox) >= INBOX_MAX:
                self.overflow += 1  # left unacknowledged: a persistent session gets it again on reconnect
                return
            self._inbox.append((msg, self._generation))
            first = len(self._inbox) == 1
        if first:
            self._notify()

    def _notify(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is reading any more
                loop.call_soon_threadsafe(wake.set)

    def _publish_state(self, online: bool, timestamp_ms: int) -> mqtt.MQTTMessageInfo | None:
        client = self._client
        if client is None:
            return None
        info = client.publish(self.cfg.state_topic, encode_state(online, timestamp_ms), qos=1, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.publish_failures += 1
            return None
        return info

    # ------------------------------------------------------------------------------------------ reading

    async def read(self, sink: SampleSink) -> None:
        session, wake = self.session, self._wake
        if session is None or wake is None or self._client is None:
            raise TransientError("read() before connect()")
        while True:
            wake.clear()
            with self._lock:
                batch = [self._inbox.popleft() for _ in range(min(CHUNK, len(self._inbox)))]
                more = bool(self._inbox)
            for msg, generation in batch:
                self._handle(msg, generation, sink)
            now = _now_us()
            deadline = session.next_deadline()
            if deadline is not None and deadline <= now:
                self._emit(session.poll(now), None, sink)
                deadline = session.next_deadline()
            await self.cache.save(session)
            if self._closing:
                raise TransientError("collector closed")
            if more:
                await asyncio.sleep(0)
                continue
            if self._lost:
                self._mark_stale(sink)
                raise TransientError(self._error or "connection to the Sparkplug broker lost")
            try:
                async with asyncio.timeout(self._timeout(deadline, now)):
                    await wake.wait()
            except TimeoutError:
                pass

    def _timeout(self, deadline: int | None, now: int) -> float | None:
        waits = [] if deadline is None else [(deadline - now) / 1e6]
        if self.session is not None and (save := self.cache.due_in(self.session)) is not None:
            waits.append(save)
        return max(0.0, min(waits)) if waits else None

    def _handle(self, msg: mqtt.MQTTMessage, generation: int, sink: SampleSink) -> None:
        assert self.session is not None
        self.received += 1
        ack = self._acker(msg, generation)
        if msg.topic == self.cfg.state_topic:
            self._own_state(msg)
            if ack is not None:
                ack()
            return
        try:
            out = self.session.handle(msg.topic, bytes(msg.payload), _now_us())
        except PayloadError as err:
            if self.malformed[err.reason] == 0:
                log.warning("%s: skipping malformed message on %s: %s (further ones are only counted)",
                            self.name, msg.topic[:200], err)
            self.malformed[err.reason] += 1
            if ack is not None:
                ack()  # nothing to keep
            return
        parts = msg.topic.split("/", 4)
        if len(parts) >= 4:
            self._nodes.add((parts[1], parts[3]))
        self._emit(out, ack, sink)

    def _acker(self, msg: mqtt.MQTTMessage, generation: int) -> Ack | None:
        client, mid, qos = self._client, msg.mid, msg.qos
        if qos == 0 or client is None:
            return None

        def ack() -> None:
            # A PUBACK on a newer connection could name a reused packet id; the broker redelivers instead.
            if generation == self._generation:
                client.ack(mid, qos)

        return ack

    def _emit(self, out: Output, ack: Ack | None, sink: SampleSink) -> None:
        for action in out.actions:
            self._request_rebirth(action)
        if out.tags:
            sink.declare(self.mapper.describe(out.tags))
        if ack is not None:
            self._pending_acks.append(ack)
        if out.samples:
            acks, self._pending_acks = self._pending_acks, []
            sink.put(out.samples, on_durable=_all(acks) if acks else None)
        elif self._pending_acks and not self._may_hold():
            acks, self._pending_acks = self._pending_acks, []
            for a in acks:
                a()

    def _may_hold(self) -> bool:
        """Whether the session may be holding messages back: a seq gap always has a deadline within one
        reorder timeout, so a later (or no) deadline rules it out."""
        deadline = self.session.next_deadline() if self.session is not None else None
        return deadline is not None and deadline <= _now_us() + self._reorder_us

    def _request_rebirth(self, action: Rebirth) -> None:
        client = self._client
        if client is None:
            return
        # §4.2.1.4: NCMD goes out at QoS 0, not retained.
        info = client.publish(action.topic, action.payload(time.time_ns() // 1_000_000), qos=0)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.publish_failures += 1
            return
        self.rebirths_sent += 1
        log.info("%s: asked edge node %s/%s for a rebirth (%s)", self.name, action.group, action.node, action.reason)

    def _own_state(self, msg: mqtt.MQTTMessage) -> None:
        try:
            online, timestamp = decode_state(bytes(msg.payload))
        except PayloadError as err:
            self.malformed[err.reason] += 1
            return
        # A retained copy older than this connection is the previous connection's death, already superseded
        # by this birth. Anything else saying "offline" must be contradicted at once (§5.3).
        if online or self._closing or (msg.retain and (timestamp or 0) < self._connected_ms):
            return
        self.state_republished += 1
        log.warning("%s: STATE offline seen for host %r while connected; publishing online again",
                    self.name, self.cfg.host_id)
        self._publish_state(True, time.time_ns() // 1_000_000)  # a failure is counted in publish_failures

    def _mark_stale(self, sink: SampleSink) -> None:
        session = self.session
        if session is None:
            return
        now = _now_us()
        death = encode_payload(Payload(timestamp=now // 1000))
        samples: list[Sample] = []
        for group, node in sorted(self._nodes):
            if session.is_online(group, node):
                samples.extend(session.handle(str(Topic(MessageType.NDEATH, group, node)), death, now).samples)
        self._pending_acks = []  # their connection is gone; a persistent session redelivers the messages
        if samples:
            sink.put(samples)

    # ------------------------------------------------------------------------------------------ shutdown

    async def close(self) -> None:
        self._closing = True
        self._notify()
        client = self._client
        if client is not None:
            delivered = False
            if client.is_connected() and not self._lost:
                # §4.2.3.2: a host that disconnects on purpose publishes its death first, stamped now.
                info = self._publish_state(False, time.time_ns() // 1_000_000)
                delivered = info is not None and await asyncio.to_thread(mqttc.wait_published, info, STATE_TIMEOUT_S)
            self._client = None
            mqttc.disconnect(client, self.cfg.broker, with_will=not delivered)  # never left "online" by mistake
            await asyncio.to_thread(client.loop_stop)
        if self.session is not None:
            await self.cache.save(self.session, force=True)

    def stats(self) -> dict[str, Any]:
        return {"received": self.received, "overflow": self.overflow, "malformed": dict(self.malformed),
                "rebirths_sent": self.rebirths_sent, "publish_failures": self.publish_failures,
                "state_republished": self.state_republished, "cache_writes": self.cache.writes,
                "cache_errors": self.cache.errors, "skipped_metrics": self.mapper.skipped,
                "mapping_problems": dict(self.mapper.problems),
                "session": asdict(self.session.counters) if self.session is not None else {}}


def _all(acks: list[Ack]) -> Ack:
    def run() -> None:
        for ack in acks:
            ack()

    return run

