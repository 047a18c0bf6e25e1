"""The checker itself, on rows written directly: it must see every gap, duplicate and stray value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from tests.conftest import make_tenant
from tonghu.chaos.check import AgentCounts, check
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta
from tonghu.edge_agent.buffer import Buffer, BufferConfig
from tonghu.platform import registry

T0 = datetime.now(UTC) - timedelta(hours=1)
ASSET = "chaos/seq/d00000"


def _write(conn: psycopg.Connection, site_id: int, rows: dict[str, list[float]]) -> None:
    ids, _ = registry.upsert_tags(conn, site_id, [TagMeta(f"{ASSET}/{k}", "float") for k in rows])
    for key, values in rows.items():
        for i, v in enumerate(values):
            conn.execute("INSERT INTO samples_num (tag_id, time, value) VALUES (%s, %s, %s)",
                         (ids[f"{ASSET}/{key}"][0], T0 + timedelta(milliseconds=i), v))


def test_checker_counts_gaps_duplicates_and_strays(db: psycopg.Connection) -> None:
    tenant = make_tenant(db)
    _write(db, tenant.site_id, {
        "ok": [float(v) for v in range(10)],
        "gaps": [0, 1, 2, 5, 6, 7, 8],  # 3-4 and the tail 9 missing
        "dup": [0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 9],  # 5 twice, under two timestamps
        "stray": [*range(10), 42, 2.5],  # values no generator produced
    })
    generated = {f"{ASSET}/{k}": 10 for k in ("ok", "gaps", "dup", "stray", "never")}
    report = check(db, tenant.site_id, generated)
    by = {t.key.rsplit("/", 1)[1]: t for t in report.tags}
    assert (by["ok"].stored, by["ok"].missing, by["ok"].duplicated, by["ok"].gaps) == (10, 0, 0, [])
    assert by["gaps"].missing == 3 and [(g.first, g.last) for g in by["gaps"].gaps] == [(3, 4), (9, 9)]
    assert by["gaps"].gaps[0].after_us is not None and by["gaps"].gaps[1].before_us is None
    assert (by["dup"].duplicated, by["dup"].missing) == (1, 0)
    assert (by["stray"].unexpected, by["stray"].duplicated, by["stray"].missing) == (2, 0, 0)
    assert by["never"].missing == 10 and by["never"].stored == 0
    s = report.summary()
    assert (s["generated"], s["missing"], s["duplicated"], s["unexpected"]) == (50, 13, 1, 2)
    assert {t["key"].rsplit("/", 1)[1] for t in s["bad_tags"]} == {"gaps", "dup", "stray", "never"}
    assert report.site_rows == 10 + 7 + 11 + 12


def test_agent_counts_come_from_the_buffer_file(tmp_path: Path) -> None:
    cfg = BufferConfig(path=tmp_path / "b.db", max_bytes=64 * 1024)
    now_us = int(datetime.now(UTC).timestamp() * 1e6)
    with Buffer(cfg) as buf:
        buf.put([Sample(f"{ASSET}/t{i % 7}", now_us + i, float(i)) for i in range(5000)])
        seq, _ = buf.next_batch("e0", now_us) or (0, b"")
        buf.ack([seq])
    counts = AgentCounts.from_buffer(cfg.path, ingress_dropped=3)
    assert counts.samples_in == 5000 and counts.dropped["overflow_oldest"] > 0
    assert counts.dropped_total == counts.dropped["overflow_oldest"] + 3
    assert counts.samples_in == counts.acked + counts.buffered + counts.in_flight + counts.dropped_total - 3
