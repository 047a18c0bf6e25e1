"""The ingester's per-sample checks (``validate.prepare``) on whatever ``decode_data`` lets through.

``prepare`` documents no error at all: every sample is either kept for the database or rejected with a reason,
and a rejected one never stops the rest. The properties compare it with a plain per-sample restatement of
those checks, so numpy's conversions (big integers, bools, NaN) cannot quietly change a value or a verdict.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.batches import (
    ANY_VALID,
    INT64_MAX,
    INT64_MIN,
    MSGPACK_VALUES,
    NUMBERS,
    STATUSES,
    TEXT_VALUES,
    TIMES,
    Batch,
    batches,
    pack,
    spliced,
    tree_mutations,
)
from tests.fuzz.conftest import fuzz
from tonghu.common.errors import PayloadError
from tonghu.common.sample import STATUS_BAD, STATUS_MAX
from tonghu.common.uplink import DEFAULT_LIMITS, DataBatch, decode_data, encode_data
from tonghu.platform.ingest import deadletters, validate

TYPES = ["float", "int", "bool", "string", "state"]
LIMITS = DEFAULT_LIMITS


def _number(x: Any) -> bool:
    if type(x) not in (int, float, bool):
        return False
    try:
        float(x)
    except OverflowError:
        return False
    return True


def _int_in(x: Any, lo: int, hi: int) -> bool:
    return type(x) is int and lo <= x <= hi


def expected(batch: DataBatch, tags: dict[str, tuple[int, str]], w: validate.Window) -> tuple[list, list, dict]:
    """Kept numeric rows, kept text rows and reject counts by reason, sample by sample."""
    n = len(batch.keys)
    num, txt, rejects = [], [], {}

    def text_tag(k: int) -> bool:
        return tags[batch.keys[k]][1] in ("string", "state")

    for k, t, v, q in zip(batch.num.k, batch.num.t, batch.num.v, batch.num.q, strict=True):
        ok_k = _int_in(k, 0, n - 1)
        reason = (
            "bad_type" if not (_int_in(t, INT64_MIN, INT64_MAX) and _number(v)) else
            "bad_key_index" if not ok_k else
            "bad_status" if not _int_in(q, 0, STATUS_MAX) else
            "unknown_tag" if batch.keys[k] not in tags else
            "wrong_type" if text_tag(k) else
            "time_out_of_window" if not w.lo_us <= t <= w.hi_us else
            "non_finite" if not math.isfinite(float(v)) and q < STATUS_BAD else None)
        if reason:
            rejects[reason] = rejects.get(reason, 0) + 1
        else:
            num.append((tags[batch.keys[k]][0], t, struct.pack("<d", float(v)), q - (1 << 32) if q >= 1 << 31 else q))
    for k, t, v, q in zip(batch.txt.k, batch.txt.t, batch.txt.v, batch.txt.q, strict=True):
        ok_k = _int_in(k, 0, n - 1)
        reason = (
            "bad_type" if not (type(t) is int and type(q) is int and type(v) is str) else
            "bad_key_index" if not ok_k else
            "bad_status" if not 0 <= q <= STATUS_MAX else
            "unknown_tag" if batch.keys[k] not in tags else
            "wrong_type" if not text_tag(k) else
            "time_out_of_window" if not w.lo_us <= t <= w.hi_us else
            "bad_value" if len(v) > LIMITS.max_text_len or "\x00" in v else None)
        if reason:
            rejects[reason] = rejects.get(reason, 0) + 1
        else:
            txt.append((tags[batch.keys[k]][0], t, v, q - (1 << 32) if q >= 1 << 31 else q))
    return num, txt, rejects


def check(batch: DataBatch, tags: dict[str, tuple[int, str]], window: validate.Window) -> validate.Prepared:
    prep = validate.prepare(batch, tags, window, LIMITS)
    num, txt, rejects = expected(batch, tags, window)
    assert (prep.num_tag.dtype, prep.num_ts.dtype, prep.num_value.dtype, prep.num_status.dtype) == (
        np.int32, np.int64, np.float64, np.int32)
    got = [(int(a), int(b), struct.pack("<d", c), int(d)) for a, b, c, d in
           zip(prep.num_tag, prep.num_ts, prep.num_value, prep.num_status, strict=True)]
    assert got == num
    assert prep.txt_rows == txt
    for _tag, t, _kind, *texts, attrs in prep.event_rows:
        assert window.lo_us <= t <= window.hi_us and validate.json_safe(attrs)
        assert not any("\x00" in s for s in texts)
    sample_rejects = {r: len(items) for r, items in prep.rejects.by_reason.items()}
    events_rejected = len(batch.events) - len(prep.event_rows)
    assert sum(sample_rejects.values()) - sum(rejects.values()) == events_rejected
    assert all(sample_rejects.get(r, 0) >= c for r, c in rejects.items())
    # The writer stores every reason's rejects as one dead letter; building it must not fail either.
    for reason, items in prep.rejects.by_reason.items():
        letter = deadletters.for_samples("t", reason, prep.rejects.details[reason], items, 1, batch.seq)
        assert letter.sample_count == len(items)
    return prep


@st.composite
def registry(draw: st.DrawFn, keys: list[str]) -> dict[str, tuple[int, str]]:
    """Some of the batch's keys registered, with any data type."""
    known = draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
    return {k: (draw(st.integers(1, 2**31 - 1)), draw(st.sampled_from(TYPES))) for k in known}


