"""Faults on the edge side of the chain; after each, every generated sample is in TimescaleDB exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.conftest import Tenant, unique
from tests.edge_agent.conftest import RunningAgent, edge_config
from tests.edge_agent.test_agent_mqtt import _device, _stored, _wait, mqtt_collector
from tests.helpers.broker import PrivateBroker
from tonghu.edge_agent.config import EdgeConfig

pytestmark = pytest.mark.slow
OUTAGE_S = float(os.environ.get("TONGHU_TEST_OUTAGE_S", "60"))


def test_platform_broker_outage_loses_and_duplicates_nothing(
        run_agent: Callable[[EdgeConfig], RunningAgent], start_ingester: Callable[..., object], tenant: Tenant,
        topic_prefix: str, tmp_path: Path, db: psycopg.Connection) -> None:
    broker = PrivateBroker(tmp_path)
    broker.start()
    try:
        start_ingester(broker={"host": "127.0.0.1", "port": broker.port, "client_id": unique("ingest-")})
        cfg = edge_config(tenant, topic_prefix, tmp_path / "buffer.db", [mqtt_collector(topic_prefix)],
                          uplink={"port": broker.port, "reconnect_max_delay": "PT2S"})
        running = run_agent(cfg)
        assert _wait(lambda: running.agent.uplink.connected, 10)
        start_ms = time.time_ns() // 1_000_000 - 3_600_000
        before = _device(topic_prefix, meters=2, rounds=range(20), start_ms=start_ms)
        assert _wait(lambda: _stored(db, tenant.site_id, "utilities/power/%")[0] == 80, 30)
        broker.kill()
        # Devices keep producing through the cut; the agent buffers on disk.
        during, rounds = 0.0, 20
        t_end = time.monotonic() + OUTAGE_S
        while time.monotonic() < t_end:
            during += _device(topic_prefix, meters=2, rounds=range(rounds, rounds + 1), start_ms=start_ms)
            rounds += 1
            time.sleep(0.5)
        assert running.agent.uplink.connected is False
        assert _stored(db, tenant.site_id, "utilities/power/%")[0] == 80
        broker.start()
        expected = (rounds * 4, before + during)
        assert _wait(lambda: _stored(db, tenant.site_id, "utilities/power/%") == expected, 60), \
            (_stored(db, tenant.site_id, "utilities/power/%"), expected)
        running.stop()
    finally:
        broker.kill()


def test_agent_kill_9_mid_stream_loses_and_duplicates_nothing(
        ingester: object, tenant: Tenant, topic_prefix: str, tmp_path: Path, db: psycopg.Connection) -> None:
    # The devices' own broker queues for the agent's persistent session while the agent is down; a private one,
    # because a stock Mosquitto queues only 1000 messages per session and drops the rest silently.
    devices = PrivateBroker(tmp_path)
    devices.start()
    try:
        _kill_9_scenario(devices, tenant, topic_prefix, tmp_path, db)
    finally:
        devices.kill()


def _kill_9_scenario(devices: PrivateBroker, tenant: Tenant, topic_prefix: str, tmp_path: Path,
                     db: psycopg.Connection) -> None:
    cfg = edge_config(tenant, topic_prefix, tmp_path / "buffer.db", [mqtt_collector(topic_prefix, devices.port)])
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True)))

    def spawn() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "tonghu", "edge", "run", "-c", str(path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    agent = spawn()
    start_ms = time.time_ns() // 1_000_000 - 3_600_000
    totals: list[float] = []
    device = threading.Thread(target=lambda: totals.append(
        _device(topic_prefix, meters=5, rounds=range(400), start_ms=start_ms, pause=0.005, port=devices.port)))
    time.sleep(1.5)  # the agent connects and subscribes (persistent session) before devices start
    device.start()
    assert _wait(lambda: _stored(db, tenant.site_id, "utilities/power/%")[0] >= 500, 30)
    agent.send_signal(signal.SIGKILL)
    agent.wait(10)
    at_kill = _stored(db, tenant.site_id, "utilities/power/%")[0]
    device.join()
    assert at_kill < 4000, "the kill did not land mid-stream"
    agent = spawn()
    try:
        assert _wait(lambda: _stored(db, tenant.site_id, "utilities/power/%") == (4000, totals[0]), 60), \
            (_stored(db, tenant.site_id, "utilities/power/%"), totals)
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()


def test_full_buffer_drops_exactly_what_it_counts(
        run_agent: Callable[[EdgeConfig], RunningAgent], start_ingester: Callable[..., object], tenant: Tenant,
        topic_prefix: str, tmp_path: Path, db: psycopg.Connection) -> None:
    platform = PrivateBroker(tmp_path)  # not started yet: the uplink is cut from the start
    cfg = edge_config(tenant, topic_prefix, tmp_path / "buffer.db", [mqtt_collector(topic_prefix)],
                      uplink={"port": platform.port, "reconnect_max_delay": "PT1S"},
                      buffer={"max_bytes": 65536, "overflow": "drop_oldest"})
    running = run_agent(cfg)
    assert _wait(lambda: running.agent.supervisors[0].state.connected, 10)
    _device(topic_prefix, meters=4, rounds=range(500), start_ms=time.time_ns() // 1_000_000 - 3_600_000)
    stats = running.agent.buffer.stats
    assert _wait(lambda: stats().samples_in == 4000 + 1, 30)  # + the collector's 'connected' state sample
    dropped = stats().dropped_overflow_oldest
    assert dropped > 0, "the buffer never filled"
    assert stats().samples_buffered + stats().samples_in_flight + dropped == stats().samples_in
    with platform:
        start_ingester(broker={"host": "127.0.0.1", "port": platform.port, "client_id": unique("ingest-")})

        def stored_all() -> int:
            row = db.execute("SELECT (SELECT count(*) FROM samples_num s JOIN tags t ON t.id = s.tag_id "
                             "        WHERE t.site_id = %(s)s) + "
                             "       (SELECT count(*) FROM samples_text s JOIN tags t ON t.id = s.tag_id "
                             "        WHERE t.site_id = %(s)s)", {"s": tenant.site_id}).fetchone()
            return int(row[0]) if row else 0

        # Everything not dropped arrives, and nothing else: the drop counter is exactly the loss.
        assert _wait(lambda: stored_all() == 4001 - dropped, 60), (stored_all(), 4001 - dropped)
        # The acks for the last batches may still be on their way.
        assert _wait(lambda: stats().samples_buffered + stats().samples_in_flight == 0, 10)
        running.stop()
