"""Per-sample checks of a decoded batch, with array operations on the numeric columns.

Output is what the writer loads plus the rejected samples grouped by reason; a rejected sample never stops
the rest of its batch from being stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tonghu.common.sample import STATUS_BAD, STATUS_MAX
from tonghu.common.uplink import DataBatch, Limits

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_NUMBER_TYPES = frozenset({float, int, bool})


@dataclass(slots=True)
class Rejects:
    """Rejected samples of one batch by reason; each entry is (key, µs, value, status)."""

    by_reason: dict[str, list[tuple[str, int, Any, int]]] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, detail: str, item: tuple[str, int, Any, int]) -> None:
        self.by_reason.setdefault(reason, []).append(item)
        self.details.setdefault(reason, detail)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.by_reason.values())


@dataclass(slots=True)
class Prepared:
    num_tag: np.ndarray      # int32
    num_ts: np.ndarray       # int64, µs since the Unix epoch
    num_value: np.ndarray    # float64
    num_status: np.ndarray   # int32 (status code as two's complement)
    txt_rows: list[tuple[int, int, str, int]]
    event_rows: list[tuple[int, int, str, str, str, str, dict[str, Any]]]
    rejects: Rejects

    @property
    def sample_count(self) -> int:
        return len(self.num_tag) + len(self.txt_rows)


@dataclass(frozen=True, slots=True)
class Window:
    """Accepted source times, in µs since the Unix epoch."""

    lo_us: int
    hi_us: int


def _ints(values: list[Any], lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 array, bad mask) for a column that must hold integers within [lo, hi]."""
    if set(map(type, values)) <= {int}:
        try:
            arr = np.array(values, dtype=np.int64)
            return arr, (arr < lo) | (arr > hi)
        except OverflowError:
            pass
    bad = np.array([not (type(x) is int and lo <= x <= hi) for x in values], dtype=bool)
    arr = np.array([x if not b else 0 for x, b in zip(values, bad, strict=True)], dtype=np.int64)
    return arr, bad


