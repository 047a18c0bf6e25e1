from __future__ import annotations

import math
import struct

import pytest

from tonghu.collectors.sparkplug.codec import (
    Metric,
    Payload,
    PropertyValue,
    decode_payload,
    encode_payload,
    encode_rebirth,
)
from tonghu.collectors.sparkplug.datatypes import DataType, Kind
from tonghu.common.errors import PayloadError

D = DataType

ROUND_TRIPS = [
    (D.INT8, [-128, -2, -1, 0, 1, 127]),
    (D.INT16, [-32768, -1, 0, 32767]),
    (D.INT32, [-(2**31), -123456789, -1, 0, 2**31 - 1]),
    (D.INT64, [-(2**63), -1, 0, 2**63 - 1]),
    (D.UINT8, [0, 255]),
    (D.UINT16, [0, 65535]),
    (D.UINT32, [0, 2**32 - 1]),
    (D.UINT64, [0, 2**64 - 1]),
    (D.FLOAT, [0.0, -0.0, 1.5, -3.25, 3.4028234663852886e38, 2.0**-149, math.inf, -math.inf, math.nan]),
    (D.DOUBLE, [0.0, -0.0, 0.1, -1e308, 5e-324, math.inf, -math.inf, math.nan]),
    (D.BOOLEAN, [False, True]),
    (D.STRING, ["", "Supply Voltage", "Motor/温度 °C"]),
    (D.DATETIME, [0, 1486144502122]),
    (D.TEXT, ["line one\nline two"]),
    (D.UUID, ["0b9a1c6e-4a3f-4d8e-9a51-2f1c7d1c2a10"]),
    (D.BYTES, [b"", b"\x00\xff\x10"]),
    (D.FILE, [b"%PDF-1.7"]),
    (D.INT32_ARRAY, [struct.pack("<2i", 123456789, -987654321)]),
]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize(("datatype", "values"), ROUND_TRIPS, ids=[d.name for d, _ in ROUND_TRIPS])
def test_every_datatype_round_trips(datatype: DataType, values: list[object]) -> None:
    metrics = [Metric.of(f"m{i}", datatype, v, alias=i, timestamp=1_700_000_000_000 + i)
               for i, v in enumerate(values)]
    decoded = decode_payload(encode_payload(Payload(timestamp=1_700_000_000_000, metrics=metrics, seq=9)))
    assert (decoded.timestamp, decoded.seq, decoded.unsupported) == (1_700_000_000_000, 9, 0)
    for i, (m, v) in enumerate(zip(decoded.metrics, values, strict=True)):
        assert (m.name, m.alias, m.timestamp, m.datatype) == (f"m{i}", i, 1_700_000_000_000 + i, datatype)
        assert _same(m.value(), v), (datatype.name, v, m.value())
        # DATA messages omit the datatype (§6.4.6): the caller supplies the birth's.
        stripped = Metric(alias=m.alias, kind=m.kind, raw=m.raw)
        assert _same(stripped.value(datatype), v)


def test_floats_are_rounded_to_float32_once_at_encoding() -> None:
    m = Metric.of("x", D.FLOAT, 0.1)
    assert m.raw == struct.unpack("<f", struct.pack("<f", 0.1))[0]
    assert decode_payload(encode_payload(Payload(metrics=[m]))).metrics[0].value() == m.raw


def test_null_flags_and_optional_fields_round_trip() -> None:
    metrics = (Metric.of("n", D.INT32, None), Metric.of("h", D.DOUBLE, 2.0, is_historical=True),
               Metric.of("t", D.STRING, "x", is_transient=True), Metric(alias=3))
    p = Payload(timestamp=5, metrics=metrics, seq=0, uuid="schema-1", body=b"\x01\x02")
    decoded = decode_payload(encode_payload(p))
    assert decoded == p
    assert decoded.metrics[0].is_null and decoded.metrics[0].value() is None
    assert decoded.metrics[3].value(D.INT32) is None  # no value member at all reads as null


