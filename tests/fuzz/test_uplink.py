"""Uplink payloads as the ingester and the edge receive them: whatever arrives, ``decode_data``, ``decode_meta``
and ``decode_ack`` return a well-formed result or raise PayloadError with a known reason, ``peek_seq`` never
raises, and nothing allocates what a length prefix claims. Valid payloads survive a round trip."""

from __future__ import annotations

import math
import struct
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.batches import (
    ANY_VALID,
    HOSTILE_CHUNKS,
    INT64_MAX,
    TAG_METAS,
    UINT64_MAX,
    Batch,
    batches,
    spliced,
    tree_mutations,
)
from tests.fuzz.conftest import fuzz
from tests.fuzz.mutate import mutated_bytes, peak_memory
from tonghu.common.errors import PayloadError
from tonghu.common.sample import Sample
from tonghu.common.uplink import (
    DEFAULT_LIMITS,
    EVENT_KINDS,
    DataBatch,
    Limits,
    decode_ack,
    decode_data,
    decode_meta,
    encode_ack,
    encode_data,
    encode_meta,
    peek_seq,
)

# The reason codes the module raises; a new one must be added here on purpose (they label metrics).
REASONS = {"oversize", "not_decodable", "bad_type", "bad_schema_version", "missing_field", "bad_value",
           "too_many_keys", "bad_key", "bad_columns", "too_many_samples", "too_many_events", "bad_key_index"}


def check_batch(batch: DataBatch, limits: Limits = DEFAULT_LIMITS) -> None:
    """What the ingester relies on after a successful decode."""
    assert type(batch.edge) is str and type(batch.seq) is int and type(batch.created_us) is int
    assert 0 <= batch.seq <= INT64_MAX  # stored as bigint
    assert len(batch.keys) <= limits.max_keys
    for key in batch.keys:
        assert type(key) is str and 0 < len(key) <= limits.max_key_len and "\x00" not in key
    for cols in (batch.num, batch.txt):
        assert len(cols.k) == len(cols.t) == len(cols.v) == len(cols.q)
    assert batch.sample_count <= limits.max_samples
    assert len(batch.events) <= limits.max_events
    for e in batch.events:
        assert 0 <= e.k < len(batch.keys) and type(e.t) is int and e.kind in EVENT_KINDS
        assert all(type(s) is str and len(s) <= limits.max_text_len for s in (e.value, e.code, e.text))
        assert type(e.attrs) is dict


