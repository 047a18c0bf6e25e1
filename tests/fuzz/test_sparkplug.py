"""Sparkplug B payloads, topics and STATE messages from the device broker: every decoder and every conversion a
host applies to what it decoded raises PayloadError and nothing else; no length prefix is believed; valid
payloads survive a round trip bit for bit (NaN included)."""

from __future__ import annotations

import contextlib
import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import fuzz
from tests.fuzz.mutate import mutated_bytes, peak_memory
from tests.fuzz.protobuf import PAYLOAD, broken, emit, varint
from tonghu.collectors.sparkplug import records, topic
from tonghu.collectors.sparkplug.codec import (
    MAX_METRICS,
    Metric,
    Payload,
    PropertyValue,
    decode_payload,
    encode_payload,
)
from tonghu.collectors.sparkplug.datatypes import SIGNED_BITS, UNSIGNED_BITS, DataType
from tonghu.collectors.sparkplug.state import MetricDef
from tonghu.common.errors import PayloadError

D = DataType
DATATYPES: list[int | None] = [None, *DataType, 99]
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)


def convert_everything(p: Payload, sweep: int = 30) -> None:
    """What a host does with a decoded payload: values under every datatype, properties, records."""
    records.bdseq_of(p)
    for m in p.metrics[:sweep]:
        for datatype in DATATYPES:
            with contextlib.suppress(PayloadError):
                m.value(datatype)
        records.status_of(m)
        for prop in m.properties.values():
            prop.value()
        if m.name is not None:
            for dt in records.TAG_TYPES:
                meta = records.tag_meta(MetricDef(m.name, dt, m.alias, "a/l/m/t"), m)
                assert type(meta.unit) is str and type(meta.description) is str


def decode_or_refuse(data: bytes) -> Payload | None:
    try:
        p = decode_payload(data)
    except PayloadError as err:
        assert err.reason and err.detail
        return None
    assert len(p.metrics) <= MAX_METRICS
    with contextlib.suppress(PayloadError):
        convert_everything(p)
    return p


VALID = st.builds(emit, PAYLOAD)


@fuzz()
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    decode_or_refuse(data)


@fuzz()
@given(broken())
def test_planted_faults(data: bytes) -> None:
    decode_or_refuse(data)


@fuzz()
@given(mutated_bytes(VALID, [b"\xff" * 11, b"\x12\xff\xff\xff\xff\x07", b"\x33", b"\x34", b"\x0b\x0c"]))
def test_byte_mutations(data: bytes) -> None:
    decode_or_refuse(data)


@fuzz(0.3)
@given(st.one_of(broken(), mutated_bytes(VALID)))
def test_claimed_lengths_allocate_nothing(data: bytes) -> None:
    peak, err = peak_memory(lambda: decode_payload(data))
    assert err is None or isinstance(err, PayloadError), repr(err)
    # Python objects cost more than their wire bytes (an empty metric is 2 bytes, its Metric ~200): linear
    # in the input is the promise, never in a length that a prefix claims.
    assert peak < 512 * 1024 + 128 * len(data), peak


def _property_values(depth: int) -> st.SearchStrategy[PropertyValue]:
    scalar = st.one_of(
        st.builds(PropertyValue.of, st.sampled_from([D.INT32, D.INT64, D.UINT32]), st.integers(0, 2**31 - 1)),
        st.builds(PropertyValue.of, st.just(D.DOUBLE), st.floats()),
        st.builds(PropertyValue.of, st.just(D.STRING), _TEXT),
        st.builds(PropertyValue.of, st.just(D.BOOLEAN), st.booleans()),
        st.builds(PropertyValue.of, st.just(D.STRING), st.none()))
    if depth == 0:
        return scalar
    inner = st.dictionaries(_TEXT, _property_values(depth - 1), max_size=3)
    return st.one_of(scalar, st.builds(PropertyValue.of, st.just(D.PROPERTYSET), inner),
                     st.builds(PropertyValue.of, st.just(D.PROPERTYSETLIST), st.lists(inner, max_size=2)))


def _integers(dt: DataType) -> st.SearchStrategy[int]:
    bits = SIGNED_BITS.get(dt) or UNSIGNED_BITS.get(dt, 64)
    if dt in SIGNED_BITS:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    else:
        lo, hi = 0, (1 << bits) - 1
    return st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0]))


