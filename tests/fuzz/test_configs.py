"""Configuration files on bad input: whatever a YAML file holds, loading it gives a validated model or a
ConfigError that names the file; nothing else escapes (PyYAML alone can raise RecursionError and ValueError).
Valid configurations survive a dump and a re-validation unchanged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

import tonghu.collectors.mqtt as mqtt_pkg
import tonghu.collectors.opcua as opcua_pkg
import tonghu.collectors.sparkplug as sparkplug_pkg
from tests.fuzz.conftest import fuzz
from tests.fuzz.mutate import mutated_bytes, mutated_tree
from tonghu.collectors.mqtt.config import load_config as load_mqtt
from tonghu.collectors.opcua.config import load_config as load_opcua
from tonghu.collectors.sparkplug.entry import SparkplugEntry
from tonghu.common.errors import ConfigError
from tonghu.common.settings import load_yaml_model, validate_model
from tonghu.edge_agent.config import load as load_edge
from tonghu.platform.ingest.config import IngestConfig

ROOT = Path(__file__).resolve().parents[2]
INGEST_YAML = """\
database_url: postgresql://ingest@db.example.com/tonghu
topic_prefix: tonghu
broker: {host: broker.example.com, port: 8883, username: ingest, password: secret, tls_ca: /etc/ca.pem,
         client_id: ingest-1, keepalive: 30, session_expiry: PT1H, receive_maximum: 256}
group_max_messages: 64
group_max_wait: PT0.02S
max_past: P35D
metrics_port: 9108
"""


def _validated(model: type[BaseModel]) -> Callable[[Path], BaseModel]:
    return lambda path: validate_model(model, load_yaml_model(path), str(path))


# (loader, valid file text) for every configuration file a person writes.
LOADERS: list[tuple[Callable[[Path], Any], str]] = [
    *((load_edge, (ROOT / "deploy/edge" / name).read_text()) for name in
      ("edge-mqtt.yaml", "edge-opcua.yaml", "edge-sparkplug.yaml")),
    (load_mqtt, Path(mqtt_pkg.__file__).with_name("sample.yaml").read_text()),
    (load_opcua, Path(opcua_pkg.__file__).with_name("sample.yaml").read_text()),
    (_validated(SparkplugEntry), Path(sparkplug_pkg.__file__).with_name("sample.yaml").read_text()),
    (_validated(IngestConfig), INGEST_YAML),
]

# YAML that PyYAML turns into something unexpected, or refuses in a way other than YAMLError.
HOSTILE_YAML = [
    b"[" * 1200, b"{a: " * 1200, b"1" * 5000, b"0x" + b"f" * 5000, b"0o" + b"7" * 6000, b"2024-02-30",
    b"2001-13-01 00:00:00", b"190:20:30" + b":1" * 3000, b"!!binary x", b"!!python/object:os.system []",
    b"!!set {a, b}", b"!!omap [a]", b"&a [*a]", b"*undefined", b".nan", b"-.inf", b"1e99999", b"~", b"\t",
    b"\x00", b"\xff", b"\xef\xbb\xbf", b"'\\ud800'", b'"\\ud800"', b"<<: {a: 1}", b"<<: 1", b"? [1]\n: 2",
    b"%YAML 9.9\n---\n", b"--- !<tag:yaml.org,2002:int> 0x10", b"PT-1S", b"P9999999999D", b"-1",
]
_LAUGHS = b"".join(b"l%d: &l%d [%s]\n" % (i, i, b",".join([b"*l%d" % (i - 1) if i else b"x"] * 9)) for i in range(9))
_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**400), 2**400), st.floats(),
                     st.text(max_size=20), st.binary(max_size=8), st.dates(), st.datetimes(),
                     st.sampled_from(["PT-1S", "P99999999999D", "", "../../x", "+", "#", "0.0.0.0", "-1", "v9"]))
_VALUES = st.recursive(_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=3)),
    max_leaves=8)
_KEYS = st.one_of(st.sampled_from(["type", "name", "broker", "port", "host", "password", "tls", "subscriptions",
                                   "collectors", "groups", "nodes", "buffer", "path", "max_bytes", "edge", "x"]),
                  st.text(max_size=8))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("configs")


def _load(loader: Callable[[Path], Any], path: Path, text: bytes) -> Any:
    path.write_bytes(text)
    try:
        return loader(path)
    except ConfigError as err:
        assert str(err).startswith(str(path)), str(err)[:300]
        return None


def _round_trip(model: BaseModel) -> None:
    assert type(model).model_validate(model.model_dump()) == model


@fuzz()
@given(st.data())
def test_damaged_files(work: Path, data: st.DataObject) -> None:
    loader, text = data.draw(st.sampled_from(LOADERS))
    damaged = data.draw(st.one_of(st.binary(max_size=200), mutated_bytes(text.encode(), HOSTILE_YAML),
                                  st.just(_LAUGHS + text.encode())))
    _load(loader, work / "damaged.yaml", damaged)


@fuzz(0.5)
@given(st.data())
def test_damaged_values(work: Path, data: st.DataObject) -> None:
    loader, text = data.draw(st.sampled_from(LOADERS))
    tree = data.draw(mutated_tree(yaml.safe_load(text), _VALUES, _KEYS, max_nesting=200))
    model = _load(loader, work / "values.yaml", yaml.safe_dump(tree, allow_unicode=True).encode())
    if model is not None:
        _round_trip(model)


@pytest.mark.parametrize(("loader", "text"), LOADERS)
def test_valid_files_round_trip(work: Path, loader: Callable[[Path], Any], text: str) -> None:
    model = _load(loader, work / "valid.yaml", text.encode())
    assert model is not None
    _round_trip(model)


@pytest.mark.parametrize("hostile", HOSTILE_YAML)
def test_each_hostile_fragment_as_a_whole_file(work: Path, hostile: bytes) -> None:
    # The MQTT collector reads its YAML itself; every other file goes through load_yaml_model.
    for loader in (load_edge, load_mqtt):
        _load(loader, work / "hostile.yaml", hostile)
        _load(loader, work / "hostile.yaml", b"edge: " + hostile + b"\n")


def test_dates_and_times_are_not_durations(work: Path) -> None:
    # YAML reads 2024-06-01 as a date; a duration field must refuse it with a ConfigError, not accept it.
    text = (ROOT / "deploy/edge/edge-mqtt.yaml").read_text().replace("# max_age: P7D", f"max_age: {dt.date.today()}")
    assert _load(load_edge, work / "date.yaml", text.encode()) is None
