"""The configuration model: the sample file, the node syntax, and errors that name the path and what was expected."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import tonghu.collectors.opcua as opcua_pkg
from tonghu.collectors.opcua import nodes
from tonghu.collectors.opcua.collector import OpcUaCollector
from tonghu.collectors.opcua.config import (
    DeadbandType,
    PollingGroup,
    SecurityMode,
    SecurityPolicy,
    SubscriptionGroup,
    TrustMode,
    UsernameIdentity,
    load_config,
    parse_config,
)
from tonghu.common.errors import ConfigError

SAMPLE = Path(opcua_pkg.__file__).with_name("sample.yaml")

BASE: dict[str, Any] = {
    "type": "opcua",
    "endpoint": "opc.tcp://plc:4840",
    "groups": [{"name": "fast", "mode": "subscription",
                "nodes": [{"node_id": "nsu=urn:x;s=A", "asset": "area/line/asset", "tag": "a"}]}],
}


def with_changes(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def error_of(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "edge.yaml")
    return str(info.value)


def test_sample_config_loads() -> None:
    cfg = load_config(SAMPLE)
    assert cfg.name == "press-line-1"
    assert (cfg.security.policy, cfg.security.mode) == (SecurityPolicy.BASIC256SHA256, SecurityMode.SIGN_AND_ENCRYPT)
    assert isinstance(cfg.identity, UsernameIdentity) and cfg.identity.password.get_secret_value() == "change-me"
    assert cfg.server_trust.mode is TrustMode.PINNED and len(cfg.server_trust.sha256 or "") == 64
    sub, poll = cfg.groups
    assert isinstance(sub, SubscriptionGroup) and isinstance(poll, PollingGroup)
    assert sub.sampling_interval == timedelta(seconds=0.25) and sub.deadband.type is DeadbandType.ABSOLUTE
    assert poll.interval == timedelta(minutes=1)
    assert sub.nodes[1].browse_path is not None
    assert sub.nodes[2].states == {"0": "idle", "1": "production", "2": "setup", "3": "unplanned_down"}
    tags = {t.key: t for t in OpcUaCollector(cfg).tags()}
    assert tags["pressing/line1/press3/spindle_speed"].unit == "rpm"
    assert tags["pressing/line1/press3/state"].data_type == "state"
    assert tags["utilities/power/meter7/energy_import"].role == "energy_kwh"
    assert len(tags) == 6


def test_defaults_are_safe() -> None:
    cfg = parse_config(BASE)
    assert cfg.security.mode is SecurityMode.NONE
    assert cfg.server_trust.mode is TrustMode.TRUST_LIST
    assert cfg.pki.certificate_path == Path("pki/own/certs/application.der")


@pytest.mark.parametrize(("security", "expected"), [
    ({"policy": "None", "mode": "Sign"}, "policy None cannot be combined with mode Sign"),
    ({"policy": "Basic256Sha256", "mode": "None"}, "policy Basic256Sha256 cannot be combined with mode None"),
    ({"policy": "Basic128Rsa15", "mode": "Sign"}, "security.policy: Input should be 'None', 'Basic256Sha256'"),
])
def test_inconsistent_security_is_refused(security: dict[str, str], expected: str) -> None:
    assert expected in error_of(with_changes(security=security))


def test_errors_name_the_path() -> None:
    data = with_changes()
    data["groups"][0]["nodes"][0]["node_id"] = "ns=x;s=A"
    assert error_of(data).startswith("edge.yaml: groups[0].nodes[0].node_id: node id 'ns=x;s=A' must look like")

    data = with_changes()
    data["groups"][0]["nodes"][0]["asset"] = "area/line"
    assert "groups[0].nodes[0].asset: asset 'area/line' must be area/line/asset" in error_of(data)

    data = with_changes()
    data["groups"].append({"name": "slow", "mode": "polling", "nodes": [
        {"node_id": "i=2258", "asset": "area/line/asset", "tag": "a"}]})
    assert "groups[1].nodes[0] and groups[0].nodes[0] both map to tag 'area/line/asset/a'" in error_of(data)

    data = with_changes()
    data["groups"][0] = {"name": "slow", "mode": "polling", "nodes": [
        {"node_id": "i=2258", "asset": "area/line/asset", "tag": "a", "deadband": {"type": "absolute", "value": 1}}]}
    assert "groups[0]: nodes[0].deadband applies to subscription groups only" in error_of(data)

    assert "server_trust: mode pinned needs sha256" in error_of(with_changes(server_trust={"mode": "pinned"}))
    assert "server_trust.sha256: sha256 must be 64 hexadecimal digits" in error_of(
        with_changes(server_trust={"mode": "pinned", "sha256": "abc"}))
    assert "identity.username.password: Field required" in error_of(
        with_changes(identity={"type": "username", "username": "u"}))


def test_node_level_rules() -> None:
    data = with_changes()
    data["groups"][0]["nodes"][0].update(browse_path="/Objects/A")
    assert "give exactly one of node_id or browse_path" in error_of(data)
    data = with_changes()
    data["groups"][0]["nodes"][0].update(data_type="string", deadband={"type": "percent", "value": 5})
    assert "a deadband applies to float and int nodes only, not string" in error_of(data)
    data = with_changes()
    data["groups"][0]["nodes"][0].update(deadband={"type": "percent", "value": 150})
    assert "a percent deadband is 0..100" in error_of(data)
    data = with_changes()
    data["groups"][0]["nodes"][0]["extra"] = 1
    assert "groups[0].nodes[0].extra: Extra inputs are not permitted" in error_of(data)


def test_node_id_syntax() -> None:
    spec = nodes.parse_node_id("nsu=urn:example:site;s=Line1.Temp;x=1")
    assert (spec.namespace_uri, spec.kind, spec.identifier) == ("urn:example:site", "s", "Line1.Temp;x=1")
    assert spec.namespace(["http://opcfoundation.org/UA/", "urn:other", "urn:example:site"]) == 2
    with pytest.raises(LookupError, match="urn:example:site"):
        spec.namespace(["http://opcfoundation.org/UA/"])
    assert nodes.parse_node_id("ns=3;i=1001").namespace([]) == 3
    assert nodes.parse_node_id("i=2258").namespace([]) == 0
    guid = nodes.parse_node_id("nsu=urn:x;g=09087e75-8e5e-499b-954f-f2a9603db28a")
    assert guid.identifier == uuid.UUID("09087e75-8e5e-499b-954f-f2a9603db28a")
    assert nodes.parse_node_id("nsu=urn:x;b=AAEC").identifier == b"\x00\x01\x02"
    for bad in ("s=", "i=-1", "i=4294967296", "nsu=urn:x;q=1", "g=xyz", "b=%%", "ns=70000;i=1"):
        with pytest.raises(ValueError):
            nodes.parse_node_id(bad)


def test_browse_path_syntax_round_trips() -> None:
    text = r"/Objects/{urn:a:b}Plant/{urn:a:b}Line\/1/{urn:c}T\{x\}"
    steps = nodes.parse_browse_path(text)
    assert steps == (nodes.PathStep(nodes.UA_NAMESPACE, "Objects"), nodes.PathStep("urn:a:b", "Plant"),
                     nodes.PathStep("urn:a:b", "Line/1"), nodes.PathStep("urn:c", "T{x}"))
    assert nodes.format_browse_path(steps) == text
    for bad, where in (("Objects/A", "must start with '/'"), ("/Objects//A", "empty step"),
                       ("/{urn:x", "is not closed"), ("/{}A", "empty namespace URI"), ("/A}", "unexpected '}'")):
        with pytest.raises(ValueError, match=where):
            nodes.parse_browse_path(bad)
