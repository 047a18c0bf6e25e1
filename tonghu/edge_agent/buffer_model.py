"""The durable buffer's data model, free of I/O: config, stats, SQLite schema, and samples as rows.

A value keeps its Python type through a type code stored beside it: SQLite has no boolean class, turns a
NaN into NULL, and has no integer wider than 64 signed bits, while the uplink carries all of these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tonghu.common.sample import STATUS_MAX, Sample, Value
from tonghu.common.uplink import DEFAULT_LIMITS


class OverflowPolicy(StrEnum):
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"


class DropReason(StrEnum):
    OVERFLOW_OLDEST = "overflow_oldest"
    OVERFLOW_NEWEST = "overflow_newest"
    EXPIRED = "expired"


class BufferConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(description="SQLite file of the buffer; its directory is created on open")
    max_bytes: int = Field(default=256 * 1024 * 1024, ge=64 * 1024,
                           description="bound on the estimated bytes of buffered samples and in-flight batches")
    max_age: timedelta = Field(default=timedelta(days=7),
                               description="samples whose source timestamp is older are dropped as expired")
    overflow: OverflowPolicy = Field(default=OverflowPolicy.DROP_OLDEST,
                                     description="what gives way when max_bytes is reached")
    batch_max_samples: int = Field(default=5000, ge=1, le=DEFAULT_LIMITS.max_samples,
                                   description="most samples in one uplink batch")
    # The platform refuses a whole payload above its size limit, so a batch of long strings is cut by
    # size as well as by count (estimated from row sizes, which are larger than the encoded samples).
    batch_max_bytes: int = Field(default=1024 * 1024, ge=4096, le=DEFAULT_LIMITS.max_payload_bytes // 2,
                                 description="about the most estimated bytes of samples in one uplink batch")

    @field_validator("max_age")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be a positive duration")
        return value


@dataclass(frozen=True, slots=True)
class BufferStats:
    """Counters since the buffer file was created, and the current contents.

    ``bytes_buffered`` is a maintained sum of estimated row sizes (key, value, fixed overhead per sample;
    payload size plus overhead per batch), not page_count × page_size: pages freed by a delete stay in the
    file, so the page count would not go down when samples leave, and a page count cannot tell how many
    samples must go to make room for a put. The overhead per row is chosen so that the estimate stays close
    to the file size (within a few percent for typical keys); ``file_bytes`` reports the file itself.
    """

    samples_in: int  # every sample ever offered to put, whatever became of it
    samples_buffered: int  # waiting for a batch
    samples_in_flight: int  # inside batches not yet acknowledged
    samples_acked: int  # inside batches the platform acknowledged
    bytes_buffered: int
    file_bytes: int  # page_count × page_size of the main file, WAL excluded
    oldest_age_s: float | None  # by source timestamp, over buffered and in-flight samples
    batches_in_flight: int
    acked_batches: int
    resent_batches: int  # sends of a batch after its first
    unknown_acks: int  # acks naming a seq the buffer no longer holds (duplicates, dropped, expired)
    rejected: int  # refused at put because they could never be sent
    dropped_overflow_oldest: int
    dropped_overflow_newest: int
    dropped_expired: int

    @property
    def dropped(self) -> dict[DropReason, int]:
        return {DropReason.OVERFLOW_OLDEST: self.dropped_overflow_oldest,
                DropReason.OVERFLOW_NEWEST: self.dropped_overflow_newest,
                DropReason.EXPIRED: self.dropped_expired}


class PendingBatch(NamedTuple):
    seq: int
    payload: bytes
    last_sent_us: int | None


SCHEMA_VERSION = 1

SCHEMA = (
    # ``id`` is the arrival order: "oldest" for overflow and batching means first accepted. ``v`` has no
    # declared type so that SQLite stores each value in its own storage class and never converts it.
    """CREATE TABLE IF NOT EXISTS sample (
        id     INTEGER PRIMARY KEY,
        key    TEXT    NOT NULL,
        ts     INTEGER NOT NULL,
        v,
        vt     INTEGER NOT NULL,
        status INTEGER NOT NULL,
        nbytes INTEGER NOT NULL
    )""",
    # Expiry by source time must not scan the table; nbytes rides along so the freed bytes are summed
    # from the index alone.
    "CREATE INDEX IF NOT EXISTS sample_ts ON sample (ts, nbytes)",
    # The payload is the last column: scans of the small columns then never read its overflow pages.
    """CREATE TABLE IF NOT EXISTS batch (
        seq          INTEGER PRIMARY KEY,
        n            INTEGER NOT NULL,
        nbytes       INTEGER NOT NULL,
        min_ts       INTEGER NOT NULL,
        max_ts       INTEGER NOT NULL,
        created_us   INTEGER NOT NULL,
        last_sent_us INTEGER,
        sends        INTEGER NOT NULL DEFAULT 0,
        payload      BLOB    NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
)

