"""Strategies for uplink payloads (docs/UPLINK.md): valid batches with edge values, and the raw MessagePack
material that breaks them."""

from __future__ import annotations

import math
import struct
from typing import Any

import msgpack
from hypothesis import strategies as st

from tests.fuzz.mutate import mutated_tree, slots
from tonghu.common.sample import STATUS_BAD, STATUS_MAX, STATUS_UNCERTAIN, Sample
from tonghu.common.uplink import DEFAULT_LIMITS, EVENT_KINDS, TagMeta, encode_ack, encode_data, encode_meta

INT64_MIN, INT64_MAX, UINT64_MAX = -(2**63), 2**63 - 1, 2**64 - 1
MAX_KEY = DEFAULT_LIMITS.max_key_len
MAX_TEXT = DEFAULT_LIMITS.max_text_len

# Unicode scalar values: what a MessagePack str can hold (lone surrogates cannot be encoded as UTF-8).
_CHARS = st.characters(exclude_categories=("Cs",))
_KEY_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
TEXT = st.text(_CHARS, max_size=20)
KEYS = st.one_of(st.text(_KEY_CHARS, min_size=1, max_size=MAX_KEY),
                 st.sampled_from(["a/l/m/t", "k" * MAX_KEY, "é" * MAX_KEY, "中" * MAX_KEY, "x"]))
NUMBERS = st.one_of(
    st.floats(), st.integers(INT64_MIN, UINT64_MAX), st.booleans(),
    st.sampled_from([INT64_MIN, INT64_MAX, UINT64_MAX, 2**53 + 1, 0, -0.0, math.nan, math.inf, -math.inf,
                     5e-324, 1.7976931348623157e308]))
TEXT_VALUES = st.one_of(st.text(_CHARS, max_size=40), st.sampled_from(["", "x" * MAX_TEXT, "€" * MAX_TEXT,
                                                                       "y" * (MAX_TEXT + 1), "nul\x00inside"]))
STATUSES = st.one_of(st.sampled_from([0, STATUS_UNCERTAIN, STATUS_BAD, 0x80310000, 0x408F0000, STATUS_MAX]),
                     st.integers(0, STATUS_MAX))
TIMES = st.one_of(st.integers(INT64_MIN, INT64_MAX), st.integers(1_600_000_000_000_000, 1_900_000_000_000_000))
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(INT64_MIN, INT64_MAX),
                         st.floats(allow_nan=False), TEXT)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)

Batch = tuple[str, int, int, list[Sample], list[tuple[str, int, str, str, str, str]]]


@st.composite
def batches(draw: st.DrawFn, max_samples: int = 30) -> Batch:
    """(edge, seq, created, samples, events) that ``encode_data`` takes; keys repeat across samples."""
    pool = draw(st.lists(KEYS, min_size=1, max_size=6, unique=True))
    key = st.sampled_from(pool)
    samples = draw(st.lists(st.builds(Sample, key, TIMES, st.one_of(NUMBERS, TEXT_VALUES), STATUSES),
                            max_size=max_samples))
    texts = st.text(_CHARS, max_size=30) | st.just("z" * MAX_TEXT)
    events = draw(st.lists(st.tuples(key, TIMES, st.sampled_from(sorted(EVENT_KINDS)), texts, texts, texts),
                           max_size=4))
    edge = draw(st.one_of(st.text(_CHARS, max_size=64), st.just("gw-01")))
    return edge, draw(st.integers(0, INT64_MAX)), draw(TIMES), samples, events


_META_TEXT = st.text(_KEY_CHARS, max_size=20)
TAG_METAS = st.builds(TagMeta, KEYS, st.sampled_from(["float", "int", "bool", "string", "state"]) | _META_TEXT,
                      _META_TEXT, _META_TEXT, st.text(_KEY_CHARS, max_size=MAX_TEXT // 64) | st.just("d" * MAX_TEXT),
                      st.dictionaries(TEXT, JSON_VALUES, max_size=4))

# Anything MessagePack can carry, for values put where they do not belong.
MSGPACK_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(INT64_MIN, UINT64_MAX), st.floats(), TEXT, st.binary(max_size=16),
    st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8)),
    st.sampled_from([INT64_MIN, UINT64_MAX, -1, "", "\x00", b"", math.nan]))
