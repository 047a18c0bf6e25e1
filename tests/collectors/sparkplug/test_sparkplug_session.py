from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tonghu.collectors.sparkplug.codec import Metric, Payload, PropertyValue, decode_payload, encode_payload
from tonghu.collectors.sparkplug.datatypes import DataType
from tonghu.collectors.sparkplug.session import STATUS_STALE, HostSession, Output, SessionConfig
from tonghu.common.errors import PayloadError, PermanentError
from tonghu.common.sample import STATUS_BAD, STATUS_GOOD, STATUS_UNCERTAIN, Quality, Sample

D = DataType
G, N, DEV = "Plant 1", "gw1", "press"
T0_MS = 1_700_000_000_000
T0 = T0_MS * 1000  # µs
SECOND = 1_000_000
KEYS = {(G, N, None, "Temp"): "hall/l1/gw1/temp", (G, N, None, "Mode"): "hall/l1/gw1/mode",
        (G, N, DEV, "Count"): "hall/l1/press/count", (G, N, DEV, "Running"): "hall/l1/press/running",
        ("Plant 2", N, None, "Temp"): "hall2/l1/gw1/temp"}


def key_of(group: str, node: str, device: str | None, metric: str) -> str | None:
    return KEYS.get((group, node, device, metric))


def topic(kind: str, device: str | None = None, group: str = G) -> str:
    return f"spBv1.0/{group}/{kind}/{N}" + (f"/{device}" if device else "")


def nbirth(seq: int = 0, bdseq: int = 0, ts: int = T0_MS) -> bytes:
    return encode_payload(Payload(timestamp=ts, seq=seq, metrics=[
        Metric.of("bdSeq", D.INT64, bdseq, timestamp=ts),
        Metric.of("Node Control/Rebirth", D.BOOLEAN, False, timestamp=ts),
        Metric.of("Temp", D.FLOAT, 20.5, alias=1, timestamp=ts,
                  properties={"engUnit": PropertyValue.of(D.STRING, "°C")}),
        Metric.of("Mode", D.STRING, "auto", alias=2, timestamp=ts),
    ]))


def dbirth(seq: int, ts: int = T0_MS) -> bytes:
    return encode_payload(Payload(timestamp=ts, seq=seq, metrics=[
        Metric.of("Count", D.INT32, -3, alias=10, timestamp=ts),
        Metric.of("Running", D.BOOLEAN, True, alias=11, timestamp=ts),
    ]))


def data(seq: int | None, *metrics: tuple[int, DataType, object], ts: int = T0_MS, **flags: object) -> bytes:
    """A DATA payload as edge nodes send it: aliases only, no datatype (§6.4.6)."""
    built = []
    for alias, datatype, value in metrics:
        m = Metric.of(None, datatype, value, alias=alias, timestamp=ts, **flags)  # type: ignore[arg-type]
        built.append(Metric(alias=alias, timestamp=ts, is_historical=m.is_historical,
                            is_transient=m.is_transient, properties=m.properties, kind=m.kind, raw=m.raw))
    return encode_payload(Payload(timestamp=ts, seq=seq, metrics=built))


def temp(seq: int | None, value: float, ts: int = T0_MS) -> bytes:
    return data(seq, (1, D.FLOAT, value), ts=ts)


def ndeath(bdseq: int | None) -> bytes:
    metrics = [] if bdseq is None else [Metric.of("bdSeq", D.INT64, bdseq)]
    return encode_payload(Payload(timestamp=T0_MS, metrics=metrics))


def born(**config: object) -> HostSession:
    s = HostSession(key_of, SessionConfig(**config))  # type: ignore[arg-type]
    s.handle(topic("NBIRTH"), nbirth(bdseq=5), T0)
    s.handle(topic("DBIRTH", DEV), dbirth(1), T0)
    return s


def values(out: Output) -> list[tuple[str, object]]:
    return [(s.key, s.value) for s in out.samples]