def test_properties_round_trip_including_nested_sets() -> None:
    nested = {"low": PropertyValue.of(D.DOUBLE, -1.5), "note": PropertyValue.of(D.STRING, None)}
    props = {"Quality": PropertyValue.of(D.INT32, 192), "engUnit": PropertyValue.of(D.STRING, "°C"),
             "limits": PropertyValue.of(D.PROPERTYSET, nested),
             "history": PropertyValue.of(D.PROPERTYSETLIST, [nested, {}]),
             "offset": PropertyValue.of(D.INT16, -7)}
    m = decode_payload(encode_payload(Payload(metrics=[Metric.of("T", D.FLOAT, 1.0, properties=props)])))
    got = m.metrics[0].properties
    assert got == props
    assert got["Quality"].value() == 192 and got["offset"].value() == -7
    assert got["limits"].value()["low"].value() == -1.5 and got["limits"].value()["note"].is_null
    assert got["history"].value()[0] == nested


def test_hand_checked_bytes_for_a_small_payload() -> None:
    # Payload{timestamp=1000, metrics=[{name="t", alias=5, datatype=Int8, int_value=-2}], seq=7}, by hand:
    # 08 E8 07          field 1 varint: 1000 = 0b111_1101000 → 0xE8 (0x68 | continuation), 0x07
    # 12 0D             field 2 length-delimited, 13 bytes of Metric follow
    #   0A 01 74        Metric field 1 (name) length 1, "t"
    #   10 05           Metric field 2 (alias) varint 5
    #   20 01           Metric field 4 (datatype) varint 1 = Int8
    #   50 FE FF FF FF 0F   Metric field 10 (int_value) varint 0xFFFFFFFE: -2 as 32-bit two's complement
    # 18 07             field 3 (seq) varint 7
    expected = bytes.fromhex("08 E8 07 12 0D 0A 01 74 10 05 20 01 50 FE FF FF FF 0F 18 07")
    payload = Payload(timestamp=1000, metrics=[Metric.of("t", D.INT8, -2, alias=5)], seq=7)
    assert encode_payload(payload) == expected
    decoded = decode_payload(expected)
    assert decoded.metrics[0].value() == -2 and decoded.metrics[0].raw == 0xFFFFFFFE


def test_hand_checked_float_metric_with_the_datatype_from_the_birth() -> None:
    # Metric{alias=1, float_value=1.5}: 10 01 (alias), 65 = field 12 wire type 5 (32-bit),
    # 1.5f = 0x3FC00000 little-endian 00 00 C0 3F; wrapped in payload field 2 with length 7.
    decoded = decode_payload(bytes.fromhex("12 07 10 01 65 00 00 C0 3F"))
    m = decoded.metrics[0]
    assert (m.alias, m.datatype, m.kind) == (1, None, Kind.FLOAT)
    assert m.value(D.FLOAT) == 1.5


@pytest.mark.parametrize(("datatype", "wire", "value"), [
    (D.INT8, "50 FF 01", -1),                   # width-limited two's complement (0xFF)
    (D.INT8, "50 FF FF FF FF 0F", -1),          # sign-extended to 32 bits
    (D.INT8, "50 80 01", -128),
    (D.INT16, "50 FF FF 03", -1),
    (D.INT16, "50 80 80 FE FF 0F", -32768),    # 0xFFFF8000
    (D.INT32, "50 80 80 80 80 08", -(2**31)),
    # A 10-byte varint (a negative int32 written the way protobuf writes int32 fields) keeps 32 bits.
    (D.INT32, "50 FE FF FF FF FF FF FF FF FF 01", -2),
    (D.INT64, "58 FF FF FF FF FF FF FF FF FF 01", -1),
    (D.UINT32, "58 FF FF FF FF 0F", 2**32 - 1),  # UInt32 in long_value, as some edge nodes send it
])
def test_signed_and_unsigned_integers_from_either_convention(datatype: DataType, wire: str, value: int) -> None:
    metric = bytes.fromhex(wire)
    m = decode_payload(bytes([0x12, len(metric)]) + metric).metrics[0]
    assert m.value(datatype) == value


