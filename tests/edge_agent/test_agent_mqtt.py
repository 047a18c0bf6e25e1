"""Device → MQTT collector → buffer → uplink → ingest → TimescaleDB, with the real broker and database."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant, unique
from tests.edge_agent.conftest import RunningAgent, edge_config
from tests.helpers.broker import free_port
from tonghu.edge_agent.buffer import Buffer
from tonghu.edge_agent.config import EdgeConfig
from tonghu.edge_agent.metrics import serve


def _stored(db: psycopg.Connection, site_id: int, key_like: str) -> tuple[int, float]:
    row = db.execute("SELECT count(*), coalesce(sum(s.value), 0) FROM samples_num s JOIN tags t ON t.id = s.tag_id "
                     "WHERE t.site_id = %s AND t.key LIKE %s", (site_id, key_like)).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def _wait(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def mqtt_collector(prefix: str, port: int = MQTT_PORT) -> dict:
    return {"type": "mqtt", "name": "meters",
            "broker": {"host": MQTT_HOST, "port": port, "client_id": unique("meters-")},
            "subscriptions": [{"topic": f"{prefix}/dev/meters/{{meter}}",
                               "timestamp": {"path": "ts", "format": "epoch_ms"},
                               "fields": [{"path": "data.kw", "asset": "utilities/power/{meter}", "tag": "power",
                                           "unit": "kW", "data_type": "float", "role": "power"},
                                          {"path": "data.kwh", "asset": "utilities/power/{meter}",
                                           "tag": "energy", "unit": "kWh", "data_type": "float",
                                           "role": "energy_kwh"}]}]}


def _device(prefix: str, meters: int, rounds: range, start_ms: int, pause: float = 0.0,
            port: int = MQTT_PORT) -> float:
    """Publishes one JSON message per meter for each round i (source time start_ms + i s); returns the sum of
    every mapped value, the checksum the database must reproduce."""
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("device-"), protocol=mqtt.MQTTv5)
    dev.connect(MQTT_HOST, port)
    dev.loop_start()
    total = 0.0
    for i in rounds:
        if pause:
            time.sleep(pause)
        for m in range(meters):
            kw = float(i * 10 + m)
            total += kw + i
            body = {"ts": start_ms + i * 1000, "data": {"kw": kw, "kwh": float(i)}}
            dev.publish(f"{prefix}/dev/meters/m{m}", json.dumps(body), qos=1).wait_for_publish(5)
    dev.disconnect()
    dev.loop_stop()
    return total


def test_device_samples_arrive_exactly_once(run_agent: Callable[[EdgeConfig], RunningAgent], ingester: object,
                                            tenant: Tenant, topic_prefix: str, tmp_path: Path,
                                            db: psycopg.Connection) -> None:
    cfg = edge_config(tenant, topic_prefix, tmp_path / "buffer.db", [mqtt_collector(topic_prefix)])
    running = run_agent(cfg)
    assert _wait(lambda: running.agent.supervisors[0].state.connected, 10)
    start_ms = time.time_ns() // 1_000_000 - 600_000
    total = _device(topic_prefix, meters=3, rounds=range(50), start_ms=start_ms)
    assert _wait(lambda: _stored(db, tenant.site_id, "utilities/power/%") == (300, total), 30), \
        _stored(db, tenant.site_id, "utilities/power/%")
    # The collector's connection state is recorded as data too.
    assert db.execute("SELECT s.value FROM samples_text s JOIN tags t ON t.id = s.tag_id WHERE t.site_id = %s "
                      "AND t.key = %s", (tenant.site_id, f"edge/{tenant.edge}/meters/connection")
                      ).fetchone() == ("connected",)
    port = free_port()
    serve(running.agent, port, "127.0.0.1")
    time.sleep(0.1)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    metrics = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    assert metrics['tonghu_edge_source_samples_total{collector="meters"}'] == 300
    assert metrics['tonghu_edge_source_connected{collector="meters"}'] == 1
    assert 0 <= metrics['tonghu_edge_source_last_value_age_seconds{collector="meters"}'] < 60
    assert metrics["tonghu_edge_uplink_connected"] == 1
    running.stop()
    with Buffer(cfg.buffer) as buffer:  # what a restart would find: nothing left to send
        stats = buffer.stats()
    assert stats.samples_buffered + stats.samples_in_flight == 0
    assert stats.samples_acked == stats.samples_in >= 301
    assert running.agent.uplink.counters.dead == 0