def test_births_register_aliases_and_data_resolves_them() -> None:
    s = HostSession(key_of)
    out = s.handle(topic("NBIRTH"), nbirth(), T0 + 5)
    assert out.samples == [Sample("hall/l1/gw1/temp", T0, 20.5, STATUS_GOOD, T0, T0 + 5),
                           Sample("hall/l1/gw1/mode", T0, "auto", STATUS_GOOD, T0, T0 + 5)]
    assert [(t.key, t.data_type, t.unit) for t in out.tags] == [("hall/l1/gw1/temp", "float", "°C"),
                                                              ("hall/l1/gw1/mode", "string", "")]
    assert s.counters.unmapped == 2  # bdSeq and Node Control/Rebirth are not mapped to tags
    out = s.handle(topic("DBIRTH", DEV), dbirth(1), T0)
    assert values(out) == [("hall/l1/press/count", -3), ("hall/l1/press/running", True)]
    out = s.handle(topic("NDATA"), temp(2, 21.25, ts=T0_MS + 1000), T0 + 2 * SECOND)
    assert out.samples == [Sample("hall/l1/gw1/temp", T0 + SECOND, 21.25, STATUS_GOOD, T0 + SECOND,
                                  T0 + 2 * SECOND)]
    out = s.handle(topic("DDATA", DEV), data(3, (10, D.INT32, -7), (11, D.BOOLEAN, False)), T0)
    assert values(out) == [("hall/l1/press/count", -7), ("hall/l1/press/running", False)]
    assert out.actions == [] and s.is_online(G, N) and s.is_online(G, N, DEV)
    assert s.counters.rebirths == 0


def test_seq_wraps_from_255_to_0_without_a_gap() -> None:
    s = born()
    seqs = [*range(2, 256), 0, 1, 2]
    outs = [s.handle(topic("NDATA"), temp(seq, float(i)), T0 + i) for i, seq in enumerate(seqs)]
    assert [o.samples[0].value for o in outs] == [float(i) for i in range(len(seqs))]
    assert not any(o.actions for o in outs)
    assert (s.counters.seq_gaps, s.counters.held, s.next_deadline()) == (0, 0, None)


def test_gap_requests_rebirth_only_after_the_reorder_timeout() -> None:
    s = born(reorder_timeout=timedelta(seconds=2))
    assert values(s.handle(topic("NDATA"), temp(2, 1.0), T0)) == [("hall/l1/gw1/temp", 1.0)]
    out = s.handle(topic("NDATA"), temp(4, 3.0), T0 + 1000)  # seq 3 is missing
    assert out.samples == [] and out.actions == []
    assert s.next_deadline() == T0 + 1000 + 2 * SECOND
    assert s.poll(T0 + 1000 + 2 * SECOND - 1) == Output()
    out = s.poll(T0 + 1000 + 2 * SECOND)
    assert [(a.group, a.node, a.reason) for a in out.actions] == [(G, N, "seq_gap")]
    assert values(out) == [("hall/l1/gw1/temp", 3.0)]  # held data is kept: it has its own timestamp
    out = s.handle(topic("NDATA"), temp(5, 4.0), T0 + 3 * SECOND)
    assert values(out) == [("hall/l1/gw1/temp", 4.0)] and out.actions == []
    assert (s.counters.seq_gaps, s.counters.gap_timeouts) == (1, 1)


def test_missing_message_arriving_in_time_avoids_the_rebirth() -> None:
    s = born()
    s.handle(topic("NDATA"), temp(2, 2.0), T0)
    assert s.handle(topic("NDATA"), temp(4, 4.0), T0 + 10).samples == []
    assert s.handle(topic("NDATA"), temp(5, 5.0), T0 + 20).samples == []
    out = s.handle(topic("NDATA"), temp(3, 3.0), T0 + SECOND)
    assert [v for _, v in values(out)] == [3.0, 4.0, 5.0] and out.actions == []
    assert s.next_deadline() is None
    assert s.poll(T0 + 60 * SECOND) == Output()


def test_reordered_dbirth_is_applied_before_the_ddata_behind_it() -> None:
    s = HostSession(key_of)
    s.handle(topic("NBIRTH"), nbirth(), T0)
    assert s.handle(topic("DDATA", DEV), data(2, (10, D.INT32, 9)), T0).samples == []
    out = s.handle(topic("DBIRTH", DEV), dbirth(1), T0)
    assert values(out) == [("hall/l1/press/count", -3), ("hall/l1/press/running", True),
                           ("hall/l1/press/count", 9)]
    assert out.actions == []


def test_late_and_duplicate_messages_are_dropped() -> None:
    s = born()
    s.handle(topic("NDATA"), temp(2, 2.0), T0)
    assert s.handle(topic("NDATA"), temp(2, 2.0), T0).samples == []  # already applied
    s.handle(topic("NDATA"), temp(5, 5.0), T0)
    assert s.handle(topic("NDATA"), temp(5, 5.0), T0).samples == []  # already held
    assert (s.counters.late, s.counters.duplicates) == (1, 1)


