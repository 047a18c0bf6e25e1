"""Sparkplug datatypes (3.0.0 §6.4.16, §6.4.17) and the conversion between typed values and wire values.

Signed integers travel in unsigned protobuf fields: Int8/Int16/Int32 in the uint32 ``int_value``, Int64 in
the uint64 ``long_value``. Implementations disagree on the bit pattern of a negative value: Java and C edge
nodes sign-extend to the field width (Int8 -1 → 0xFFFFFFFF), others keep the declared width (Int8 -1 →
0xFF). The decoder accepts both and rejects any other pattern; the encoder sign-extends, which is also what
a protobuf runtime produces when a negative int32 is cast to uint32.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from enum import IntEnum, StrEnum
from typing import Any

from tonghu.common.errors import PayloadError

_F32 = struct.Struct("<f")


class DataType(IntEnum):
    """The ``datatype`` enum of §6.4.16."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19
    PROPERTYSET = 20
    PROPERTYSETLIST = 21
    INT8_ARRAY = 22
    INT16_ARRAY = 23
    INT32_ARRAY = 24
    INT64_ARRAY = 25
    UINT8_ARRAY = 26
    UINT16_ARRAY = 27
    UINT32_ARRAY = 28
    UINT64_ARRAY = 29
    FLOAT_ARRAY = 30
    DOUBLE_ARRAY = 31
    BOOLEAN_ARRAY = 32
    STRING_ARRAY = 33
    DATETIME_ARRAY = 34


class Kind(StrEnum):
    """Which member of a ``value`` oneof carried the value; the values are the .proto field names."""

    INT = "int_value"
    LONG = "long_value"
    FLOAT = "float_value"
    DOUBLE = "double_value"
    BOOLEAN = "boolean_value"
    STRING = "string_value"
    BYTES = "bytes_value"
    DATASET = "dataset_value"
    TEMPLATE = "template_value"
    PROPERTYSET = "propertyset_value"
    PROPERTYSETLIST = "propertysets_value"
    EXTENSION = "extension_value"


SIGNED_BITS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}
UNSIGNED_BITS = {DataType.UINT8: 8, DataType.UINT16: 16, DataType.UINT32: 32, DataType.UINT64: 64}
_TEXT = frozenset({DataType.STRING, DataType.TEXT, DataType.UUID})
# Arrays are packed little-endian bytes (§6.4.17); they stay bytes here, as Bytes and File do.
_BLOB = frozenset({DataType.BYTES, DataType.FILE, *range(DataType.INT8_ARRAY, DataType.DATETIME_ARRAY + 1)})
_NOT_SCALAR = frozenset({DataType.DATASET, DataType.TEMPLATE})
_FIELD_BITS = {Kind.INT: 32, Kind.LONG: 64}
_KIND_OF = {DataType.BOOLEAN: Kind.BOOLEAN, DataType.PROPERTYSET: Kind.PROPERTYSET,
            DataType.PROPERTYSETLIST: Kind.PROPERTYSETLIST, **dict.fromkeys(_TEXT, Kind.STRING),
            **dict.fromkeys(_BLOB, Kind.BYTES)}


