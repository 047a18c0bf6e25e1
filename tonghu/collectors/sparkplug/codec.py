"""Sparkplug B payloads (Sparkplug 3.0.0 §6.4): decode and encode with no protobuf runtime.

The schema is small and stable (3.0.0 only added datatype values); ``sparkplug_b.proto`` beside this
module restates it and a test checks the field numbers here against it. A generated module would bring the
protobuf runtime (a native extension, one wheel per platform, a version pin shared with everything else in
the process) and a protoc step into the build, and it would still leave the parts that matter here to us:
signed values carried in unsigned fields, bounds on hostile input, and one error type. An edge gateway stays
smaller and easier to audit without it; the cost is about 3.5 µs of CPU per decoded metric.

Values keep their wire form (``Metric.kind`` + ``Metric.raw``) because DATA messages usually omit the
datatype (§6.4.6): only the birth certificate says what an alias means, so ``Metric.value(datatype)``
converts once the caller knows it. DataSet, Template and extension values are skipped and counted in
``Payload.unsupported``; MetaData is skipped.
"""

from __future__ import annotations

from typing import Any

from tonghu.collectors.sparkplug.datatypes import DataType, Kind
from tonghu.collectors.sparkplug.payload import Metric, Payload, Properties, PropertyValue
from tonghu.collectors.sparkplug.wire import Reader, Writer
from tonghu.common.errors import PayloadError

__all__ = ["SCHEMA", "DataType", "Kind", "Metric", "Payload", "PropertyValue", "decode_payload",
           "encode_payload", "encode_rebirth"]

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
# Decoded objects cost up to ~100 times their wire size (an empty metric is 2 bytes, its Metric ~200), so
# their number is bounded as well as the payload's size: 16 MiB of empty metrics would otherwise take ~1.5 GB
# and a minute of CPU. Real births stay far below: a metric with a name and a value is 10 bytes or more.
MAX_METRICS = 100_000
MAX_PROPERTIES = 1_000_000  # property keys, values and sets of all metrics of one payload
# PropertySets may nest (§6.4.9); real payloads use one or two levels.
MAX_DEPTH = 16
REBIRTH_METRIC = "Node Control/Rebirth"
BDSEQ_METRIC = "bdSeq"


# Field numbers (§6.4.1) as plain ints: the decode loops compare against them for every field.
_P_TIMESTAMP, _P_METRICS, _P_SEQ, _P_UUID, _P_BODY = 1, 2, 3, 4, 5
(_M_NAME, _M_ALIAS, _M_TIMESTAMP, _M_DATATYPE, _M_IS_HISTORICAL, _M_IS_TRANSIENT, _M_IS_NULL, _M_METADATA,
 _M_PROPERTIES) = range(1, 10)
_PV_TYPE, _PV_IS_NULL = 1, 2
# Members of the `value` oneofs: Metric fields 10..19, PropertyValue fields 3..11.
_METRIC_VALUE_FIELDS = {Kind.INT: 10, Kind.LONG: 11, Kind.FLOAT: 12, Kind.DOUBLE: 13, Kind.BOOLEAN: 14,
                        Kind.STRING: 15, Kind.BYTES: 16, Kind.DATASET: 17, Kind.TEMPLATE: 18,
                        Kind.EXTENSION: 19}
_PROPERTY_VALUE_FIELDS = {Kind.INT: 3, Kind.LONG: 4, Kind.FLOAT: 5, Kind.DOUBLE: 6, Kind.BOOLEAN: 7,
                          Kind.STRING: 8, Kind.PROPERTYSET: 9, Kind.PROPERTYSETLIST: 10, Kind.EXTENSION: 11}
_METRIC_KIND = {number: kind for kind, number in _METRIC_VALUE_FIELDS.items()}
_PROPERTY_KIND = {number: kind for kind, number in _PROPERTY_VALUE_FIELDS.items()}
_UNSUPPORTED = frozenset({Kind.DATASET, Kind.TEMPLATE, Kind.EXTENSION})

# Field numbers by message and field name, for the cross-check against sparkplug_b.proto.
SCHEMA: dict[str, dict[str, int]] = {
    "Payload": {"timestamp": _P_TIMESTAMP, "metrics": _P_METRICS, "seq": _P_SEQ, "uuid": _P_UUID,
                "body": _P_BODY},
    "Metric": {"name": _M_NAME, "alias": _M_ALIAS, "timestamp": _M_TIMESTAMP, "datatype": _M_DATATYPE,
               "is_historical": _M_IS_HISTORICAL, "is_transient": _M_IS_TRANSIENT, "is_null": _M_IS_NULL,
               "metadata": _M_METADATA, "properties": _M_PROPERTIES,
               **{k.value: n for k, n in _METRIC_VALUE_FIELDS.items()}},
    "PropertyValue": {"type": _PV_TYPE, "is_null": _PV_IS_NULL,
                      **{k.value: n for k, n in _PROPERTY_VALUE_FIELDS.items()}},
    "PropertySet": {"keys": 1, "values": 2},
    "PropertySetList": {"propertyset": 1},
}


