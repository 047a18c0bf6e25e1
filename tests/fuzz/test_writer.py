"""The ingester's Writer on bad input, against the real database and without a broker: messages go straight
into ``Writer.write`` as the service would hand them over.

Whatever the payload, ``write`` returns (a TransientError would make the service retry the same group for
ever), the connection stays usable, every batch whose seq can be read is acknowledged as ok or dead (an edge
resends an unacknowledged batch for ever), and nothing reaches the database that it refuses: a
``db_rejected`` dead letter means validation let through something PostgreSQL cannot store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgpack
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Tenant, make_tenant, unique
from tests.fuzz.batches import (
    HOSTILE_CHUNKS,
    MAP_KEYS,
    MSGPACK_VALUES,
    NUMBERS,
    PACKED_SENTINEL,
    SENTINEL,
    STATUSES,
    TAG_METAS,
    TEXT,
    TEXT_VALUES,
    pack,
)
from tests.fuzz.conftest import fuzz
from tests.fuzz.mutate import mutated_bytes, mutated_tree, slots
from tonghu.common import topics
from tonghu.common.errors import PayloadError
from tonghu.common.sample import Sample
from tonghu.common.uplink import DEFAULT_LIMITS, TagMeta, decode_data, decode_meta, encode_data, encode_meta, peek_seq
from tonghu.platform.ingest.writer import Message, Writer

TYPES = {"float": 1.5, "int": 7, "bool": True, "string": "s", "state": "running"}
KEYS = [f"a1/l1/m1/{t}" for t in TYPES] + ["a1/l1/m1/unknown", "x"]


@dataclass
class Rig:
    writer: Writer
    tenant: Tenant
    prefix: str
    now_us: int

    def topic(self, kind: topics.Kind) -> str:
        return topics.topic(self.prefix, self.tenant.company, self.tenant.site, self.tenant.edge, kind)


@pytest.fixture(scope="module")
def rig(database_url: str) -> Iterator[Rig]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        tenant = make_tenant(conn)
    prefix = unique("fuzz-")
    writer = Writer(database_url, prefix, DEFAULT_LIMITS, timedelta(days=35), timedelta(minutes=5))
    writer.connect()
    r = Rig(writer, tenant, prefix, time.time_ns() // 1000)
    meta = encode_meta(tenant.edge, 1, r.now_us, [TagMeta(k, t) for k, t in zip(KEYS, TYPES, strict=False)])
    assert r.writer.write([Message(r.topic(topics.Kind.META), meta)], r.now_us).acks
    yield r
    writer.close()


@st.composite
def data_payloads(draw: st.DrawFn, edge: str, now_us: int) -> bytes:
    """Batches of the rig's edge: mostly registered keys, times around now, any value and status."""
    times = st.one_of(st.integers(now_us - 40 * 86_400_000_000, now_us + 600_000_000), st.just(now_us))
    samples = draw(st.lists(st.tuples(st.sampled_from(KEYS), times, st.one_of(NUMBERS, TEXT_VALUES), STATUSES),
                            max_size=10))
    events = draw(st.lists(st.tuples(st.sampled_from(KEYS), times, st.sampled_from(["state", "alarm", "order"]),
                                     TEXT, TEXT, TEXT), max_size=3))
    return encode_data(edge, draw(st.integers(0, 2**63 - 1)), now_us, [Sample(*s) for s in samples], events)


