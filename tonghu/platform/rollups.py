"""Rollups maintained by the platform: per tag per minute and per hour, per asset per hour.

The Apache edition of TimescaleDB has no continuous aggregates, so a scheduler (``tonghu platform rollups run``)
recomputes buckets with the SQL functions of migration 0004 and keeps a watermark per rollup: everything before
it has been rolled up. Each pass recomputes ``[watermark − late_window, now − settle)``, so samples that arrive
late (an edge that was offline, resending its buffer) are folded in as long as they are younger than the late
window; older corrections need ``tonghu platform rollups rebuild --from … --to …``. A bucket is recomputed as a
whole (delete + insert in one transaction), so a pass is idempotent and an interrupted pass leaves either the old
or the new rows. Only complete buckets are written; queries read raw rows after the watermark.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Rollup:
    name: str
    table: str
    width: timedelta
    insert: str  # parameters: t0, t1, width


TAG_INSERT = ("INSERT INTO {table} SELECT * FROM tag_agg("
              "(SELECT coalesce(array_agg(id), '{{}}') FROM tags WHERE data_type IN ('float', 'int', 'bool')), "
              "%s, %s, %s)")
ROLLUPS: dict[str, Rollup] = {
    "tag_1m": Rollup("tag_1m", "rollup_tag_1m", timedelta(minutes=1), TAG_INSERT.format(table="rollup_tag_1m")),
    "tag_1h": Rollup("tag_1h", "rollup_tag_1h", timedelta(hours=1), TAG_INSERT.format(table="rollup_tag_1h")),
    "asset_1h": Rollup("asset_1h", "rollup_asset_1h", timedelta(hours=1),
                       "INSERT INTO rollup_asset_1h SELECT * FROM asset_facts("
                       "(SELECT coalesce(array_agg(id), '{}') FROM assets), %s, %s, %s)"),
    "stops_1h": Rollup("stops_1h", "rollup_stops_1h", timedelta(hours=1),
                       "INSERT INTO rollup_stops_1h SELECT * FROM asset_stops("
                       "(SELECT coalesce(array_agg(id), '{}') FROM assets), %s, %s, %s)"),
}


@dataclass(frozen=True, slots=True)
class Policy:
    late_window: timedelta = timedelta(hours=6)
    settle: timedelta = timedelta(minutes=2)   # let in-flight batches of the last minutes commit first
    chunk: timedelta = timedelta(days=1)       # one transaction per chunk keeps locks and WAL bursts short
    raw_retention: timedelta | None = None     # drop raw chunks older than this (rollups stay)
    minute_retention: timedelta | None = None  # drop minute-rollup chunks older than this


@dataclass(slots=True)
class PassResult:
    ranges: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    dropped_chunks: int = 0


def floor_to(t: datetime, width: timedelta) -> datetime:
    return EPOCH + ((t - EPOCH) // width) * width


def watermark(conn: psycopg.Connection, name: str) -> datetime | None:
    row = conn.execute("SELECT watermark FROM rollup_watermarks WHERE name = %s", (name,)).fetchone()
    return row[0] if row else None


def watermarks(conn: psycopg.Connection) -> dict[str, datetime]:
    return dict(conn.execute("SELECT name, watermark FROM rollup_watermarks").fetchall())


def _earliest_sample(conn: psycopg.Connection) -> datetime | None:
    row = conn.execute("SELECT least((SELECT min(time) FROM samples_num), (SELECT min(time) FROM samples_text))"
                       ).fetchone()
    return row[0] if row else None


def recompute(conn: psycopg.Connection, rollup: Rollup, start: datetime, end: datetime,
              chunk: timedelta = timedelta(days=1)) -> int:
    """Recompute every bucket of ``rollup`` in [start, end) (rounded out to whole buckets); returns rows written.

    ``conn`` must be in autocommit mode, so that each chunk is its own committed transaction."""
    if not conn.autocommit:
        raise ValueError("rollups need an autocommit connection: each chunk commits on its own")
    start, end = floor_to(start, rollup.width), floor_to(end - timedelta(microseconds=1), rollup.width) + rollup.width
    rows = 0
    t0 = start
    while t0 < end:
        t1 = min(t0 + chunk, end)
        with conn.transaction():
            conn.execute(f"DELETE FROM {rollup.table} WHERE bucket >= %s AND bucket < %s", (t0, t1))
            rows += conn.execute(rollup.insert, (t0, t1, rollup.width)).rowcount
        t0 = t1
    return rows


def _advance(conn: psycopg.Connection, name: str, to: datetime) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO rollup_watermarks (name, watermark) VALUES (%s, %s) ON CONFLICT (name) "
                     "DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()", (name, to))


def refresh(conn: psycopg.Connection, policy: Policy = Policy(), now: datetime | None = None) -> PassResult:
    """One scheduler pass: bring every rollup up to ``now − settle``, then apply retention."""
    began = time.monotonic()
    now = now or datetime.now(UTC)
    result = PassResult()
    earliest = None
    for rollup in ROLLUPS.values():
        end = floor_to(now - policy.settle, rollup.width)
        wm = watermark(conn, rollup.name)
        if wm is None:
            earliest = earliest or _earliest_sample(conn)
            if earliest is None:
                continue
            start = floor_to(earliest, rollup.width)
        else:
            start = floor_to(min(wm, end) - policy.late_window, rollup.width)
        if start < end:
            result.rows[rollup.name] = recompute(conn, rollup, start, end, policy.chunk)
            result.ranges[rollup.name] = (start, end)
        _advance(conn, rollup.name, max(end, wm) if wm else end)
    result.dropped_chunks = apply_retention(conn, policy, now)
    result.seconds = time.monotonic() - began
    return result


def rebuild(conn: psycopg.Connection, start: datetime, end: datetime, names: list[str] | None = None,
            chunk: timedelta = timedelta(days=1)) -> dict[str, int]:
    """Recompute a range on request (after a backfill or a correction older than the late window)."""
    if end <= start:
        raise ValueError(f"rebuild range is empty: {start.isoformat()} .. {end.isoformat()}")
    unknown = sorted(set(names or ()) - set(ROLLUPS))
    if unknown:
        raise ValueError(f"unknown rollup(s) {', '.join(unknown)}; known: {', '.join(ROLLUPS)}")
    return {n: recompute(conn, ROLLUPS[n], start, end, chunk) for n in (names or list(ROLLUPS))}


def apply_retention(conn: psycopg.Connection, policy: Policy, now: datetime) -> int:
    """drop_chunks is part of the Apache edition; whole chunks go, so data lives up to one chunk longer."""
    dropped = 0
    targets = [(t, policy.raw_retention) for t in ("samples_num", "samples_text", "events")]
    targets.append(("rollup_tag_1m", policy.minute_retention))
    for table, keep in targets:
        if keep is None:
            continue
        with conn.transaction():
            dropped += len(conn.execute("SELECT drop_chunks(%s::regclass, older_than => %s::timestamptz)",
                                        (table, now - keep)).fetchall())
    return dropped


def run_forever(dsn: str, policy: Policy, interval_s: float, stop: Callable[[], bool] = lambda: False) -> None:
    """The scheduler loop: a pass every ``interval_s``; database errors are logged and retried next pass."""
    from tonghu.platform.db import connect

    conn: psycopg.Connection | None = None
    while not stop():
        began = time.monotonic()
        try:
            if conn is None or conn.closed:
                conn = connect(dsn, autocommit=True, application_name="tonghu-rollups")
            r = refresh(conn, policy)
            log.info("rollup pass: %s rows in %.1f s, %d chunks dropped", r.rows, r.seconds, r.dropped_chunks)
        except psycopg.Error as err:
            log.warning("rollup pass failed, retrying next pass: %s", err)
            if conn is not None:
                conn.close()
            conn = None
        while not stop() and time.monotonic() - began < interval_s:
            time.sleep(min(1.0, interval_s))
    if conn is not None:
        conn.close()