def _floats(values: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    # Checked by type first: numpy would silently turn None into NaN and "1.5" into 1.5.
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            return np.array(values, dtype=np.float64), np.zeros(len(values), dtype=bool)
        except OverflowError:
            pass
    bad = np.array([not (type(x) in _NUMBER_TYPES and _fits_float(x)) for x in values], dtype=bool)
    arr = np.array([float(x) if not b else 0.0 for x, b in zip(values, bad, strict=True)], dtype=np.float64)
    return arr, bad


def _fits_float(x: float | int | bool) -> bool:
    try:
        float(x)
    except OverflowError:
        return False
    return True


def prepare(batch: DataBatch, tags: dict[str, tuple[int, str]], window: Window, limits: Limits) -> Prepared:
    """Check every sample; ``tags`` maps each known key to (tag id, data type)."""
    rejects = Rejects()
    n_keys = len(batch.keys)
    # Per key: tag id (-1 unknown) and whether it is a text tag; looked up once per key, not per sample.
    tag_of_key = np.full(n_keys + 1, -1, dtype=np.int64)
    text_of_key = np.zeros(n_keys + 1, dtype=bool)
    for i, key in enumerate(batch.keys):
        hit = tags.get(key)
        if hit is not None:
            tag_of_key[i] = hit[0]
            text_of_key[i] = hit[1] in ("string", "state")

    num = batch.num
    k, bad_k = _ints(num.k, 0, n_keys - 1)
    t, bad_t = _ints(num.t, INT64_MIN, INT64_MAX)
    v, bad_v = _floats(num.v)
    q, bad_q = _ints(num.q, 0, STATUS_MAX)
    k = np.where(bad_k, n_keys, k)  # the sentinel slot holds -1: an unknown tag
    tag = tag_of_key[k]
    checks = [
        ("bad_type", "value must be a number or bool, time and status integers", bad_t | bad_v),
        ("bad_key_index", f"key index outside the batch's key table of {n_keys}", bad_k),
        ("bad_status", "status must be a 32-bit OPC UA status code", bad_q),
        ("unknown_tag", "tag key not registered for this site (publish its meta first)", tag < 0),
        ("wrong_type", "numeric value for a string/state tag", text_of_key[k]),
        ("time_out_of_window", f"source time outside [{window.lo_us}, {window.hi_us}] µs",
         (t < window.lo_us) | (t > window.hi_us)),
        # A bad-quality sample may carry NaN (no value); a good one must be a real number.
        ("non_finite", "non-finite value with good or uncertain status", ~np.isfinite(v) & (q < STATUS_BAD)),
    ]
    keep = np.ones(len(num), dtype=bool)
    for reason, detail, mask in checks:
        hit = mask & keep
        if hit.any():
            for i in np.flatnonzero(hit).tolist():
                key = batch.keys[k[i]] if k[i] < n_keys else _index_label(num.k[i])
                rejects.add(reason, detail, (key, num.t[i], num.v[i], num.q[i]))
            keep &= ~hit
    if not keep.all():
        tag, t, v, q = tag[keep], t[keep], v[keep], q[keep]
    status = q.astype(np.uint32).view(np.int32)

    txt_rows = _text_rows(batch, tag_of_key, text_of_key, window, limits, rejects)
    event_rows = _event_rows(batch, tag_of_key, window, rejects)
    return Prepared(tag.astype(np.int32), t, v, status, txt_rows, event_rows, rejects)


def _text_rows(batch: DataBatch, tag_of_key: np.ndarray, text_of_key: np.ndarray, window: Window,
               limits: Limits, rejects: Rejects) -> list[tuple[int, int, str, int]]:
    rows = []
    n_keys = len(batch.keys)
    txt = batch.txt
    for k, t, v, q in zip(txt.k, txt.t, txt.v, txt.q, strict=True):
        valid_k = type(k) is int and 0 <= k < n_keys
        key = batch.keys[k] if valid_k else _index_label(k)
        item = (key, t, v, q)
        if not (type(t) is int and type(q) is int and isinstance(v, str)):
            rejects.add("bad_type", "text value must be a string, time and status integers", item)
        elif not valid_k:
            rejects.add("bad_key_index", f"key index outside the batch's key table of {n_keys}", item)
        elif not 0 <= q <= STATUS_MAX:
            rejects.add("bad_status", "status must be a 32-bit OPC UA status code", item)
        elif tag_of_key[k] < 0:
            rejects.add("unknown_tag", "tag key not registered for this site (publish its meta first)", item)
        elif not text_of_key[k]:
            rejects.add("wrong_type", "text value for a numeric tag", item)
        elif not window.lo_us <= t <= window.hi_us:
            rejects.add("time_out_of_window", f"source time outside [{window.lo_us}, {window.hi_us}] µs", item)
        elif len(v) > limits.max_text_len or "\x00" in v:
            rejects.add("bad_value", f"text longer than {limits.max_text_len} or containing NUL", item)
        else:
            rows.append((int(tag_of_key[k]), t, v, q - (1 << 32) if q >= 1 << 31 else q))
    return rows


def _index_label(k: Any) -> str:
    # What stands in for the key of a sample whose key index is unusable; the repr of an arbitrary decoded
    # value can fail (a list nested a thousand deep exceeds the recursion limit), so only numbers are shown.
    return f"#{k!r}" if type(k) in (int, float, bool) else f"#<{type(k).__name__}>"


def _event_rows(batch: DataBatch, tag_of_key: np.ndarray, window: Window,
                rejects: Rejects) -> list[tuple[int, int, str, str, str, str, dict[str, Any]]]:
    rows = []
    for e in batch.events:
        key = batch.keys[e.k]
        item = (key, e.t, f"{e.kind}:{e.value}:{e.code}", 0)
        if tag_of_key[e.k] < 0:
            rejects.add("unknown_tag", "event for a tag key not registered for this site", item)
        elif not window.lo_us <= e.t <= window.hi_us:
            rejects.add("time_out_of_window", "event time outside the accepted window", item)
        elif any("\x00" in s for s in (e.value, e.code, e.text)) or not json_safe(e.attrs):
            rejects.add("bad_value", "event text with NUL or attrs that are not JSON", item)
        else:
            rows.append((int(tag_of_key[e.k]), e.t, e.kind, e.value, e.code, e.text, e.attrs))
    return rows


def json_safe(value: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if value is None or isinstance(value, bool | int | str):
        return not isinstance(value, str) or "\x00" not in value
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(json_safe(x, depth + 1) for x in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and json_safe(x, depth + 1) for k, x in value.items())
    return False
