"""Decoding messages into samples: paths, conversions, timestamps, quality, missing fields, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tonghu.collectors.mqtt.config import MqttConfig, QoS, Subscription
from tonghu.collectors.mqtt.mapping import MessageMapper, SubscriptionMapper
from tonghu.common.errors import PayloadError
from tonghu.common.sample import STATUS_BAD, STATUS_GOOD, STATUS_UNCERTAIN, Sample
from tonghu.common.uplink import TagMeta

TOPIC = "dev/em07/data"
RECV = 1_717_200_000_999_000


def make(fields: list[dict[str, Any]], **sub: Any) -> SubscriptionMapper:
    full = [{"asset": "area/line/{dev}", "tag": f"t{i}"} | f for i, f in enumerate(fields)]
    return SubscriptionMapper(Subscription(topic="dev/{dev}/+", fields=full, **sub), QoS.AT_LEAST_ONCE)


def decode(mapper: SubscriptionMapper, doc: Any) -> list[Sample]:
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return mapper.decode(TOPIC, payload, RECV)


def values(mapper: SubscriptionMapper, doc: Any) -> list[Any]:
    return [s.value for s in decode(mapper, doc)]


def reason(mapper: SubscriptionMapper, doc: Any) -> str:
    with pytest.raises(PayloadError) as err:
        decode(mapper, doc)
    return err.value.reason


DOC = {"data": {"phases": [{"v": 230.1}, {"v": 229.5}, {"v": 231.0}], "L1-N": {"v": 1.5}},
       "text": "abc", "rows": [[1, 2], [3, 4]]}


@pytest.mark.parametrize(("path", "expected"), [
    ("data.phases[1].v", 229.5),
    ("data.phases[-1].v", 231.0),
    ('data["L1-N"].v', 1.5),
    ("rows[1][0]", 3.0),
])
def test_nested_paths_and_indexes(path: str, expected: float) -> None:
    assert values(make([{"path": path}]), DOC) == [expected]


@pytest.mark.parametrize("path", ["data.phases[3].v", "data.nope", "text[0]", "text.x", "rows.x", "data[0]"])
def test_paths_into_absent_or_other_kinds_are_missing(path: str) -> None:
    mapper = make([{"path": path}, {"path": "data.phases[0].v"}])
    assert values(mapper, DOC) == [230.1]
    assert list(mapper.missing.values()) == [1]


def test_keys_come_from_captures_and_samples_carry_times() -> None:
    sub = Subscription(topic="plant/{site}/meters/{meter}/{channel}", fields=[
        {"path": "v", "asset": "utilities/{site}_power/{meter}", "tag": "voltage_{channel}"}])
    mapper = SubscriptionMapper(sub, QoS.AT_MOST_ONCE)
    [sample] = mapper.decode("plant/sz/meters/em07/l2", b'{"v": 1}', RECV)
    assert sample == Sample("utilities/sz_power/em07/voltage_l2", RECV, 1.0, STATUS_GOOD, None, RECV)


@pytest.mark.parametrize("topic", ["plant//meters/em07/l2", "plant/ sz/meters/em07/l2",
                                   "plant/sz/meters/em\t07/l2", "plant/sz/meters/" + "m" * 300 + "/l2"])
def test_captures_that_make_bad_keys_are_rejected(topic: str) -> None:
    mapper = SubscriptionMapper(Subscription(topic="plant/{site}/meters/{meter}/+", fields=[
        {"path": "v", "asset": "{site}/line/{meter}", "tag": "v"}]), QoS.AT_LEAST_ONCE)
    with pytest.raises(PayloadError) as err:
        mapper.decode(topic, b'{"v": 1}', RECV)
    assert err.value.reason == "bad_topic"


def test_unmatched_topic() -> None:
    with pytest.raises(PayloadError) as err:
        make([{"path": "v"}]).decode("other/x", b'{"v": 1}', RECV)
    assert err.value.reason == "unmatched_topic"


@pytest.mark.parametrize(("field", "raw", "expected"), [
    ({"scale": 0.001}, 123456789, 123456.789),
    ({"scale": 0.1, "offset": -40}, 650, 25.0),
    ({"offset": 273.15}, "-273.15", 0.0),
    ({"data_type": "int", "scale": 10, "offset": 5}, 3, 35),
    ({"data_type": "int"}, 2**62 + 1, 2**62 + 1),  # beyond float precision, kept exact
    ({"data_type": "int"}, 12.0, 12),
    ({"data_type": "int"}, " 42 ", 42),
    ({"data_type": "int", "scale": -1}, 7, -7),
    ({}, "23.5", 23.5),
    ({}, 7, 7.0),
    ({"data_type": "bool"}, True, True),
    ({"data_type": "bool"}, 0, False),
    ({"data_type": "bool"}, "ON", True),
    ({"data_type": "string"}, "PCB-1", "PCB-1"),
    ({"data_type": "string"}, 12345, "12345"),
    ({"data_type": "string"}, 1.5, "1.5"),
    ({"data_type": "string"}, False, "false"),
    ({"data_type": "state"}, "running", "running"),
    ({"data_type": "state", "states": {"1": "pass", "2": "fail"}}, 2, "fail"),
    ({"data_type": "state", "states": {1: "pass"}}, "1", "pass"),
    ({"data_type": "state", "states": {"1": "pass"}}, 7, "7"),  # unlisted codes pass through
])
def test_conversions(field: dict[str, Any], raw: Any, expected: Any) -> None:
    [value] = values(make([{"path": "x"} | field]), {"x": raw})
    assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(("field", "raw", "expected_reason"), [
    ({}, "abc", "bad_type"),
    ({}, "nan", "bad_type"),
    ({}, "1_000", "bad_type"),
    ({}, True, "bad_type"),
    ({}, [1], "bad_type"),
    ({}, {"v": 1}, "bad_type"),
    ({}, 10**400, "out_of_range"),
    ({"scale": 1e308}, 1e308, "non_finite"),
    ({"data_type": "int"}, 12.5, "bad_value"),
    ({"data_type": "int"}, "12.5", "bad_type"),
    ({"data_type": "int"}, True, "bad_type"),
    ({"data_type": "int"}, 2**63, "out_of_range"),
    ({"data_type": "int", "scale": 2}, 2**62, "out_of_range"),
    ({"data_type": "bool"}, 2, "bad_type"),
    ({"data_type": "bool"}, "maybe", "bad_type"),
    ({"data_type": "string"}, {"a": 1}, "bad_type"),
    ({"data_type": "string"}, "x" * 5000, "text_too_long"),
    ({"data_type": "state"}, "", "bad_value"),
    ({"data_type": "state"}, 1.5, "bad_type"),
    ({"data_type": "state"}, True, "bad_type"),
])
def test_conversion_errors(field: dict[str, Any], raw: Any, expected_reason: str) -> None:
    assert reason(make([{"path": "x"} | field]), {"x": raw}) == expected_reason


@pytest.mark.parametrize(("text", "expected_reason"), [
    (b'{"x": NaN}', "non_finite"),
    (b'{"x": Infinity}', "non_finite"),
    (b'{"x": -1e999}', "non_finite"),
    (b'{"x": "\\ud800"}', "bad_value"),  # escaped unpaired surrogate
])
def test_non_finite_and_unencodable(text: bytes, expected_reason: str) -> None:
    data_type = "string" if b"ud800" in text else "float"
    assert reason(make([{"path": "x", "data_type": data_type}]), text) == expected_reason


def test_non_finite_outside_mapped_fields_is_ignored() -> None:
    assert values(make([{"path": "x"}]), b'{"x": 1, "y": NaN}') == [1.0]


@pytest.mark.parametrize(("fmt", "raw", "expected_us"), [
    ("epoch_s", 1717200000, 1717200000_000000),
    ("epoch_s", 1717200000.25, 1717200000_250000),
    ("epoch_s", "1717200000", 1717200000_000000),
    ("epoch_ms", 1717200000123, 1717200000_123000),
    ("epoch_ms", 1717200000123.5, 1717200000_123500),
    ("epoch_us", 1717200000123456, 1717200000_123456),
    ("iso8601", "2024-06-01T00:00:00Z", 1717200000_000000),
    ("iso8601", "2024-06-01T08:00:00.123456+08:00", 1717200000_123456),
    ("iso8601", "2024-06-01 00:00:00.5+00:00", 1717200000_500000),
])
def test_timestamp_formats(fmt: str, raw: Any, expected_us: int) -> None:
    mapper = make([{"path": "x"}], timestamp={"path": "meta.ts", "format": fmt})
    [sample] = decode(mapper, {"x": 1, "meta": {"ts": raw}})
    assert sample.source_ts_us == expected_us
    assert sample.receive_ts_us == RECV


def test_naive_iso_time_uses_configured_zone() -> None:
    ts = {"path": "ts", "format": "iso8601", "naive_timezone": "Asia/Shanghai"}
    mapper = make([{"path": "x"}], timestamp=ts)
    assert decode(mapper, {"x": 1, "ts": "2024-06-01T08:00:00"})[0].source_ts_us == 1717200000_000000


@pytest.mark.parametrize(("fmt", "raw", "expected_reason"), [
    ("iso8601", "2024-06-01T08:00:00", "bad_timestamp"),  # no offset and no naive_timezone
    ("iso8601", "yesterday", "bad_timestamp"),
    ("iso8601", 1717200000, "bad_timestamp"),
    ("iso8601", "0001-01-01T00:00:00+01:00", "bad_timestamp"),
    ("epoch_s", 0, "bad_timestamp"),  # unset device clock
    ("epoch_s", 1717200000123, "bad_timestamp"),  # milliseconds configured as seconds
    ("epoch_ms", "soon", "bad_timestamp"),
    ("epoch_ms", True, "bad_timestamp"),
    ("epoch_ms", {"t": 1}, "bad_timestamp"),
    ("epoch_s", 1e400, "bad_timestamp"),
    ("epoch_s", "9" * 5000, "bad_timestamp"),
])
def test_timestamp_errors(fmt: str, raw: Any, expected_reason: str) -> None:
    mapper = make([{"path": "x"}], timestamp={"path": "ts", "format": fmt})
    assert reason(mapper, {"x": 1, "ts": raw}) == expected_reason


def test_missing_timestamp() -> None:
    strict = make([{"path": "x"}], timestamp={"path": "ts", "format": "epoch_s"})
    assert reason(strict, {"x": 1}) == "missing_timestamp"
    assert reason(strict, {"x": 1, "ts": None}) == "missing_timestamp"
    ts = {"path": "ts", "format": "epoch_s", "on_missing": "receive_time"}
    lenient = make([{"path": "x"}], timestamp=ts)
    assert decode(lenient, {"x": 1})[0].source_ts_us == RECV


def test_all_samples_of_a_message_share_the_timestamp() -> None:
    mapper = make([{"path": "a"}, {"path": "b"}], timestamp={"path": "ts", "format": "epoch_s"})
    assert {s.source_ts_us for s in decode(mapper, {"a": 1, "b": 2, "ts": 1717200000})} == {1717200000_000000}


@pytest.mark.parametrize(("status", "expected"), [
    ("ok", STATUS_GOOD), (0, STATUS_GOOD), ("0", STATUS_GOOD), (0.0, STATUS_GOOD),
    ("stale", STATUS_UNCERTAIN), (True, STATUS_UNCERTAIN),
    ("fault", STATUS_BAD), ("other", STATUS_BAD), (None, STATUS_BAD), ({"a": 1}, STATUS_BAD),
])
def test_quality_mapping(status: Any, expected: int) -> None:
    mapper = make([{"path": "x", "quality": {"path": "q", "good": ["ok", 0], "uncertain": ["stale", True],
                                             "bad": ["fault"]}}])
    assert decode(mapper, {"x": 1, "q": status})[0].status == expected


def test_quality_otherwise_applies_to_a_missing_status_field() -> None:
    mapper = make([{"path": "x", "quality": {"path": "q", "good": ["ok"], "otherwise": "uncertain"}}])
    assert decode(mapper, {"x": 1})[0].status == STATUS_UNCERTAIN


def test_missing_fields_are_skipped_and_counted() -> None:
    mapper = make([{"path": "a"}, {"path": "b.c"}, {"path": "d"}])
    assert values(mapper, {"a": 1, "d": None}) == [1.0]
    assert values(mapper, {"a": 2, "b": {"c": 3}}) == [2.0, 3.0]
    assert mapper.missing == {"b.c": 1, "d": 2}
    assert reason(mapper, {"a": "x"}) == "bad_type"
    assert mapper.missing == {"b.c": 1, "d": 2}  # a rejected message counts nothing


def test_required_field_and_empty_result() -> None:
    mapper = make([{"path": "a", "on_missing": "error"}, {"path": "b"}])
    assert reason(mapper, {"b": 1}) == "missing_field"
    assert reason(make([{"path": "a"}]), {"z": 1}) == "no_values"
    assert reason(make([{"path": "a"}]), [1, 2]) == "no_values"


@pytest.mark.parametrize(("field", "payload", "expected"), [
    ({}, b"23.5", 23.5),
    ({}, b" -1e3\r\n", -1000.0),
    ({"data_type": "int", "scale": 2}, b"21", 42),
    ({"data_type": "bool"}, b"off", False),
    ({"data_type": "string"}, "Grüße".encode(), "Grüße"),
    ({"data_type": "state", "states": {"3": "running"}}, b"3", "running"),
    ({}, b"\xef\xbb\xbf12", 12.0),  # byte-order mark
])
def test_plain_payloads(field: dict[str, Any], payload: bytes, expected: Any) -> None:
    mapper = make([field], payload="plain")
    [sample] = mapper.decode(TOPIC, payload, RECV)
    assert sample.value == expected and type(sample.value) is type(expected)
    assert sample.source_ts_us == RECV


@pytest.mark.parametrize(("field", "payload", "expected_reason"), [
    ({}, b"", "empty"),
    ({}, b" \n", "empty"),
    ({}, b"abc", "bad_type"),
    ({}, b"nan", "bad_type"),
    ({}, b'{"v": 1}', "bad_type"),
    ({"data_type": "int"}, b"1.5", "bad_type"),
    ({}, b"\xff", "not_utf8"),
])
def test_plain_payload_errors(field: dict[str, Any], payload: bytes, expected_reason: str) -> None:
    with pytest.raises(PayloadError) as err:
        make([field], payload="plain").decode(TOPIC, payload, RECV)
    assert err.value.reason == expected_reason


@pytest.mark.parametrize(("payload", "expected_reason"), [
    (b"\xff\xfe{}", "not_utf8"),
    (b'{"x": "\xc3"}', "not_utf8"),
    ('{"x": 1}'.encode("utf-16"), "not_utf8"),
    (b"", "not_json"),
    (b"{", "not_json"),
    (b'{"x": 1} trailing', "not_json"),
    (b"[" * 100_000, "not_json"),
    (b'{"x": ' + b"9" * 5000 + b"}", "not_json"),
    (b"x" * (1024 * 1024 + 1), "oversize"),
])
def test_malformed_payloads(payload: bytes, expected_reason: str) -> None:
    assert reason(make([{"path": "x"}]), payload) == expected_reason


def test_tags_metadata() -> None:
    mapper = make([{"path": "e", "tag": "energy", "unit": "kWh", "role": "energy_kwh",
                    "description": "import", "attrs": {"sector": "electronics"}},
                   {"path": "s", "tag": "state_{dev}", "data_type": "state"}])
    assert mapper.tags({"dev": "em07"}) == [
        TagMeta("area/line/em07/energy", "float", "kWh", "energy_kwh", "import", {"sector": "electronics"}),
        TagMeta("area/line/em07/state_em07", "state"),
    ]
    with pytest.raises(PayloadError):
        mapper.tags({"dev": ""})


def test_new_tags_are_offered_once_per_capture_after_a_good_message() -> None:
    mapper = make([{"path": "x", "tag": "v"}])
    assert reason(mapper, b"junk") == "not_json"
    assert mapper.take_new_tags() == []
    mapper.decode("dev/a/data", b'{"x": 1}', RECV)
    mapper.decode("dev/a/other", b'{"x": 2}', RECV)
    mapper.decode("dev/b/data", b'{"x": 3}', RECV)
    assert [t.key for t in mapper.take_new_tags()] == ["area/line/a/v", "area/line/b/v"]
    mapper.decode("dev/a/data", b'{"x": 1}', RECV)
    assert mapper.take_new_tags() == []


def test_key_cache_is_bounded() -> None:
    sub = Subscription(topic="dev/{dev}", fields=[{"path": "x", "asset": "a/l/{dev}", "tag": "v"}])
    mapper = SubscriptionMapper(sub, QoS.AT_LEAST_ONCE, max_targets=3)
    for i in range(10):
        assert mapper.decode(f"dev/d{i}", b'{"x": 1}', RECV)[0].key == f"a/l/d{i}/v"
    assert len(mapper._targets) <= 3


def test_message_mapper_routes_to_the_first_match() -> None:
    config = MqttConfig.model_validate({
        "broker": {"host": "localhost", "client_id": "t"},
        "qos": 0,
        "subscriptions": [
            {"topic": "dev/special/data", "qos": 2,
             "fields": [{"path": "x", "asset": "a/l/special", "tag": "v"}]},
            {"topic": "dev/{dev}/#", "fields": [{"path": "x", "asset": "a/l/{dev}", "tag": "v"}]},
        ],
    })
    mapper = MessageMapper(config)
    assert [s.qos for s in mapper.subscriptions] == [QoS.EXACTLY_ONCE, QoS.AT_MOST_ONCE]
    assert mapper.decode("dev/special/data", b'{"x": 1}', RECV)[0].key == "a/l/special/v"
    assert mapper.decode("dev/other/data", b'{"x": 1}', RECV)[0].key == "a/l/other/v"
    route = mapper.route("dev/x/y/z")
    assert route is not None and route[0] is mapper.subscriptions[1] and route[1] == {"dev": "x"}
    assert [t.key for t in mapper.take_new_tags()] == ["a/l/special/v", "a/l/other/v"]
    with pytest.raises(PayloadError):
        mapper.decode("elsewhere", b'{"x": 1}', RECV)
    assert mapper.unmatched == 1 and mapper.route("elsewhere") is None


def test_subscribe_list_and_granted_qos() -> None:
    config = MqttConfig.model_validate({
        "broker": {"host": "localhost", "client_id": "t"},
        "subscriptions": [
            {"topic": "a/{x}/#", "fields": [{"path": "v", "asset": "a/l/{x}", "tag": "v"}]},
            {"topic": "b/+", "qos": 2, "fields": [{"path": "v", "asset": "a/l/b", "tag": "v"}]},
        ],
    })
    mapper = MessageMapper(config)
    assert mapper.subscribe_list() == [("a/+/#", 1), ("b/+", 2)]
    assert mapper.check_granted([1, 2]) == []
    assert mapper.check_granted([1, 1]) == ["'b/+' granted QoS 1, requested 2"]
    assert mapper.check_granted([0x87, 2]) == ["'a/+/#' refused by the broker (reason code 0x87)"]
    assert mapper.check_granted([1]) == ["the broker answered 1 codes for 2 filters"]


@pytest.mark.timeout(60)  # a hang detector, not a speed measurement: the old pattern took hours here
def test_a_long_digit_run_that_is_not_a_number_fails_at_once() -> None:
    # '[0-9]+\.?[0-9]*' backtracked quadratically on digits followed by anything else.
    payload = b"9" * 200_000 + b"x"
    with pytest.raises(PayloadError) as err:
        make([{}], payload="plain").decode(TOPIC, payload, RECV)
    assert err.value.reason == "bad_type"
    assert reason(make([{"path": "x"}]), {"x": "1" * 200_000 + "-"}) == "bad_type"


@pytest.mark.parametrize("device", ["Zähler", "em 07", "em:07", "_em07"])
def test_captures_outside_the_platform_key_alphabet_are_rejected(device: str) -> None:
    # The platform's registry refuses such keys (tonghu.common.tagkey); every sample would be a dead letter.
    with pytest.raises(PayloadError) as err:
        make([{"path": "x"}]).decode(f"dev/{device}/data", b'{"x": 1}', RECV)
    assert err.value.reason == "bad_topic"
