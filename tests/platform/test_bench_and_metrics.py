from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import psycopg

from tests.conftest import ADMIN_DSN, MQTT_HOST, MQTT_PORT, Tenant
from tests.helpers.broker import free_port
from tests.helpers.data import batches, tag_metas
from tests.helpers.edge import TestEdge


def test_ingest_benchmark_smoke_run() -> None:
    # A short run only: the full benchmark (1 M samples) is `tonghu bench ingest --json`, never part of the suite.
    out = subprocess.run([sys.executable, "-m", "tonghu", "bench", "ingest", "--json", "--samples", "20000",
                          "--batch-size", "2000", "--tags", "500", "--admin-dsn", ADMIN_DSN,
                          "--mqtt-host", MQTT_HOST, "--mqtt-port", str(MQTT_PORT)],
                         capture_output=True, text=True, timeout=240, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["stored"] == 20000 and result["lost"] == 0
    assert result["ingest_samples_per_s"] > 0 and result["ceiling_rows_per_s"] > 0
    assert abs(result["ratio"] - result["ingest_samples_per_s"] / result["ceiling_rows_per_s"]) < 0.01


def test_metrics_endpoint_counts_what_happened(start_ingester: Callable[..., object], tenant: Tenant,
                                               topic_prefix: str, db: psycopg.Connection) -> None:
    port = free_port()
    start_ingester(metrics_port=port)
    edge = TestEdge(MQTT_HOST, MQTT_PORT, topic_prefix, tenant.company, tenant.site, tenant.edge)
    try:
        edge.send_meta(tag_metas(4))
        data = batches(3, 40, 4)
        for b in data:
            edge.send_data(b)
        edge.send_data(data[0])  # a resend: 40 duplicates
        assert edge.wait_all_acked(20)
    finally:
        edge.close()
    time.sleep(0.2)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["tonghu_ingest_samples_committed_total"] == 120
    assert values["tonghu_ingest_duplicates_skipped_total"] == 40
    assert values['tonghu_ingest_messages_received_total{kind="data"}'] == 4
    assert values["tonghu_ingest_mqtt_connected"] == 1
