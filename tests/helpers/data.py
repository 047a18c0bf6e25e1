"""Deterministic test data and the checks that count and checksum what reached the database."""

from __future__ import annotations

import time

import psycopg

from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta


def tag_metas(n: int, asset: str = "area1/line1/m1") -> list[TagMeta]:
    return [TagMeta(f"{asset}/t{i}", "float", "kW", "power") for i in range(n)]


def batches(n_batches: int, per_batch: int, n_tags: int, start_us: int | None = None,
            asset: str = "area1/line1/m1") -> list[list[Sample]]:
    """Sample j of batch b: tag (b*per_batch + j) % n_tags at a distinct time, value = its global index."""
    start = start_us if start_us is not None else time.time_ns() // 1000 - 3_600_000_000
    out = []
    for b in range(n_batches):
        out.append([Sample(f"{asset}/t{(i := b * per_batch + j) % n_tags}", start + i * 1000, float(i))
                    for j in range(per_batch)])
    return out


def expected(all_batches: list[list[Sample]]) -> tuple[int, float]:
    flat = [s for b in all_batches for s in b]
    return len(flat), sum(float(s.value) for s in flat)


def stored(conn: psycopg.Connection, site_id: int) -> tuple[int, float]:
    row = conn.execute(
        "SELECT count(*), coalesce(sum(value), 0) FROM samples_num "
        "WHERE tag_id IN (SELECT id FROM tags WHERE site_id = %s)", (site_id,)).fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


def dead_letters(conn: psycopg.Connection, topic_like: str) -> list[tuple[str, int]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT reason, sample_count FROM dead_letters WHERE topic LIKE %s ORDER BY id", (topic_like,))]
