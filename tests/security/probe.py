"""An MQTT 5 client for access tests: it records what the broker answered (CONNACK, SUBACK, PUBACK reason codes,
deliveries, disconnects) instead of hiding refusals the way an application client would."""

from __future__ import annotations

import ssl
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

# MQTT 5 reason codes (OASIS MQTT 5.0, 2.4)
SUCCESS = 0x00
NO_MATCHING_SUBSCRIBERS = 0x10
BAD_USER_OR_PASSWORD = 0x86
NOT_AUTHORIZED = 0x87


@dataclass
class Tls:
    ca: Path
    cert: Path | None = None
    key: Path | None = None
    maximum: ssl.TLSVersion | None = None


@dataclass
class Outcome:
    ok: bool
    reason: int | None = None  # CONNACK reason code, when one arrived
    error: str = ""  # what failed below MQTT (TLS handshake, closed socket)


@dataclass
class Probe:
    port: int
    username: str | None = None
    password: str | None = None
    tls: Tls | None = None
    client_id: str = field(default_factory=lambda: f"probe-{uuid.uuid4().hex[:10]}")
    session_expiry: int | None = None  # seconds: a persistent session, resumed by the next probe with this id
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    pubacks: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.connack: int | None = None
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self._suback: list[int] | None = None
        self._lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        if self.username is not None:
            c.username_pw_set(self.username, self.password)
        if self.tls is not None:
            ctx = ssl.create_default_context(cafile=str(self.tls.ca))
            if self.tls.cert is not None:
                ctx.load_cert_chain(str(self.tls.cert), str(self.tls.key))
            if self.tls.maximum is not None:
                # Let the client offer an old protocol at all, so that the refusal measured is the broker's.
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    ctx.minimum_version = ssl.TLSVersion.TLSv1
                    ctx.maximum_version = self.tls.maximum
                ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            c.tls_set_context(ctx)
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *_a: self.disconnected.set()
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        self.client = c

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: mqtt.ReasonCode, _p: object) -> None:
        self.connack = rc.value
        if not rc.is_failure:
            self.connected.set()
        else:
            self.disconnected.set()

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, codes: list[mqtt.ReasonCode],
                      _p: object) -> None:
        self._suback = [c.value for c in codes]

    def _on_publish(self, _c: mqtt.Client, _u: object, mid: int, rc: mqtt.ReasonCode, _p: object) -> None:
        with self._lock:
            self.pubacks[mid] = rc.value

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def connect(self, timeout: float = 10.0) -> Outcome:
        props, clean = None, True
        if self.session_expiry is not None:
            props, clean = Properties(PacketTypes.CONNECT), False
            props.SessionExpiryInterval = self.session_expiry
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=10, clean_start=clean, properties=props)
        except (OSError, ssl.SSLError) as err:
            return Outcome(False, None, f"{type(err).__name__}: {err}")
        self.client.loop_start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connected.is_set():
                return Outcome(True, self.connack)
            if self.disconnected.is_set():
                return Outcome(False, self.connack, "disconnected")
            time.sleep(0.02)
        return Outcome(False, self.connack, "no CONNACK")

    def subscribe(self, *filters: str, timeout: float = 10.0) -> list[int]:
        self._suback = None
        self.client.subscribe([(f, 1) for f in filters])
        deadline = time.monotonic() + timeout
        while self._suback is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self._suback is not None, "no SUBACK"
        return self._suback

    def publish(self, topic: str, payload: bytes = b"x", timeout: float = 10.0) -> int:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if info.mid in self.pubacks:
                    return self.pubacks[info.mid]
            time.sleep(0.01)
        raise AssertionError(f"no PUBACK for {topic}")

    def received(self) -> list[str]:
        with self._lock:
            return [t for t, _ in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
