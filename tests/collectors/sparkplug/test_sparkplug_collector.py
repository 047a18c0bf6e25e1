"""The host collector against the real Mosquitto, fed by the simulated edge node; the sink is a list."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.collectors.sparkplug.conftest import ListSink, RunningCollector, entry, wait_for
from tests.conftest import MQTT_HOST, MQTT_PORT, unique
from tonghu.collectors.sparkplug.codec import Metric, Payload, encode_payload
from tonghu.collectors.sparkplug.collector import SparkplugCollector
from tonghu.collectors.sparkplug.datatypes import DataType as D
from tonghu.collectors.sparkplug.entry import SparkplugEntry
from tonghu.collectors.sparkplug.session import STATUS_STALE
from tonghu.collectors.sparkplug.topic import MessageType
from tonghu.common.sample import STATUS_GOOD
from tonghu.device_sims.sparkplug_node import SimDevice, SimMetric, SparkplugNode
from tonghu.edge_agent.supervisor import Supervisor

RunCollector = Callable[[SparkplugEntry, ListSink], RunningCollector]
MakeNode = Callable[..., SparkplugNode]

NODE_METRICS = (SimMetric("Supply/Voltage", D.FLOAT, lambda t, r: 24.0 + t, unit="V"),)
PRESS = SimDevice("Press-1", (
    SimMetric("Counters/Total", D.INT64, lambda t, r: 100 + t, unit="parts"),
    SimMetric("Temperature", D.DOUBLE, lambda t, r: 20.5 + t / 2),
    SimMetric("Running", D.BOOLEAN, lambda t, r: t % 2 == 0),
    SimMetric("Mode", D.STRING, lambda t, r: "auto"),
))
RULES = {"mapping": {"rules": [{"metric": "Counters/Total", "level": "device", "name": "count_total",
                                "role": "count_total"}]}}


def _keys(group: str) -> dict[str, str]:
    return {"voltage": f"{group}/gw1/gw1/supply.voltage", "count": f"{group}/gw1/press-1/count_total",
            "temp": f"{group}/gw1/press-1/temperature", "running": f"{group}/gw1/press-1/running",
            "mode": f"{group}/gw1/press-1/mode"}


def _node(make_node: MakeNode, group: str, **kwargs: Any) -> SparkplugNode:
    return make_node(group, metrics=NODE_METRICS, devices=(PRESS,), **kwargs)


def test_births_and_data_become_samples_and_tags(run_collector: RunCollector, make_node: MakeNode,
                                                 group: str) -> None:
    sink = ListSink()
    running = run_collector(entry(group, **RULES), sink)
    node = _node(make_node, group)
    node.start()
    for i in range(3):
        node.step(ts_ms=1_700_000_000_000 + i * 1000)
    k = _keys(group)
    assert wait_for(lambda: len(sink.values(k["count"])) == 4)
    assert sink.values(k["count"]) == [100, 101, 102, 103]
    assert sink.values(k["voltage"]) == [24.0, 25.0, 26.0, 27.0]
    assert sink.values(k["temp"]) == [20.5, 21.0, 21.5, 22.0]
    assert sink.values(k["running"]) == [True, False, True, False]
    assert sink.values(k["mode"]) == ["auto"]  # reported by exception: it never changed
    assert {s.status for s in sink.samples} == {STATUS_GOOD}
    assert set(sink.by_key()) == set(k.values())  # bdSeq and Node Control/Rebirth are not collected
    tags = {t.key: t for t in sink.tags}
    assert tags[k["count"]].role == "count_total" and tags[k["count"]].unit == "parts"
    assert tags[k["count"]].data_type == "int" and tags[k["voltage"]].unit == "V"
    assert tags[k["count"]].attrs["sparkplug_device"] == "Press-1"
    assert node.rebirths == 0 and running.stats["rebirths_sent"] == 0
    assert running.stats["session"]["samples"] == len(sink.samples)


def test_seq_gap_gets_a_rebirth_and_the_node_answers(run_collector: RunCollector, make_node: MakeNode,
                                                     group: str) -> None:
    sink = ListSink()
    running = run_collector(entry(group), sink)
    node = _node(make_node, group)
    node.start()
    node.publish({"Temperature": 30.0}, "Press-1")
    node.skip_seq()  # one message lost on the way
    node.publish({"Temperature": 31.0}, "Press-1")
    assert wait_for(lambda: node.rebirths == 1)
    assert wait_for(lambda: running.stats["session"]["gap_timeouts"] == 1)
    assert wait_for(lambda: node.births == 2 and running.stats["rebirths_sent"] == 1)
    # The held message was applied when the gap timed out, then the new birth repeated the current value.
    assert wait_for(lambda: sink.values(_keys(group)["temp"]) == [20.5, 30.0, 31.0, 31.0])


def test_data_before_birth_gets_a_rebirth(run_collector: RunCollector, make_node: MakeNode, group: str) -> None:
    sink = ListSink()
    running = run_collector(entry(group), sink)
    node = _node(make_node, group)
    node.start(birth=False)  # as if the host had missed the births
    node.publish({"Temperature": 40.0}, "Press-1")
    assert wait_for(lambda: node.rebirths == 1)
    assert wait_for(lambda: sink.values(_keys(group)["temp"]) == [40.0])  # from the birth, not the early data
    assert running.stats["session"]["before_birth"] >= 1


def test_ndeath_marks_every_metric_stale(run_collector: RunCollector, make_node: MakeNode, group: str) -> None:
    sink = ListSink()
    running = run_collector(entry(group), sink)
    node = _node(make_node, group)
    node.start()
    node.step()
    k = _keys(group)
    assert wait_for(lambda: len(sink.values(k["temp"])) == 2)
    node.stop(graceful=False)  # the broker publishes the Will: NDEATH with the birth's bdSeq
    assert wait_for(lambda: running.stats["session"]["stale_samples"] == 5)
    series = sink.by_key()
    assert len(series) == 5
    assert {samples[-1].status for samples in series.values()} == {STATUS_STALE}
    assert series[k["temp"]][-1].value == 21.0 and series[k["mode"]][-1].value == "auto"
    # The stale mark repeats the last value and is the newest sample of its tag.
    assert all(s[-1].source_ts_us > s[-2].source_ts_us for s in series.values())


def test_signed_integers_arrive_with_their_sign(run_collector: RunCollector, make_node: MakeNode,
                                                group: str) -> None:
    sink = ListSink()
    run_collector(entry(group), sink)
    widths = {"I8": (D.INT8, 8), "I16": (D.INT16, 16), "I32": (D.INT32, 32), "I64": (D.INT64, 64)}

    def lowest(bits: int) -> Callable[[int, object], int]:
        return lambda t, r: -(2 ** (bits - 1)) + t

    node = make_node(group, metrics=[SimMetric(n, dt, lowest(bits)) for n, (dt, bits) in widths.items()])
    node.start()  # the birth carries each type's lowest value
    node.publish({"I8": -1, "I16": -2, "I32": -3, "I64": -4})
    node.publish({n: 2 ** (bits - 1) - 1 for n, (_dt, bits) in widths.items()})
    keys = {n: f"{group}/gw1/gw1/{n.lower()}" for n in widths}
    assert wait_for(lambda: all(len(sink.values(k)) == 3 for k in keys.values()))
    for i, (name, (_dt, bits)) in enumerate(widths.items()):
        assert sink.values(keys[name]) == [-(2 ** (bits - 1)), -(i + 1), 2 ** (bits - 1) - 1]


def test_alias_cache_survives_a_restart(run_collector: RunCollector, make_node: MakeNode, group: str,
                                        tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "aliases.json"
    e = entry(group, alias_cache=str(cache), alias_cache_interval="PT0.1S")
    first = run_collector(e, ListSink())
    node = _node(make_node, group)
    node.start()
    assert wait_for(lambda: first.stats["session"]["samples"] == 5)
    first.stop()
    saved = json.loads(cache.read_text())
    assert [(n["group"], n["node"]) for n in saved["nodes"]] == [(group, "gw1")]
    assert list(cache.parent.iterdir()) == [cache]  # no temporary file left behind

    sink = ListSink()
    second = run_collector(e, sink)
    node.publish({"Temperature": 55.5}, "Press-1")
    node.publish({"Supply/Voltage": 12.0})
    assert wait_for(lambda: len(sink.samples) == 2)
    assert sink.values(_keys(group)["temp"]) == [55.5] and sink.values(_keys(group)["voltage"]) == [12.0]
    assert node.rebirths == 0 and second.stats["rebirths_sent"] == 0


def test_malformed_payloads_are_counted_and_skipped(run_collector: RunCollector, make_node: MakeNode,
                                                    group: str) -> None:
    sink = ListSink()
    running = run_collector(entry(group), sink)
    node = _node(make_node, group)
    node.start()
    node.publish_raw(MessageType.DDATA, b"\x0a\xff\xff\xff", "Press-1")  # a length beyond the bytes
    node.publish_raw(MessageType.NDATA, b"\x08")  # a truncated varint
    node.publish({"Temperature": 99.0}, "Press-1")
    assert wait_for(lambda: sink.values(_keys(group)["temp"]) == [20.5, 99.0])
    assert sum(running.stats["malformed"].values()) == 2
    assert running.stats["session"]["malformed"] == 2
    assert running.read_error is None and running.thread.is_alive()


def _state_watcher(topic: str) -> tuple[mqtt.Client, queue.Queue[tuple[dict[str, Any], bool]]]:
    got: queue.Queue[tuple[dict[str, Any], bool]] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=unique("watch-"), protocol=mqtt.MQTTv5)
    client.on_message = lambda _c, _u, msg: got.put((json.loads(msg.payload), msg.retain))
    client.connect(MQTT_HOST, MQTT_PORT)
    client.subscribe(topic, qos=1)
    client.loop_start()
    return client, got


def test_host_state_birth_death_and_answer_to_a_false_offline(run_collector: RunCollector, group: str) -> None:
    e = entry(group)
    running = run_collector(e, ListSink())
    connected_ms = running.collector._connected_ms
    watcher, got = _state_watcher(e.state_topic)
    try:
        assert got.get(timeout=5) == ({"online": True, "timestamp": connected_ms}, True)  # retained birth
        # Another client claims this host is offline (a late Will of an earlier connection): contradicted.
        watcher.publish(e.state_topic, json.dumps({"online": False, "timestamp": connected_ms}), qos=1,
                        retain=True).wait_for_publish(5)
        assert got.get(timeout=5)[0]["online"] is False
        online, _ = got.get(timeout=5)
        assert online["online"] is True and online["timestamp"] >= connected_ms
        assert running.stats["state_republished"] == 1
        before = time.time_ns() // 1_000_000
        running.stop()
        death, _ = got.get(timeout=5)
        assert death["online"] is False and death["timestamp"] >= before
    finally:
        watcher.disconnect()
        watcher.loop_stop()


class HoldingSink(ListSink):
    """Keeps ``on_durable`` callbacks until ``release``, like a buffer whose disk writes are slow."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Callable[[], None]] = []
        self.holding = True

    def put(self, samples: Any, on_durable: Callable[[], None] | None = None) -> None:
        if on_durable is not None and self.holding:
            self.held.append(on_durable)
            on_durable = None
        super().put(samples, on_durable)

    def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for callback in held:
            callback()