def to_wire(datatype: int, value: Any) -> tuple[Kind, Any]:
    """The oneof member and wire value for ``value`` as ``datatype``; ValueError when it does not fit."""
    try:
        dt = DataType(datatype)
    except ValueError:
        raise ValueError(f"{datatype!r} is not a Sparkplug datatype") from None
    if dt in SIGNED_BITS or dt in UNSIGNED_BITS or dt is DataType.DATETIME:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{dt.name} needs an int, got {type(value).__name__}")
        bits = SIGNED_BITS.get(dt) or UNSIGNED_BITS.get(dt) or 64
        low, high = (-(1 << (bits - 1)), 1 << (bits - 1)) if dt in SIGNED_BITS else (0, 1 << bits)
        if not low <= value < high:
            raise ValueError(f"{value} is outside the range of {dt.name}")
        kind = Kind.INT if bits <= 32 else Kind.LONG
        return kind, value & ((1 << _FIELD_BITS[kind]) - 1)
    if dt in (DataType.FLOAT, DataType.DOUBLE):
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"{dt.name} needs a number, got {type(value).__name__}")
        if dt is DataType.DOUBLE:
            return Kind.DOUBLE, float(value)
        try:
            # Kept as the nearest float32, so a decoded value compares equal to the encoded one.
            return Kind.FLOAT, _F32.unpack(_F32.pack(value))[0]
        except OverflowError:
            raise ValueError(f"{value} does not fit a 32-bit float") from None
    if dt is DataType.BOOLEAN:
        if not isinstance(value, bool):
            raise ValueError(f"BOOLEAN needs a bool, got {type(value).__name__}")
        return Kind.BOOLEAN, value
    if dt in _TEXT:
        if not isinstance(value, str):
            raise ValueError(f"{dt.name} needs a str, got {type(value).__name__}")
        return Kind.STRING, value
    if dt in _BLOB:
        if not isinstance(value, bytes | bytearray):
            raise ValueError(f"{dt.name} needs bytes, got {type(value).__name__}")
        return Kind.BYTES, bytes(value)
    if dt is DataType.PROPERTYSET and isinstance(value, Mapping):
        return Kind.PROPERTYSET, dict(value)
    if dt is DataType.PROPERTYSETLIST and isinstance(value, Sequence):
        return Kind.PROPERTYSETLIST, tuple(dict(v) for v in value)
    raise ValueError(f"values of datatype {dt.name} cannot be encoded here")


def from_wire(datatype: int | None, kind: Kind, raw: Any) -> Any:
    """The typed value of a wire value declared as ``datatype`` (None or Unknown: as the wire says)."""
    if kind in (Kind.DATASET, Kind.TEMPLATE, Kind.EXTENSION):
        raise PayloadError("unsupported", f"{kind.value} values are not supported")
    if not datatype:
        return raw
    try:
        dt = DataType(datatype)
    except ValueError:
        raise PayloadError("bad_datatype", f"{datatype} is not a Sparkplug datatype (§6.4.16)") from None
    if dt in SIGNED_BITS:
        return _signed(dt, kind, raw)
    if dt in UNSIGNED_BITS or dt is DataType.DATETIME:
        bits = UNSIGNED_BITS.get(dt, 64)
        if kind not in _FIELD_BITS:
            raise _mismatch(dt, kind)
        if raw >> bits:
            raise PayloadError("bad_value", f"{raw} is outside the range of {dt.name}")
        return raw
    if dt in (DataType.FLOAT, DataType.DOUBLE):
        # Either float member is accepted for either type: the number means the same in both.
        if kind not in (Kind.FLOAT, Kind.DOUBLE):
            raise _mismatch(dt, kind)
        return raw
    if dt in _NOT_SCALAR:
        raise PayloadError("unsupported", f"{dt.name} values are not supported")
    if kind is not _KIND_OF[dt]:
        raise _mismatch(dt, kind)
    return raw


def _signed(dt: DataType, kind: Kind, raw: int) -> int:
    if kind not in _FIELD_BITS:
        raise _mismatch(dt, kind)
    field_bits = _FIELD_BITS[kind]
    # An Int64 squeezed into the 32-bit field can only have kept its low 32 bits.
    bits = min(SIGNED_BITS[dt], field_bits)
    if raw < 1 << bits:
        return raw - (1 << bits) if raw >> (bits - 1) else raw
    if raw >= (1 << field_bits) - (1 << (bits - 1)):
        return raw - (1 << field_bits)
    raise PayloadError("bad_value", f"{raw:#x} in {kind.value} is not a two's complement {dt.name}")


def _mismatch(dt: DataType, kind: Kind) -> PayloadError:
    return PayloadError("bad_value", f"a {dt.name} metric cannot carry its value in {kind.value}")