# ---------------------------------------------------------------------------------------------- decoding


def decode_payload(data: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Payload:
    """Decode a Sparkplug B payload. Any malformed input raises PayloadError, nothing else."""
    if len(data) > max_bytes:
        raise PayloadError("oversize", f"{len(data)} bytes exceed the limit of {max_bytes}")
    r = Reader(memoryview(data))
    timestamp = seq = uuid = body = None
    metrics: list[Metric] = []
    unsupported = 0
    budget = _Budget()
    while r.more():
        number, wire = r.key()
        if number == _P_TIMESTAMP:
            timestamp = r.uint(wire)
        elif number == _P_METRICS:
            if len(metrics) == MAX_METRICS:
                raise PayloadError("too_many_metrics", f"more than {MAX_METRICS} metrics in one payload")
            metric = _metric(r.sub(wire), budget)
            unsupported += metric.kind in _UNSUPPORTED
            metrics.append(metric)
        elif number == _P_SEQ:
            seq = r.uint(wire)
        elif number == _P_UUID:
            uuid = r.text(wire)
        elif number == _P_BODY:
            body = r.blob(wire)
        else:
            r.skip(number, wire)
    return Payload(timestamp, tuple(metrics), seq, uuid, body, unsupported)


class _Budget:
    """Property keys, values and sets one payload may still decode."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_PROPERTIES

    def take(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise PayloadError("too_many_properties", f"more than {MAX_PROPERTIES} property keys, values and "
                                                      "sets in one payload")


def _metric(r: Reader, budget: _Budget) -> Metric:
    name = alias = timestamp = datatype = None
    historical = transient = null = False
    properties: Properties = {}
    kind: Kind | None = None
    raw: Any = None
    while r.more():
        number, wire = r.key()
        if number == _M_NAME:
            name = r.text(wire)
        elif number == _M_ALIAS:
            alias = r.uint(wire)
        elif number == _M_TIMESTAMP:
            timestamp = r.uint(wire)
        elif number == _M_DATATYPE:
            datatype = r.uint(wire) & 0xFFFFFFFF
        elif number == _M_IS_HISTORICAL:
            historical = r.uint(wire) != 0
        elif number == _M_IS_TRANSIENT:
            transient = r.uint(wire) != 0
        elif number == _M_IS_NULL:
            null = r.uint(wire) != 0
        elif number == _M_PROPERTIES:
            properties = _property_set(r.sub(wire), 1, budget)
        elif number in _METRIC_KIND:
            # A oneof seen twice keeps the last member, as protobuf does.
            kind = _METRIC_KIND[number]
            raw = _value(r, kind, number, wire, 1, budget)
        else:
            r.skip(number, wire)
    return Metric(name, alias, timestamp, datatype, historical, transient, null, properties, kind, raw)


def _value(r: Reader, kind: Kind, number: int, wire: int, depth: int, budget: _Budget) -> Any:
    if kind is Kind.INT:
        # uint32 keeps the low 32 bits of a longer varint, as every protobuf runtime does.
        return r.uint(wire) & 0xFFFFFFFF
    if kind is Kind.LONG:
        return r.uint(wire)
    if kind is Kind.FLOAT:
        return r.f32(wire)
    if kind is Kind.DOUBLE:
        return r.f64(wire)
    if kind is Kind.BOOLEAN:
        return r.uint(wire) != 0
    if kind is Kind.STRING:
        return r.text(wire)
    if kind is Kind.BYTES:
        return r.blob(wire)
    if kind is Kind.PROPERTYSET:
        return _property_set(r.sub(wire), depth + 1, budget)
    if kind is Kind.PROPERTYSETLIST:
        return _property_set_list(r.sub(wire), depth + 1, budget)
    r.sub(wire)  # DataSet, Template, extension: a well-formed message that is not kept
    return None


def _property_set(r: Reader, depth: int, budget: _Budget) -> dict[str, PropertyValue]:
    if depth > MAX_DEPTH:
        raise PayloadError("too_deep", f"property sets nested deeper than {MAX_DEPTH}")
    budget.take()
    keys: list[str] = []
    values: list[PropertyValue] = []
    while r.more():
        number, wire = r.key()
        if number == 1:
            budget.take()
            keys.append(r.text(wire))
        elif number == 2:
            budget.take()
            values.append(_property_value(r.sub(wire), depth, budget))
        else:
            r.skip(number, wire)
    if len(keys) != len(values):
        raise PayloadError("bad_property_set", f"a PropertySet has {len(keys)} keys and {len(values)} values "
                                               "(§6.4.8 requires as many of each)")
    return dict(zip(keys, values, strict=True))


def _property_set_list(r: Reader, depth: int, budget: _Budget) -> tuple[dict[str, PropertyValue], ...]:
    sets = []
    while r.more():
        number, wire = r.key()
        if number == 1:
            sets.append(_property_set(r.sub(wire), depth, budget))
        else:
            r.skip(number, wire)
    return tuple(sets)


def _property_value(r: Reader, depth: int, budget: _Budget) -> PropertyValue:
    type_ = None
    null = False
    kind: Kind | None = None
    raw: Any = None
    while r.more():
        number, wire = r.key()
        if number == _PV_TYPE:
            type_ = r.uint(wire) & 0xFFFFFFFF
        elif number == _PV_IS_NULL:
            null = r.uint(wire) != 0
        elif number in _PROPERTY_KIND:
            kind = _PROPERTY_KIND[number]
            raw = _value(r, kind, number, wire, depth, budget)
        else:
            r.skip(number, wire)
    return PropertyValue(type_, kind, raw, null)


# ---------------------------------------------------------------------------------------------- encoding


def encode_payload(payload: Payload) -> bytes:
    """Encode a payload; raises ValueError for a value that cannot be encoded (DataSet, Template)."""
    w = Writer()
    if payload.timestamp is not None:
        w.uint(_P_TIMESTAMP, payload.timestamp)
    for metric in payload.metrics:
        w.blob(_P_METRICS, _metric_bytes(metric))
    if payload.seq is not None:
        w.uint(_P_SEQ, payload.seq)
    if payload.uuid is not None:
        w.text(_P_UUID, payload.uuid)
    if payload.body is not None:
        w.blob(_P_BODY, payload.body)
    return w.getvalue()


def encode_rebirth(timestamp_ms: int, *, seq: int | None = 0) -> bytes:
    """The NCMD payload of a Rebirth Request (§5.17): 'Node Control/Rebirth' = true, by name, because
    the NBIRTH must not give that metric an alias."""
    metric = Metric.of(REBIRTH_METRIC, DataType.BOOLEAN, True, timestamp=timestamp_ms)
    # §6.4.5 asks for a seq on every message but NDEATH; edge nodes do not track a host's commands.
    return encode_payload(Payload(timestamp=timestamp_ms, metrics=(metric,), seq=seq))


def _metric_bytes(m: Metric) -> bytes:
    w = Writer()
    if m.name is not None:
        w.text(_M_NAME, m.name)
    if m.alias is not None:
        w.uint(_M_ALIAS, m.alias)
    if m.timestamp is not None:
        w.uint(_M_TIMESTAMP, m.timestamp)
    if m.datatype is not None:
        w.uint(_M_DATATYPE, m.datatype)
    for number, flag in ((_M_IS_HISTORICAL, m.is_historical), (_M_IS_TRANSIENT, m.is_transient),
                         (_M_IS_NULL, m.is_null)):
        if flag:
            w.flag(number, True)
    if m.properties:
        w.blob(_M_PROPERTIES, _property_set_bytes(m.properties))
    if m.kind is not None and not m.is_null:
        if m.kind in _UNSUPPORTED or m.kind not in _METRIC_VALUE_FIELDS:
            raise ValueError(f"metric {m.name or m.alias!r}: a {m.kind.value} cannot be encoded")
        _put_value(w, _METRIC_VALUE_FIELDS[m.kind], m.kind, m.raw)
    return w.getvalue()


def _put_value(w: Writer, number: int, kind: Kind, raw: Any) -> None:
    if kind in (Kind.INT, Kind.LONG):
        w.uint(number, raw)
    elif kind is Kind.FLOAT:
        w.f32(number, raw)
    elif kind is Kind.DOUBLE:
        w.f64(number, raw)
    elif kind is Kind.BOOLEAN:
        w.flag(number, raw)  # false is written too: it is what marks this oneof member as set
    elif kind is Kind.STRING:
        w.text(number, raw)
    elif kind is Kind.BYTES:
        w.blob(number, raw)
    elif kind is Kind.PROPERTYSET:
        w.blob(number, _property_set_bytes(raw))
    elif kind is Kind.PROPERTYSETLIST:
        inner = Writer()
        for properties in raw:
            inner.blob(1, _property_set_bytes(properties))
        w.blob(number, inner.getvalue())
    else:
        raise ValueError(f"a {kind.value} cannot be encoded")


def _property_set_bytes(properties: Properties) -> bytes:
    w = Writer()
    for key in properties:
        w.text(1, key)
    for value in properties.values():
        v = Writer()
        if value.type is not None:
            v.uint(_PV_TYPE, value.type)
        if value.is_null:
            v.flag(_PV_IS_NULL, True)
        elif value.kind is not None:
            if value.kind not in _PROPERTY_VALUE_FIELDS or value.kind is Kind.EXTENSION:
                raise ValueError(f"a {value.kind.value} cannot be a property value")
            _put_value(v, _PROPERTY_VALUE_FIELDS[value.kind], value.kind, value.raw)
        w.blob(2, v.getvalue())
    return w.getvalue()

