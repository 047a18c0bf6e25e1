"""The write path into the hypertables, shared by the ingest service and bulk loaders (history backfill).

Rows go through a temporary staging table filled by binary COPY, then ``INSERT … ON CONFLICT DO NOTHING``, so
writing the same (tag, time) twice is harmless. Callers own the transaction and call each function at most once
per transaction: the staging tables are created once per connection with ``prepare`` and empty themselves at
COMMIT (cheaper than a TRUNCATE per call on the hot path).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from tonghu.platform.ingest import copybuf

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TextRow = tuple[int, int, str, int]  # tag id, µs, value, status (signed)
EventRow = tuple[int, int, str, str, str, str, dict[str, Any]]  # tag id, µs, kind, value, code, text, attrs


def prepare(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage_num (LIKE samples_num) ON COMMIT DELETE ROWS")
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS stage_text (LIKE samples_text) ON COMMIT DELETE ROWS")


def numeric(cur: psycopg.Cursor, tag: np.ndarray, ts_us: np.ndarray, value: np.ndarray,
            status: np.ndarray) -> int:
    """Store numeric samples; returns how many were new (the rest were already stored)."""
    if not len(tag):
        return 0
    with cur.copy("COPY stage_num (tag_id, time, value, status) FROM STDIN (FORMAT BINARY)") as cp:
        cp.write(copybuf.numeric_rows(tag, ts_us, value, status))
    cur.execute("INSERT INTO samples_num SELECT * FROM stage_num ON CONFLICT DO NOTHING")
    return cur.rowcount


def text(cur: psycopg.Cursor, rows: Sequence[TextRow]) -> int:
    if not rows:
        return 0
    with cur.copy("COPY stage_text (tag_id, time, value, status) FROM STDIN (FORMAT BINARY)") as cp:
        cp.set_types(["int4", "timestamptz", "text", "int4"])
        for tag, t, v, q in rows:
            cp.write_row((tag, EPOCH + timedelta(microseconds=t), v, q))
    cur.execute("INSERT INTO samples_text SELECT * FROM stage_text ON CONFLICT DO NOTHING")
    return cur.rowcount


def events(cur: psycopg.Cursor, rows: Sequence[EventRow]) -> None:
    if rows:
        cur.executemany(
            "INSERT INTO events (tag_id, time, kind, value, code, text, attrs) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(tag, EPOCH + timedelta(microseconds=t), kind, v, c, txt, Jsonb(a))
             for tag, t, kind, v, c, txt, a in rows])
