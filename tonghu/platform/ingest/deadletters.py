"""Dead letters: what failed validation, kept byte for byte with a reason."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgpack
import psycopg


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    reason: str
    detail: str
    payload: bytes
    edge_id: int | None = None
    seq: int | None = None
    sample_count: int = 0


def for_samples(topic: str, reason: str, detail: str, items: list[tuple[str, int, Any, int]],
                edge_id: int, seq: int) -> DeadLetter:
    """The rejected samples of one batch for one reason, as a MessagePack list of [key, µs, value, status]."""
    payload = msgpack.packb([list(i) for i in items], use_bin_type=True)
    return DeadLetter(topic, reason, detail, payload, edge_id, seq, len(items))


def insert(conn: psycopg.Connection, letters: list[DeadLetter]) -> int:
    if not letters:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO dead_letters (topic, reason, detail, edge_id, seq, sample_count, payload, payload_sha256) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (topic, payload_sha256, reason) DO NOTHING",
            [(d.topic, d.reason, d.detail[:2000], d.edge_id, d.seq, d.sample_count, d.payload,
              hashlib.sha256(d.payload).digest()) for d in letters])
    return len(letters)