WINDOWS = st.one_of(
    st.just(validate.Window(INT64_MIN, INT64_MAX)),
    st.builds(lambda lo, span: validate.Window(lo, lo + span),
              st.integers(1_600_000_000_000_000, 1_800_000_000_000_000), st.integers(0, 10**14)),
    st.builds(validate.Window, TIMES, TIMES))


def _decoded(payload: bytes) -> DataBatch | None:
    try:
        return decode_data(payload)
    except PayloadError:
        return None


@fuzz()
@given(st.one_of(tree_mutations(), spliced(), ANY_VALID), st.data())
def test_anything_decode_lets_through(payload: bytes, data: st.DataObject) -> None:
    batch = _decoded(payload)
    if batch is not None:
        check(batch, data.draw(registry(batch.keys)), data.draw(WINDOWS))


COLUMN_VALUES = st.one_of(MSGPACK_VALUES, NUMBERS, STATUSES, TIMES, st.integers(-2, 8))


@fuzz(0.5)
@given(st.lists(st.text(max_size=3, alphabet="ab/"), max_size=6), st.data())
def test_columns_of_anything(keys: list[str], data: st.DataObject) -> None:
    # Columns of equal length holding any MessagePack value: what a buggy or hostile edge can send.
    n = data.draw(st.integers(0, 12))
    cols = {c: data.draw(st.lists(COLUMN_VALUES, min_size=n, max_size=n)) for c in "ktvq"}
    txt = {c: data.draw(st.lists(st.one_of(MSGPACK_VALUES, TEXT_VALUES, STATUSES, st.integers(-2, 8)),
                                 min_size=n, max_size=n)) for c in "ktvq"}
    keys = [k for k in dict.fromkeys(keys) if k]
    payload = pack({"v": 1, "edge": "e", "seq": 1, "created": 0, "keys": keys, "num": cols, "txt": txt})
    batch = _decoded(payload) if payload is not None else None
    if batch is not None:
        check(batch, data.draw(registry(batch.keys)), data.draw(WINDOWS))


@fuzz()
@given(batches())
def test_valid_batches_keep_what_the_docs_promise(b: Batch) -> None:
    # Every key registered with the type its values need and every time inside the window: the only rejects
    # are the documented ones. A bad sample may carry NaN or infinity, a good or uncertain one may not; text
    # is at most max_text_len characters without NUL; statuses travel as int4, two's complement.
    batch = decode_data(encode_data(*b))
    text_keys = {s.key for s in b[3] if isinstance(s.value, str)}
    tags = {k: (i + 1, "string" if k in text_keys else "float") for i, k in enumerate(batch.keys)}
    numeric_keys = {s.key for s in b[3] if not isinstance(s.value, str)}
    prep = check(batch, tags, validate.Window(INT64_MIN, INT64_MAX))
    allowed = {"non_finite", "bad_value"} | ({"wrong_type"} if text_keys & numeric_keys else set())
    assert set(prep.rejects.by_reason) <= allowed
    numeric = [s for s in b[3] if not isinstance(s.value, str) and s.key not in text_keys]
    assert len(prep.num_tag) == sum(math.isfinite(float(s.value)) or s.status >= STATUS_BAD for s in numeric)
    texts = [s.value for s in b[3] if isinstance(s.value, str)]
    assert len(prep.txt_rows) == sum(len(v) <= LIMITS.max_text_len and "\x00" not in v for v in texts)