@st.composite
def messages(draw: st.DrawFn, r: Rig) -> Message:
    edge = r.tenant.edge
    kind = draw(st.sampled_from([topics.Kind.DATA, topics.Kind.DATA, topics.Kind.META, topics.Kind.STATUS]))
    valid = {
        topics.Kind.DATA: data_payloads(edge, r.now_us),
        topics.Kind.META: st.builds(lambda tags, seq: encode_meta(edge, seq, 0, tags), st.lists(
            st.one_of(TAG_METAS, st.builds(TagMeta, st.sampled_from(KEYS), st.sampled_from(list(TYPES)), TEXT)),
            max_size=4), st.integers(0, 2**63 - 1)),
        topics.Kind.STATUS: st.builds(lambda state, ts, extra: msgpack.packb({"v": 1, "state": state, "ts": ts,
                                                                             **extra}),
                                      st.sampled_from(["online", "offline", "x"]), st.integers(-(2**63), 2**64 - 1),
                                      st.dictionaries(TEXT, MSGPACK_VALUES, max_size=3)),
    }[kind]
    payload = draw(valid)
    how = draw(st.sampled_from(["valid", "tree", "tree", "splice", "bytes", "random"]))
    if how == "tree":
        payload = pack(draw(mutated_tree(msgpack.unpackb(payload), MSGPACK_VALUES, MAP_KEYS))) or b"\xc1"
    elif how == "splice":
        body = msgpack.unpackb(payload)
        container, key = draw(st.sampled_from(slots(body)))
        container[key] = SENTINEL
        payload = msgpack.packb(body).replace(PACKED_SENTINEL, draw(st.sampled_from(HOSTILE_CHUNKS)), 1)
    elif how == "bytes":
        payload = draw(mutated_bytes(payload, HOSTILE_CHUNKS))
    elif how == "random":
        payload = draw(st.binary(max_size=200))
    topic = r.topic(kind)
    if draw(st.integers(0, 9)) == 0:  # someone else's or a malformed topic (MQTT topics never hold NUL)
        topic = draw(st.one_of(
            st.just(topics.topic(r.prefix, r.tenant.company, r.tenant.site, "nobody", kind)),
            st.text(st.characters(exclude_characters="\x00"), max_size=40).map(lambda t: f"{r.prefix}/v1/{t}")))
    return Message(topic, payload)


def _readable_seq(m: Message, kind: topics.Kind, edge: str) -> tuple[int, bool] | None:
    """The seq the ingester must acknowledge for this message, and whether as ok."""
    try:
        batch: Any = decode_data(m.payload) if kind is topics.Kind.DATA else decode_meta(m.payload)
    except PayloadError:
        peek = peek_seq(m.payload)
        return (peek[1], False) if peek and peek[0] == edge else None
    return batch.seq, batch.edge == edge


@fuzz(0.5)
@given(st.data())
def test_any_group_is_stored_or_dead_lettered_and_acknowledged(rig: Rig, data: st.DataObject) -> None:
    group = data.draw(st.lists(messages(rig), min_size=1, max_size=4))
    result = rig.writer.write(group, rig.now_us)
    assert rig.writer.connected
    assert not [(d.reason, d.detail) for d in result.dead_letters if d.reason == "db_rejected"]
    t = rig.tenant
    ok, dead = result.acks.get((t.company, t.site, t.edge), ([], []))
    for m in group:
        kind = {rig.topic(k): k for k in (topics.Kind.DATA, topics.Kind.META)}.get(m.topic)
        expected = _readable_seq(m, kind, t.edge) if kind else None
        if expected is not None:
            seq, is_ok = expected
            assert seq in (ok if is_ok else dead), (seq, is_ok, ok, dead)


def test_the_rig_stores_a_valid_batch(rig: Rig) -> None:
    # Guards the property above against passing vacuously: registered keys and in-window samples are stored.
    t = rig.tenant
    samples = [Sample(KEYS[0], rig.now_us - 1000, 1.5), Sample(KEYS[1], rig.now_us - 1000, 7),
               Sample(KEYS[3], rig.now_us - 1000, "s")]
    payload = encode_data(t.edge, 2**63 - 1, rig.now_us, samples)
    result = rig.writer.write([Message(rig.topic(topics.Kind.DATA), payload)], rig.now_us)
    assert result.acks[(t.company, t.site, t.edge)] == ([2**63 - 1], [])
    assert result.samples_staged == 3 and not result.dead_letters
