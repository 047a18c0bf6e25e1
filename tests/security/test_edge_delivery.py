"""The whole secure path: a device → an edge agent whose edge.yaml holds the sections `tonghu edges add` wrote →
the TLS platform broker (password identity, ACL) → an ingester whose identity `tonghu platform broker config`
wrote → TimescaleDB, and the ingester's ack back to the agent through the same ACL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import MQTT_HOST, MQTT_PORT, make_tenant, unique
from tests.edge_agent.conftest import RunningAgent
from tests.security.conftest import SecureBroker, cli
from tonghu.common.settings import load_yaml_model
from tonghu.edge_agent import config
from tonghu.platform.ingest.config import IngestConfig
from tonghu.platform.ingest.service import IngestService


def _until(cond: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


@pytest.fixture
def secure_ingester(secure_broker: SecureBroker, database_url: str) -> Iterator[IngestService]:
    data = load_yaml_model(secure_broker.dir / "ingest-main.yaml")
    data["database_url"] = database_url
    data["broker"]["client_id"] = unique("ingest-")
    svc = IngestService(IngestConfig.model_validate(data))
    svc.start()
    assert _until(lambda: svc.metrics.mqtt_connected._value.get() == 1, 15), "the ingester could not connect"
    time.sleep(0.3)  # SUBACK before the agent publishes
    yield svc
    svc.stop()


def _device(prefix: str, n: int, start_ms: int) -> float:
    """A meter on the plant's own (shared, anonymous) device broker; returns the sum the database must hold."""
    dev = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("meter-"), protocol=mqtt.MQTTv5)
    dev.connect(MQTT_HOST, MQTT_PORT)
    dev.loop_start()
    for i in range(n):
        body = {"ts": start_ms + i * 1000, "kw": float(i)}
        dev.publish(f"{prefix}/dev/meter", json.dumps(body), qos=1).wait_for_publish(5)
    dev.disconnect()
    dev.loop_stop()
    return float(sum(range(n)))


def test_an_enrolled_edge_delivers_through_the_tls_broker(secure_broker: SecureBroker, secure_ingester: IngestService,
                                                          db: psycopg.Connection, tmp_path: Path) -> None:
    b = secure_broker
    t = make_tenant(db)
    sections = tmp_path / "sections.yaml"
    cli("edges", "add", "--database-url", b.database_url, "--company", t.company, "--site", t.site, "--name", t.edge,
        "--broker-dir", b.dir, "--uplink-file", sections, "--actor", "test")
    device_prefix = unique("dev-")
    rest = {"buffer": {"path": str(tmp_path / "buffer.db")}, "metrics": {"port": None},
            "collectors": [{"type": "mqtt", "name": "meter",
                            "broker": {"host": MQTT_HOST, "port": MQTT_PORT, "client_id": unique("collector-")},
                            "subscriptions": [{"topic": f"{device_prefix}/dev/meter",
                                               "timestamp": {"path": "ts", "format": "epoch_ms"},
                                               "fields": [{"path": "kw", "asset": "utilities/power/m1",
                                                           "tag": "power", "unit": "kW", "data_type": "float",
                                                           "role": "power"}]}]}]}
    edge_yaml = tmp_path / "edge.yaml"
    edge_yaml.write_text(sections.read_text() + yaml.safe_dump(rest, sort_keys=False))
    cfg = config.load(edge_yaml)
    assert cfg.uplink.port == b.tls_port and cfg.uplink.tls_ca == b.ca and cfg.uplink.password is not None

    running = RunningAgent(cfg)
    try:
        _deliver(running, device_prefix, db, t.site_id, b.tls_port)
    finally:
        if running.thread.is_alive():
            running.stop()
    assert running.agent.uplink.counters.dead == 0
    assert secure_ingester.metrics.subscribe_refused._value.get() == 0


def _deliver(running: RunningAgent, device_prefix: str, db: psycopg.Connection, site_id: int, port: int) -> None:
    assert _until(lambda: running.agent.uplink.connected, 15), "the agent could not connect to the TLS broker"
    total = _device(device_prefix, 20, time.time_ns() // 1_000_000 - 60_000)

    def stored() -> tuple[int, float]:
        row = db.execute("SELECT count(*), coalesce(sum(s.value), 0) FROM samples_num s JOIN tags t "
                         "ON t.id = s.tag_id WHERE t.site_id = %s AND t.key = 'utilities/power/m1/power'",
                         (site_id,)).fetchone()
        assert row is not None
        return int(row[0]), float(row[1])

    assert _until(lambda: stored() == (20, total), 30), stored()
    # The ingester's acks came back through the broker: the agent's buffer let go of every batch.
    assert _until(lambda: running.agent.uplink.counters.acked >= 1 and not running.agent.uplink._outstanding, 15)
    running.stop()


def test_publishes_the_broker_refuses_are_counted_and_stay_buffered(secure_broker: SecureBroker,
                                                                     db: psycopg.Connection, tmp_path: Path) -> None:
    """An agent holding edge A's credentials but configured as edge B: every publish is refused by the ACL
    (PUBACK 0x87). Nothing is lost — the samples stay in the buffer — and the refusals are counted."""
    b = secure_broker
    t = make_tenant(db)
    sections = tmp_path / "sections.yaml"
    cli("edges", "add", "--database-url", b.database_url, "--company", t.company, "--site", t.site, "--name", t.edge,
        "--broker-dir", b.dir, "--uplink-file", sections, "--actor", "test")
    data = yaml.safe_load(sections.read_text())
    data["edge"]["name"] = "someone-else"  # topics of another edge: outside this identity's ACL
    device_prefix = unique("dev-")
    data.update({"buffer": {"path": str(tmp_path / "buffer.db")}, "metrics": {"port": None},
                 "collectors": [{"type": "mqtt", "name": "meter",
                                 "broker": {"host": MQTT_HOST, "port": MQTT_PORT, "client_id": unique("c-")},
                                 "subscriptions": [{"topic": f"{device_prefix}/dev/meter",
                                                    "timestamp": {"path": "ts", "format": "epoch_ms"},
                                                    "fields": [{"path": "kw", "asset": "utilities/power/m1",
                                                                "tag": "power", "data_type": "float"}]}]}]})
    edge_yaml = tmp_path / "edge.yaml"
    edge_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    running = RunningAgent(config.load(edge_yaml))
    try:
        assert _until(lambda: running.agent.uplink.connected, 15)
        _device(device_prefix, 5, time.time_ns() // 1_000_000 - 60_000)
        assert _until(lambda: running.agent.uplink.counters.broker_refused >= 2, 20)  # meta and data at least
        assert _until(lambda: running.agent.buffer.stats().samples_in >= 5, 20)  # every device message arrived
        stats = running.agent.buffer.stats()
        assert stats.samples_buffered + stats.samples_in_flight >= 5 and stats.samples_acked == 0
        assert running.agent.uplink.counters.acked == 0
    finally:
        running.stop()