def test_qos1_messages_are_acknowledged_only_when_durable(run_collector: RunCollector, make_node: MakeNode,
                                                          group: str) -> None:
    sink = HoldingSink()
    run_collector(entry(group), sink)
    node = make_node(group, metrics=[SimMetric("Count", D.INT32, lambda t, r: t)], qos=1)
    node.start()
    for i in range(40):
        node.publish({"Count": i + 1})
    # Unacknowledged, the messages fill the broker's in-flight window (Mosquitto: 20) and delivery stops.
    time.sleep(0.5)
    assert 1 <= len(sink.samples) < 41, len(sink.samples)
    sink.release()
    assert wait_for(lambda: len(sink.samples) == 41)
    assert sink.values(f"{group}/gw1/gw1/count") == list(range(41))


def test_bdseq_survives_restarts_and_a_late_death_of_an_old_session_is_ignored(
        run_collector: RunCollector, make_node: MakeNode, group: str, tmp_path: Path) -> None:
    sink = ListSink()
    running = run_collector(entry(group), sink)
    node = make_node(group, metrics=[SimMetric("Level", D.DOUBLE, lambda t, r: 1.5)])
    node.start()
    assert node.bdseq == 0
    node.stop()  # graceful: NDEATH with bdSeq 0
    assert wait_for(lambda: running.stats["session"]["stale_samples"] == 1)
    node.start()
    assert node.bdseq == 1 and (tmp_path / "gw1.bdseq").read_text().strip() == "2"
    assert wait_for(lambda: len(sink.samples) == 3)
    # The previous session's death, delayed: its bdSeq does not match the current birth's (§5.4).
    node.publish_raw(MessageType.NDEATH, encode_payload(Payload(metrics=[Metric.of("bdSeq", D.INT64, 0)])))
    assert wait_for(lambda: running.stats["session"]["deaths_ignored"] == 1)
    assert running.stats["session"]["stale_samples"] == 1
    node.stop(graceful=False)  # the Will, with bdSeq 1
    assert wait_for(lambda: running.stats["session"]["stale_samples"] == 2)