# Every counter and its value in a new buffer. Rows are inserted with OR IGNORE at each open, so a counter
# added later needs no migration.
COUNTERS: dict[str, int] = {
    "next_seq": 1,
    "bytes": 0,
    "samples_in": 0,
    "samples_buffered": 0,
    "samples_acked": 0,
    "acked_batches": 0,
    "resent_batches": 0,
    "unknown_acks": 0,
    "rejected": 0,
    "dropped_overflow_oldest": 0,
    "dropped_overflow_newest": 0,
    "dropped_expired": 0,
}

INSERT_SAMPLE = "INSERT INTO sample (key, ts, v, vt, status, nbytes) VALUES (?, ?, ?, ?, ?, ?)"

# Positions in a row tuple as built by ``to_rows`` (and inserted by INSERT_SAMPLE).
TS, NBYTES = 1, 5

# Value type codes.
FLOAT, INT, BOOL, STR, UINT64 = 0, 1, 2, 3, 4

# Estimated storage of one row beyond its key and value: rowid, timestamp, status, type code and size in
# the table, the (ts, nbytes, rowid) index entry, and the record and cell headers of both.
ROW_OVERHEAD = 48
BATCH_OVERHEAD = 64

I64_MIN, I64_MAX, _U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1

Row = tuple[str, int, Any, int, int, int]


def to_rows(samples: Sequence[Sample]) -> tuple[list[Row], int, str]:
    """Rows for the storable samples, the number refused, and why the first one was refused.

    Refused are the samples that could never be sent: a value or key that SQLite or MessagePack cannot
    carry, or a key the platform's structural check rejects, which would sink every sample of its batch.
    """
    rows: list[Row] = []
    first_reason = ""
    for s in samples:
        try:
            rows.append(_row(s))
        except (TypeError, ValueError) as err:
            first_reason = first_reason or str(err)
    return rows, len(samples) - len(rows), first_reason


def _row(s: Sample) -> Row:
    key, ts, v, status = s.key, s.source_ts_us, s.value, s.status
    if type(key) is not str or not 0 < len(key) <= DEFAULT_LIMITS.max_key_len or "\x00" in key:
        raise ValueError(f"tag key {str(key)[:80]!r} must be a string of 1..{DEFAULT_LIMITS.max_key_len} "
                         "characters without NUL (the platform refuses the whole batch otherwise)")
    # UnicodeEncodeError (a ValueError) refuses lone surrogates, which neither SQLite nor msgpack take.
    key_bytes = len(key) if key.isascii() else len(key.encode())
    if type(ts) is not int or not I64_MIN <= ts <= I64_MAX:
        raise ValueError(f"source timestamp of {key!r} must be a 64-bit integer of µs, got {ts!r}")
    if type(status) is not int or not 0 <= status <= STATUS_MAX:
        raise ValueError(f"status of {key!r} must be a 32-bit unsigned integer, got {status!r}")
    # isinstance rather than type() so that subclasses (numpy scalars, IntEnum) are stored as their base.
    if isinstance(v, bool):
        return key, ts, int(v), BOOL, status, ROW_OVERHEAD + key_bytes + 1
    if isinstance(v, int):
        if I64_MIN <= v <= I64_MAX:
            return key, ts, int(v), INT, status, ROW_OVERHEAD + key_bytes + 8
        if v <= _U64_MAX:
            return key, ts, str(v), UINT64, status, ROW_OVERHEAD + key_bytes + 20
        raise ValueError(f"value of {key!r} does not fit in 64 bits")
    if isinstance(v, float):
        return key, ts, None if math.isnan(v) else float(v), FLOAT, status, ROW_OVERHEAD + key_bytes + 8
    if isinstance(v, str):
        text_bytes = len(v) if v.isascii() else len(v.encode())
        return key, ts, str(v), STR, status, ROW_OVERHEAD + key_bytes + text_bytes
    raise TypeError(f"value of {key!r} must be float, int, bool or str, got {type(v).__name__}")


def to_value(v: Any, vt: int) -> Value:
    """The value as it was put, from its stored form and type code."""
    if vt == FLOAT:
        return math.nan if v is None else v
    if vt == BOOL:
        return bool(v)
    if vt == UINT64:
        return int(v)
    return v
