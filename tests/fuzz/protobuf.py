"""Sparkplug B payloads as field trees, so that a strategy can break one field at a time: a wrong wire type, a
varint cut short or eleven bytes long, a length that runs past its message or claims gigabytes, a repeated
field repeated thousands of times, groups left open.

The schema (Sparkplug 3.0.0 §6.4, restated in tonghu/collectors/sparkplug/sparkplug_b.proto) is written here
independently of the codec, so that the codec's field numbers are not trusted by the strategies that test it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5


@dataclass
class Field:
    number: int
    wire: int
    value: Any  # int (varint), bytes (i32/i64/len), list[Field] (embedded message)
    length: int | None = None  # a LEN prefix other than the true length
    raw: bytes | None = None  # emitted instead of the field


def varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def emit(fields: list[Field]) -> bytes:
    out = bytearray()
    for f in fields:
        if f.raw is not None:
            out += f.raw
            continue
        out += varint(f.number << 3 | f.wire)
        if f.wire == VARINT:
            out += varint(f.value)
        elif f.wire in (I32, I64):
            out += f.value
        elif f.wire == LEN:
            body = emit(f.value) if isinstance(f.value, list) else f.value
            out += varint(len(body) if f.length is None else f.length) + body
    return bytes(out)


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12).map(str.encode)
_UINT = st.one_of(st.integers(0, 300), st.integers(0, 2**64 - 1), st.sampled_from([2**32 - 1, 2**63, 2**64 - 1]))
_F32 = st.floats(width=32).map(lambda x: struct.pack("<f", x)) | st.binary(min_size=4, max_size=4)
_F64 = st.floats().map(lambda x: struct.pack("<d", x))
_DATATYPE = st.one_of(st.integers(0, 35), st.integers(0, 2**64 - 1))


def _unknown(number: st.SearchStrategy[int]) -> st.SearchStrategy[Field]:
    return st.one_of(st.builds(Field, number, st.just(VARINT), _UINT),
                     st.builds(Field, number, st.just(LEN), st.binary(max_size=8)),
                     st.builds(Field, number, st.just(I32), st.binary(min_size=4, max_size=4)),
                     st.builds(Field, number, st.just(I64), st.binary(min_size=8, max_size=8)))


def _values(offset: int, inner: st.SearchStrategy[list[Field]]) -> st.SearchStrategy[Field]:
    """The members of a ``value`` oneof; Metric's start at field 10, PropertyValue's at 3."""
    return st.one_of(
        st.builds(Field, st.just(offset), st.just(VARINT), _UINT),
        st.builds(Field, st.just(offset + 1), st.just(VARINT), _UINT),
        st.builds(Field, st.just(offset + 2), st.just(I32), _F32),
        st.builds(Field, st.just(offset + 3), st.just(I64), _F64),
        st.builds(Field, st.just(offset + 4), st.just(VARINT), st.integers(0, 2)),
        st.builds(Field, st.just(offset + 5), st.just(LEN), _TEXT),
        st.builds(Field, st.just(offset + 6), st.just(LEN), inner))


def property_set(depth: int) -> st.SearchStrategy[list[Field]]:
    if depth <= 0:
        return st.just([])
    inner = st.deferred(lambda: property_set(depth - 1))
    value = st.lists(st.one_of(
        st.builds(Field, st.just(1), st.just(VARINT), _DATATYPE),
        st.builds(Field, st.just(2), st.just(VARINT), st.integers(0, 1)),
        _values(3, inner),  # 3..8 scalars, 9 a nested PropertySet
        st.builds(Field, st.just(10), st.just(LEN), st.lists(st.builds(Field, st.just(1), st.just(LEN), inner),
                                                             max_size=2)),
        _unknown(st.integers(11, 20))), max_size=3)
    return st.lists(st.one_of(st.builds(Field, st.just(1), st.just(LEN), _TEXT),
                              st.builds(Field, st.just(2), st.just(LEN), value)), max_size=4)


METRIC = st.lists(st.one_of(
    st.builds(Field, st.just(1), st.just(LEN), _TEXT | st.sampled_from([b"bdSeq", b"Node Control/Rebirth"])),
    st.builds(Field, st.just(2), st.just(VARINT), st.integers(0, 5) | _UINT),
    st.builds(Field, st.just(3), st.just(VARINT), _UINT),
    st.builds(Field, st.just(4), st.just(VARINT), _DATATYPE),
    st.builds(Field, st.sampled_from([5, 6, 7]), st.just(VARINT), st.integers(0, 1)),
    st.builds(Field, st.just(8), st.just(LEN), st.binary(max_size=8)),
    st.builds(Field, st.just(9), st.just(LEN), property_set(3)),
    _values(10, property_set(2)),  # 10..15 scalars, 16 bytes
    st.builds(Field, st.sampled_from([17, 18, 19]), st.just(LEN), st.binary(max_size=8)),
    _unknown(st.integers(20, 2**29 - 1))), max_size=6)

PAYLOAD = st.lists(st.one_of(
    st.builds(Field, st.just(1), st.just(VARINT), _UINT),
    st.builds(Field, st.just(2), st.just(LEN), METRIC),
    st.builds(Field, st.just(2), st.just(LEN), METRIC),
    st.builds(Field, st.just(3), st.just(VARINT), st.integers(0, 255) | _UINT),
    st.builds(Field, st.just(4), st.just(LEN), _TEXT),
    st.builds(Field, st.just(5), st.just(LEN), st.binary(max_size=16)),
    _unknown(st.integers(6, 100))), max_size=6)


def all_fields(tree: list[Field]) -> list[tuple[list[Field], int]]:
    """Every (message, index) in the tree."""
    out = []
    for i, f in enumerate(tree):
        out.append((tree, i))
        if isinstance(f.value, list):
            out += all_fields(f.value)
    return out


_FAULTS = ("wire", "short_varint", "long_varint", "past_end", "huge_length", "repeat", "group", "drop", "nest")


@st.composite
def broken(draw: st.DrawFn, tree_strategy: st.SearchStrategy[list[Field]] = PAYLOAD) -> bytes:
    """A payload with 1..3 faults planted in its fields."""
    tree = draw(tree_strategy)
    for _ in range(draw(st.integers(1, 3))):
        spots = all_fields(tree)
        if not spots:
            tree.append(Field(2, LEN, []))
            continue
        message, i = draw(st.sampled_from(spots))
        f = message[i]
        fault = draw(st.sampled_from(_FAULTS))
        if fault == "wire":
            f.wire = draw(st.sampled_from([w for w in (VARINT, I64, LEN, I32) if w != f.wire]))
            f.value = {VARINT: 1, I64: b"\x00" * 8, LEN: b"", I32: b"\x00" * 4}[f.wire]
        elif fault == "short_varint":
            # Every byte has the continuation bit and the message ends: the varint never ends.
            f.raw = varint(f.number << 3 | VARINT) + b"\xff" * draw(st.integers(0, 9))
            del message[i + 1:]
        elif fault == "long_varint":
            f.raw = varint(f.number << 3 | VARINT) + b"\xff" * draw(st.integers(9, 12)) + b"\x01"
        elif fault == "past_end" and f.wire == LEN:
            f.length = len(emit(f.value) if isinstance(f.value, list) else f.value) + draw(st.integers(1, 5))
        elif fault == "huge_length" and f.wire == LEN:
            f.length = draw(st.sampled_from([2**31 - 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1]))
        elif fault == "repeat":
            # The copies share one object, so a later fault inside would multiply: repeating comes last.
            message[i + 1:i + 1] = [f] * draw(st.sampled_from([10, 1000, 20_000]))
            break
        elif fault == "group":
            number = draw(st.integers(1, 20))
            f.raw = varint(number << 3 | SGROUP) * draw(st.integers(1, 40)) + draw(st.sampled_from(
                [b"", varint(number << 3 | EGROUP), varint((number + 1) << 3 | EGROUP)]))
        elif fault == "drop":
            del message[i]
        elif fault == "nest" and isinstance(f.value, list):
            for _ in range(draw(st.integers(1, 40))):
                f.value = [Field(9, LEN, [Field(1, LEN, b"k"), Field(2, LEN, [Field(9, LEN, f.value)])])]
    return emit(tree)
