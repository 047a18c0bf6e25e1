"""The configuration model and the key mapping: the sample file, templates, rules, sanitising, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import tonghu.collectors.sparkplug as sparkplug_pkg
from tonghu.collectors import registry
from tonghu.collectors.mqtt.config import SessionMode
from tonghu.collectors.sparkplug.collector import SparkplugCollector
from tonghu.collectors.sparkplug.config import MappingConfig, SparkplugConfig
from tonghu.collectors.sparkplug.entry import SparkplugEntry
from tonghu.collectors.sparkplug.mapping import KeyMapper, sanitise
from tonghu.common.errors import ConfigError
from tonghu.common.tagkey import parse_key
from tonghu.common.uplink import TagMeta
from tonghu.edge_agent.config import EdgeConfig, load

SAMPLE = Path(sparkplug_pkg.__file__).with_name("sample.yaml")
BASE: dict[str, Any] = {"type": "sparkplug", "host_id": "edge-1", "groups": ["Plant 1"],
                        "broker": {"host": "127.0.0.1", "client_id": "edge-1-spb"}}


def _edge(collectors: list[Any]) -> dict[str, Any]:
    return {"edge": {"company": "acme", "site": "sz", "name": "edge-1"}, "buffer": {"path": "/tmp/unused.db"},
            "collectors": collectors}


def test_sample_config_loads_as_an_edge_collector(tmp_path: Path) -> None:
    edge_yaml = tmp_path / "edge.yaml"
    edge_yaml.write_text(yaml.safe_dump(_edge([yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))])))
    cfg = load(edge_yaml)
    (entry,) = cfg.collectors
    assert isinstance(entry, SparkplugEntry)
    assert entry.broker.session is SessionMode.CLEAN  # §5.3, unlike the MQTT collector's default
    assert entry.subscriptions() == [("spBv1.0/Hall A/#", 1), ("spBv1.0/Utilities/#", 1),
                                     ("spBv1.0/STATE/tonghu-edge-01", 1)]
    collector = registry.build(entry, "edge-1")  # constructing does no I/O
    assert isinstance(collector, SparkplugCollector) and collector.tags() == []
    key = KeyMapper(entry.mapping).key_of
    assert key("Hall A", "GW1", "Press-7", "Motor 1/Speed") == "hall_a/gw1/press-7/motor_1.speed"
    assert key("Hall A", "GW1", "Press-7", "Counters/Good Parts") == "stamping/gw1/press-7/count_good"
    assert key("Hall A", "GW1", "M1", "Energy/Total") == "hall_a/gw1/m1/energy_total"
    assert key("Hall A", "GW1", None, "Energy/Total") == "hall_a/gw1/gw1/energy.total"  # the rule is device-only
    assert key("Hall A", "GW1", "M1", "温度") == "hall_a/gw1/m1/temperature"
    assert key("Hall A", "GW1", None, "Properties/OS") is None


def test_edge_config_errors_name_the_path() -> None:
    bad = {**BASE, "groups": ["a/b"], "mapping": {"node_asset": "{group}/{device}/x"}}
    with pytest.raises(ValidationError) as err:
        EdgeConfig.model_validate(_edge([bad]))
    text = str(err.value)
    assert "groups" in text and "node_asset" in text


@pytest.mark.parametrize(("patch", "message"), [
    ({"host_id": "a/b"}, "host_id"),
    ({"groups": []}, "at least 1"),
    ({"groups": ["+", "Plant 1"]}, "already follows every group"),
    ({"groups": ["STATE"]}, "STATE"),
    ({"groups": ["a", "a"]}, "twice"),
    ({"mapping": {"device_asset": "{group}/{device}"}}, "3 segment"),
    ({"mapping": {"name": "{metric}/{leaf}"}}, "1 segment"),
    ({"mapping": {"name": "{tag}"}}, "is not one of"),
    ({"mapping": {"name": "{metric!r}"}}, "is not one of"),
    ({"mapping": {"device_asset": "a b/{node}/{device}"}}, "must match"),
    ({"mapping": {"name": "{device}"}}, "node metrics have none"),
    ({"mapping": {"rules": [{"metric": "x", "asset": "a/b/{device}"}]}}, "set level: device"),
    ({"mapping": {"rules": [{"metric": "x", "level": "node", "device": "d*"}]}}, "level: node"),
    ({"mapping": {"rules": [{"metric": "x", "unknown": 1}]}}, "Extra inputs"),
    ({"session": {"reorder_timeout": 0}}, "positive"),
    ({"surprise": True}, "Extra inputs"),
])
def test_invalid_configs_are_refused(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SparkplugConfig.model_validate({**{k: v for k, v in BASE.items() if k != "type"}, **patch})


def test_persistent_session_is_kept_when_asked_for() -> None:
    cfg = SparkplugEntry.model_validate({**BASE, "broker": {**BASE["broker"], "session": "persistent"}})
    assert cfg.broker.session is SessionMode.PERSISTENT


def test_validate_model_reports_the_file(tmp_path: Path) -> None:
    edge_yaml = tmp_path / "edge.yaml"
    edge_yaml.write_text(yaml.safe_dump(_edge([{**BASE, "qos": 5}])))
    with pytest.raises(ConfigError, match=r"edge\.yaml: collectors\[0\]\.qos"):
        load(edge_yaml)


@pytest.mark.parametrize(("text", "segment", "expected"), [
    ("Hall A", True, "hall_a"),
    ("Motor 1/Speed", False, "motor_1.speed"),
    ("Café Süd", True, "cafe_sud"),
    ("Temp (°C)", False, "temp_c"),
    ("__x__", True, "x"),
    ("a:b", True, "a_b"),
    ("a:b", False, "a:b"),
])
def test_sanitise(text: str, segment: bool, expected: str) -> None:
    assert sanitise(text, segment=segment) == expected


def test_sanitise_keeps_different_non_ascii_names_apart() -> None:
    a, b = sanitise("温度", segment=False), sanitise("湿度", segment=False)
    assert a != b and a.startswith("u-") and len(a) == 8
    assert sanitise("Pump 温度", segment=False).startswith("pump-")
    long = sanitise("x" * 300, segment=True)
    assert len(long) == 63 and long != sanitise("x" * 299, segment=True)
    assert sanitise("Mixed Case", segment=True, lower=False) == "Mixed_Case"


def test_rules_first_match_wins_and_describe_completes_metadata() -> None:
    mapping = MappingConfig.model_validate({"rules": [
        {"metric": "Counters/*", "device": "Press-*", "asset": "stamping/{node}/{device}", "name": "{leaf}",
         "unit": "parts", "role": "count_total"},
        {"metric": "Counters/*", "action": "skip"},
        {"metric": "bdSeq", "level": "node", "name": "bdseq"},
    ]})
    mapper = KeyMapper(mapping)
    assert mapper.key_of("G", "N", "Press-2", "Counters/Total") == "stamping/n/press-2/total"
    assert mapper.key_of("G", "N", "Oven", "Counters/Total") is None  # second rule
    assert mapper.key_of("G", "N", None, "Counters/Total") is None  # device pattern: device metrics only
    assert mapper.key_of("G", "N", None, "bdSeq") == "g/n/n/bdseq"  # a rule can collect a protocol metric
    assert mapper.key_of("G", "N", None, "Node Control/Rebirth") is None
    (meta,) = mapper.describe([TagMeta("stamping/n/press-2/total", "int", "pcs", description="from birth",
                                       attrs={"sparkplug_metric": "Counters/Total"})])
    assert (meta.unit, meta.role, meta.description) == ("parts", "count_total", "from birth")
    assert meta.attrs == {"sparkplug_metric": "Counters/Total", "sparkplug_group": "G", "sparkplug_node": "N",
                          "sparkplug_device": "Press-2"}


def test_unmatched_skip_collects_only_what_rules_name() -> None:
    mapper = KeyMapper(MappingConfig.model_validate({"unmatched": "skip", "rules": [{"metric": "Speed"}]}))
    assert mapper.key_of("G", "N", "D", "Speed") == "g/n/d/speed"
    assert mapper.key_of("G", "N", "D", "Other") is None
    assert mapper.skipped == 1


def test_colliding_and_invalid_keys_are_refused_not_merged() -> None:
    mapper = KeyMapper(MappingConfig.model_validate({"name": "{metric}-{group}"}))
    assert mapper.key_of("G", "N", "D", "Temp C") == "g/n/d/temp_c-g"
    assert mapper.key_of("G", "N", "D", "temp (C)") is None
    assert mapper.key_of("G", "N", "D", "Temp C") == "g/n/d/temp_c-g"  # the first keeps its key
    assert mapper.key_of("G" * 60, "N", "D", "x" * 120) is None  # the rendered name is too long
    assert mapper.problems == {"key_collision": 1, "invalid_key": 1}


def test_every_default_key_is_valid() -> None:
    mapper = KeyMapper(MappingConfig())
    for source in [("Plant 1", "Edge/Node", "Dev #1", "a/b/c"), ("ÄÖÜ", "节点", "设备", "温度"),
                   ("-", ".", "_", "..."), ("g", "n", None, "x" * 500)]:
        key = mapper.key_of(*source)
        assert key is not None and parse_key(key)
