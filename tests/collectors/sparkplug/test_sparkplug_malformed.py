"""Malformed and hostile payloads end in PayloadError and nothing else; valid ones survive any round trip."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tonghu.collectors.sparkplug.codec import Metric, Payload, PropertyValue, decode_payload, encode_payload
from tonghu.collectors.sparkplug.datatypes import SIGNED_BITS, UNSIGNED_BITS, DataType
from tonghu.common.errors import PayloadError

D = DataType
VALID = encode_payload(Payload(timestamp=1_700_000_000_000, seq=200, metrics=[
    Metric.of("Temperature", D.FLOAT, 21.5, alias=1, timestamp=1_700_000_000_000,
              properties={"Quality": PropertyValue.of(D.INT32, 192),
                          "limits": PropertyValue.of(D.PROPERTYSET, {"hi": PropertyValue.of(D.DOUBLE, 9.5)})}),
    Metric.of("Count", D.INT64, -5, alias=2),
    Metric.of("Name", D.STRING, "press 7", alias=3),
]))


def _decode_everything(data: bytes) -> None:
    """Decode and convert every value and property: the paths a host takes."""
    p = decode_payload(data)
    for m in p.metrics:
        for datatype in (None, m.datatype, D.INT8, D.INT32, D.UINT64, D.DOUBLE, D.STRING, D.BOOLEAN):
            with contextlib.suppress(PayloadError):
                m.value(datatype)
        for prop in m.properties.values():
            prop.value()


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x08", "truncated"),                                  # timestamp key, varint missing
    (b"\x08\xff\xff", "truncated"),                          # varint cut in the middle
    (b"\x08" + b"\xff" * 10 + b"\x01", "bad_varint"),        # 11-byte varint
    (b"\x08" + b"\xff" * 9 + b"\x7f", "bad_varint"),         # 10 bytes but more than 64 bits
    (b"\x12\x05\x0a\x01", "bad_length"),                     # metric claims 5 bytes, 2 follow
    (b"\x12\xff\xff\xff\xff\xff\xff\xff\xff\x7f", "bad_length"),  # a length of 2**63-1
    (b"\x0e\x00", "bad_wire_type"),                          # wire type 6 does not exist
    (b"\x0f\x00", "bad_wire_type"),                          # nor 7
    (b"\x00\x01", "bad_field"),                              # field number 0
    (b"\x0a\x01\x61", "bad_wire_type"),                      # timestamp (varint) sent as bytes
    (b"\x12\x02\x0a\x01", "bad_length"),                     # the inner name overruns its metric
    (b"\x12\x03\x0a\x01\xff", "bad_utf8"),                   # a name that is not UTF-8
    (b"\x12\x03\x65\x00\x00", "truncated"),                  # float_value with 2 of 4 bytes
    (b"\x33\x08\x01", "truncated"),                          # group without its end
    (b"\x33\x3c", "bad_group"),                              # group 6 closed as group 7
    (b"\x34", "bad_group"),                                  # end of group with no start
    (b"\x12\x06\x4a\x04\x0a\x02\x61\x62", "bad_property_set"),  # a PropertySet: one key, no value
    (b"\x22\x02\xc3\x28", "bad_utf8"),                       # uuid with an invalid UTF-8 sequence
])
def test_malformed_bytes_raise_payload_error_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode_payload(data)
    assert err.value.reason == reason


def test_deep_property_nesting_is_refused_not_recursed() -> None:
    inner = b""
    for _ in range(40):  # PropertySet{keys:["k"], values:[PropertyValue{propertyset_value: inner}]}
        value = b"\x4a" + _len(inner) + inner
        inner = b"\x0a\x01k" + b"\x12" + _len(value) + value
    metric = b"\x4a" + _len(inner) + inner
    with pytest.raises(PayloadError) as err:
        decode_payload(b"\x12" + _len(metric) + metric)
    assert err.value.reason == "too_deep"


def test_deeply_nested_groups_are_refused() -> None:
    data = b"\x33" * 5000
    with pytest.raises(PayloadError) as err:
        decode_payload(data)
    assert err.value.reason == "too_deep"


def test_oversize_payload_is_refused_before_decoding() -> None:
    with pytest.raises(PayloadError) as err:
        decode_payload(VALID, max_bytes=len(VALID) - 1)
    assert err.value.reason == "oversize"


def test_huge_declared_lengths_cost_nothing() -> None:
    started = time.perf_counter()
    for _ in range(1000):
        with pytest.raises(PayloadError):
            decode_payload(b"\x2a\xff\xff\xff\xff\xff\xff\xff\xff\x7f")  # body of 2**63-1 bytes
    assert time.perf_counter() - started < 1.0


def test_every_truncation_of_a_valid_payload_fails_cleanly_or_decodes() -> None:
    for n in range(len(VALID)):
        with contextlib.suppress(PayloadError):
            _decode_everything(VALID[:n])


def _len(data: bytes) -> bytes:
    n, out = len(data), bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# ---------------------------------------------------------------------------------------------- properties

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_payload_error(data: bytes) -> None:
    with contextlib.suppress(PayloadError):
        _decode_everything(data)


@FAST
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_mutated_valid_payloads_raise_only_payload_error(edits: list[tuple[int, int]]) -> None:
    data = bytearray(VALID)
    for at, byte in edits:
        data[at] = byte
    with contextlib.suppress(PayloadError):
        _decode_everything(bytes(data))


@FAST
@given(st.binary(max_size=64), st.binary(max_size=64))
def test_garbage_spliced_into_a_metric_raises_only_payload_error(head: bytes, tail: bytes) -> None:
    metric = head + b"\x0a\x01x\x50\x07" + tail
    with contextlib.suppress(PayloadError):
        _decode_everything(b"\x12" + _len(metric) + metric)


INTEGER_TYPES = sorted({**SIGNED_BITS, **UNSIGNED_BITS})


def _integers(datatype: DataType) -> st.SearchStrategy[int]:
    bits = SIGNED_BITS.get(datatype) or UNSIGNED_BITS[datatype]
    if datatype in SIGNED_BITS:
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    return st.integers(0, (1 << bits) - 1)


@FAST
@given(st.data())
def test_integers_of_every_width_round_trip(data: st.DataObject) -> None:
    datatype = data.draw(st.sampled_from(INTEGER_TYPES))
    value = data.draw(_integers(datatype))
    m = decode_payload(encode_payload(Payload(metrics=[Metric.of("i", datatype, value, alias=1)]))).metrics[0]
    assert m.value() == value
    assert Metric(alias=1, kind=m.kind, raw=m.raw).value(datatype) == value


SCALARS = st.one_of(
    st.tuples(st.just(D.DOUBLE), st.floats(allow_nan=False)),
    st.tuples(st.just(D.FLOAT), st.floats(width=32, allow_nan=False)),
    st.tuples(st.just(D.BOOLEAN), st.booleans()),
    st.tuples(st.just(D.STRING), st.text(max_size=40)),
    st.tuples(st.just(D.BYTES), st.binary(max_size=40)),
    st.tuples(st.just(D.DATETIME), st.integers(0, 2**64 - 1)),
)


@FAST
@given(st.lists(st.tuples(st.text(max_size=20), SCALARS, st.none() | st.integers(0, 2**64 - 1),
                          st.booleans()), max_size=6),
       st.none() | st.integers(0, 255), st.none() | st.integers(0, 2**64 - 1))
def test_payloads_round_trip(metrics: list[tuple[str, tuple[DataType, object], int | None, bool]],
                             seq: int | None, timestamp: int | None) -> None:
    built = tuple(Metric.of(name, dt, v, alias=alias, is_historical=hist) for name, (dt, v), alias, hist in metrics)
    payload = Payload(timestamp=timestamp, metrics=built, seq=seq)
    assert decode_payload(encode_payload(payload)) == payload


def test_metric_and_property_counts_are_bounded() -> None:
    # Two bytes per empty metric (or property value) would otherwise become ~200 bytes of objects each:
    # 16 MiB of them took ~1.5 GB and over a minute to decode.
    from tonghu.collectors.sparkplug.codec import MAX_METRICS, MAX_PROPERTIES

    assert len(decode_payload(b"\x12\x00" * MAX_METRICS).metrics) == MAX_METRICS
    with pytest.raises(PayloadError) as err:
        decode_payload(b"\x12\x00" * (MAX_METRICS + 1))
    assert err.value.reason == "too_many_metrics"
    props = b"\x0a\x00\x12\x00" * (MAX_PROPERTIES // 2)  # keys and values of one PropertySet
    metric = b"\x4a" + _len(props) + props
    with pytest.raises(PayloadError) as err:
        decode_payload(b"\x12" + _len(metric) + metric)
    assert err.value.reason == "too_many_properties"