@pytest.mark.parametrize(("datatype", "wire", "reason"), [
    (D.INT8, "50 80 02", "bad_value"),            # 0x100: neither 8-bit nor sign-extended
    (D.INT16, "50 80 80 04", "bad_value"),        # 0x10000
    (D.UINT8, "50 80 02", "bad_value"),           # 256
    (D.UINT32, "58 80 80 80 80 10", "bad_value"),  # 2**32 in long_value
    (D.FLOAT, "50 01", "bad_value"),              # a Float in int_value
    (D.BOOLEAN, "7A 01 61", "bad_value"),         # a Boolean in string_value
    (D.STRING, "70 01", "bad_value"),             # a String in boolean_value
    (40, "50 01", "bad_datatype"),
    (D.DATASET, "8A 01 00", "unsupported"),
])
def test_values_that_do_not_fit_the_datatype_are_refused(datatype: int, wire: str, reason: str) -> None:
    metric = bytes.fromhex(wire)
    m = decode_payload(bytes([0x12, len(metric)]) + metric).metrics[0]
    with pytest.raises(PayloadError) as err:
        m.value(datatype)
    assert err.value.reason == reason


def test_dataset_and_template_values_are_skipped_and_counted() -> None:
    dataset = bytes.fromhex("08 02 12 01 61 12 01 62")  # num_of_columns=2, columns "a", "b"
    m1 = bytes.fromhex("0A 01 64 20 10 8A 01") + bytes([len(dataset)]) + dataset  # field 17
    m2 = bytes.fromhex("0A 01 74 20 13 92 01 00")  # field 18, empty Template
    m3 = bytes.fromhex("0A 01 78 20 03 50 05")
    data = b"".join(bytes([0x12, len(m)]) + m for m in (m1, m2, m3))
    p = decode_payload(data)
    assert p.unsupported == 2
    assert [m.kind for m in p.metrics] == [Kind.DATASET, Kind.TEMPLATE, Kind.INT]
    with pytest.raises(PayloadError, match="unsupported"):
        p.metrics[0].value()
    assert p.metrics[2].value() == 5


def test_unknown_fields_metadata_and_groups_are_skipped() -> None:
    metadata = bytes.fromhex("42 04 12 02 6F 6B")  # Metric field 8: MetaData{content_type="ok"}
    metric = bytes.fromhex("0A 01 61") + metadata + bytes.fromhex("F8 01 07 50 2A")  # + unknown field 31
    group = bytes.fromhex("33 08 01 0D 00 00 00 00 34")  # field 6 as a group holding a varint and a fixed32
    data = bytes([0x12, len(metric)]) + metric + group + bytes.fromhex("31 00 00 00 00 00 00 00 00 18 03")
    p = decode_payload(data)
    assert p.seq == 3 and p.metrics[0].name == "a" and p.metrics[0].value(D.UINT8) == 42


def test_last_oneof_member_wins() -> None:
    metric = bytes.fromhex("50 01 7A 01 62")  # int_value 1 then string_value "b"
    m = decode_payload(bytes([0x12, len(metric)]) + metric).metrics[0]
    assert (m.kind, m.value(D.STRING)) == (Kind.STRING, "b")


def test_rebirth_command_payload() -> None:
    p = decode_payload(encode_rebirth(1_700_000_000_123))
    assert p.timestamp == 1_700_000_000_123 and p.seq == 0
    (m,) = p.metrics
    assert (m.name, m.alias, m.datatype, m.value()) == ("Node Control/Rebirth", None, D.BOOLEAN, True)


@pytest.mark.parametrize(("datatype", "value"), [
    (D.INT8, 128), (D.INT8, -129), (D.UINT16, -1), (D.UINT64, 2**64), (D.INT32, 1.0), (D.INT32, True),
    (D.FLOAT, 1e39), (D.BOOLEAN, 1), (D.STRING, b"x"), (D.BYTES, "x"), (D.DATASET, b""), (99, 1),
])
def test_encoder_refuses_values_that_do_not_fit(datatype: int, value: object) -> None:
    with pytest.raises(ValueError):
        Metric.of("x", datatype, value)


def test_unsupported_values_cannot_be_encoded() -> None:
    with pytest.raises(ValueError):
        encode_payload(Payload(metrics=[Metric(name="d", datatype=D.DATASET, kind=Kind.DATASET)]))
