"""Whatever a device sends, decoding yields well-formed samples or raises PayloadError, nothing else."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import tonghu.collectors.mqtt as mqtt_pkg
from tonghu.collectors.mqtt.config import DataType, MqttConfig, load_config
from tonghu.collectors.mqtt.convert import MAX_TEXT, TS_MAX_US, TS_MIN_US
from tonghu.collectors.mqtt.mapping import MessageMapper
from tonghu.common.errors import PayloadError
from tonghu.common.sample import STATUS_BAD, STATUS_GOOD, STATUS_UNCERTAIN, Sample

RECV = 1_717_200_000_999_000
SAMPLE = load_config(Path(mqtt_pkg.__file__).with_name("sample.yaml"))
SAMPLE_TOPICS = ["plant/sz/meters/em07/telemetry", "factory/smt/l3/aoi/aoi1/result",
                 "plant/sz/sensors/t12/temperature"]

_TYPED = [(DataType.FLOAT, {"scale": 0.5, "offset": 1}), (DataType.INT, {"scale": 3}), (DataType.BOOL, {}),
          (DataType.STRING, {}), (DataType.STATE, {"states": {"1": "run"}})]
EVERY_TYPE = MqttConfig.model_validate({
    "broker": {"host": "localhost", "client_id": "fuzz"},
    "subscriptions": [
        {"topic": "iso/{dev}", "timestamp": {"path": "ts", "format": "iso8601", "on_missing": "receive_time"},
         "fields": [{"path": f"a.{t.value}", "asset": "a/l/{dev}", "tag": t.value, "data_type": t.value,
                     "quality": {"path": "q", "good": [0, "ok"], "uncertain": [1]}} | extra
                    for t, extra in _TYPED]},
        {"topic": "epoch/{dev}", "timestamp": {"path": "ts", "format": "epoch_ms"},
         "fields": [{"path": f"a[{i}]", "asset": "a/l/{dev}", "tag": t.value, "data_type": t.value} | extra
                    for i, (t, extra) in enumerate(_TYPED)]},
        *({"topic": f"plain/{t.value}", "payload": "plain",
           "fields": [{"asset": "a/l/x", "tag": t.value, "data_type": t.value} | extra]}
          for t, extra in _TYPED),
    ],
})
TYPES = {f"a/l/{dev}/{t.value}": t for dev in ("d1",) for t, _ in _TYPED} | {
    f"a/l/x/{t.value}": t for t, _ in _TYPED}
TOPICS = ["iso/d1", "epoch/d1", *(f"plain/{t.value}" for t, _ in _TYPED)]

_text = st.text(st.characters(exclude_categories=()), max_size=12)  # includes lone surrogates
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
                     st.floats(), _text, st.sampled_from(["ok", "1", " 2.5 ", "2024-06-01T00:00:00Z", "on"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=6), st.dictionaries(st.one_of(_text, st.sampled_from(["a", "ts", "q"])), inner,
                                                 max_size=6)), max_leaves=25)
_shaped = st.fixed_dictionaries({}, optional={
    "ts": _json, "q": _json, "a": st.one_of(_json, st.lists(_json, max_size=6), st.fixed_dictionaries(
        {}, optional={t.value: _json for t, _ in _TYPED}))})

# Mostly plausible values, so that whole messages also decode and the success path gets fuzzed too.
_plausible = {
    DataType.FLOAT: st.one_of(st.floats(), st.integers(),
                              st.from_regex(r"-?[0-9]{1,5}(\.[0-9]{0,3})?", fullmatch=True)),
    DataType.INT: st.one_of(st.integers(), st.integers(-10, 10).map(float)),
    DataType.BOOL: st.one_of(st.booleans(), st.sampled_from([0, 1, "on", "OFF", "true"])),
    DataType.STRING: st.one_of(_text, st.integers(), st.floats()),
    DataType.STATE: st.one_of(_text, st.integers()),
}
_iso_times = st.datetimes(allow_imaginary=False, timezones=st.timezones()).map(lambda d: d.isoformat())
_epoch_ms = st.integers(TS_MIN_US // 1000 - 10, TS_MAX_US // 1000 + 10)
_plausible_iso = st.fixed_dictionaries(
    {"a": st.fixed_dictionaries({t.value: _plausible[t] for t, _ in _TYPED})},
    optional={"ts": st.one_of(_iso_times, _json), "q": _scalars})
_plausible_epoch = st.fixed_dictionaries(
    {"a": st.tuples(*(_plausible[t] for t, _ in _TYPED)).map(list), "ts": st.one_of(_epoch_ms, _json)})


def _check(samples: list[Sample], types: dict[str, DataType] | None) -> None:
    assert samples
    for s in samples:
        assert s.status in (STATUS_GOOD, STATUS_UNCERTAIN, STATUS_BAD)
        assert s.source_ts_us == RECV or TS_MIN_US <= s.source_ts_us < TS_MAX_US
        assert s.receive_ts_us == RECV
        v = s.value
        if isinstance(v, str):
            assert len(v) <= MAX_TEXT
            v.encode("utf-8")
        elif isinstance(v, float):
            assert math.isfinite(v)
        elif type(v) is int:
            assert -(2**63) <= v < 2**63
        if types is not None:
            expected = {DataType.FLOAT: float, DataType.INT: int, DataType.BOOL: bool,
                        DataType.STRING: str, DataType.STATE: str}[types[s.key]]
            assert type(v) is expected


def _decode(mapper: MessageMapper, topic: str, payload: bytes, types: dict[str, DataType] | None) -> None:
    try:
        samples = mapper.decode(topic, payload, RECV)
    except PayloadError as err:
        assert err.reason and err.detail
        return
    _check(samples, types)


@settings(max_examples=300)
@given(st.sampled_from(TOPICS), st.binary(max_size=300))
def test_arbitrary_bytes(topic: str, payload: bytes) -> None:
    _decode(MessageMapper(EVERY_TYPE), topic, payload, TYPES)


@settings(max_examples=300)
@given(st.sampled_from(SAMPLE_TOPICS), st.binary(max_size=300))
def test_arbitrary_bytes_sample_config(topic: str, payload: bytes) -> None:
    _decode(MessageMapper(SAMPLE), topic, payload, None)


@settings(max_examples=500)
@given(st.sampled_from(TOPICS), st.one_of(_json, _shaped))
def test_arbitrary_json(topic: str, doc: Any) -> None:
    _decode(MessageMapper(EVERY_TYPE), topic, json.dumps(doc).encode(), TYPES)


@settings(max_examples=500)
@given(st.one_of(st.tuples(st.just("iso/d1"), _plausible_iso),
                 st.tuples(st.just("epoch/d1"), _plausible_epoch)))
def test_plausible_json(message: tuple[str, Any]) -> None:
    topic, doc = message
    _decode(MessageMapper(EVERY_TYPE), topic, json.dumps(doc).encode(), TYPES)


@settings(max_examples=300)
@given(st.sampled_from(SAMPLE_TOPICS), st.one_of(_json, _shaped))
def test_arbitrary_json_sample_config(topic: str, doc: Any) -> None:
    _decode(MessageMapper(SAMPLE), topic, json.dumps(doc).encode(), None)


@given(st.text(max_size=40), st.binary(max_size=40))
def test_arbitrary_topics(topic: str, payload: bytes) -> None:
    _decode(MessageMapper(SAMPLE), topic, payload, None)