def decode_everything(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """Every decoder on the same bytes: only PayloadError with a known reason may come out."""
    for decode in (decode_data, decode_meta, decode_ack):
        try:
            result = decode(payload, limits) if decode is not decode_ack else decode(payload)
        except PayloadError as err:
            assert err.reason in REASONS, err.reason
            assert err.detail
            continue
        if isinstance(result, DataBatch):
            check_batch(result, limits)
        elif isinstance(result, tuple):
            assert all(type(x) is int for x in (*result[0], *result[1]))
        else:
            assert all(type(t.key) is str and "\x00" not in t.key for t in result.tags)
    seen = peek_seq(payload)
    assert seen is None or (type(seen[0]) is str and type(seen[1]) is int and 0 <= seen[1] <= INT64_MAX)


@fuzz()
@given(st.binary(max_size=500))
def test_random_bytes(payload: bytes) -> None:
    decode_everything(payload)


@fuzz()
@given(mutated_bytes(ANY_VALID, HOSTILE_CHUNKS))
def test_byte_mutations_of_valid_payloads(payload: bytes) -> None:
    decode_everything(payload)


@fuzz()
@given(tree_mutations())
def test_field_mutations_of_valid_payloads(payload: bytes) -> None:
    decode_everything(payload)


@fuzz()
@given(spliced())
def test_hostile_values_spliced_into_valid_payloads(payload: bytes) -> None:
    decode_everything(payload)


@fuzz(0.3)
@given(st.one_of(spliced(), mutated_bytes(ANY_VALID, HOSTILE_CHUNKS)))
def test_claimed_lengths_allocate_nothing(payload: bytes) -> None:
    # A few hundred bytes that claim gigabytes must cost what the bytes are worth, not what they claim.
    for decode in (decode_data, decode_meta, decode_ack, peek_seq):
        peak, err = peak_memory(lambda decode=decode: decode(payload))
        assert err is None or isinstance(err, PayloadError), repr(err)
        assert peak < 256 * 1024 + 100 * len(payload), (decode.__name__, peak)


@fuzz()
@given(batches(), st.builds(Limits, st.integers(0, 20_000), st.integers(0, 30), st.integers(0, 6),
                            st.integers(1, 300), st.integers(0, 5000), st.integers(0, 4), st.integers(0, 4)))
def test_limits_are_enforced_exactly(b: Batch, limits: Limits) -> None:
    payload = encode_data(*b)
    _, _, _, samples, events = b
    keys = {s.key for s in samples} | {e[0] for e in events}
    over = {
        "oversize": len(payload) > limits.max_payload_bytes,
        "too_many_keys": len(keys) > limits.max_keys,
        "bad_key": any(len(k) > limits.max_key_len for k in keys),
        "too_many_samples": len(samples) > limits.max_samples,
        "too_many_events": len(events) > limits.max_events,
        "bad_type": any(len(s) > limits.max_text_len for e in events for s in e[3:]),
    }
    try:
        check_batch(decode_data(payload, limits), limits)
    except PayloadError as err:
        assert over.get(err.reason), (err.reason, over)
    else:
        assert not any(over.values()), over


def _canon(s: Sample) -> tuple[Any, ...]:
    v = s.value
    # Bit patterns, so that NaN equals NaN and -0.0 differs from 0.0: both must survive as they are.
    return s.key, s.source_ts_us, type(v).__name__, struct.pack("<d", v) if type(v) is float else v, s.status


@fuzz()
@given(batches())
def test_data_round_trip(b: Batch) -> None:
    edge, seq, created, samples, events = b
    batch = decode_data(encode_data(*b))
    check_batch(batch)
    assert (batch.edge, batch.seq, batch.created_us) == (edge, seq, created)
    got = [Sample(batch.keys[k], t, v, q) for cols in (batch.num, batch.txt)
           for k, t, v, q in zip(cols.k, cols.t, cols.v, cols.q, strict=True)]
    want = [s for s in samples if not isinstance(s.value, str)] + [s for s in samples if isinstance(s.value, str)]
    assert [_canon(s) for s in got] == [_canon(s) for s in want]
    assert [(batch.keys[e.k], e.t, e.kind, e.value, e.code, e.text) for e in batch.events] == events
    assert len(set(batch.keys)) == len(batch.keys)


@fuzz()
@given(st.lists(TAG_METAS, max_size=6), st.integers(0, INT64_MAX))
def test_meta_round_trip(tags: list[Any], seq: int) -> None:
    meta = decode_meta(encode_meta("gw-01", seq, -5, tags))
    assert (meta.edge, meta.seq, meta.created_us) == ("gw-01", seq, -5)
    assert meta.tags == tags


@fuzz()
@given(st.lists(st.integers(0, UINT64_MAX), max_size=20), st.lists(st.integers(0, UINT64_MAX), max_size=20))
def test_ack_round_trip(ok: list[int], dead: list[int]) -> None:
    assert decode_ack(encode_ack(ok, dead)) == (sorted(ok), sorted(dead))


def test_nan_keeps_its_bits() -> None:
    quiet = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]
    batch = decode_data(encode_data("e", 1, 1, [Sample("a/b/c/d", 1, quiet, 0x80000000)]))
    assert math.isnan(batch.num.v[0]) and struct.pack("<d", batch.num.v[0]) == struct.pack("<d", quiet)
