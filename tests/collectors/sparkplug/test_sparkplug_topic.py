from __future__ import annotations

import pytest

from tonghu.collectors.sparkplug.topic import (
    MessageType,
    Topic,
    decode_state,
    encode_state,
    node_topic,
    parse_topic,
)
from tonghu.common.errors import PayloadError

M = MessageType


@pytest.mark.parametrize(("name", "expected"), [
    ("spBv1.0/Plant 1/NBIRTH/Gateway-7", Topic(M.NBIRTH, "Plant 1", "Gateway-7")),
    ("spBv1.0/g/NDATA/n", Topic(M.NDATA, "g", "n")),
    ("spBv1.0/g/NDEATH/n", Topic(M.NDEATH, "g", "n")),
    ("spBv1.0/g/NCMD/n", Topic(M.NCMD, "g", "n")),
    ("spBv1.0/g/DBIRTH/n/Press 3", Topic(M.DBIRTH, "g", "n", "Press 3")),
    ("spBv1.0/g/DDATA/n/d", Topic(M.DDATA, "g", "n", "d")),
    ("spBv1.0/g/DDEATH/n/d", Topic(M.DDEATH, "g", "n", "d")),
    ("spBv1.0/g/DCMD/n/d", Topic(M.DCMD, "g", "n", "d")),
    ("spBv1.0/STATE/scada-host-1", Topic(M.STATE, host_id="scada-host-1")),
])
def test_valid_topics_parse_and_rebuild(name: str, expected: Topic) -> None:
    assert parse_topic(name) == expected
    assert str(expected) == name


@pytest.mark.parametrize("name", [
    "spBv1.0", "spAv1.0/g/NDATA/n", "spBv1.0/g/NDATA", "spBv1.0/g/NDATA/n/d",  # node type with a device
    "spBv1.0/g/DDATA/n", "spBv1.0/g/XDATA/n", "spBv1.0/g/ndata/n",            # case matters (§5.2)
    "spBv1.0/STATE", "spBv1.0/STATE/h/x", "spBv1.0//NDATA/n", "spBv1.0/g/NDATA/",
    "spBv1.0/g+/NDATA/n", "spBv1.0/g/NDATA/#", "spBv1.0/g/DDATA/n/d/e", "spBv1.0/g/STATE/n",
])
def test_invalid_topics_are_refused(name: str) -> None:
    with pytest.raises(PayloadError) as err:
        parse_topic(name)
    assert err.value.reason == "bad_topic"


def test_node_topic_builds_and_checks() -> None:
    assert node_topic("g", M.NCMD, "n") == "spBv1.0/g/NCMD/n"
    assert node_topic("g", M.DCMD, "n", "d") == "spBv1.0/g/DCMD/n/d"
    with pytest.raises(PayloadError):
        node_topic("g#", M.NCMD, "n")


def test_state_payload_round_trips_and_ignores_extra_keys() -> None:
    assert decode_state(encode_state(True, 1_700_000_000_000)) == (True, 1_700_000_000_000)
    assert decode_state(b'{"online": false, "timestamp": 5, "bdSeq": 3}') == (False, 5)
    for bad in (b"", b"[]", b'{"online": 1}', b'{"online": true, "timestamp": -1}', b"\xff"):
        with pytest.raises(PayloadError):
            decode_state(bad)


def test_state_payload_nested_too_deeply_is_a_payload_error() -> None:
    # json.loads raises RecursionError (not ValueError) for deep nesting.
    for bad in (b"[" * 100_000, b'{"online":' * 5000):
        with pytest.raises(PayloadError) as err:
            decode_state(bad)
        assert err.value.reason == "bad_state"
