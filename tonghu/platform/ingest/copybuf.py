"""PostgreSQL binary COPY rows built with array operations (format: PostgreSQL docs, "COPY", Binary Format)."""

from __future__ import annotations

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # + flags + extension length
TRAILER = b"\xff\xff"
# timestamptz travels as µs since 2000-01-01 UTC.
PG_EPOCH_OFFSET_US = 946_684_800_000_000

_NUM_ROW = np.dtype([
    ("nfields", ">i2"),
    ("tag_len", ">i4"), ("tag", ">i4"),
    ("time_len", ">i4"), ("time", ">i8"),
    ("value_len", ">i4"), ("value", ">f8"),
    ("status_len", ">i4"), ("status", ">i4"),
])


def numeric_rows(tag: np.ndarray, ts_us: np.ndarray, value: np.ndarray, status: np.ndarray) -> bytes:
    """A complete binary COPY stream (signature, rows, trailer) for (tag_id, time, value, status) rows."""
    rows = np.empty(len(tag), dtype=_NUM_ROW)
    rows["nfields"] = 4
    rows["tag_len"] = 4
    rows["tag"] = tag
    rows["time_len"] = 8
    rows["time"] = ts_us - PG_EPOCH_OFFSET_US
    rows["value_len"] = 8
    rows["value"] = value
    rows["status_len"] = 4
    rows["status"] = status
    return SIGNATURE + rows.tobytes() + TRAILER