def test_too_many_held_messages_give_up_at_once() -> None:
    s = born(max_held=3)
    for seq in (3, 4, 5):
        assert s.handle(topic("NDATA"), temp(seq, float(seq)), T0).actions == []
    out = s.handle(topic("NDATA"), temp(6, 6.0), T0)
    assert [a.reason for a in out.actions] == ["seq_gap"]
    assert [v for _, v in values(out)] == [3.0, 4.0, 5.0, 6.0]


def test_data_before_birth_requests_rebirth() -> None:
    s = HostSession(key_of)
    out = s.handle(topic("NDATA"), temp(7, 1.0), T0)
    assert out.samples == [] and [a.reason for a in out.actions] == ["before_birth"]
    s2 = HostSession(key_of)
    s2.handle(topic("NBIRTH"), nbirth(), T0)
    out = s2.handle(topic("DDATA", "unknown-device"), data(1, (10, D.INT32, 1)), T0)
    assert out.samples == [] and [a.reason for a in out.actions] == ["before_birth"]
    assert s.counters.before_birth == s2.counters.before_birth == 1


def test_unknown_alias_requests_rebirth_but_known_values_are_kept() -> None:
    s = born()
    out = s.handle(topic("NDATA"), data(2, (1, D.FLOAT, 7.5), (99, D.INT32, 1)), T0)
    assert values(out) == [("hall/l1/gw1/temp", 7.5)]
    assert [a.reason for a in out.actions] == ["unknown_metric"]
    assert s.counters.unknown_metrics == 1


def test_value_contradicting_the_birth_requests_rebirth() -> None:
    s = born()
    out = s.handle(topic("NDATA"), data(2, (2, D.INT32, 5)), T0)  # 'Mode' was born a String
    assert out.samples == [] and [a.reason for a in out.actions] == ["bad_value"]


def test_rebirth_requests_are_throttled_per_node() -> None:
    s = born(rebirth_min_interval=timedelta(seconds=10))
    s.handle(topic("NBIRTH", group="Plant 2"), nbirth(), T0)
    unknown = data(None, (99, D.INT32, 1))
    assert len(s.handle(topic("NDATA"), unknown, T0).actions) == 1
    assert s.handle(topic("NDATA"), unknown, T0 + SECOND).actions == []
    assert s.handle(topic("NDATA"), unknown, T0 + 2 * SECOND).actions == []
    # Another node has its own budget.
    assert len(s.handle(topic("NDATA", group="Plant 2"), unknown, T0 + SECOND).actions) == 1
    assert s.next_deadline() == T0 + 10 * SECOND
    assert s.poll(T0 + 10 * SECOND - 1).actions == []
    assert [(a.group, a.reason) for a in s.poll(T0 + 10 * SECOND).actions] == [(G, "unknown_metric")]
    assert s.counters.rebirths_throttled == 2
    # A pending request is dropped when the node is reborn before it is due.
    assert s.handle(topic("NDATA"), unknown, T0 + 12 * SECOND).actions == []
    s.handle(topic("NBIRTH"), nbirth(), T0 + 13 * SECOND)
    assert s.next_deadline() is None and s.poll(T0 + 60 * SECOND).actions == []


def test_ndeath_with_a_stale_bdseq_is_ignored() -> None:
    s = born()  # NBIRTH had bdSeq 5
    out = s.handle(topic("NDEATH"), ndeath(4), T0 + SECOND)
    assert out == Output() and s.is_online(G, N) and s.counters.deaths_ignored == 1
    assert values(s.handle(topic("NDATA"), temp(2, 1.0), T0)) == [("hall/l1/gw1/temp", 1.0)]


def test_ndeath_marks_every_known_metric_stale_at_the_host_time() -> None:
    s = born()
    s.handle(topic("NDATA"), temp(2, 22.0, ts=T0_MS + 500), T0 + SECOND)
    now = T0 + 5 * SECOND
    out = s.handle(topic("NDEATH"), ndeath(5), now)
    assert sorted((x.key, x.value, x.source_ts_us) for x in out.samples) == [
        ("hall/l1/gw1/mode", "auto", now), ("hall/l1/gw1/temp", 22.0, now),
        ("hall/l1/press/count", -3, now), ("hall/l1/press/running", True, now)]
    assert {x.status for x in out.samples} == {STATUS_STALE}
    assert Quality.of_status(STATUS_STALE) is Quality.BAD
    assert not s.is_online(G, N) and not s.is_online(G, N, DEV)
    assert s.next_deadline() is None
    out = s.handle(topic("NDATA"), temp(3, 1.0), now + 20 * SECOND)
    assert out.samples == [] and [a.reason for a in out.actions] == ["before_birth"]