MSGPACK_VALUES = st.recursive(MSGPACK_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(TEXT, st.binary(max_size=4)), inner, max_size=4)),
    max_leaves=12)
FIELD_NAMES = ["v", "edge", "seq", "created", "keys", "num", "txt", "evt", "k", "t", "q", "kind", "value", "code",
               "text", "attrs", "tags", "key", "type", "unit", "role", "description", "ok", "dead"]
# Map keys a decoder does not expect: known names in the wrong place, integers (refused by strict_map_key), bytes.
MAP_KEYS = st.one_of(st.sampled_from(FIELD_NAMES), TEXT, st.integers(-3, 3), st.binary(max_size=4))

_U32_MAX = struct.pack(">I", 0xFFFFFFFF)
_2G = struct.pack(">I", 0x7FFFFFFF)
# Raw MessagePack that claims more than it has, nests past the unpacker's stack, or is not valid UTF-8.
HOSTILE_CHUNKS = [
    b"\xdd" + _U32_MAX, b"\xdd" + _2G + b"\xc0", b"\xdf" + _2G, b"\xdb" + _2G + b"ab", b"\xc6" + _2G,
    b"\xc9" + _2G + b"\x01", b"\xdc\xff\xff", b"\xde\xff\xff\xa1k",
    b"\x91" * 2000 + b"\x00", b"\x91" * 1000 + b"\x00", b"\x81\xa1k" * 600 + b"\x00",
    b"\xa2\xc3\x28", b"\xd9\x03\xed\xa0\x80", b"\xc1", b"\xcb\x00\x00", b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
    b"\xd3\x80" + b"\x00" * 7, b"\xcb\x7f\xf8" + b"\x00" * 6, b"\xcb\xff\xf0" + b"\x00" * 6,
    b"\xd6\xff\x00\x00\x00\x01", b"\xd7\xff" + b"\xff" * 8, b"\xc7\x0c\xff" + b"\xff" * 12,
    b"\xd4\x05\x00", b"\x81\x01\x01", b"\x81\xc0\x01", b"\x81\x90\x01", b"\x81\xc4\x01a\x01",
]
SENTINEL = "\ue000splice"
PACKED_SENTINEL = msgpack.packb(SENTINEL)


def pack(tree: Any) -> bytes | None:
    """The MessagePack bytes of ``tree``, or None when the packer refuses it (too deep)."""
    try:
        return msgpack.packb(tree, use_bin_type=True)
    except ValueError:
        return None


VALID_DATA = st.builds(lambda b: encode_data(*b), batches(max_samples=8))
VALID_META = st.builds(lambda tags: encode_meta("gw-01", 7, 1, tags), st.lists(TAG_METAS, max_size=4))
VALID_ACK = st.builds(encode_ack, st.lists(st.integers(0, UINT64_MAX), max_size=5),
                      st.lists(st.integers(0, UINT64_MAX), max_size=5))
ANY_VALID = st.one_of(VALID_DATA, VALID_META, VALID_ACK)


@st.composite
def tree_mutations(draw: st.DrawFn) -> bytes:
    body = msgpack.unpackb(draw(ANY_VALID), raw=False)
    payload = pack(draw(mutated_tree(body, MSGPACK_VALUES, MAP_KEYS)))
    return payload if payload is not None else b"\xc1"


@st.composite
def spliced(draw: st.DrawFn, chunks: list[bytes] = HOSTILE_CHUNKS) -> bytes:
    """A valid payload with one value replaced by raw hostile MessagePack."""
    body = msgpack.unpackb(draw(ANY_VALID), raw=False)
    container, key = draw(st.sampled_from(slots(body)))
    container[key] = SENTINEL
    return msgpack.packb(body, use_bin_type=True).replace(PACKED_SENTINEL, draw(st.sampled_from(chunks)), 1)
