"""Uplink payloads, schema version 1, encoded as MessagePack (docs/UPLINK.md is the reference).

A data batch is columnar so that the platform can validate and load it with array operations instead of
one Python object per sample; an edge in any language can still produce it with a plain MessagePack map:

    {"v": 1, "edge": str, "seq": uint, "created": µs,
     "keys": [tag key, ...],                                   # the batch's tag-key table
     "num": {"k": [key index], "t": [µs], "v": [number|bool], "q": [status]},
     "txt": {"k": [key index], "t": [µs], "v": [str],         "q": [status]},
     "evt": [{"k": key index, "t": µs, "kind": "state"|"alarm"|"order", "value": str,
              "code": str, "text": str, "attrs": {str: scalar}}]}

Times are microseconds since the Unix epoch, UTC, fixed once at the edge. Statuses are OPC UA status codes.
This module checks structure only; the platform checks each sample's content.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgpack

from tonghu.common.errors import PayloadError
from tonghu.common.sample import Sample

SCHEMA_VERSION = 1
EVENT_KINDS = frozenset({"state", "alarm", "order"})
# Seqs are stored as PostgreSQL bigint (ingest_batches, dead_letters).
MAX_SEQ = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes beyond which input is refused; the broker's message_size_limit should match max_payload_bytes."""

    max_payload_bytes: int = 8 * 1024 * 1024
    max_samples: int = 200_000
    max_keys: int = 50_000
    max_key_len: int = 255
    max_text_len: int = 4096
    max_events: int = 10_000
    max_meta_tags: int = 50_000


DEFAULT_LIMITS = Limits()


@dataclass(slots=True)
class Columns:
    """One column set of a batch; the four lists always have the same length."""

    k: list[int] = field(default_factory=list)
    t: list[int] = field(default_factory=list)
    v: list[Any] = field(default_factory=list)
    q: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.k)


@dataclass(frozen=True, slots=True)
class Event:
    k: int
    t: int
    kind: str
    value: str = ""
    code: str = ""
    text: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DataBatch:
    edge: str
    seq: int
    created_us: int
    keys: list[str]
    num: Columns
    txt: Columns
    events: list[Event]

    @property
    def sample_count(self) -> int:
        return len(self.num) + len(self.txt)


@dataclass(frozen=True, slots=True)
class TagMeta:
    key: str
    data_type: str
    unit: str = ""
    role: str = ""
    description: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class MetaBatch:
    edge: str
    seq: int
    created_us: int
    tags: list[TagMeta]


# ---------------------------------------------------------------------------------------------- encoding


def encode_data(edge: str, seq: int, created_us: int, samples: Iterable[Sample],
                events: Sequence[tuple[str, int, str, str, str, str]] = ()) -> bytes:
    """Encode samples (and optional events as (key, µs, kind, value, code, text)) as one batch."""
    index: dict[str, int] = {}
    num, txt = Columns(), Columns()
    for s in samples:
        i = index.setdefault(s.key, len(index))
        cols = txt if isinstance(s.value, str) else num
        cols.k.append(i)
        cols.t.append(s.source_ts_us)
        cols.v.append(s.value)
        cols.q.append(s.status)
    evt = []
    for key, ts, kind, value, code, text in events:
        evt.append({"k": index.setdefault(key, len(index)), "t": ts, "kind": kind,
                    "value": value, "code": code, "text": text})
    body: dict[str, Any] = {"v": SCHEMA_VERSION, "edge": edge, "seq": seq, "created": created_us,
                            "keys": list(index), "num": _cols(num), "txt": _cols(txt)}
    if evt:
        body["evt"] = evt
    return msgpack.packb(body, use_bin_type=True)


def _cols(c: Columns) -> dict[str, list[Any]]:
    return {"k": c.k, "t": c.t, "v": c.v, "q": c.q}


def encode_meta(edge: str, seq: int, created_us: int, tags: Iterable[TagMeta]) -> bytes:
    return msgpack.packb({
        "v": SCHEMA_VERSION, "edge": edge, "seq": seq, "created": created_us,
        "tags": [{"key": t.key, "type": t.data_type, "unit": t.unit, "role": t.role,
                  "description": t.description, "attrs": t.attrs} for t in tags],
    }, use_bin_type=True)


