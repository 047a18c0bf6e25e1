"""The simulators over their real protocols: an asyncua client, a paho subscriber and the Sparkplug codec."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from asyncua import Client, Node, ua
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import MQTT_HOST, MQTT_PORT, unique
from tests.helpers.broker import free_port
from tonghu.collectors.sparkplug.codec import BDSEQ_METRIC, decode_payload
from tonghu.device_sims.live import asset_id
from tonghu.device_sims.models import DataType
from tonghu.device_sims.runner import RunConfig, SimRun


def simulate(config: RunConfig, body: Callable[[SimRun], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Run the simulation, then ``body`` against it once every server is up; stop it afterwards."""

    async def go() -> Any:
        sim = SimRun(config)
        stop, up = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(sim.run(stop, lambda _s: up.set()))
        try:
            await asyncio.wait_for(up.wait(), 20)
            return await body(sim)
        finally:
            stop.set()
            await task

    return asyncio.run(asyncio.wait_for(go(), timeout))


@contextmanager
def subscribed(topic: str) -> Iterator[list[mqtt.MQTTMessage]]:
    got: list[mqtt.MQTTMessage] = []
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("sub-"))
    client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = lambda _c, _u, msg: got.append(msg)
    client.connect(MQTT_HOST, MQTT_PORT)
    client.loop_start()
    assert ready.wait(10), "no SUBACK"
    try:
        yield got
    finally:
        client.disconnect()
        client.loop_stop()


async def variables(node: Node, ns: int) -> list[Node]:
    """Every Variable of the site's namespace below ``node`` (properties excluded)."""
    out = []
    for child in await node.get_children(refs=ua.ObjectIds.HierarchicalReferences):
        if child.nodeid.NamespaceIndex != ns:
            continue
        cls = await child.read_node_class()
        if cls == ua.NodeClass.Variable and "#" not in str(child.nodeid.Identifier):
            out.append(child)
        elif cls == ua.NodeClass.Object:
            out.extend(await variables(child, ns))
    return out


def test_every_snapshot_lies_in_the_declared_range() -> None:
    from tonghu.device_sims.models import fleet

    now = time.time_ns() // 1000
    for _c, _s, m in fleet(18, 0).machines():
        specs = {t.name: t for t in m.kind.tags}
        for name, value in m.snapshot(now).items():
            t = specs[name]
            if t.lo is not None and t.hi is not None and not isinstance(value, str):
                assert t.lo <= value <= t.hi, (m, name, value)


def test_opcua_site_serves_every_tag_with_units_and_ranges() -> None:
    config = RunConfig(sector="electronics", machines=5, speed=3600, protocols=("opcua",), opcua_port=free_port())

    async def body(sim: SimRun) -> None:
        server = sim.opcua[0]
        machines = sim.sites[0].machines
        async with Client(server.endpoint) as client:
            ns = await client.get_namespace_index(server.namespace)
            found = await variables(client.nodes.objects, ns)
            expected = {f"{asset_id(m)}.{t.name}": t for m in machines for t in m.kind.tags}
            assert {n.nodeid.Identifier for n in found} == set(expected)
            with_range = 0
            for node in found:
                spec = expected[node.nodeid.Identifier]
                value = await node.read_value()
                props = {(await p.read_browse_name()).Name: await p.read_value() for p in await node.get_properties()}
                if spec.unit:
                    assert props["EngineeringUnits"].DisplayName.Text == spec.unit
                if "EURange" in props:
                    with_range += 1
                    assert props["EURange"].Low - 1e-9 <= value <= props["EURange"].High + 1e-9, node
                variant = await node.read_data_value()
                if spec.dtype is DataType.FLOAT:
                    assert variant.Value.VariantType is ua.VariantType.Double
                elif spec.dtype is DataType.INT:
                    assert variant.Value.VariantType is ua.VariantType.Int64
            assert with_range > 20
            # An hour of simulated time per second: counters and energy must move within a few seconds.
            moving = [ua.NodeId(f"{asset_id(m)}.energy_kwh", ns) for m in machines]
            before = [await client.get_node(n).read_value() for n in moving]
            await asyncio.sleep(3)
            after = [await client.get_node(n).read_value() for n in moving]
            assert before != after

    simulate(config, body)


