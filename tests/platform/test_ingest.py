"""The ingest service against real Mosquitto and TimescaleDB."""

from __future__ import annotations

import math
import time

import msgpack
import psycopg
import pytest

from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant, make_tenant, unique
from tests.helpers.data import batches, dead_letters, expected, stored, tag_metas
from tests.helpers.edge import TestEdge
from tonghu.common import topics
from tonghu.common.sample import STATUS_BAD, Sample
from tonghu.common.uplink import TagMeta, encode_data
from tonghu.platform.ingest.service import IngestService


def _wait(cond, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_valid_batches_are_stored_once_and_acked(ingester: IngestService, edge: TestEdge, db: psycopg.Connection,
                                                 tenant: Tenant) -> None:
    meta_seq = edge.send_meta([*tag_metas(20), TagMeta("area1/line1/m1/state", "state", role="state")])
    assert edge.wait_all_acked(10) and meta_seq in edge.acked
    data = batches(10, 500, 20)
    for b in data:
        edge.send_data(b, events=[("area1/line1/m1/state", b[0].source_ts_us, "state", "down", "R7", "jam")])
    edge.send_data([Sample("area1/line1/m1/state", data[0][0].source_ts_us, "running")])
    assert edge.wait_all_acked(20)
    assert stored(db, tenant.site_id) == expected(data)
    assert db.execute("SELECT count(*) FROM samples_text st JOIN tags t ON t.id = st.tag_id "
                      "WHERE t.site_id = %s", (tenant.site_id,)).fetchone() == (1,)
    assert db.execute("SELECT count(*), min(code) FROM events e JOIN tags t ON t.id = e.tag_id "
                      "WHERE t.site_id = %s", (tenant.site_id,)).fetchone() == (10, "R7")
    # The registry grew from the meta message: area, line and asset exist with the tag's unit.
    assert db.execute("SELECT a.code, t.unit FROM tags t JOIN assets a ON a.id = t.asset_id "
                      "WHERE t.site_id = %s AND t.name = 't3'", (tenant.site_id,)).fetchone() == ("m1", "kW")
    assert ingester.metrics.samples_committed._value.get() == 5001


def test_resends_and_out_of_order_batches_add_nothing(ingester: IngestService, edge: TestEdge,
                                                      db: psycopg.Connection, tenant: Tenant) -> None:
    edge.send_meta(tag_metas(10))
    data = batches(6, 300, 10)
    payloads = []
    for b in data:
        seq = edge.next_seq()
        payloads.append(encode_data(tenant.edge, seq, 1, b))
    for p in reversed(payloads):  # out of order
        edge.send_raw(topics.Kind.DATA, p)
    for p in payloads[::2]:  # resent as is
        edge.send_raw(topics.Kind.DATA, p)
    # The same samples in a new batch (an edge that lost its ack and rebuilt the batch).
    edge.send_raw(topics.Kind.DATA, encode_data(tenant.edge, edge.next_seq(), 1, data[1]))
    assert _wait(lambda: ingester.metrics.duplicates._value.get() == 4 * 300)
    assert stored(db, tenant.site_id) == expected(data)
    assert ingester.metrics.batches_resent._value.get() == 3


def _committed(db: psycopg.Connection, site_id: int) -> tuple[int, float]:
    return stored(db, site_id)


@pytest.mark.parametrize(("case", "reason"), [
    ("not_msgpack", "not_decodable"),
    ("schema_v2", "bad_schema_version"),
    ("missing_seq", "missing_field"),
    ("string_seq", "bad_type"),
    ("oversize", "oversize"),
    ("identity_mismatch", "identity_mismatch"),
    ("unregistered_edge", "unregistered_edge"),
    ("bad_topic", "bad_topic"),
])
def test_bad_batches_go_to_dead_letters_and_change_nothing(case: str, reason: str, ingester: IngestService,
                                                           edge: TestEdge, db: psycopg.Connection,
                                                           tenant: Tenant, topic_prefix: str) -> None:
    edge.send_meta(tag_metas(5))
    good = batches(2, 100, 5)
    for b in good:
        edge.send_data(b)
    assert edge.wait_all_acked(10)
    before = _committed(db, tenant.site_id)
    body = {"v": 1, "edge": tenant.edge, "seq": 99, "created": 1, "keys": ["area1/line1/m1/t0"],
            "num": {"k": [0], "t": [time.time_ns() // 1000], "v": [1e9], "q": [0]}}
    topic = edge.topic(topics.Kind.DATA)
    payload = {
        "not_msgpack": b"\xc1\xc1 this is not a batch",
        "schema_v2": msgpack.packb({**body, "v": 2}),
        "missing_seq": msgpack.packb({k: v for k, v in body.items() if k != "seq"}),
        "string_seq": msgpack.packb({**body, "seq": "99"}),
        "oversize": msgpack.packb({**body, "pad": b"x" * (9 * 1024 * 1024)}),
        "identity_mismatch": msgpack.packb({**body, "edge": "someone-else"}),
        "unregistered_edge": msgpack.packb(body),
        "bad_topic": msgpack.packb(body),
    }[case]
    if case == "unregistered_edge":
        topic = topics.topic(topic_prefix, tenant.company, tenant.site, unique("ghost"), topics.Kind.DATA)
    if case == "bad_topic":
        topic = f"{topic_prefix}/v1/{tenant.company}/{tenant.site}/{tenant.edge}/extra/data"
        # The ingester's filters don't match this topic, so publish it where they do: a bad code.
        topic = f"{topic_prefix}/v1/{tenant.company}/NOT_A_CODE/{tenant.edge}/data"
    edge._client.publish(topic, payload, qos=1).wait_for_publish(10)
    like = topic.replace("%", r"\%")
    assert _wait(lambda: dead_letters(db, like) != []), f"no dead letter for {case}"
    assert dead_letters(db, like)[0][0] == reason
    assert _committed(db, tenant.site_id) == before
    if case in ("identity_mismatch", "schema_v2"):
        assert _wait(lambda: 99 in edge.dead)  # the edge is told to stop resending it


def test_bad_samples_are_dead_lettered_and_the_rest_stored(ingester: IngestService, edge: TestEdge,
                                                           db: psycopg.Connection, tenant: Tenant) -> None:
    edge.send_meta([*tag_metas(3), TagMeta("area1/line1/m1/label", "string")])
    now = time.time_ns() // 1000
    samples = [
        Sample("area1/line1/m1/t0", now - 1000, 1.5),
        Sample("area1/line1/m1/t1", now - 2000, math.nan, STATUS_BAD),   # NaN with bad quality is allowed
        Sample("area1/line1/m1/t1", now - 3000, math.inf),               # non_finite
        Sample("area1/line1/m1/t2", now + 3_600_000_000, 2.0),           # time_out_of_window (1 h ahead)
        Sample("area1/line1/m1/t2", 0, 2.0),                             # time_out_of_window (1970)
        Sample("area1/line1/m1/nope", now, 3.0),                         # unknown_tag
        Sample("area1/line1/m1/label", now, 4.0),                        # wrong_type
        Sample("area1/line1/m1/t0", now, "text"),                        # wrong_type
    ]
    edge.send_data(samples)
    assert edge.wait_all_acked(10)
    got = dict(dead_letters(db, edge.topic(topics.Kind.DATA)))
    assert got == {"non_finite": 1, "time_out_of_window": 2, "unknown_tag": 1, "wrong_type": 2}
    count, _ = stored(db, tenant.site_id)
    assert count == 2
    assert db.execute("SELECT quality_of(status) FROM samples_num s JOIN tags t ON t.id = s.tag_id "
                      "WHERE t.key = 'area1/line1/m1/t1' AND t.site_id = %s",
                      (tenant.site_id,)).fetchone() == ("bad",)


def test_wrong_value_types_inside_columns_are_caught(ingester: IngestService, edge: TestEdge,
                                                     db: psycopg.Connection, tenant: Tenant) -> None:
    edge.send_meta(tag_metas(2))
    now = time.time_ns() // 1000
    body = {"v": 1, "edge": tenant.edge, "seq": edge.next_seq(), "created": now,
            "keys": ["area1/line1/m1/t0", "area1/line1/m1/t1"],
            "num": {"k": [0, 1, 0, 1, 7], "t": [now, now, now - 1, 1.5, now - 9],
                    "v": [1.0, "2.0", None, 4.0, 5.0], "q": [0, 0, 0, 0, 0]}}
    edge.send_raw(topics.Kind.DATA, msgpack.packb(body), body["seq"])
    assert edge.wait_all_acked(10)
    assert dict(dead_letters(db, edge.topic(topics.Kind.DATA))) == {"bad_type": 3, "bad_key_index": 1}
    assert stored(db, tenant.site_id) == (1, 1.0)


def test_revoked_edge_and_other_tenants(ingester: IngestService, db: psycopg.Connection, topic_prefix: str) -> None:
    a, b = make_tenant(db), make_tenant(db, "petrochemical")
    edge_a = TestEdge(MQTT_HOST, MQTT_PORT, topic_prefix, a.company, a.site, a.edge)
    # Edge A claims to be at tenant B's site: the topic names a site the edge is not registered at.
    spoof = TestEdge(MQTT_HOST, MQTT_PORT, topic_prefix, b.company, b.site, a.edge)
    try:
        edge_a.send_meta(tag_metas(2))
        assert edge_a.wait_all_acked(10)
        spoof.send_meta(tag_metas(2))
        spoof.send_data(batches(1, 10, 2)[0])
        assert _wait(lambda: len(dead_letters(db, spoof.topic(topics.Kind.DATA))) == 1)
        assert dead_letters(db, spoof.topic(topics.Kind.DATA))[0][0] == "unregistered_edge"
        assert db.execute("SELECT count(*) FROM tags WHERE site_id = %s", (b.site_id,)).fetchone() == (0,)
    finally:
        edge_a.close()
        spoof.close()


def test_status_messages_update_the_edge(ingester: IngestService, edge: TestEdge, db: psycopg.Connection,
                                         tenant: Tenant) -> None:
    now = time.time_ns() // 1000
    edge.send_raw(topics.Kind.STATUS, msgpack.packb({"v": 1, "state": "online", "ts": now, "buffered": 3}))
    edge.send_raw(topics.Kind.STATUS, msgpack.packb({"v": 1, "state": "offline", "ts": now - 10_000_000}))
    assert _wait(lambda: db.execute("SELECT status FROM edges WHERE id = %s",
                                    (tenant.edge_id,)).fetchone() == ("online",))
    time.sleep(0.5)  # the older 'offline' must not overwrite the newer 'online'
    assert db.execute("SELECT status, status_detail->>'buffered' FROM edges WHERE id = %s",
                      (tenant.edge_id,)).fetchone() == ("online", "3")