def encode_ack(ok: Iterable[int], dead: Iterable[int] = ()) -> bytes:
    """The ingester's answer: ``ok`` seqs are committed, ``dead`` seqs are kept as dead letters."""
    return msgpack.packb({"v": SCHEMA_VERSION, "ok": sorted(ok), "dead": sorted(dead)})


def decode_ack(payload: bytes) -> tuple[list[int], list[int]]:
    body = _unpack(payload, DEFAULT_LIMITS)
    _version(body)
    return _int_list(body.get("ok", []), "ok"), _int_list(body.get("dead", []), "dead")


# ---------------------------------------------------------------------------------------------- decoding


def _unpack(payload: bytes, limits: Limits) -> dict[str, Any]:
    if len(payload) > limits.max_payload_bytes:
        raise PayloadError("oversize", f"{len(payload)} bytes exceed the limit of {limits.max_payload_bytes}")
    try:
        # msgpack bounds every length by the payload size, which is already capped above.
        body = msgpack.unpackb(payload, raw=False, strict_map_key=True, use_list=True)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as err:
        raise PayloadError("not_decodable", f"not a MessagePack document ({err})") from err
    if not isinstance(body, dict):
        raise PayloadError("bad_type", f"payload must be a map, got {type(body).__name__}")
    return body


def _version(body: dict[str, Any]) -> None:
    v = body.get("v")
    if v != SCHEMA_VERSION:
        raise PayloadError("bad_schema_version", f"schema version {v!r} is not supported (expected {SCHEMA_VERSION})")


def _field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    if name not in body:
        raise PayloadError("missing_field", f"field {where}{name!r} is missing")
    value = body[name]
    # bool is an int subclass in Python; a flag is never a valid count or time.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise PayloadError("bad_type", f"field {where}{name!r} must be {expected}, got {type(value).__name__}")
    return value


def _int_list(value: Any, where: str) -> list[int]:
    if not isinstance(value, list) or not all(type(x) is int for x in value):
        raise PayloadError("bad_type", f"field {where!r} must be a list of integers")
    return value


def _header(body: dict[str, Any]) -> tuple[str, int, int]:
    _version(body)
    edge = _field(body, "edge", str)
    seq = _field(body, "seq", int)
    created = _field(body, "created", int)
    if not 0 <= seq <= MAX_SEQ:
        raise PayloadError("bad_value", f"seq {seq} must lie in 0..{MAX_SEQ}")
    return edge, seq, created


def _columns(body: dict[str, Any], name: str) -> Columns:
    raw = body.get(name, {"k": [], "t": [], "v": [], "q": []})
    if not isinstance(raw, dict):
        raise PayloadError("bad_type", f"field {name!r} must be a map of columns")
    cols = [_field(raw, c, list, f"{name}.") for c in "ktvq"]
    if len({len(c) for c in cols}) != 1:
        raise PayloadError("bad_columns", f"columns of {name!r} differ in length: "
                           + ", ".join(f"{c}={len(v)}" for c, v in zip("ktvq", cols, strict=True)))
    return Columns(*cols)


