"""The Sparkplug host session (births, data, deaths, reordering) fed sequences of plausible, broken and random
messages: ``handle`` raises PayloadError and nothing else, what comes out is well-formed, and the alias cache it
writes can always be read back. The cache reader itself refuses a damaged file with PermanentError only."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import fuzz
from tests.fuzz.mutate import mutated_bytes
from tests.fuzz.protobuf import broken
from tonghu.collectors.sparkplug import state
from tonghu.collectors.sparkplug.codec import Metric, Payload, PropertyValue, decode_payload, encode_payload
from tonghu.collectors.sparkplug.config import MappingConfig
from tonghu.collectors.sparkplug.datatypes import DataType
from tonghu.collectors.sparkplug.mapping import KeyMapper
from tonghu.collectors.sparkplug.session import HostSession, Output, SessionConfig
from tonghu.common.errors import PayloadError, PermanentError
from tonghu.common.sample import STATUS_MAX
from tonghu.common.tagkey import parse_key

D = DataType
NAMES = ["Temperature", "bdSeq", "Count", "Node Control/Rebirth", "Motor 1/Speed", "é/中", "", "TEMPERATURE"]
TOPICS = [*(f"spBv1.0/g1/{t}/n1" for t in ("NBIRTH", "NDATA", "NDEATH", "NCMD")),
          *(f"spBv1.0/g1/{t}/n1/d1" for t in ("DBIRTH", "DDATA", "DDEATH", "DCMD")),
          "spBv1.0/STATE/host", "spBv1.0/g1/NDATA/n2", "spBv1.0/g1/NBIRTH/n1/d1", "spBv1.0/g+/NDATA/n1", "x/y"]
_VALUES = st.one_of(
    st.tuples(st.sampled_from([D.INT8, D.INT32, D.INT64, D.UINT64, D.DATETIME]), st.integers(0, 100)),
    st.tuples(st.sampled_from([D.INT64]), st.sampled_from([-(2**63), 2**63 - 1])),
    st.tuples(st.just(D.UINT64), st.just(2**64 - 1)),
    st.tuples(st.sampled_from([D.DOUBLE, D.FLOAT]), st.floats(width=32)),
    st.tuples(st.just(D.BOOLEAN), st.booleans()),
    st.tuples(st.sampled_from([D.STRING, D.TEXT]), st.text(max_size=8)),
    st.tuples(st.sampled_from([D.BYTES, D.INT32_ARRAY]), st.binary(max_size=8)),
    st.tuples(st.sampled_from([D.DOUBLE, D.STRING]), st.none()))
_PROPS = st.dictionaries(st.sampled_from(["Quality", "engUnit", "documentation", "x"]), st.one_of(
    st.builds(PropertyValue.of, st.just(D.INT32), st.sampled_from([0, 192, 500, 7])),
    st.builds(PropertyValue.of, st.just(D.STRING), st.text(max_size=8)),
    st.builds(PropertyValue.of, st.just(D.DOUBLE), st.floats())), max_size=2)


def _metric(name: str | None, v: tuple[int, object], alias: int | None, ts: int | None, flags: tuple[bool, bool],
            props: dict[str, PropertyValue], strip: bool) -> Metric:
    m = Metric.of(name, v[0], v[1], alias=alias, timestamp=ts, is_historical=flags[0], is_transient=flags[1],
                  properties=props)
    # DATA messages usually carry neither name nor datatype (§6.4.6): only the alias says which metric it is.
    return replace(m, name=None, datatype=None) if strip else m


_METRIC = st.builds(_metric, st.sampled_from(NAMES) | st.none(), _VALUES, st.none() | st.integers(0, 4),
                    st.none() | st.integers(0, 2**64 - 1), st.tuples(st.booleans(), st.booleans()), _PROPS,
                    st.booleans())
PLAUSIBLE = st.builds(lambda ts, metrics, seq: encode_payload(Payload(ts, metrics, seq)),
                      st.none() | st.sampled_from([1_700_000_000_000, 0, 2**64 - 1]), st.lists(_METRIC, max_size=5),
                      st.none() | st.integers(0, 260))
PAYLOADS = st.one_of(PLAUSIBLE, PLAUSIBLE, broken(), mutated_bytes(PLAUSIBLE), st.binary(max_size=40))
STEPS = st.lists(st.tuples(st.sampled_from(TOPICS) | st.text(max_size=20), PAYLOADS,
                           st.sampled_from([0, 1000, 300_000, 3_000_000, 20_000_000])), min_size=1, max_size=14)


def check_output(out: Output, now_us: int) -> None:
    for s in out.samples:
        parse_key(s.key)
        assert isinstance(s.value, bool | int | float | str) and 0 <= s.status <= STATUS_MAX
        assert s.receive_ts_us == now_us and type(s.source_ts_us) is int
    for tag in out.tags:
        parse_key(tag.key)
    for action in out.actions:
        assert action.topic.startswith("spBv1.0/") and decode_payload(action.payload(now_us // 1000)).metrics


@fuzz(0.5)
@given(STEPS)
def test_message_sequences(steps: list[tuple[str, bytes, int]]) -> None:
    mapper = KeyMapper(MappingConfig())
    session = HostSession(mapper.key_of, SessionConfig(max_held=4))
    now = 1_700_000_000_000_000
    for topic, payload, dt in steps:
        now += dt
        with contextlib.suppress(PayloadError):
            check_output(session.handle(topic, payload, now), now)
        check_output(session.poll(now), now)
        session.next_deadline()
    restored = HostSession.from_json(session.to_json(), mapper.key_of)
    for group, node, device in (("g1", "n1", None), ("g1", "n1", "d1"), ("g1", "n2", None)):
        assert restored.is_online(group, node, device) == session.is_online(group, node, device)


def _cache() -> str:
    """The alias cache of a session that saw a node and a device being born."""
    session = HostSession(KeyMapper(MappingConfig()).key_of)
    metrics = [Metric.of(name, D.DOUBLE, 1.0, alias=i) for i, name in enumerate(NAMES[:3])]
    session.handle("spBv1.0/g1/NBIRTH/n1", encode_payload(Payload(1, metrics, 0)), 1)
    session.handle("spBv1.0/g1/DBIRTH/n1/d1", encode_payload(Payload(1, metrics, 1)), 2)
    return session.to_json()


CACHE = _cache()
_CACHE_JSON = st.one_of(
    st.text(max_size=80),
    st.builds(lambda nodes: f'{{"version": 1, "nodes": {nodes}}}', st.recursive(
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(), st.booleans()),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
            st.sampled_from(["group", "node", "bdseq", "metrics", "devices", "x"]), inner, max_size=5),
        max_leaves=20).map(json.dumps)))


@fuzz()
@given(st.one_of(_CACHE_JSON, mutated_bytes(CACHE.encode()).map(lambda b: b.decode("utf-8", "replace"))))
def test_damaged_alias_cache(text: str) -> None:
    with contextlib.suppress(PermanentError):
        for node in state.load(text, KeyMapper(MappingConfig()).key_of):
            assert isinstance(node.group, str) and isinstance(node.node, str)


@pytest.mark.parametrize("text", ["[" * 50_000, '{"version": 1, "nodes": ' + "[" * 5000])
def test_deeply_nested_alias_cache(text: str) -> None:
    # Only a file written by something else can look like this; a collector that meets it fails every start.
    with pytest.raises(PermanentError):
        state.load(text, KeyMapper(MappingConfig()).key_of)
