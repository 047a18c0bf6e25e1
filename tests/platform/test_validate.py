"""validate.prepare on its own, without a database."""

from __future__ import annotations

import msgpack

from tonghu.common.uplink import DEFAULT_LIMITS, decode_data
from tonghu.platform.ingest import validate


def test_a_deeply_nested_key_index_is_rejected_not_raised() -> None:
    # The key label of a rejected sample used the index's repr, which fails for a list nested 1 000 deep.
    nested: object = 0
    for _ in range(1000):
        nested = [nested]
    payload = msgpack.packb({"v": 1, "edge": "e", "seq": 1, "created": 0, "keys": ["a/b/c/d"],
                             "num": {"k": [nested, 0], "t": [1, 1], "v": [1.0, 2.0], "q": [0, 0]},
                             "txt": {"k": [nested], "t": [1], "v": ["x"], "q": [0]}})
    prep = validate.prepare(decode_data(payload), {"a/b/c/d": (1, "float")}, validate.Window(0, 2), DEFAULT_LIMITS)
    assert prep.num_value.tolist() == [2.0]
    assert [key for key, *_ in prep.rejects.by_reason["bad_key_index"]] == ["#<list>", "#<list>"]