def decode_data(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> DataBatch:
    """Decode and structurally check a data batch; raises PayloadError with a stable reason code."""
    body = _unpack(payload, limits)
    edge, seq, created = _header(body)
    keys = _field(body, "keys", list)
    if len(keys) > limits.max_keys:
        raise PayloadError("too_many_keys", f"{len(keys)} tag keys exceed the limit of {limits.max_keys}")
    for key in keys:
        _check_key(key, "tag key", limits)
    num, txt = _columns(body, "num"), _columns(body, "txt")
    total = len(num) + len(txt)
    if total > limits.max_samples:
        raise PayloadError("too_many_samples", f"{total} samples exceed the limit of {limits.max_samples}")
    raw_events = body.get("evt", [])
    if not isinstance(raw_events, list):
        raise PayloadError("bad_type", "field 'evt' must be a list")
    if len(raw_events) > limits.max_events:
        raise PayloadError("too_many_events", f"{len(raw_events)} events exceed the limit of {limits.max_events}")
    events = [_event(e, i, len(keys), limits) for i, e in enumerate(raw_events)]
    return DataBatch(edge, seq, created, keys, num, txt, events)


def _check_key(key: Any, where: str, limits: Limits) -> None:
    # Only the type of a non-string is named: the repr of a deeply nested value can itself fail.
    if not isinstance(key, str):
        raise PayloadError("bad_key", f"{where} must be a string, got {type(key).__name__}")
    if not 0 < len(key) <= limits.max_key_len or "\x00" in key:
        raise PayloadError("bad_key", f"{where} {key[:80]!r} must have 1..{limits.max_key_len} characters "
                           "and no NUL")


def _event(raw: Any, i: int, n_keys: int, limits: Limits) -> Event:
    where = f"evt[{i}]."
    if not isinstance(raw, dict):
        raise PayloadError("bad_type", f"evt[{i}] must be a map")
    k = _field(raw, "k", int, where)
    if not 0 <= k < n_keys:
        raise PayloadError("bad_key_index", f"{where}k={k} is outside the key table of {n_keys}")
    kind = _field(raw, "kind", str, where)
    if kind not in EVENT_KINDS:
        raise PayloadError("bad_value", f"{where}kind {kind!r} is not one of {sorted(EVENT_KINDS)}")
    texts = {}
    for name in ("value", "code", "text"):
        value = raw.get(name, "")
        if not isinstance(value, str) or len(value) > limits.max_text_len:
            raise PayloadError("bad_type", f"{where}{name} must be a string of at most {limits.max_text_len}")
        texts[name] = value
    attrs = raw.get("attrs", {})
    if not isinstance(attrs, dict):
        raise PayloadError("bad_type", f"{where}attrs must be a map")
    return Event(k, _field(raw, "t", int, where), kind, attrs=attrs, **texts)


def decode_meta(payload: bytes, limits: Limits = DEFAULT_LIMITS) -> MetaBatch:
    body = _unpack(payload, limits)
    edge, seq, created = _header(body)
    raw_tags = _field(body, "tags", list)
    if len(raw_tags) > limits.max_meta_tags:
        raise PayloadError("too_many_keys", f"{len(raw_tags)} tags exceed the limit of {limits.max_meta_tags}")
    tags = []
    for i, raw in enumerate(raw_tags):
        where = f"tags[{i}]."
        if not isinstance(raw, dict):
            raise PayloadError("bad_type", f"tags[{i}] must be a map")
        key = _field(raw, "key", str, where)
        _check_key(key, f"{where}key", limits)
        data_type = _field(raw, "type", str, where)
        strings = {n: raw.get(n, "") for n in ("unit", "role", "description")}
        for name, value in strings.items():
            if not isinstance(value, str) or len(value) > limits.max_text_len:
                raise PayloadError("bad_type", f"{where}{name} must be a string")
        # PostgreSQL text cannot hold NUL; refused here, a tag would otherwise fail the database transaction.
        for name, value in (("type", data_type), *strings.items()):
            if "\x00" in value:
                raise PayloadError("bad_value", f"{where}{name} contains NUL")
        attrs = raw.get("attrs", {})
        if not isinstance(attrs, dict):
            raise PayloadError("bad_type", f"{where}attrs must be a map")
        tags.append(TagMeta(key, data_type, attrs=attrs, **strings))
    return MetaBatch(edge, seq, created, tags)


def peek_seq(payload: bytes) -> tuple[str, int] | None:
    """Edge and seq of a payload that failed validation, when they can still be read (to ack it as dead)."""
    try:
        body = _unpack(payload, DEFAULT_LIMITS)
    except PayloadError:
        return None
    edge, seq = body.get("edge"), body.get("seq")
    if isinstance(edge, str) and type(seq) is int and 0 <= seq <= MAX_SEQ:
        return edge, seq
    return None