def test_stale_mark_is_newer_than_the_last_value_when_clocks_disagree() -> None:
    s = born()
    ahead_ms = T0_MS + 60_000  # the edge node's clock runs a minute ahead of the host's
    s.handle(topic("NDATA"), temp(2, 22.0, ts=ahead_ms), T0)
    out = s.handle(topic("NDEATH"), ndeath(None), T0 + SECOND)  # no bdSeq: honoured
    stale = {x.key: x.source_ts_us for x in out.samples}
    assert stale["hall/l1/gw1/temp"] == ahead_ms * 1000 + 1 and stale["hall/l1/gw1/mode"] == T0 + SECOND


def test_ddeath_marks_the_device_stale_at_the_payload_time() -> None:
    s = born()
    death_ms = T0_MS + 3000
    out = s.handle(topic("DDEATH", DEV), encode_payload(Payload(timestamp=death_ms, seq=2)), T0 + 4 * SECOND)
    assert sorted((x.key, x.value, x.source_ts_us, x.status) for x in out.samples) == [
        ("hall/l1/press/count", -3, death_ms * 1000, STATUS_STALE),
        ("hall/l1/press/running", True, death_ms * 1000, STATUS_STALE)]
    assert s.is_online(G, N) and not s.is_online(G, N, DEV)
    out = s.handle(topic("DDATA", DEV), data(3, (10, D.INT32, 1)), T0 + 5 * SECOND)
    assert out.samples == [] and [a.reason for a in out.actions] == ["before_birth"]
    assert values(s.handle(topic("NDATA"), temp(4, 1.0), T0)) == [("hall/l1/gw1/temp", 1.0)]
    assert s.handle(topic("DDEATH", DEV), encode_payload(Payload(timestamp=death_ms, seq=5)), T0).samples == []


def test_persisted_alias_cache_restores_resolution_without_rebirth() -> None:
    s1 = born()
    revision = s1.cache_revision
    text = s1.to_json()
    s2 = HostSession.from_json(text, key_of)
    assert s2.to_json() == text and s2.is_online(G, N, DEV)
    out = s2.handle(topic("NDATA"), temp(57, 23.5), T0 + 100 * SECOND)  # any seq: the new baseline
    assert values(out) == [("hall/l1/gw1/temp", 23.5)] and out.actions == []
    out = s2.handle(topic("DDATA", DEV), data(58, (10, D.INT32, -100)), T0 + 100 * SECOND)
    assert values(out) == [("hall/l1/press/count", -100)] and out.actions == []
    assert s2.handle(topic("NDEATH"), ndeath(6), T0).samples == []  # bdSeq was persisted too
    out = s2.handle(topic("NDEATH"), ndeath(5), T0 + 200 * SECOND)
    # Only values seen since the restart can be repeated as stale; the others are counted.
    assert sorted(k for k, _ in values(out)) == ["hall/l1/gw1/temp", "hall/l1/press/count"]
    assert s2.counters.stale_skipped == 2
    assert s2.to_json() == '{"version":1,"nodes":[]}'
    s1.handle(topic("DBIRTH", DEV), dbirth(2), T0)
    assert s1.cache_revision == revision + 1


def test_a_cache_that_is_not_usable_is_refused() -> None:
    for text in ("", "[]", '{"version": 2, "nodes": []}', '{"version": 1, "nodes": [{"group": "g"}]}',
                 '{"version":1,"nodes":[{"group":"g","node":"n","bdseq":"x","metrics":[],"devices":{}}]}',
                 '{"version":1,"nodes":[{"group":"g","node":"n","bdseq":1,"metrics":[["a",1]],"devices":{}}]}'):
        with pytest.raises(PermanentError):
            HostSession.from_json(text, key_of)


@pytest.mark.parametrize(("code", "status"), [(0, STATUS_BAD), (192, STATUS_GOOD), (500, STATUS_STALE),
                                              (7, STATUS_UNCERTAIN)])
def test_quality_property_sets_the_status(code: int, status: int) -> None:
    s = born()
    quality = {"Quality": PropertyValue.of(D.INT32, code)}
    out = s.handle(topic("NDATA"), data(2, (1, D.FLOAT, 1.0), properties=quality), T0)
    assert [x.status for x in out.samples] == [status]


