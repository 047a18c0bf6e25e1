"""The mapper's filters against the real Mosquitto of the test environment: what the broker delivers for
the converted filters is what the mapper matches and decodes."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt

from tests.conftest import MQTT_HOST, MQTT_PORT
from tonghu.collectors.mqtt.config import MqttConfig
from tonghu.collectors.mqtt.mapping import MessageMapper


def _client(name: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{name}-{uuid.uuid4().hex[:8]}",
                         protocol=mqtt.MQTTv5)
    # Other suites restart the shared broker in fault-injection tests; give it a moment to come back.
    deadline = time.monotonic() + 10
    while True:
        try:
            client.connect(MQTT_HOST, MQTT_PORT, keepalive=10)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    client.loop_start()
    return client


def test_delivered_messages_decode(topic_prefix: str) -> None:
    prefix = topic_prefix
    config = MqttConfig.model_validate({
        "broker": {"host": MQTT_HOST, "client_id": "unused"},
        "subscriptions": [
            {"topic": prefix + "/plant/{site}/meters/{meter}/+",
             "timestamp": {"path": "ts", "format": "epoch_ms"},
             "fields": [{"path": "data.phases[1].voltage", "asset": "utilities/{site}/{meter}", "tag": "v_l2"},
                        {"path": "data.energy_wh", "asset": "utilities/{site}/{meter}", "tag": "energy",
                         "scale": 0.001, "role": "energy_kwh"}]},
            {"topic": prefix + "/sensors/{sensor}/#", "qos": 0, "payload": "plain",
             "fields": [{"asset": "utilities/hvac/{sensor}", "tag": "temperature"}]},
        ],
    })
    mapper = MessageMapper(config)
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscribed = threading.Event()
    granted: list[int] = []

    def on_subscribe(client: Any, userdata: Any, mid: int, codes: list[Any], props: Any) -> None:
        granted.extend(c.value for c in codes)
        subscribed.set()

    sub = _client("sub")
    pub = _client("pub")
    try:
        sub.on_message = lambda client, userdata, msg: received.put((msg.topic, msg.payload))
        sub.on_subscribe = on_subscribe
        sub.subscribe(mapper.subscribe_list())
        assert subscribed.wait(5)
        assert mapper.check_granted(granted) == []
        doc = {"ts": 1717200000123, "data": {"energy_wh": 5000, "phases": [{"voltage": 1}, {"voltage": 229.5}]}}
        messages = [
            (f"{prefix}/plant/sz/meters/em07/telemetry", json.dumps(doc).encode()),
            (f"{prefix}/plant/sz/meters/em07", b"not delivered: one level short"),
            (f"{prefix}/sensors/t12", b"21.5"),
            (f"{prefix}/sensors/t13/inner/deeper", b"22"),
        ]
        for topic, payload in messages:
            pub.publish(topic, payload, qos=1).wait_for_publish(5)
        got = {}
        for _ in range(3):
            topic, payload = received.get(timeout=5)
            got[topic] = {s.key: s.value for s in mapper.decode(topic, payload, 1)}
        assert received.empty()
    finally:
        for client in (sub, pub):
            client.disconnect()
            client.loop_stop()
    assert got == {
        f"{prefix}/plant/sz/meters/em07/telemetry": {"utilities/sz/em07/v_l2": 229.5,
                                                     "utilities/sz/em07/energy": 5.0},
        f"{prefix}/sensors/t12": {"utilities/hvac/t12/temperature": 21.5},
        f"{prefix}/sensors/t13/inner/deeper": {"utilities/hvac/t13/temperature": 22.0},
    }
