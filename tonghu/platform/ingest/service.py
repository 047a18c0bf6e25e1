"""The ingest service: MQTT 5 shared subscription in, groups committed to TimescaleDB, acks out.

Threads: paho's network loop only enqueues messages (the queue is bounded by the broker's Receive Maximum,
which paho's flow control enforces); one writer thread groups, commits, then acknowledges — first to the edges
(the ``ack`` topic), then to the broker (manual PUBACK). A message is never acknowledged before its COMMIT.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tonghu.common import topics
from tonghu.common.backoff import Backoff
from tonghu.common.errors import TransientError
from tonghu.common.uplink import DEFAULT_LIMITS, encode_ack
from tonghu.platform.ingest.config import IngestConfig
from tonghu.platform.ingest.metrics import IngestMetrics
from tonghu.platform.ingest.writer import GroupResult, Message, Writer

log = logging.getLogger(__name__)


class IngestService:
    def __init__(self, cfg: IngestConfig, metrics: IngestMetrics | None = None) -> None:
        self.cfg = cfg
        self.metrics = metrics or IngestMetrics()
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=cfg.broker.receive_maximum + 16)
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._generation = 0
        self._writer = Writer(cfg.database_url, cfg.topic_prefix, DEFAULT_LIMITS, cfg.max_past, cfg.max_future)
        self._client = self._make_client()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------ MQTT side

    def _make_client(self) -> mqtt.Client:
        b = self.cfg.broker
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=b.client_id, protocol=mqtt.MQTTv5,
                             manual_ack=True)
        if b.username:
            client.username_pw_set(b.username, b.password.get_secret_value() if b.password else None)
        if b.tls_ca:
            client.tls_set(ca_certs=str(b.tls_ca), certfile=str(b.tls_cert) if b.tls_cert else None,
                           keyfile=str(b.tls_key) if b.tls_key else None, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(self, client: mqtt.Client, _ud: object, _flags: object, rc: mqtt.ReasonCode,
                    _props: object) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            return
        self._generation += 1
        self.metrics.mqtt_connected.set(1)
        log.info("connected to the broker %s:%s", self.cfg.broker.host, self.cfg.broker.port)
        p, g = self.cfg.topic_prefix, self.cfg.share_group
        # Status messages are retained, and MQTT 5 sends no retained messages to shared subscriptions.
        client.subscribe([(topics.subscription(p, topics.Kind.DATA, g), 1),
                          (topics.subscription(p, topics.Kind.META, g), 1),
                          (topics.subscription(p, topics.Kind.STATUS), 1)])

    def _on_subscribe(self, _c: mqtt.Client, _ud: object, _mid: int, codes: list[mqtt.ReasonCode],
                      _props: object) -> None:
        for code in codes:
            if code.is_failure or code.value < 1:
                self.metrics.subscribe_refused.inc()
                log.error("broker refused an ingest subscription or granted QoS 0: %s", code)

    def _on_disconnect(self, _c: mqtt.Client, _ud: object, _flags: object, rc: mqtt.ReasonCode,
                       _props: object) -> None:
        self.metrics.mqtt_connected.set(0)
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); paho reconnects", rc)

    def _on_message(self, _c: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        kind = msg.topic.rsplit("/", 1)[-1]
        self.metrics.messages.labels(kind if kind in ("data", "meta", "status") else "other").inc()
        # Blocks paho's loop when full: flow control then stops the broker from sending more.
        self._queue.put(Message(msg.topic, msg.payload, msg.mid, self._generation))
        self.metrics.queue_depth.set(self._queue.qsize())

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Connect (in the background) and start the writer thread; returns at once."""
        if self.cfg.metrics_port is not None:
            self.metrics.serve(self.cfg.metrics_port, self.cfg.metrics_addr)
        b = self.cfg.broker
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = int(b.session_expiry.total_seconds())
        props.ReceiveMaximum = b.receive_maximum
        self._client.connect_async(b.host, b.port, int(b.keepalive.total_seconds()), clean_start=False,
                                   properties=props)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="tonghu-ingest-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the group in hand (commit and ack), then disconnect. Unprocessed messages stay unacked."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.disconnect()
        self._client.loop_stop()
        self._writer.close()

    def wait(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    # ------------------------------------------------------------------------------------ writer side

    def _collect(self) -> list[Message]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        group, size = [first], len(first.payload)
        deadline = time.monotonic() + self.cfg.group_max_wait.total_seconds()
        while len(group) < self.cfg.group_max_messages and size < self.cfg.group_max_bytes:
            remaining = deadline - time.monotonic()
            try:
                m = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            group.append(m)
            size += len(m.payload)
        return group

    def _run(self) -> None:
        backoff = Backoff()
        outage_logged = False
        try:
            while not self._stop.is_set():
                group = self._collect()
                if not group:
                    continue
                while True:
                    try:
                        if not self._writer.connected:
                            self._writer.connect()
                            self.metrics.db_connected.set(1)
                        started = time.monotonic()
                        result = self._writer.write(group, time.time_ns() // 1000)
                        self.metrics.commit_seconds.observe(time.monotonic() - started)
                        break
                    except TransientError as err:
                        self.metrics.db_connected.set(int(self._writer.connected))
                        self.metrics.db_retries.inc()
                        if not outage_logged:
                            log.warning("cannot store a group, retrying with backoff: %s", err)
                            outage_logged = True
                        if self._stop.wait(backoff.next()):
                            return  # shutting down: the group stays unacknowledged and will be redelivered
                if outage_logged:
                    log.info("storing again after the database outage")
                    outage_logged = False
                backoff.reset()
                self._acknowledge(group, result)
        finally:
            self._stopped.set()

    def _acknowledge(self, group: list[Message], result: GroupResult) -> None:
        m = self.metrics
        for (company, site, edge), (ok, dead) in result.acks.items():
            info = self._client.publish(topics.topic(self.cfg.topic_prefix, company, site, edge, topics.Kind.ACK),
                                        encode_ack(ok, dead), qos=1)
            (m.acks if info.rc == mqtt.MQTT_ERR_SUCCESS else m.ack_failures).inc()
        generation = self._generation
        for msg in group:
            # A PUBACK for a message from an earlier connection could name a packet id now reused;
            # such messages are redelivered on the new connection and deduplicated instead.
            if msg.generation == generation:
                self._client.ack(msg.mid, 1)
        m.samples_staged.inc(result.samples_staged)
        m.samples_committed.inc(result.samples_inserted)
        m.duplicates.inc(result.samples_staged - result.samples_inserted)
        m.batches_resent.inc(result.batches_resent)
        for letter in result.dead_letters:
            m.dead_letters.labels(letter.reason).inc()
            m.dead_samples.labels(letter.reason).inc(letter.sample_count)
        if result.oldest_created_us is not None:
            m.lag.set(max(0.0, time.time() - result.oldest_created_us / 1e6))
        m.queue_depth.set(self._queue.qsize())