def test_lost_connection_marks_stale_and_the_supervisor_recovers(make_node: MakeNode, group: str) -> None:
    e = entry(group)
    sink = ListSink()
    supervisor = Supervisor(SparkplugCollector(e), sink, "edge-1", first_delay=0.05, max_delay=0.2)
    loop = asyncio.new_event_loop()
    task = loop.create_task(supervisor.run())

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    node = make_node(group, metrics=[SimMetric("Level", D.DOUBLE, lambda t, r: 1.5 + t)])
    try:
        assert wait_for(lambda: supervisor.state.connected)
        node.start()
        key = f"{group}/gw1/gw1/level"
        assert wait_for(lambda: sink.values(key) == [1.5])
        # Another client takes the collector's client id: the broker drops the collector's connection.
        intruder = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=e.broker.client_id, protocol=mqtt.MQTTv5)
        intruder.connect(MQTT_HOST, MQTT_PORT)
        intruder.loop_start()
        assert wait_for(lambda: supervisor.state.outages == 1)
        intruder.disconnect()
        intruder.loop_stop()
        stale = [s for s in sink.by_key()[key] if s.status == STATUS_STALE]
        assert [s.value for s in stale] == [1.5]  # §5.3: the host lost the broker, so the value is stale
        assert wait_for(lambda: supervisor.state.connected)
        node.step()  # data from a node the session no longer considers online → rebirth request
        assert wait_for(lambda: node.rebirths == 1)
        assert wait_for(lambda: sink.values(key)[-1] == 2.5 and sink.by_key()[key][-1].status == STATUS_GOOD)
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        loop.close()
