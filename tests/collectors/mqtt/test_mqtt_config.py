"""The configuration model: the sample file, and errors that name the path and what was expected."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import tonghu.collectors.mqtt as mqtt_pkg
from tonghu.collectors.mqtt.config import MqttConfig, QoS, TlsVerify, load_config, parse_config
from tonghu.collectors.mqtt.mapping import MessageMapper
from tonghu.common.errors import ConfigError
from tonghu.common.sample import STATUS_GOOD, STATUS_UNCERTAIN

SAMPLE = Path(mqtt_pkg.__file__).with_name("sample.yaml")
RECV = 1_717_200_000_999_000

BASE: dict[str, Any] = {
    "broker": {"host": "127.0.0.1", "client_id": "edge-1"},
    "subscriptions": [{
        "topic": "plant/{site}/meters/{meter}/+",
        "fields": [{"path": "data.v", "asset": "area/line/{meter}", "tag": "v"}],
    }],
}


def test_sample_config_loads() -> None:
    config = load_config(SAMPLE)
    assert config.broker.resolved_port == 1883
    assert config.qos is QoS.AT_LEAST_ONCE
    assert [s.topic_filter.broker_filter for s in config.subscriptions] == [
        "plant/+/meters/+/+", "factory/smt/+/aoi/+/result", "plant/+/sensors/+/temperature"]


def test_sample_config_decodes_its_documented_examples() -> None:
    mapper = MessageMapper(load_config(SAMPLE))
    meter = {"ts": 1717200000123, "status": "stale",
             "data": {"energy": {"import_wh": 123456789}, "power_w": 15234.5, "pf": 0.97,
                      "phases": [{"voltage": 230.1, "current": 21.3}, {"voltage": 229.8, "current": 20.9},
                                 {"voltage": 231.0, "current": 22.0}]}}
    samples = {s.key: s for s in mapper.decode("plant/sz/meters/em07/telemetry", json.dumps(meter).encode(),
                                               RECV)}
    assert len(samples) == 9
    energy = samples["utilities/power/em07/energy_import"]
    assert energy.value == pytest.approx(123456.789) and energy.status == STATUS_UNCERTAIN
    assert energy.source_ts_us == 1717200000_123000
    assert samples["utilities/power/em07/voltage_l3"].value == 231.0

    aoi = {"time": "2024-06-01T08:15:30.250+08:00", "board": {"serial": "PCB-000123", "program": "MAIN-v3"},
           "result": 2, "counts": {"inspected": 1523, "defects": 17}, "defect": {"type": "bridge"}}
    samples = {s.key: s for s in mapper.decode("factory/smt/l3/aoi/aoi1/result", json.dumps(aoi).encode(),
                                               RECV)}
    assert {k: s.value for k, s in samples.items()} == {
        "smt/l3/aoi1/inspected": 1523, "smt/l3/aoi1/defects": 17, "smt/l3/aoi1/last_result": "fail",
        "smt/l3/aoi1/defect_type": "bridge", "smt/l3/aoi1/board_serial": "PCB-000123"}
    assert {s.source_ts_us for s in samples.values()} == {1717200930_250000}

    [temp] = mapper.decode("plant/sz/sensors/t12/temperature", b"23.5", RECV)
    assert (temp.key, temp.value, temp.status) == ("utilities/hvac/t12/temperature", 23.5, STATUS_GOOD)
    roles = {t.key: t.role for t in mapper.take_new_tags()}
    assert roles["utilities/power/em07/energy_import"] == "energy_kwh"
    assert roles["smt/l3/aoi1/defects"] == "aoi_defects"


def test_defaults_and_secrets() -> None:
    data = copy.deepcopy(BASE)
    data["broker"] |= {"username": "u", "password": "hunter2", "keepalive": "PT30S",
                       "tls": {"ca_file": "/etc/ca.pem", "key_password": "s3cret", "cert_file": "/c.pem"}}
    config = parse_config(data)
    assert config.broker.resolved_port == 8883
    assert config.broker.keepalive == timedelta(seconds=30)
    assert config.broker.tls is not None and config.broker.tls.verify is TlsVerify.FULL
    assert "hunter2" not in repr(config) and "s3cret" not in repr(config)
    assert config.broker.password is not None and config.broker.password.get_secret_value() == "hunter2"
    assert "properties" in MqttConfig.model_json_schema()


def _with(path: str, value: Any) -> dict[str, Any]:
    """BASE with one value replaced; ``path`` is dotted, list items by number; value None deletes."""
    data = copy.deepcopy(BASE)
    *head, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = data
    for part in head:
        node = node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return data


ERRORS = [
    ("broker.host", None, "broker.host: Field required"),
    ("broker.port", 70000, "broker.port: Input should be less than or equal to 65535"),
    ("broker.keepalive", 0, "broker.keepalive: keepalive must be whole seconds"),
    ("broker.password", "x", "broker: password needs username"),
    ("broker.tls", {"key_file": "/k"}, "broker.tls: key_file needs cert_file"),
    ("broker.tls", {"verify": "yes"}, "broker.tls.verify: Input should be 'full', 'chain_only' or 'none'"),
    ("broker.client_id", "a b", "broker.client_id: String should match pattern"),
    ("broker.colour", "red", "broker.colour: Extra inputs are not permitted"),
    ("qos", 3, "qos: Input should be 0, 1 or 2"),
    ("subscriptions", [], "subscriptions: List should have at least 1 item"),
    ("subscriptions.0.topic", "a/#/b", "subscriptions[0].topic: '#' must be the last level"),
    ("subscriptions.0.topic", "a/b+", "subscriptions[0].topic: '+', '#' and '{capture}' must take a whole"),
    ("subscriptions.0.topic", "plant/{meter}/{meter}",
     "subscriptions[0].topic: capture {meter} appears twice"),
    ("subscriptions.0.topic", "plant/+/x", "subscriptions[0]: fields[0].asset uses {meter}, which topic"),
    ("subscriptions.0.payload", "xml", "subscriptions[0].payload: Input should be 'json' or 'plain'"),
    ("subscriptions.0.payload", "plain", "subscriptions[0]: fields[0]: a plain payload has no path"),
    ("subscriptions.0.timestamp", {"path": "ts", "format": "epoch_ns"},
     "subscriptions[0].timestamp.format: Input should be 'epoch_s', 'epoch_ms', 'epoch_us' or 'iso8601'"),
    ("subscriptions.0.timestamp", {"path": "ts", "format": "iso8601", "naive_timezone": "Mars/Base"},
     "subscriptions[0].timestamp.naive_timezone: 'Mars/Base' is not an IANA time zone"),
    ("subscriptions.0.timestamp", {"path": "t s", "format": "epoch_s"},
     "subscriptions[0].timestamp.path: JSON path 't s'"),
    ("subscriptions.0.fields", [], "subscriptions[0].fields: List should have at least 1 item"),
    ("subscriptions.0.fields.0.path", "data..v", "subscriptions[0].fields[0].path: JSON path 'data..v': "
     "expected a key at position 5"),
    ("subscriptions.0.fields.0.path", "data.v[x]", "subscriptions[0].fields[0].path: JSON path 'data.v[x]': "
     "expected an integer index or a quoted key"),
    ("subscriptions.0.fields.0.path", None, "subscriptions[0]: fields[0].path is required for json payloads"),
    ("subscriptions.0.fields.0.asset", "line/{meter}",
     "subscriptions[0].fields[0].asset: asset path 'line/{meter}' has 2 segment(s), "
     "expected 3 (area/line/asset)"),
    ("subscriptions.0.fields.0.asset", "a//{meter}",
     "subscriptions[0].fields[0].asset: asset path 'a//{meter}': segment '' is empty"),
    ("subscriptions.0.fields.0.asset", "a/b/{Meter}",
     "subscriptions[0].fields[0].asset: placeholder '{Meter}'"),
    ("subscriptions.0.fields.0.asset", "a/b/{meter", "subscriptions[0].fields[0].asset: unbalanced brace"),
    ("subscriptions.0.fields.0.asset", "a/b/{metre}", "subscriptions[0]: fields[0].asset uses {metre}, which "
     "topic 'plant/{site}/meters/{meter}/+' does not capture (captures: meter, site)"),
    ("subscriptions.0.fields.0.tag", "x/y",
     "subscriptions[0].fields[0].tag: tag name 'x/y' has 2 segment(s)"),
    ("subscriptions.0.fields.0.data_type", "double",
     "subscriptions[0].fields[0].data_type: Input should be 'float', 'int', 'bool', 'string' or 'state'"),
    ("subscriptions.0.fields.0.scale", "NaN",
     "subscriptions[0].fields[0].scale: Input should be a finite number"),
    ("subscriptions.0.fields.0.scale", 0, "subscriptions[0].fields[0]: scale must not be 0"),
    ("subscriptions.0.fields.0.states", {"1": "run"},
     "subscriptions[0].fields[0]: states apply to data_type"),
    ("subscriptions.0.fields.0.on_missing", "ignore",
     "subscriptions[0].fields[0].on_missing: Input should be 'skip' or 'error'"),
    ("subscriptions.0.fields.0.quality", {"path": "q", "good": [0], "bad": ["0"]},
     "subscriptions[0].fields[0].quality: status value '0' is listed under both good and bad"),
    ("subscriptions.0.fields.0.quality", {"path": "q", "good": [[1]]},
     "subscriptions[0].fields[0].quality.good[0]: expected a string, number or boolean, got list"),
    ("subscriptions.0.fields.0.attrs", {"k": {"a": 1}},
     "subscriptions[0].fields[0].attrs.k: expected a string, number or boolean, got dict"),
    ("subscriptions.0.fields.0.unit", 5, "subscriptions[0].fields[0].unit: Input should be a valid string"),
]


@pytest.mark.parametrize(("path", "value", "expected"), ERRORS)
def test_errors_name_the_path_and_what_was_expected(path: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_with(path, value), "edge.yaml")
    assert f"edge.yaml: {expected}" in str(err.value), str(err.value)


@pytest.mark.parametrize(("field", "expected"), [
    ({"data_type": "string", "scale": 2}, "scale and offset apply to float and int only, not string"),
    ({"data_type": "int", "scale": 0.5}, "an int tag needs whole-number scale and offset"),
])
def test_numeric_options(field: dict[str, Any], expected: str) -> None:
    data = copy.deepcopy(BASE)
    data["subscriptions"][0]["fields"][0] |= field
    with pytest.raises(ConfigError, match=expected):
        parse_config(data)


def test_duplicate_keys_and_filters() -> None:
    data = copy.deepcopy(BASE)
    data["subscriptions"][0]["fields"].append({"path": "data.w", "asset": "area/line/{meter}", "tag": "v"})
    with pytest.raises(ConfigError, match=r"subscriptions\[0\]: fields\[1\] and fields\[0\] both map to"):
        parse_config(data)
    data = copy.deepcopy(BASE)
    twin = copy.deepcopy(data["subscriptions"][0]) | {"topic": "plant/+/meters/{meter}/+"}
    data["subscriptions"].append(twin)
    with pytest.raises(ConfigError, match=r"subscriptions\[1\] and subscriptions\[0\] subscribe to the same"):
        parse_config(data)


def test_plain_payload_rules() -> None:
    data = copy.deepcopy(BASE)
    sub = data["subscriptions"][0]
    sub |= {"payload": "plain",
            "fields": [{"asset": "a/b/{meter}", "tag": "t"}, {"asset": "a/b/c", "tag": "u"}]}
    with pytest.raises(ConfigError, match="a plain payload is one value"):
        parse_config(data)
    sub |= {"fields": [{"asset": "a/b/{meter}", "tag": "t"}], "timestamp": {"path": "t", "format": "epoch_s"}}
    with pytest.raises(ConfigError, match="a plain payload has no timestamp field"):
        parse_config(data)


def test_load_config_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("broker: {host: [\n")
    with pytest.raises(ConfigError, match=f"{bad}: cannot read the configuration"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("broker: {host: h, client_id: c}\nsubscriptions:\n  - {topic: 'a/#/b', fields: []}\n")
    with pytest.raises(ConfigError) as err:
        load_config(wrong)
    assert str(err.value).splitlines() == [
        f"{wrong}: subscriptions[0].topic: '#' must be the last level, but is level 2 ('#') of 'a/#/b' "
        "(got 'a/#/b')",
        f"{wrong}: subscriptions[0].fields: List should have at least 1 item after validation, not 0",
    ]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match=r"empty.yaml: \(top level\): Input should be a valid dictionary"):
        load_config(empty)


@pytest.mark.parametrize("text", ["broker: " + "[" * 5000, "broker: {port: " + "1" * 5000 + "}",
                                  "subscriptions: 2024-02-30", "broker: {port: 190:20:30" + ":1" * 3000 + "}"])
def test_load_config_turns_every_yaml_failure_into_config_error(tmp_path: Path, text: str) -> None:
    # PyYAML raises RecursionError and ValueError (bad dates, integers of more than 4300 digits) besides
    # YAMLError.
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=f"{bad}: "):
        load_config(bad)


def test_a_huge_integer_in_an_error_message(tmp_path: Path) -> None:
    # A hexadecimal integer has no digit limit when read, but its repr has.
    bad = tmp_path / "bad.yaml"
    bad.write_text("broker: {host: h, client_id: c, port: 0x" + "f" * 5000 + "}\nsubscriptions: []\n")
    with pytest.raises(ConfigError, match=r"broker.port: .*\(got an integer of 20000 bits\)"):
        load_config(bad)
