"""The MQTT JSON collector's three small languages and its payload mapping on bad input.

Filters, JSON paths and templates raise ValueError (configuration validation turns it into ConfigError) and
nothing else; a parsed path prints back to text that parses to the same path; a filter matches exactly the
topics MQTT says it matches. Payloads too hostile for ``tests/collectors/mqtt/test_mqtt_fuzz.py``'s generated
documents (text-level damage, deep nesting, numbers beyond every range) end in PayloadError.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import yaml
from hypothesis import given
from hypothesis import strategies as st

import tonghu.collectors.mqtt as mqtt_pkg
from tests.fuzz.conftest import fuzz
from tests.fuzz.mutate import mutated_bytes, mutated_tree, peak_memory
from tonghu.collectors.mqtt import syntax
from tonghu.collectors.mqtt.config import MqttConfig, parse_config
from tonghu.collectors.mqtt.mapping import MessageMapper
from tonghu.common.errors import ConfigError, PayloadError
from tonghu.common.tagkey import parse_key

SAMPLE_TEXT = Path(mqtt_pkg.__file__).with_name("sample.yaml").read_text()
SAMPLE = yaml.safe_load(SAMPLE_TEXT)
MAPPER = MessageMapper(MqttConfig.model_validate(SAMPLE))
RECV = 1_717_200_000_000_000
TOPICS = ["plant/sz/meters/em07/telemetry", "factory/smt/l3/aoi/aoi1/result", "plant/sz/sensors/t12/temperature"]
DOCS = [  # the documented examples of sample.yaml
    {"ts": 1717200000123, "status": "ok", "data": {"energy": {"import_wh": 123456789}, "power_w": 15234.5,
                                                   "pf": 0.97, "phases": [{"voltage": 230.1, "current": 21.3}] * 3}},
    {"time": "2024-06-01T08:15:30.250+08:00", "board": {"serial": "PCB-000123", "program": "MAIN-v3"}, "result": 2,
     "counts": {"inspected": 1523, "defects": 17}, "defect": {"type": "bridge"}},
]
_ANY_TEXT = st.text(st.characters(), max_size=30)  # surrogates included: JSON escapes can spell them

# ------------------------------------------------------------------------------------------ syntax


@fuzz()
@given(st.one_of(_ANY_TEXT, st.text(st.sampled_from("ab$.[]\"'\\0-9 {}+#/"), max_size=20)))
def test_the_small_languages_raise_only_value_error(text: str) -> None:
    for parse in (syntax.parse_json_path, syntax.parse_filter, syntax.template_names, syntax.check_segment,
                  lambda t: syntax.check_template_segments(t, 3, "asset"),
                  lambda t: syntax.check_template_segments(t, 1, "tag")):
        try:
            parse(text)
        except ValueError as err:
            assert str(err)


PATH_STEPS = st.lists(st.one_of(_ANY_TEXT, st.sampled_from(["$", "a", "", "0", "a.b", '"', "[", "$."]),
                                st.integers(-(2**70), 2**70)), max_size=5).map(tuple)


@fuzz()
@given(PATH_STEPS)
def test_json_paths_print_and_parse_back(steps: tuple[str | int, ...]) -> None:
    assert syntax.parse_json_path(syntax.format_json_path(steps)) == steps


LEVELS = st.sampled_from(["a", "b", "", "+", "#", "{x}", "{y}", "$sys"])
TOPIC_LEVELS = st.sampled_from(["a", "b", "", "$sys", "c"])


def mqtt_match(filter_levels: list[str], topic_levels: list[str]) -> list[str] | None:
    """MQTT 3.1.1 §4.7 (and MQTT 5 §4.7), level by level: the captured values, or None for no match."""
    if topic_levels[0].startswith("$") and (filter_levels[0] in ("+", "#") or filter_levels[0].startswith("{")):
        return None
    captures = []
    for i, level in enumerate(filter_levels):
        if level == "#":
            return captures  # also matches the parent level itself
        if i >= len(topic_levels):
            return None
        if level == "+" or level.startswith("{"):
            if level.startswith("{"):
                captures.append(topic_levels[i])
        elif level != topic_levels[i]:
            return None
    return captures if len(filter_levels) == len(topic_levels) else None


@fuzz()
@given(st.lists(LEVELS, min_size=1, max_size=4), st.lists(TOPIC_LEVELS, min_size=1, max_size=4))
def test_filters_match_what_mqtt_matches(filter_levels: list[str], topic_levels: list[str]) -> None:
    try:
        parsed = syntax.parse_filter("/".join(filter_levels))
    except ValueError:
        return
    m = parsed.pattern().fullmatch("/".join(topic_levels))
    assert (list(m.groups()) if m else None) == mqtt_match(filter_levels, topic_levels)


# ------------------------------------------------------------------------------------------ payloads

HOSTILE_JSON = [
    b"[" * 100_000, b'{"a":' * 50_000, b"1" * 5000, b"-" + b"9" * 4400, b"1e999", b"-1e999", b"NaN", b"Infinity",
    b"-Infinity", b'"\\ud800"', b'"\\udc00\\ud800"', b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3(", b"\x00",
    b"1" * 400 + b".5", b"0." + b"0" * 400 + b"1e-400", b'"' + b"x" * 5000 + b'"', b'"' + b"9" * 5000 + b'x"', b"[]",
    b"{}", b"null", b"true", b'"2024-02-30T00:00:00Z"', b'"9999-12-31T23:59:59-23:59"', b'"0001-01-01T00:00+14:00"']


def _decode(topic: str, payload: bytes) -> None:
    try:
        samples = MAPPER.decode(topic, payload, RECV)
    except PayloadError as err:
        assert err.reason and err.detail
        return
    for s in samples:
        parse_key(s.key)


@st.composite
def damaged_documents(draw: st.DrawFn) -> bytes:
    """A documented example with hostile JSON text put where a value was."""
    doc = draw(mutated_tree(draw(st.sampled_from(DOCS)), st.just("\ue000"), st.sampled_from(["ts", "data", "x"]),
                            max_nesting=500))
    text = json.dumps(doc).encode()
    return text.replace(b'"\\ue000"', draw(st.sampled_from(HOSTILE_JSON)), 1)


@fuzz()
@given(st.sampled_from(TOPICS), st.one_of(damaged_documents(),
                                          mutated_bytes(st.sampled_from(DOCS).map(lambda d: json.dumps(d).encode()),
                                                        HOSTILE_JSON)))
def test_damaged_json_documents(topic: str, payload: bytes) -> None:
    _decode(topic, payload)


@fuzz(0.3)
@given(st.sampled_from(TOPICS), st.sampled_from(HOSTILE_JSON).map(lambda h: h * (1_000_000 // max(len(h), 1))))
def test_a_megabyte_of_hostile_json_costs_linear_memory(topic: str, payload: bytes) -> None:
    payload = payload[:MAPPER.subscriptions[0]._max_payload]
    peak, err = peak_memory(lambda: MAPPER.decode(topic, payload, RECV))
    assert err is None or isinstance(err, PayloadError), repr(err)
    assert peak < 1024 * 1024 + 64 * len(payload)


# ------------------------------------------------------------------------------------------ configurations

_YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**300), 2**300), st.floats(),
                          _ANY_TEXT, st.sampled_from(["+", "#", "{x}", "a/#/b", "$", "{meter}", "PT-1S", "P1000000D",
                                                      "iso8601", "state", "Asia/Nowhere", "../../etc/passwd"]))
_YAML_VALUES = st.recursive(_YAML_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(_ANY_TEXT, st.integers()), inner, max_size=3)),
    max_leaves=8)
_CONFIG_KEYS = st.sampled_from(["topic", "path", "asset", "tag", "scale", "states", "quality", "timestamp",
                                "format", "fields", "payload", "qos", "port", "host", "tls", "attrs", "x"])


@fuzz()
@given(st.data())
def test_damaged_configurations(data: st.DataObject) -> None:
    # Whatever the file holds: ConfigError, or a configuration whose mapper decodes without surprises.
    tree = data.draw(mutated_tree(SAMPLE, _YAML_VALUES, _CONFIG_KEYS, max_nesting=500))
    try:
        config = parse_config(tree, "fuzz.yaml")
    except ConfigError as err:
        assert str(err).startswith("fuzz.yaml: ")
        return
    mapper = MessageMapper(config)
    for doc in DOCS:
        for topic in TOPICS:
            with contextlib.suppress(PayloadError):
                mapper.decode(topic, json.dumps(doc).encode(), RECV)
            for meta in mapper.take_new_tags():
                parse_key(meta.key)

