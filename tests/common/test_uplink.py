from __future__ import annotations

import msgpack
import pytest

from tonghu.common.errors import PayloadError
from tonghu.common.sample import STATUS_BAD, STATUS_UNCERTAIN, Quality, Sample
from tonghu.common.uplink import (
    Limits,
    TagMeta,
    decode_ack,
    decode_data,
    decode_meta,
    encode_ack,
    encode_data,
    encode_meta,
    peek_seq,
)


def test_data_round_trip_keeps_types_and_groups_keys() -> None:
    samples = [Sample("a/l/m/temp", 10, 21.5), Sample("a/l/m/count", 10, 7, STATUS_UNCERTAIN),
               Sample("a/l/m/run", 11, True), Sample("a/l/m/state", 12, "running", STATUS_BAD),
               Sample("a/l/m/temp", 13, -0.25)]
    batch = decode_data(encode_data("e1", 42, 99, samples, [("a/l/m/state", 12, "state", "down", "R17", "jam")]))
    assert (batch.edge, batch.seq, batch.created_us) == ("e1", 42, 99)
    assert batch.keys == ["a/l/m/temp", "a/l/m/count", "a/l/m/run", "a/l/m/state"]
    assert batch.num.k == [0, 1, 2, 0] and batch.num.v == [21.5, 7, True, -0.25]
    assert batch.num.q == [0, STATUS_UNCERTAIN, 0, 0]
    assert (batch.txt.k, batch.txt.v, batch.txt.q) == ([3], ["running"], [STATUS_BAD])
    assert batch.events[0].code == "R17" and batch.events[0].k == 3
    assert batch.sample_count == 5


def test_quality_from_status_code() -> None:
    assert Quality.of_status(0x00000000) is Quality.GOOD
    assert Quality.of_status(0x408F0000) is Quality.UNCERTAIN
    assert Quality.of_status(0x80340000) is Quality.BAD
    assert Quality.of_status(0xC0000000) is Quality.BAD


def _body(**over: object) -> bytes:
    body = {"v": 1, "edge": "e", "seq": 1, "created": 5, "keys": ["a/b/c/d"],
            "num": {"k": [0], "t": [1], "v": [1.0], "q": [0]}}
    body.update(over)
    return msgpack.packb({k: v for k, v in body.items() if v is not None})


@pytest.mark.parametrize(("payload", "reason"), [
    (b"{not msgpack", "not_decodable"),
    (b"\xc1", "not_decodable"),
    (msgpack.packb([1, 2]), "bad_type"),
    (_body(v=2), "bad_schema_version"),
    (_body(v=None), "bad_schema_version"),
    (_body(seq=None), "missing_field"),
    (_body(seq="1"), "bad_type"),
    (_body(seq=True), "bad_type"),
    (_body(seq=-1), "bad_value"),
    (_body(keys="a"), "bad_type"),
    (_body(keys=[""]), "bad_key"),
    (_body(num={"k": [0], "t": [1], "v": [1.0]}), "missing_field"),
    (_body(num={"k": [0, 0], "t": [1], "v": [1.0], "q": [0]}), "bad_columns"),
    (_body(num=[1]), "bad_type"),
    (_body(evt=[{"k": 5, "t": 1, "kind": "state"}]), "bad_key_index"),
    (_body(evt=[{"k": 0, "t": 1, "kind": "party"}]), "bad_value"),
])
def test_structural_errors_have_stable_reasons(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        decode_data(payload)
    assert err.value.reason == reason


def test_size_limits() -> None:
    big = encode_data("e", 1, 1, [Sample("a/b/c/d", i, 1.0) for i in range(50)])
    with pytest.raises(PayloadError, match="oversize"):
        decode_data(big, Limits(max_payload_bytes=100))
    with pytest.raises(PayloadError, match="too_many_samples"):
        decode_data(big, Limits(max_samples=49))


def test_meta_and_ack_round_trip() -> None:
    meta = decode_meta(encode_meta("e", 3, 4, [TagMeta("a/b/c/t", "float", "degC", "temperature",
                                                       attrs={"hi": 250})]))
    assert meta.tags[0].unit == "degC" and meta.tags[0].attrs == {"hi": 250} and meta.seq == 3
    assert decode_ack(encode_ack([3, 1], [2])) == ([1, 3], [2])


def test_peek_seq_only_when_readable() -> None:
    assert peek_seq(_body(v=9, seq=77)) == ("e", 77)
    assert peek_seq(b"garbage") is None


@pytest.mark.parametrize("seq", [-1, 2**63, 2**64 - 1])
def test_seq_must_fit_a_bigint(seq: int) -> None:
    # Stored as PostgreSQL bigint: a larger seq failed the whole transaction and was never acknowledged.
    with pytest.raises(PayloadError) as err:
        decode_data(_body(seq=seq))
    assert err.value.reason == "bad_value"
    assert peek_seq(_body(v=9, seq=seq)) is None


def test_keys_with_nul_or_deep_nesting_are_bad_keys() -> None:
    nested: object = "k"
    for _ in range(1000):  # its repr exceeds the recursion limit
        nested = [nested]
    for key in ("a/b/c/\x00", nested):
        with pytest.raises(PayloadError) as err:
            decode_data(_body(keys=[key]))
        assert err.value.reason == "bad_key"


@pytest.mark.parametrize("field", ["key", "type", "unit", "role", "description"])
def test_meta_text_with_nul_is_refused(field: str) -> None:
    # PostgreSQL text cannot hold NUL: such a tag failed the whole transaction and was never acknowledged.
    tag = {"key": "a/b/c/t", "type": "float", field: "x\x00y"}
    with pytest.raises(PayloadError) as err:
        decode_meta(msgpack.packb({"v": 1, "edge": "e", "seq": 1, "created": 0, "tags": [tag]}))
    assert err.value.reason == ("bad_key" if field == "key" else "bad_value")