def test_mqtt_json_devices_publish_nested_payloads(topic_prefix: str) -> None:
    config = RunConfig(sector="electronics", machines=5, speed=3600, protocols=("mqtt",), topic_prefix=topic_prefix)
    with subscribed(f"{topic_prefix}/#") as got:
        simulate(config, lambda _sim: asyncio.sleep(3))
        time.sleep(0.3)
    by_device: dict[str, list[dict[str, Any]]] = {}
    for msg in got:
        assert msg.qos == 1
        by_device.setdefault(msg.topic.rsplit("/", 1)[1], []).append(json.loads(msg.payload))
    energy, aoi = by_device["energy"], by_device["aoi"]
    assert len({e["device"]["asset"] for e in energy}) == 5
    for p in energy:
        assert isinstance(p["ts"], int)
        assert p["data"]["electrical"]["active_power_kw"] >= 0
        assert p["data"]["electrical"]["active_energy_import_kwh"] >= 0
    for p in aoi:
        assert p["device"]["type"] == "aoi_results"
        assert set(p["data"]["defects"]["by_type"]) >= {"bridge", "missing", "tombstone"}
        assert p["data"]["boards"]["inspected"] >= p["data"]["boards"]["passed_first"]
    assert all(m.topic.startswith(f"{topic_prefix}/") and m.topic.count("/") == 4 + topic_prefix.count("/")
               for m in got)


def test_sparkplug_node_births_the_machines_with_aliases(tmp_path: Path) -> None:
    group = unique("g")
    config = RunConfig(sector="equipment", machines=3, speed=3600, protocols=("sparkplug",), sparkplug_group=group,
                       state_dir=tmp_path)
    with subscribed(f"spBv1.0/{group}/#") as got:
        machines = simulate(config, lambda sim: asyncio.sleep(2.5, result=sim.sites[0].machines))
        time.sleep(0.3)
    kinds = [m.topic.split("/")[2] for m in got]
    assert kinds[0] == "NBIRTH" and kinds.count("DBIRTH") == 3 and "DDATA" in kinds and kinds[-1] == "NDEATH"
    nbirth = decode_payload(bytes(got[0].payload))
    assert {m.name for m in nbirth.metrics} >= {BDSEQ_METRIC, "Node Control/Rebirth", "Node Info/Machines"}
    aliases: dict[int, str] = {}
    for msg in got:
        if msg.topic.split("/")[2] != "DBIRTH":
            continue
        device = msg.topic.split("/")[4]
        machine = next(m for m in machines if asset_id(m) == device)
        birth = decode_payload(bytes(msg.payload))
        assert {m.name for m in birth.metrics} == {t.name for t in machine.kind.tags}
        assert all(m.alias is not None and m.datatype is not None for m in birth.metrics)
        aliases |= {m.alias: m.name for m in birth.metrics}
    for msg in got:
        if msg.topic.split("/")[2] == "DDATA":
            data = decode_payload(bytes(msg.payload))
            assert all(m.name is None and m.alias in aliases for m in data.metrics)


