"""The edge agent's durable buffer: collectors put samples in, the uplink takes them out as numbered batches.

Storage is one SQLite file in WAL mode with ``synchronous=FULL``: when ``put`` returns, the samples survive
a power cut. A sample lives in exactly one place at a time: unbatched (table ``sample``) or inside one
in-flight batch (table ``batch``, keyed by seq). ``next_batch`` moves samples from the first to the second in
one transaction and ``ack`` deletes a batch once the platform has committed it, so a crash at any point
neither loses nor doubles a sample.

Bounds and overflow policy
    ``max_bytes`` bounds the buffered bytes, estimated as a maintained sum of per-row sizes (see
    ``bytes_buffered`` in BufferStats). When a put would exceed it:
    - ``drop_oldest`` (default) deletes the oldest unbatched samples, then the oldest in-flight batches,
      and if the incoming samples alone are larger than the buffer, the oldest of those;
    - ``drop_newest`` keeps the buffer as it is and stores the longest prefix of the incoming samples that
      fits, refusing the rest.
    A disk that fills before ``max_bytes`` becomes the bound (see ``buffer_disk``).
    ``max_age`` bounds the age by source timestamp: older samples are refused at put, and ``expire`` (also
    run cheaply at every put for unbatched samples) deletes expired samples and batches whose newest sample
    has expired.

Every sample offered to ``put`` is counted exactly once in the end, which ``BufferStats`` lets anyone
check: samples_in = buffered + in flight + acked + dropped (by reason) + rejected.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Self

from tonghu.common.errors import NotConnectedError, PermanentError, TransientError
from tonghu.common.sample import Sample
from tonghu.common.uplink import encode_data
from tonghu.edge_agent import buffer_model as model
from tonghu.edge_agent.buffer_disk import WAL_LIMIT, Reserve, bound_after_full, retry_when_full, translated
from tonghu.edge_agent.buffer_model import BufferConfig, BufferStats, DropReason, OverflowPolicy, PendingBatch

__all__ = ["Buffer", "BufferConfig", "BufferStats", "DropReason", "OverflowPolicy", "PendingBatch"]

log = logging.getLogger(__name__)

_SQL_IN_CHUNK = 500  # stays far below SQLite's host-parameter limit on every version
# Per table: the column that orders it oldest first, and how many samples one row holds.
_HEADS = {"sample": ("id", "1"), "batch": ("seq", "n")}


def _now_us() -> int:
    return time.time_ns() // 1000


class Buffer:
    """Durable, bounded FIFO of samples with numbered, acknowledged batches.

    Thread safety: one connection guarded by one lock. Both the writer thread (``put``) and the uplink
    thread (``next_batch``, ``ack``, ``mark_sent``) write, and SQLite admits one writer at a time anyway; a
    second connection would only trade this lock for SQLITE_BUSY waits, plus a deferred read transaction that
    can fail to upgrade. Every transaction is short and the lock is never held across network I/O.
    """

    def __init__(self, config: BufferConfig) -> None:
        self.config = config
        # The bound in force: max_bytes, lowered when the disk fills before it (see _disk_full).
        self.cap = config.max_bytes
        self._reserve = Reserve(config.path, config.max_bytes)
        self._max_age_us = config.max_age // timedelta(microseconds=1)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._warned_rejected = False

    # ---------------------------------------------------------------------------------------- lifecycle

    def open(self) -> None:
        """Open (creating if needed) the database file; a no-op when already open."""
        with self._lock:
            if self._db is not None:
                return
            try:
                self.config.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.config.path, isolation_level=None, check_same_thread=False,
                                     timeout=5.0)
            except (OSError, sqlite3.Error) as err:
                raise TransientError(f"cannot open buffer {self.config.path}: {err}") from err
            try:
                self._prepare(db)
            except BaseException:
                db.close()
                raise
            self._db = db
            self._reserve.make()

    def _prepare(self, db: sqlite3.Connection) -> None:
        with translated(self.config.path):
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise PermanentError(f"buffer {self.config.path}: the file system does not support WAL mode")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > model.SCHEMA_VERSION:
                raise PermanentError(f"buffer {self.config.path} has schema version {version}; this version "
                                     f"of tonghu reads up to {model.SCHEMA_VERSION}")
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in model.SCHEMA:
                    db.execute(statement)
                db.executemany("INSERT OR IGNORE INTO counter (name, value) VALUES (?, ?)",
                               model.COUNTERS.items())
                db.execute(f"PRAGMA user_version = {model.SCHEMA_VERSION}")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[tuple[sqlite3.Connection, dict[str, int]]]:
        """One write transaction with the counters read at its start and written back at its end."""
        with self._lock:
            db = self._conn()
            with translated(self.config.path):
                db.execute("BEGIN IMMEDIATE")
                try:
                    counters = dict(db.execute("SELECT name, value FROM counter").fetchall())
                    before = dict(counters)
                    yield db, counters
                    changed = [(v, k) for k, v in counters.items() if before[k] != v]
                    db.executemany("UPDATE counter SET value = ? WHERE name = ?", changed)
                    db.execute("COMMIT")
                except BaseException:
                    # SQLite may already have rolled back by itself (disk full, I/O error).
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise NotConnectedError(f"buffer {self.config.path} is not open")
        return self._db

    # ---------------------------------------------------------------------------------------- writer side

    def put(self, samples: Sequence[Sample], *, now_us: int | None = None) -> None:
        """Store samples durably, in order, under the overflow policy; returns once they are on disk.

        A full buffer never raises: drops are counted. Samples that could never be sent (see
        ``buffer_model.to_rows``) are refused one by one and counted as rejected.
        """
        if not samples:
            return
        rows, rejected, reason = model.to_rows(samples)
        if rejected and not self._warned_rejected:
            self._warned_rejected = True
            log.warning("buffer %s refused %d samples (counted as rejected; further refusals are not logged): %s",
                        self.config.path, rejected, reason)
        cutoff = self._cutoff(now_us)
        fresh = [r for r in rows if r[model.TS] >= cutoff]
        retry_when_full(lambda: self._put_rows(samples, rows, fresh, rejected, cutoff), self._disk_full)

    def _disk_full(self) -> None:
        """The disk filled before max_bytes: give up the reserve (room for the deletes) and make the disk the bound,
        so the overflow policy, not the file system, decides what goes."""
        self._reserve.release()
        with self._lock, translated(self.config.path):
            self.cap = bound_after_full(self._conn(), self.cap, self.config.path)

    def _put_rows(self, samples: Sequence[Sample], rows: list[model.Row], fresh: list[model.Row], rejected: int,
                  cutoff: int) -> None:
        with self._write() as (db, c):
            c["samples_in"] += len(samples)
            c["rejected"] += rejected
            c["dropped_expired"] += len(rows) - len(fresh)
            self._expire_samples(db, c, cutoff)
            fresh = self._make_room(db, c, fresh)
            if fresh:
                db.executemany(model.INSERT_SAMPLE, fresh)
                c["samples_buffered"] += len(fresh)
                c["bytes"] += sum(r[model.NBYTES] for r in fresh)

    def _make_room(self, db: sqlite3.Connection, c: dict[str, int], rows: list[model.Row]) -> list[model.Row]:
        """The incoming rows that may be stored, after dropping whatever the policy drops to fit them."""
        incoming = sum(r[model.NBYTES] for r in rows)
        over = c["bytes"] + incoming - self.cap
        if over <= 0:
            return rows
        if self.config.overflow is OverflowPolicy.DROP_NEWEST:
            room, keep = self.cap - c["bytes"], 0
            for r in rows:
                if r[model.NBYTES] > room:
                    break
                room -= r[model.NBYTES]
                keep += 1
            c["dropped_overflow_newest"] += len(rows) - keep
            return rows[:keep]
        over -= self._drop_head(db, c, "sample", over)
        if over > 0:
            over -= self._drop_head(db, c, "batch", over)
        skip = 0
        while over > 0 and skip < len(rows):
            over -= rows[skip][model.NBYTES]
            skip += 1
        c["dropped_overflow_oldest"] += skip
        return rows[skip:]

    def _drop_head(self, db: sqlite3.Connection, c: dict[str, int], table: str, need: int) -> int:
        """Delete the first rows of ``table`` until ``need`` bytes are freed; returns the bytes freed."""
        order, count = _HEADS[table]
        cur = db.execute(f"SELECT {order}, nbytes, {count} FROM {table} ORDER BY {order}")
        freed = dropped = 0
        last = None
        try:
            while freed < need and (chunk := cur.fetchmany(1024)):
                for key, nbytes, n in chunk:
                    last = key
                    freed += nbytes
                    dropped += n
                    if freed >= need:
                        break
        finally:
            cur.close()
        if last is None:
            return 0
        db.execute(f"DELETE FROM {table} WHERE {order} <= ?", (last,))
        c["bytes"] -= freed
        c["dropped_overflow_oldest"] += dropped
        if table == "sample":
            c["samples_buffered"] -= dropped
        return freed

    def expire(self, *, now_us: int | None = None) -> int:
        """Delete samples and batches older than max_age; returns how many samples were dropped."""
        cutoff = self._cutoff(now_us)
        with self._write() as (db, c):
            before = c["dropped_expired"]
            self._expire_samples(db, c, cutoff)
            n, nbytes = db.execute("SELECT total(n), total(nbytes) FROM batch WHERE max_ts < ?",
                                   (cutoff,)).fetchone()
            if n:
                db.execute("DELETE FROM batch WHERE max_ts < ?", (cutoff,))
                c["dropped_expired"] += int(n)
                c["bytes"] -= int(nbytes)
            return c["dropped_expired"] - before

    def _cutoff(self, now_us: int | None) -> int:
        cutoff = (_now_us() if now_us is None else now_us) - self._max_age_us
        # A max_age of centuries must not push the bound outside what SQLite can bind.
        return min(max(cutoff, model.I64_MIN), model.I64_MAX)

    def _expire_samples(self, db: sqlite3.Connection, c: dict[str, int], cutoff: int) -> None:
        # Both statements seek the (ts, nbytes) index, so when nothing has expired this costs microseconds.
        n, nbytes = db.execute("SELECT count(*), total(nbytes) FROM sample WHERE ts < ?", (cutoff,)).fetchone()
        if n:
            db.execute("DELETE FROM sample WHERE ts < ?", (cutoff,))
            c["dropped_expired"] += n
            c["samples_buffered"] -= n
            c["bytes"] -= int(nbytes)

    # ---------------------------------------------------------------------------------------- uplink side

    def next_batch(self, edge: str, now_us: int) -> tuple[int, bytes] | None:
        """Move the oldest unbatched samples into a new batch with the next seq; None when there are none.

        The batch holds at most batch_max_samples and about batch_max_bytes (always at least one sample).
        It stays in flight, and is returned by ``unacked``, until ``ack`` names its seq.
        """
        with self._write() as (db, c):
            rows = db.execute("SELECT id, key, ts, v, vt, status, nbytes FROM sample ORDER BY id LIMIT ?",
                              (self.config.batch_max_samples,)).fetchall()
            if not rows:
                return None
            size = 0
            for i, row in enumerate(rows):
                size += row[6]
                if size > self.config.batch_max_bytes and i > 0:
                    rows, size = rows[:i], size - row[6]
                    break
            seq = c["next_seq"]
            samples = [Sample(key, ts, model.to_value(v, vt), status) for _, key, ts, v, vt, status, _ in rows]
            payload = encode_data(edge, seq, now_us, samples)
            times = [s.source_ts_us for s in samples]
            nbytes = len(payload) + model.BATCH_OVERHEAD
            db.execute("INSERT INTO batch (seq, n, nbytes, min_ts, max_ts, created_us, payload) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (seq, len(rows), nbytes, min(times), max(times), now_us, payload))
            # The rows taken are exactly those up to the last id, since they were the lowest ids.
            db.execute("DELETE FROM sample WHERE id <= ?", (rows[-1][0],))
            c["next_seq"] = seq + 1
            c["samples_buffered"] -= len(rows)
            c["bytes"] += nbytes - size
        return seq, payload

    def allocate_seq(self) -> int:
        """Take the next seq for a message that is not a data batch (tag metadata), durably.

        Every uplink message of the edge then has its own seq, so an ack can never name two of them.
        """
        with self._write() as (_, c):
            seq = c["next_seq"]
            c["next_seq"] = seq + 1
        return seq

    def mark_sent(self, seq: int, now_us: int) -> None:
        """Record that batch ``seq`` was published at ``now_us``; a second send counts as a resend."""
        with self._write() as (db, c):
            row = db.execute("SELECT sends FROM batch WHERE seq = ?", (seq,)).fetchone()
            if row is None:
                return
            db.execute("UPDATE batch SET last_sent_us = ?, sends = sends + 1 WHERE seq = ?", (now_us, seq))
            if row[0] > 0:
                c["resent_batches"] += 1

    def ack(self, seqs: Iterable[int]) -> int:
        """Delete the batches the platform committed (see ``_ack``); a full disk first frees its reserve."""
        seqs = list(seqs)
        return retry_when_full(lambda: self._ack(seqs), self._disk_full)

    def _ack(self, seqs: Iterable[int]) -> int:
        """Delete the batches the platform committed; returns how many were deleted.

        Unknown seqs (already acked, dropped, or expired) are ignored and counted as unknown_acks: duplicate
        acks are normal when a resent batch is committed twice.
        """
        wanted = list(dict.fromkeys(int(s) for s in seqs))
        if not wanted:
            return 0
        with self._write() as (db, c):
            found = n = nbytes = 0
            for i in range(0, len(wanted), _SQL_IN_CHUNK):
                chunk = wanted[i:i + _SQL_IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                k, sn, sb = db.execute(f"SELECT count(*), total(n), total(nbytes) FROM batch WHERE seq IN ({marks})",
                                       chunk).fetchone()
                if k:
                    db.execute(f"DELETE FROM batch WHERE seq IN ({marks})", chunk)
                found, n, nbytes = found + k, n + int(sn), nbytes + int(sb)
            c["acked_batches"] += found
            c["unknown_acks"] += len(wanted) - found
            c["samples_acked"] += n
            c["bytes"] -= nbytes
        return found

    def unacked(self, older_than_us: int | None = None, limit: int | None = None) -> list[PendingBatch]:
        """In-flight batches in seq order: all of them, or those never sent or last sent before older_than_us."""
        where, args = "", []
        if older_than_us is not None:
            where, args = "WHERE last_sent_us IS NULL OR last_sent_us < ?", [older_than_us]
        with self._lock, translated(self.config.path):
            cur = self._conn().execute(f"SELECT seq, payload, last_sent_us FROM batch {where} ORDER BY seq "
                                       "LIMIT ?", [*args, -1 if limit is None else limit])
            return [PendingBatch(*row) for row in cur.fetchall()]

    # ---------------------------------------------------------------------------------------- observation

    def stats(self, *, now_us: int | None = None) -> BufferStats:
        now = _now_us() if now_us is None else now_us
        with self._lock, translated(self.config.path):
            db = self._conn()
            # One read transaction, so that the numbers agree with each other.
            db.execute("BEGIN")
            try:
                c = dict(db.execute("SELECT name, value FROM counter").fetchall())
                batches, in_flight, batch_min = db.execute(
                    "SELECT count(*), total(n), min(min_ts) FROM batch").fetchone()
                sample_min = db.execute("SELECT min(ts) FROM sample").fetchone()[0]
                pages = db.execute("PRAGMA page_count").fetchone()[0]
                page_size = db.execute("PRAGMA page_size").fetchone()[0]
            finally:
                db.execute("COMMIT")
        oldest = min((t for t in (batch_min, sample_min) if t is not None), default=None)
        return BufferStats(
            samples_in=c["samples_in"], samples_buffered=c["samples_buffered"], samples_in_flight=int(in_flight),
            samples_acked=c["samples_acked"], bytes_buffered=c["bytes"], file_bytes=pages * page_size,
            oldest_age_s=None if oldest is None else (now - oldest) / 1e6,
            batches_in_flight=batches, acked_batches=c["acked_batches"], resent_batches=c["resent_batches"],
            unknown_acks=c["unknown_acks"], rejected=c["rejected"],
            dropped_overflow_oldest=c["dropped_overflow_oldest"],
            dropped_overflow_newest=c["dropped_overflow_newest"], dropped_expired=c["dropped_expired"])