VALUES = st.one_of(
    *(st.tuples(st.just(dt), _integers(dt)) for dt in (*SIGNED_BITS, *UNSIGNED_BITS, D.DATETIME)),
    st.tuples(st.just(D.DOUBLE), st.floats()),
    st.tuples(st.just(D.FLOAT), st.floats(width=32)),
    st.tuples(st.just(D.BOOLEAN), st.booleans()),
    st.tuples(st.sampled_from([D.STRING, D.TEXT, D.UUID]), st.one_of(_TEXT, st.just(""))),
    st.tuples(st.sampled_from([D.BYTES, D.FILE, D.INT16_ARRAY]), st.binary(max_size=16)),
    st.tuples(st.sampled_from([D.DOUBLE, D.STRING, D.INT64]), st.none()),
)
METRICS = st.builds(
    lambda name, v, alias, ts, hist, trans, props: Metric.of(name, v[0], v[1], alias=alias, timestamp=ts,
                                                             is_historical=hist, is_transient=trans, properties=props),
    st.none() | _TEXT, VALUES, st.none() | st.integers(0, 2**64 - 1), st.none() | st.integers(0, 2**64 - 1),
    st.booleans(), st.booleans(), st.dictionaries(_TEXT, _property_values(2), max_size=3))
PAYLOADS = st.builds(Payload, st.none() | st.integers(0, 2**64 - 1), st.lists(METRICS, max_size=5),
                     st.none() | st.integers(0, 2**64 - 1), st.none() | _TEXT, st.none() | st.binary(max_size=8))


def _has_nan(x: Any) -> bool:
    if isinstance(x, float):
        return math.isnan(x)
    if isinstance(x, Metric):
        return _has_nan(x.raw) or any(_has_nan(p) for p in x.properties.values())
    if isinstance(x, PropertyValue):
        return _has_nan(x.raw)
    if isinstance(x, dict):
        return any(_has_nan(v) for v in x.values())
    if isinstance(x, tuple):
        return any(_has_nan(v) for v in x)
    return False


@fuzz()
@given(PAYLOADS)
def test_round_trip(p: Payload) -> None:
    data = encode_payload(p)
    back = decode_payload(data)
    assert encode_payload(back) == data  # bit for bit, so NaN payloads count too
    if not any(_has_nan(m) for m in p.metrics):
        assert back == p
    for m, original in zip(back.metrics, p.metrics, strict=True):
        assert _same(m.value(), original.value())
        for name, prop in original.properties.items():
            assert _same(m.properties[name].value(), prop.value())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k].value(), b[k].value()) for k in a)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@fuzz()
@given(st.one_of(_TEXT, st.text(max_size=60), st.builds(
    lambda parts: "/".join(parts),
    st.lists(st.one_of(st.sampled_from(["spBv1.0", "STATE", "NBIRTH", "DDATA", "NCMD", "g", "n", "d", "", "+", "#"]),
                       _TEXT), max_size=6))))
def test_topics(name: str) -> None:
    try:
        t = topic.parse_topic(name)
    except PayloadError as err:
        assert err.reason == "bad_topic"
        return
    assert str(t) == name
    if t.type is not topic.MessageType.STATE:
        assert topic.node_topic(t.group, t.type, t.node, t.device) == name


STATE_JSON = st.one_of(
    st.binary(max_size=60), st.sampled_from([b"[" * 100_000, b'{"online":' * 5000, b'{"online": true, "timestamp": '
                                              + b"9" * 5000 + b"}", b'{"online": true, "timestamp": 1e400}',
                                              b'{"online": NaN}', b"\xef\xbb\xbf{}", b'"\\ud800"']),
    st.builds(lambda online, ts, extra: topic.encode_state(online, 0)[:-1] + extra + b"}", st.booleans(),
              st.integers(), st.binary(max_size=20)))


@fuzz()
@given(STATE_JSON)
def test_state_payloads(payload: bytes) -> None:
    with contextlib.suppress(PayloadError):
        online, ts = topic.decode_state(payload)
        assert type(online) is bool and (ts is None or (type(ts) is int and ts >= 0))


@fuzz()
@given(st.booleans(), st.integers(0, 2**64))
def test_state_round_trip(online: bool, ts: int) -> None:
    assert topic.decode_state(topic.encode_state(online, ts)) == (online, ts)


@pytest.mark.parametrize("length", [2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1])
def test_a_length_claiming_gigabytes_costs_nothing(length: int) -> None:
    data = b"\x12" + varint(length) + b"\x0a\x01x"
    peak, err = peak_memory(lambda: decode_payload(data))
    assert isinstance(err, PayloadError) and err.reason in ("bad_length", "bad_varint")
    assert peak < 64 * 1024
