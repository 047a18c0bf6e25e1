"""Crashes and restarts mid-stream: nothing lost, nothing duplicated (counted and checksummed in the DB)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant, unique
from tests.helpers.data import batches, expected, stored, tag_metas
from tests.helpers.edge import TestEdge
from tonghu.platform.ingest.service import IngestService

pytestmark = pytest.mark.slow


@pytest.fixture
def spawn_ingester(database_url: str, topic_prefix: str) -> Iterator[Callable[[str], subprocess.Popen]]:
    procs: list[subprocess.Popen] = []

    def spawn(client_id: str) -> subprocess.Popen:
        p = subprocess.Popen(
            [sys.executable, "-m", "tonghu", "platform", "ingest", "--database-url", database_url,
             "--mqtt-host", MQTT_HOST, "--mqtt-port", str(MQTT_PORT), "--topic-prefix", topic_prefix,
             "--client-id", client_id],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)


def _stream(edge: TestEdge, data: list, pause: float = 0.01) -> threading.Thread:
    def run() -> None:
        for b in data:
            edge.send_data(b)
            time.sleep(pause)
    t = threading.Thread(target=run)
    t.start()
    return t


def test_ingester_kill_9_mid_stream_loses_and_duplicates_nothing(
        spawn_ingester: Callable[[str], subprocess.Popen], edge: TestEdge, db: psycopg.Connection,
        tenant: Tenant) -> None:
    client_id = unique("ingest-")
    proc = spawn_ingester(client_id)
    edge.send_meta(tag_metas(50))
    assert edge.wait_all_acked(20, resend_every=2.0)
    data = batches(120, 1000, 50)
    sender = _stream(edge, data)
    # Kill once rows are arriving, i.e. genuinely mid-stream.
    deadline = time.monotonic() + 30
    while stored(db, tenant.site_id)[0] < 20_000 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    at_kill = stored(db, tenant.site_id)[0]
    assert 0 < at_kill < expected(data)[0], "the kill did not land mid-stream"
    sender.join()
    # Same client id: the broker's persistent session redelivers what was never acknowledged;
    # the edge also resends what it has no ack for.
    spawn_ingester(client_id)
    assert edge.wait_all_acked(60, resend_every=5.0)
    assert stored(db, tenant.site_id) == expected(data)


def test_sigterm_finishes_the_group_and_exits_zero(spawn_ingester: Callable[[str], subprocess.Popen],
                                                   edge: TestEdge, db: psycopg.Connection,
                                                   tenant: Tenant) -> None:
    proc = spawn_ingester(unique("ingest-"))
    edge.send_meta(tag_metas(5))
    assert edge.wait_all_acked(20, resend_every=2.0)
    edge.send_data(batches(1, 100, 5)[0])
    assert edge.wait_all_acked(20, resend_every=2.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    assert stored(db, tenant.site_id)[0] == 100


def _restart_postgres() -> None:
    cluster = os.environ.get("TONGHU_TEST_PG_CLUSTER", "15 main").split()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", *cluster, "restart", "-m", "fast"],
                   check=True, capture_output=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="restarting the PostgreSQL cluster needs root")
def test_postgres_restart_mid_stream_loses_and_duplicates_nothing(
        ingester: IngestService, edge: TestEdge, database_url: str, tenant: Tenant) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        edge.send_meta(tag_metas(50))
        assert edge.wait_all_acked(20, resend_every=2.0)
    data = batches(100, 1000, 50)
    sender = _stream(edge, data)
    time.sleep(0.5)
    _restart_postgres()
    sender.join()
    assert edge.wait_all_acked(90, resend_every=10.0)
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert stored(conn, tenant.site_id) == expected(data)
    assert ingester.metrics.db_retries._value.get() >= 1


def test_two_ingesters_share_the_load_without_loss_or_duplicates(
        start_ingester: Callable[..., IngestService], edge: TestEdge, db: psycopg.Connection,
        tenant: Tenant) -> None:
    a, b = start_ingester(), start_ingester()
    edge.send_meta(tag_metas(20))
    assert edge.wait_all_acked(20, resend_every=2.0)
    data = batches(200, 200, 20)
    for batch in data:
        edge.send_data(batch)
    assert edge.wait_all_acked(60)
    assert stored(db, tenant.site_id) == expected(data)
    got_a, got_b = (s.metrics.samples_committed._value.get() for s in (a, b))
    assert got_a > 0 and got_b > 0, f"one ingester did all the work: {got_a} / {got_b}"
    assert got_a + got_b == expected(data)[0]