def test_transient_null_and_historical_metrics() -> None:
    s = born()
    assert s.handle(topic("NDATA"), data(2, (1, D.FLOAT, 1.0), is_transient=True), T0).samples == []
    assert s.handle(topic("NDATA"), data(3, (1, D.FLOAT, None)), T0).samples == []
    out = s.handle(topic("NDATA"), data(4, (1, D.FLOAT, 9.0), ts=T0_MS - 60_000, is_historical=True), T0)
    assert values(out) == [("hall/l1/gw1/temp", 9.0)]  # stored, with its own old timestamp
    stale = s.handle(topic("NDEATH"), ndeath(5), T0 + SECOND).samples
    assert ("hall/l1/gw1/temp", 20.5) in [(x.key, x.value) for x in stale]  # not the historical 9.0
    assert (s.counters.transient, s.counters.nulls) == (1, 1)
    kept = born(store_transient=True)
    assert kept.handle(topic("NDATA"), data(2, (1, D.FLOAT, 1.0), is_transient=True), T0).samples


def test_malformed_messages_raise_and_leave_the_state_alone() -> None:
    s = born()
    for name, payload in ((topic("NDATA"), b"\x12\x05"), ("spBv1.0/g/NDATA", temp(2, 1.0)),
                          (topic("NDATA"), temp(300, 1.0))):
        with pytest.raises(PayloadError):
            s.handle(name, payload, T0)
    assert s.counters.malformed == 3
    assert values(s.handle(topic("NDATA"), temp(2, 1.0), T0)) == [("hall/l1/gw1/temp", 1.0)]
    assert s.handle(topic("NCMD"), b"\xff", T0) == Output()
    assert s.handle("spBv1.0/STATE/host", b"{}", T0) == Output()
    assert s.counters.ignored == 2


def test_nbirth_discards_held_messages() -> None:
    s = born()
    s.handle(topic("NDATA"), temp(3, 3.0), T0)  # held: seq 2 is missing
    out = s.handle(topic("NBIRTH"), nbirth(), T0 + 10)
    assert [v for _, v in values(out)] == [20.5, "auto"]
    assert s.counters.dropped_on_birth == 1 and s.next_deadline() is None
    assert s.poll(T0 + 60 * SECOND) == Output()


def test_rebirth_action_is_an_ncmd_with_node_control_rebirth() -> None:
    action = HostSession(key_of).handle(topic("NDATA"), temp(1, 1.0), T0).actions[0]
    assert action.topic == "spBv1.0/Plant 1/NCMD/gw1"
    payload = decode_payload(action.payload(T0_MS))
    assert [(m.name, m.value()) for m in payload.metrics] == [("Node Control/Rebirth", True)]


# ---------------------------------------------------------------------------------------------- properties

EVENTS = st.tuples(st.sampled_from(["NBIRTH", "NDATA", "NDEATH", "DBIRTH", "DDATA", "DDEATH", "RESTART"]),
                   st.none() | st.integers(0, 255), st.integers(0, 3 * SECOND), st.integers(0, 2),
                   st.sampled_from([1, 2, 10, 11, 99]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(EVENTS, max_size=60))
def test_random_message_streams_keep_the_session_consistent(
        events: list[tuple[str, int | None, int, int, int]]) -> None:
    config = SessionConfig(max_held=4, reorder_timeout=timedelta(seconds=2),
                           rebirth_min_interval=timedelta(seconds=5))
    s, now, rebirths = HostSession(key_of, config), T0, []
    types = {1: D.FLOAT, 2: D.STRING, 10: D.INT32, 11: D.BOOLEAN, 99: D.INT64}
    samples = {1: 1.5, 2: "x", 10: -1, 11: True, 99: 7}
    for kind, seq, step, bdseq, alias in events:
        now += step
        if kind == "RESTART":
            s, rebirths = HostSession.from_json(s.to_json(), key_of, config), []
            continue
        if kind == "NBIRTH":
            payload = nbirth(seq or 0, bdseq)
        elif kind == "NDEATH":
            payload = ndeath(bdseq or None)
        elif kind == "DBIRTH":
            payload = dbirth(seq or 0)
        else:
            payload = data(seq, (alias, types[alias], samples[alias]))
        out = s.handle(topic(kind, DEV if kind.startswith("D") else None), payload, now)
        assert {x.key for x in out.samples} <= set(KEYS.values())
        rebirths += [now for _ in out.actions]
        assert all(len(node.held) <= config.max_held for node in s._nodes.values())
        deadline = s.next_deadline()
        assert deadline is None or deadline > now  # nothing left overdue after a message
    assert all(b - a >= 5 * SECOND for a, b in itertools.pairwise(rebirths))
    # With no more messages the timers run out: at most a gap timeout, then one retried rebirth.
    for _ in range(3):
        deadline = s.next_deadline()
        if deadline is not None:
            s.poll(deadline)
    assert s.next_deadline() is None
    HostSession.from_json(s.to_json(), key_of)
