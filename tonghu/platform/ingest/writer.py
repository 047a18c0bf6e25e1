"""One transaction per group of MQTT messages: validate, stage with binary COPY, insert without duplicates.

The service acknowledges a group (to the edges and to the broker) only after ``write`` returns, i.e. after
COMMIT; anything that fails before that is redelivered or resent and deduplicated by the (tag, time) keys.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgpack
import numpy as np
import psycopg
from psycopg import errors as pgerr
from psycopg.types.json import Jsonb

from tonghu.common import topics
from tonghu.common.errors import PayloadError, TransientError
from tonghu.common.uplink import DataBatch, Limits, MetaBatch, decode_data, decode_meta, peek_seq
from tonghu.platform import registry
from tonghu.platform.ingest import deadletters, store, validate
from tonghu.platform.ingest.deadletters import DeadLetter

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EdgeKey = tuple[str, str, str]  # company, site, edge


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    mid: int = 0
    generation: int = 0


@dataclass(slots=True)
class GroupResult:
    """What one committed group did; ``acks`` maps an edge to (committed seqs, dead-lettered seqs)."""

    acks: dict[EdgeKey, tuple[list[int], list[int]]] = field(default_factory=dict)
    samples_staged: int = 0
    samples_inserted: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    batches: list[tuple[int, int, datetime | None, int, int]] = field(default_factory=list)
    batches_resent: int = 0
    oldest_created_us: int | None = None

    def ack(self, edge: topics.EdgeTopic, seq: int, ok: bool) -> None:
        entry = self.acks.setdefault((edge.company, edge.site, edge.edge), ([], []))
        entry[0 if ok else 1].append(seq)

    def merge(self, other: GroupResult) -> None:
        for key, (ok, dead) in other.acks.items():
            entry = self.acks.setdefault(key, ([], []))
            entry[0].extend(ok)
            entry[1].extend(dead)
        self.samples_staged += other.samples_staged
        self.samples_inserted += other.samples_inserted
        self.dead_letters.extend(other.dead_letters)
        self.batches.extend(other.batches)
        self.batches_resent += other.batches_resent
        if other.oldest_created_us is not None:
            self.oldest_created_us = min(self.oldest_created_us or other.oldest_created_us,
                                         other.oldest_created_us)


def _when(us: int) -> datetime | None:
    try:
        return EPOCH + timedelta(microseconds=us)
    except OverflowError:
        return None


@dataclass(slots=True)
class _Pending:
    result: GroupResult = field(default_factory=GroupResult)
    num: list[validate.Prepared] = field(default_factory=list)
    new_tags: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)
    statuses: list[tuple[int, str, datetime, Jsonb]] = field(default_factory=list)


class Writer:
    """Owns one database connection and the registry caches; not thread-safe (one writer thread)."""

    def __init__(self, dsn: str, prefix: str, limits: Limits, max_past: timedelta, max_future: timedelta) -> None:
        self._dsn = dsn
        self._prefix = prefix
        self._limits = limits
        self._max_past_us = int(max_past.total_seconds() * 1e6)
        self._max_future_us = int(max_future.total_seconds() * 1e6)
        self._conn: psycopg.Connection | None = None
        self._edges: dict[EdgeKey, registry.EdgeIdentity] = {}
        self._tags: dict[int, dict[str, tuple[int, str]]] = {}

    def connect(self) -> None:
        try:
            conn = psycopg.connect(self._dsn, application_name="tonghu-ingest", connect_timeout=10)
            store.prepare(conn)
            conn.commit()
        except psycopg.OperationalError as err:
            raise TransientError(f"cannot connect to the database: {err}") from err
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def write(self, messages: list[Message], now_us: int) -> GroupResult:
        """Store a group in one transaction. Raises TransientError when the group should be retried as is."""
        if self._conn is None or self._conn.closed:
            raise TransientError("not connected to the database")
        try:
            return self._transaction(messages, now_us)
        except (psycopg.OperationalError, psycopg.InterfaceError, pgerr.DeadlockDetected,
                pgerr.SerializationFailure) as err:
            if not isinstance(err, pgerr.DeadlockDetected | pgerr.SerializationFailure):
                self.close()
            raise TransientError(f"database: {err}") from err
        except psycopg.DatabaseError as err:
            # Something in the group the database refuses; isolate it so the rest still lands.
            self._conn.rollback()
            if len(messages) > 1:
                total = GroupResult()
                for m in messages:
                    total.merge(self.write([m], now_us))
                return total
            log.warning("database refused a message on %s: %s", messages[0].topic, err)
            letter = DeadLetter(messages[0].topic, "db_rejected", str(err), messages[0].payload)
            with self._conn.transaction():
                deadletters.insert(self._conn, [letter])
            return GroupResult(dead_letters=[letter])

    # ------------------------------------------------------------------------------------ transaction

    def _transaction(self, messages: list[Message], now_us: int) -> GroupResult:
        assert self._conn is not None
        pending = _Pending()
        window = validate.Window(now_us - self._max_past_us, now_us + self._max_future_us)
        with self._conn.transaction():
            for m in messages:
                self._one(m, pending, window)
            self._flush(pending)
        for (site_id, key), tag in pending.new_tags.items():
            self._tags.setdefault(site_id, {})[key] = tag
        return pending.result

    def _dead(self, p: _Pending, letter: DeadLetter) -> None:
        p.result.dead_letters.append(letter)

    def _one(self, m: Message, p: _Pending, window: validate.Window) -> None:
        try:
            et = topics.parse(self._prefix, m.topic)
        except PayloadError as err:
            self._dead(p, DeadLetter(m.topic, err.reason, err.detail, m.payload))
            return
        ident = self._identity(et)
        if ident is None or not ident.enabled:
            why = "edge is disabled" if ident else "no such edge registered for this company and site"
            self._dead(p, DeadLetter(m.topic, "unregistered_edge", why, m.payload))
            return
        if et.kind is topics.Kind.STATUS:
            self._status(m, ident, p)
            return
        try:
            batch: DataBatch | MetaBatch = (decode_data(m.payload, self._limits) if et.kind is topics.Kind.DATA
                                            else decode_meta(m.payload, self._limits))
        except PayloadError as err:
            peek = peek_seq(m.payload)
            seq = peek[1] if peek and peek[0] == et.edge else None
            self._dead(p, DeadLetter(m.topic, err.reason, err.detail, m.payload, ident.edge_id, seq))
            if seq is not None:
                p.result.ack(et, seq, ok=False)
            return
        if batch.edge != et.edge:
            self._dead(p, DeadLetter(m.topic, "identity_mismatch", f"payload names edge {batch.edge!r}, "
                                     f"topic names {et.edge!r}", m.payload, ident.edge_id, batch.seq))
            p.result.ack(et, batch.seq, ok=False)
            return
        if isinstance(batch, MetaBatch):
            self._meta(m, batch, ident, p)
        else:
            self._data(m, batch, ident, p, window)
        p.result.ack(et, batch.seq, ok=True)

    def _identity(self, et: topics.EdgeTopic) -> registry.EdgeIdentity | None:
        key = (et.company, et.site, et.edge)
        ident = self._edges.get(key)
        if ident is None:
            assert self._conn is not None
            ident = registry.edge_identity(self._conn, *key)
            if ident is not None and ident.enabled:
                self._edges[key] = ident
        return ident

    def forget_edge(self, company: str, site: str, edge: str) -> None:
        """Drop a cached identity (after the edge is disabled) so the next message re-checks the registry."""
        self._edges.pop((company, site, edge), None)

    def _resolve(self, site_id: int, keys: list[str], p: _Pending) -> dict[str, tuple[int, str]]:
        cache = self._tags.setdefault(site_id, {})
        out: dict[str, tuple[int, str]] = {}
        missing = []
        for key in keys:
            hit = p.new_tags.get((site_id, key)) or cache.get(key)
            if hit is None:
                missing.append(key)
            else:
                out[key] = hit
        if missing:
            assert self._conn is not None
            found = registry.lookup_tags(self._conn, site_id, missing)
            cache.update(found)
            out.update(found)
        return out

    def _data(self, m: Message, batch: DataBatch, ident: registry.EdgeIdentity, p: _Pending,
              window: validate.Window) -> None:
        tags = self._resolve(ident.site_id, batch.keys, p)
        prep = validate.prepare(batch, tags, window, self._limits)
        p.num.append(prep)
        for reason, items in prep.rejects.by_reason.items():
            self._dead(p, deadletters.for_samples(m.topic, reason, prep.rejects.details[reason], items,
                                                  ident.edge_id, batch.seq))
        p.result.batches.append((ident.edge_id, batch.seq, _when(batch.created_us), prep.sample_count,
                                 prep.rejects.count))
        r = p.result
        r.oldest_created_us = batch.created_us if r.oldest_created_us is None else min(r.oldest_created_us,
                                                                                          batch.created_us)

    def _meta(self, m: Message, meta: MetaBatch, ident: registry.EdgeIdentity, p: _Pending) -> None:
        assert self._conn is not None
        safe = [t for t in meta.tags if validate.json_safe(t.attrs)]
        done, refused = registry.upsert_tags(self._conn, ident.site_id, safe)
        refused += [(t, "attrs must be JSON values") for t in meta.tags if not validate.json_safe(t.attrs)]
        p.new_tags.update({(ident.site_id, k): v for k, v in done.items()})
        if refused:
            detail = "; ".join(f"{t.key[:80]}: {why}" for t, why in refused[:20])
            payload = msgpack.packb([t.key for t, _ in refused], use_bin_type=True)
            self._dead(p, DeadLetter(m.topic, "bad_meta", detail, payload, ident.edge_id, meta.seq))

    def _status(self, m: Message, ident: registry.EdgeIdentity, p: _Pending) -> None:
        try:
            body = msgpack.unpackb(m.payload, raw=False, max_str_len=1024, max_array_len=256, max_map_len=256)
            state, ts = body["state"], body["ts"]
            when = _when(ts) if type(ts) is int else None
            if state not in ("online", "offline") or when is None or not validate.json_safe(body):
                raise ValueError("needs state online/offline and ts in µs")
        except Exception as err:  # any malformed status is the sender's problem, never ours
            self._dead(p, DeadLetter(m.topic, "bad_status_message", str(err)[:500], m.payload, ident.edge_id))
            return
        p.statuses.append((ident.edge_id, state, when, Jsonb(body)))

    # ------------------------------------------------------------------------------------ flush

    def _flush(self, p: _Pending) -> None:
        assert self._conn is not None
        r = p.result
        with self._conn.cursor() as cur:
            preps = [x for x in p.num if len(x.num_tag)]
            if preps:
                r.samples_inserted += store.numeric(cur, *(np.concatenate([getattr(x, f) for x in preps])
                                                           for f in ("num_tag", "num_ts", "num_value", "num_status")))
                r.samples_staged += sum(len(x.num_tag) for x in preps)
            txt = [row for x in p.num for row in x.txt_rows]
            r.samples_inserted += store.text(cur, txt)
            r.samples_staged += len(txt)
            store.events(cur, [row for x in p.num for row in x.event_rows])
            if r.batches:
                cur.execute(
                    "INSERT INTO ingest_batches (edge_id, seq, created_at, samples, rejected) "
                    "SELECT * FROM unnest(%s::int[], %s::bigint[], %s::timestamptz[], %s::int[], %s::int[]) "
                    "ON CONFLICT (edge_id, seq) DO NOTHING",
                    [list(col) for col in zip(*r.batches, strict=True)])
                r.batches_resent += len(r.batches) - cur.rowcount
            for edge_id, state, when, detail in p.statuses:
                cur.execute("UPDATE edges SET status = %s, status_at = %s, status_detail = %s "
                            "WHERE id = %s AND (status_at IS NULL OR status_at <= %s)",
                            (state, when, detail, edge_id, when))
        deadletters.insert(self._conn, r.dead_letters)
