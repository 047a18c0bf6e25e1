"""The uplink: drains the durable buffer to the platform broker and deletes a batch only on the ingester's ack.

Contract (docs/UPLINK.md): MQTT 5, QoS 1; a batch stays in the buffer until the ingester's ``ack`` names its seq
(committed, or kept as a dead letter); a broker PUBACK proves nothing about durability. Unacknowledged batches
are resent after ``resend_after`` and all of them on every reconnect. Tag metadata goes first, and no new batch
is cut while a meta batch waits for its ack, so the platform always knows a tag before its samples arrive.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgpack
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tonghu.common import topics
from tonghu.common.errors import PayloadError
from tonghu.common.uplink import TagMeta, decode_ack, encode_meta
from tonghu.edge_agent.buffer import Buffer
from tonghu.edge_agent.config import EdgeIdentity, UplinkConfig

log = logging.getLogger(__name__)
META_CHUNK = 2000  # tags per meta batch: keeps each well below the platform's payload limit


def _now_us() -> int:
    return time.time_ns() // 1000


@dataclass(slots=True)
class UplinkCounters:
    published: int = 0
    resent: int = 0
    acked: int = 0
    dead: int = 0
    publish_refused: int = 0
    broker_refused: int = 0
    meta_acked: int = 0
    meta_dead: int = 0


class Uplink:
    def __init__(self, cfg: UplinkConfig, ident: EdgeIdentity, buffer: Buffer,
                 health: Callable[[], dict[str, Any]] | None = None) -> None:
        self.cfg = cfg
        self.ident = ident
        self.buffer = buffer
        self.health = health or dict
        self.counters = UplinkCounters()
        self.connected = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._outstanding: dict[int, int] = {}  # seq → time sent, on the current connection
        self._meta_queue: list[list[TagMeta]] = []
        self._meta: tuple[int, bytes, int] | None = None  # seq, payload, time sent (0: not yet)
        self._resend_all = False
        self._refusal_logged = -1e9
        self._thread: threading.Thread | None = None
        self._client = self._make_client()

    def _topic(self, kind: topics.Kind) -> str:
        i = self.ident
        return topics.topic(self.cfg.topic_prefix, i.company, i.site, i.name, kind)

    def _make_client(self) -> mqtt.Client:
        c = self.cfg
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=c.client_id or self.ident.client_id,
                             protocol=mqtt.MQTTv5)
        if c.username:
            client.username_pw_set(c.username, c.password.get_secret_value() if c.password else None)
        if c.tls_ca:
            client.tls_set(ca_certs=str(c.tls_ca), certfile=str(c.tls_cert) if c.tls_cert else None,
                           keyfile=str(c.tls_key) if c.tls_key else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.will_set(self._topic(topics.Kind.STATUS), self._status_payload("offline"), qos=1, retain=True)
        client.max_inflight_messages_set(c.max_in_flight + 8)
        client.reconnect_delay_set(1, int(c.reconnect_max_delay.total_seconds()))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    def _status_payload(self, state: str, **extra: Any) -> bytes:
        return msgpack.packb({"v": 1, "edge": self.ident.name, "state": state, "ts": _now_us(), **extra},
                             use_bin_type=True)

    # ------------------------------------------------------------------------------------ paho callbacks

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        if rc.is_failure:
            log.error("platform broker refused the connection: %s", rc)
            return
        log.info("connected to the platform broker %s:%s", self.cfg.host, self.cfg.port)
        client.subscribe(self._topic(topics.Kind.ACK), qos=1)
        client.publish(self._topic(topics.Kind.STATUS), self._status_payload("online", **self.health()),
                       qos=1, retain=True)
        with self._lock:
            self.connected = True
            self._outstanding.clear()
            self._resend_all = True
            if self._meta is not None:
                self._meta = (self._meta[0], self._meta[1], 0)
        self._wake.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        with self._lock:
            self.connected = False
        if not self._stop.is_set():
            log.warning("disconnected from the platform broker (%s); buffering until it is back", rc)

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: mqtt.ReasonCode, _p: object) -> None:
        # A broker that refuses a publish (MQTT 5 PUBACK ≥ 0x80: not authorised, quota, size) never passes it on,
        # so no ack will come: the batch stays buffered and is resent, and the refusal is counted and logged
        # (once a minute) so an ACL or identity mistake shows instead of looking like a slow ingester.
        if not rc.is_failure:
            return
        now = time.monotonic()
        with self._lock:
            self.counters.broker_refused += 1
            quiet = now - self._refusal_logged < 60.0
            if not quiet:
                self._refusal_logged = now
        if not quiet:
            log.error("the platform broker refused a publish (%s): check this edge's identity and ACL; "
                      "%d refusals so far, batches stay buffered", rc, self.counters.broker_refused)

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            ok, dead = decode_ack(msg.payload)
        except PayloadError as err:
            log.warning("ignoring a malformed ack on %s: %s", msg.topic, err)
            return
        with self._lock:
            meta_seq = self._meta[0] if self._meta else None
            if meta_seq is not None and (meta_seq in ok or meta_seq in dead):
                if meta_seq in dead:
                    self.counters.meta_dead += 1
                    log.error("the platform refused tag metadata batch %d; its samples will be dead-lettered",
                              meta_seq)
                else:
                    self.counters.meta_acked += 1
                self._meta = None
            for seq in ok + dead:
                self._outstanding.pop(seq, None)
        data_ok = [s for s in ok if s != meta_seq]
        data_dead = [s for s in dead if s != meta_seq]
        if data_ok or data_dead:
            self.buffer.ack(data_ok + data_dead)
            self.counters.acked += len(data_ok)
            self.counters.dead += len(data_dead)
            if data_dead:
                log.warning("the platform kept batches %s as dead letters", data_dead[:10])
        self._wake.set()

    # ------------------------------------------------------------------------------------ lifecycle

    def declare(self, tags: Sequence[TagMeta]) -> None:
        """Queue tag metadata; batches are held back until the platform has acknowledged it."""
        with self._lock:
            for i in range(0, len(tags), META_CHUNK):
                self._meta_queue.append(list(tags[i:i + META_CHUNK]))
        self._wake.set()

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        self._client.connect_async(self.cfg.host, self.cfg.port, int(self.cfg.keepalive.total_seconds()),
                                   clean_start=True, properties=props)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="tonghu-uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.connected:
            self._client.publish(self._topic(topics.Kind.STATUS), self._status_payload("offline"), qos=1,
                                 retain=True).wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    def nudge(self) -> None:
        """New samples are in the buffer: cut a batch now if the window allows."""
        self._wake.set()

    # ------------------------------------------------------------------------------------ sender

    def _run(self) -> None:
        interval = self.cfg.batch_interval.total_seconds()
        next_status = time.monotonic() + self.cfg.status_interval.total_seconds()
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            if not self.connected:
                continue
            try:
                self._send_meta() and self._send_batches()
            except Exception:
                log.exception("uplink round failed")
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + self.cfg.status_interval.total_seconds()
                self._client.publish(self._topic(topics.Kind.STATUS), self._status_payload("online", **self.health()),
                                     qos=1, retain=True)

    def _publish(self, kind: topics.Kind, payload: bytes) -> bool:
        info = self._client.publish(self._topic(kind), payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.counters.publish_refused += 1
            return False
        return True

    def _send_meta(self) -> bool:
        """Returns True when no meta batch is waiting for its ack (batches may be cut)."""
        now = _now_us()
        with self._lock:
            if self._meta is None and self._meta_queue:
                tags = self._meta_queue.pop(0)
                seq = self.buffer.allocate_seq()
                self._meta = (seq, encode_meta(self.ident.name, seq, now, tags), 0)
            meta = self._meta
        if meta is None:
            return True
        seq, payload, sent = meta
        if now - sent >= self.cfg.resend_after.total_seconds() * 1e6 and self._publish(topics.Kind.META, payload):
            with self._lock:
                if self._meta is not None and self._meta[0] == seq:
                    self._meta = (seq, payload, now)
        return False

    def _send_batches(self) -> bool:
        now = _now_us()
        with self._lock:
            resend_all, self._resend_all = self._resend_all, False
        # Overdue batches first (all of them right after a reconnect: what was in flight may be lost), whether
        # or not the window has room: a lost batch must not keep its slot forever.
        cutoff = now - int(self.cfg.resend_after.total_seconds() * 1e6)
        older = None if resend_all else cutoff
        with self._lock:
            # Overdue entries are resent below if still buffered; gone ones (dropped by the buffer's overflow
            # policy or expired) must not hold a window slot.
            self._outstanding = {s: t for s, t in self._outstanding.items() if t >= cutoff}
        for p in self.buffer.unacked(older, limit=self.cfg.max_in_flight):
            if not self._publish(topics.Kind.DATA, p.payload):
                return True
            self.buffer.mark_sent(p.seq, now)
            with self._lock:
                self._outstanding[p.seq] = now
            self.counters.resent += p.last_sent_us is not None
            self.counters.published += 1
        with self._lock:
            room = self.cfg.max_in_flight - len(self._outstanding)
        while room > 0:
            batch = self.buffer.next_batch(self.ident.name, now)
            if batch is None:
                break
            seq, payload = batch
            if not self._publish(topics.Kind.DATA, payload):
                break  # stays in flight in the buffer and goes out with the next resend
            self.buffer.mark_sent(seq, now)
            with self._lock:
                self._outstanding[seq] = now
            self.counters.published += 1
            room -= 1
        return True