@pytest.mark.slow
def test_faults_restart_the_opcua_server_and_garble_json(topic_prefix: str) -> None:
    config = RunConfig(sector="petrochemical", machines=1, speed=600, protocols=("opcua", "mqtt"),
                       opcua_port=free_port(), topic_prefix=topic_prefix, faults=True, fault_period_s=0.6,
                       stall_s=0.5)

    async def body(sim: SimRun) -> list[str]:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (
                any("opcua" in f for f in sim.faults) and any("JSON" in f for f in sim.faults)):
            await asyncio.sleep(0.2)
        while not sim.opcua[0].running:
            await asyncio.sleep(0.1)
        async with Client(sim.opcua[0].endpoint) as client:
            ns = await client.get_namespace_index(sim.opcua[0].namespace)
            assert await client.get_node(ua.NodeId("crude.cdu1.unit.feed_rate", ns)).read_value() >= 0
        return list(sim.faults)

    with subscribed(f"{topic_prefix}/#") as got:
        faults = simulate(config, body, timeout=40)
        time.sleep(0.3)
    assert any("opcua" in f for f in faults) and any("JSON" in f for f in faults)
    bad = 0
    for msg in got:
        try:
            json.loads(msg.payload)
        except json.JSONDecodeError:
            bad += 1
    assert bad >= 1


def test_cli_run_exits_cleanly(tmp_path: Path, topic_prefix: str) -> None:
    cmd = [sys.executable, "-c", "from tonghu.cli import main; main()", "sims", "run", "--sector", "petrochemical",
           "--machines", "1", "--speed", "600", "--duration", "3", "--opcua-port", str(free_port()),
           "--mqtt-host", MQTT_HOST, "--mqtt-port", str(MQTT_PORT), "--topic-prefix", topic_prefix,
           "--sparkplug-group", unique("g"), "--state-dir", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "opc.tcp://127.0.0.1:" in done.stdout and f"{topic_prefix}/" in done.stdout


def test_secure_endpoint_needs_the_user(tmp_path: Path) -> None:
    from tonghu.device_sims.opcua_site import Security

    config = RunConfig(sector="petrochemical", machines=1, protocols=("opcua",), opcua_port=free_port(),
                       security=Security("alice", "s3cret", tmp_path / "certs"), state_dir=tmp_path)

    async def body(sim: SimRun) -> None:
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID

        key, cert = tmp_path / "client-key.pem", tmp_path / "client-cert.der"
        uri = "urn:tonghu:test:client"
        await setup_self_signed_certificate(key, cert, uri, "localhost", [ExtendedKeyUsageOID.CLIENT_AUTH],
                                            {"commonName": "test-client"})
        server = sim.opcua[0]
        client = Client(server.endpoint)
        client.application_uri = uri
        client.set_user("alice")
        client.set_password("s3cret")
        await client.set_security_string(f"Basic256Sha256,SignAndEncrypt,{cert},{key}")
        async with client:
            ns = await client.get_namespace_index(server.namespace)
            assert await client.get_node(ua.NodeId("crude.cdu1.unit.feed_rate", ns)).read_value() >= 0
        intruder = Client(server.endpoint)
        intruder.application_uri = uri
        intruder.set_user("alice")
        intruder.set_password("wrong")
        await intruder.set_security_string(f"Basic256Sha256,SignAndEncrypt,{cert},{key}")
        with pytest.raises(Exception):  # noqa: B017 - asyncua raises a status-code specific class
            await intruder.connect()

    simulate(config, body)


def test_cli_scale_serves_the_load_namespace() -> None:
    port = free_port()
    cmd = [sys.executable, "-c", "from tonghu.cli import main; main()", "sims", "scale", "--machines", "2",
           "--tags", "3", "--rate", "5", "--port", str(port), "--duration", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    async def read() -> float:
        from tonghu.device_sims.opcua_scale import NAMESPACE

        deadline = time.monotonic() + 30  # interpreter start and imports take seconds on a loaded machine
        while True:
            try:
                async with Client(f"opc.tcp://127.0.0.1:{port}") as client:
                    ns = await client.get_namespace_index(NAMESPACE)
                    return await client.get_node(ua.NodeId("M0001.T0002", ns)).read_value()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    try:
        assert isinstance(asyncio.run(read()), float)
    finally:
        proc.send_signal(signal.SIGTERM)  # stops like Ctrl-C: the server closes and the command exits 0
        assert proc.wait(timeout=20) == 0
