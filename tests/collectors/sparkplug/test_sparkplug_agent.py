"""Simulated edge node → broker → edge agent with the Sparkplug collector → uplink → ingest → TimescaleDB."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from tests.collectors.sparkplug.conftest import wait_for
from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant, unique
from tests.edge_agent.conftest import RunningAgent, edge_config
from tonghu.collectors.sparkplug.datatypes import DataType as D
from tonghu.collectors.sparkplug.session import STATUS_STALE
from tonghu.device_sims.sparkplug_node import SimDevice, SimMetric, SparkplugNode


def _stored(db: psycopg.Connection, site_id: int, key_like: str) -> tuple[int, float]:
    row = db.execute("SELECT count(*), coalesce(sum(s.value), 0) FROM samples_num s JOIN tags t ON t.id = s.tag_id "
                     "WHERE t.site_id = %s AND t.key LIKE %s", (site_id, key_like)).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def _press(device: str, base: int) -> SimDevice:
    # Values are whole or half numbers, so sums are exact whatever order they are added in.
    return SimDevice(device, (
        SimMetric("Counters/Total", D.INT64, lambda t, r: base + t, unit="parts"),
        SimMetric("Temperature", D.DOUBLE, lambda t, r: 20.0 + (t % 7) / 2, unit="degC"),
        SimMetric("Offset", D.INT16, lambda t, r: -(t % 5)),
    ))


def test_node_samples_are_stored_exactly_once(ingester: object, tenant: Tenant, topic_prefix: str,
                                              tmp_path: Path, db: psycopg.Connection) -> None:
    group = unique("spg-")
    collector = {"type": "sparkplug", "name": "spb", "host_id": unique("host-"), "groups": [group],
                 "broker": {"host": MQTT_HOST, "port": MQTT_PORT, "client_id": unique("spb-")},
                 "alias_cache": str(tmp_path / "aliases.json"),
                 "mapping": {"rules": [{"metric": "Counters/Total", "level": "device", "name": "count_total",
                                        "role": "count_total"}]}}
    running = RunningAgent(edge_config(tenant, topic_prefix, tmp_path / "buffer.db", [collector]))
    # QoS 1 (the specification's births and data are QoS 0) so that acknowledgement on durability is used.
    node = SparkplugNode(MQTT_HOST, MQTT_PORT, group, "gw1", bdseq_file=tmp_path / "gw1.bdseq", qos=1,
                         metrics=(SimMetric("Uptime", D.UINT32, lambda t, r: 1000 + t),),
                         devices=(_press("Press-1", 0), _press("Press-2", 5000)))
    try:
        assert wait_for(lambda: running.agent.supervisors[0].state.connected, 10)
        node.start()
        start_ms = time.time_ns() // 1_000_000 - 600_000
        for i in range(60):
            node.step(ts_ms=start_ms + i * 1000)
        values = [float(p.value) for p in node.log]  # type: ignore[arg-type]
        expected = (len(values), sum(values))
        assert expected[0] > 300
        assert wait_for(lambda: _stored(db, tenant.site_id, f"{group}/%") == expected, 30), \
            (_stored(db, tenant.site_id, f"{group}/%"), expected)
        assert db.execute("SELECT unit, role FROM tags WHERE site_id = %s AND key = %s",
                          (tenant.site_id, f"{group}/gw1/press-2/count_total")).fetchone() == ("parts", "count_total")

        # The node dies: every metric gets one stale sample repeating its last value.
        node.stop(graceful=False)
        assert wait_for(lambda: _stored(db, tenant.site_id, f"{group}/%")[0] == expected[0] + 7, 30)
        stale = db.execute(
            "SELECT count(*) FROM samples_num s JOIN tags t ON t.id = s.tag_id WHERE t.site_id = %s "
            "AND t.key LIKE %s AND s.status = %s", (tenant.site_id, f"{group}/%", STATUS_STALE - 2**32)).fetchone()
        assert stale == (7,)

        def drained() -> bool:
            stats = running.agent.buffer.stats()
            return stats.samples_buffered + stats.samples_in_flight == 0

        assert wait_for(drained, 10)
        assert running.agent.uplink.counters.dead == 0
        assert node.rebirths == 0
    finally:
        node.stop()
        running.stop()

