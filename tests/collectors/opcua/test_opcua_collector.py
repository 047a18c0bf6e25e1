"""The collector against real asyncua servers: subscriptions, deadbands, polling, namespace resolution."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Any

from asyncua import ua
from opcua_rig import NS, OTHER_NS, VARIABLES, ListSink, Rig, free_port, run, serving, wait_for

from tonghu.collectors.opcua.collector import OpcUaCollector
from tonghu.collectors.opcua.config import parse_config
from tonghu.collectors.opcua.convert import BAD_NODE_ID_UNKNOWN
from tonghu.collectors.opcua.resolve import Watched
from tonghu.common.sample import Quality

ASSET = "press/line1/press3"
UNCERTAIN_LAST_USABLE = 0x40900000
BAD_COMMUNICATION = 0x80050000


def node(name: str, tag: str, data_type: str = "float", **extra: Any) -> dict[str, Any]:
    return {"node_id": f"nsu={NS};s=Line1.{name}", "asset": ASSET, "tag": tag, "data_type": data_type, **extra}


def config(rig: Rig, groups: list[dict[str, Any]], **extra: Any) -> Any:
    return parse_config({"type": "opcua", "name": "press", "endpoint": rig.url, "flush_interval": 0.02,
                         "groups": groups, **extra})


class Reading:
    """Runs ``read`` in the background like the agent's supervisor does."""

    def __init__(self, collector: OpcUaCollector) -> None:
        self.collector, self.sink = collector, ListSink()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Reading:
        await self.collector.connect()
        self.task = asyncio.create_task(self.collector.read(self.sink))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.collector.close()

    def values(self, tag: str) -> list[Any]:
        return [s.value for s in self.sink.of(f"{ASSET}/{tag}")]


def test_subscription_delivers_values_status_and_timestamps() -> None:
    async def body() -> None:
        async with serving() as rig:
            cfg = config(rig, [{"name": "fast", "mode": "subscription", "publishing_interval": 0.05, "nodes": [
                node("Temp", "temp"),
                {"browse_path": f"/Objects/{{{NS}}}Plant/{{{NS}}}Line1/{{{NS}}}Count", "asset": ASSET,
                 "tag": "count_total", "data_type": "int"},
                node("Running", "running", "bool"), node("Mode", "mode", "string"),
                node("State", "state", "state", states={1: "production", 2: "setup"}),
                node("Missing", "missing")]}])
            collector = OpcUaCollector(cfg)
            async with Reading(collector) as r:
                await wait_for(lambda: len(r.sink.samples) >= 6, what="initial values")
                first = {s.key.rpartition("/")[2]: s for s in r.sink.samples}
                assert {k: s.value for k, s in first.items() if k != "missing"} == {
                    "temp": 20.0, "count_total": 0, "running": False, "mode": "auto", "state": "production"}
                assert first["missing"].status == BAD_NODE_ID_UNKNOWN and math.isnan(first["missing"].value)

                source = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
                await rig.write("Temp", 21.5, source_ts=source)
                await rig.write("Count", 7, status=UNCERTAIN_LAST_USABLE)
                await rig.write("State", 2)
                await wait_for(lambda: len(r.values("state")) >= 2 and len(r.values("count_total")) >= 2)
                temp = r.sink.of(f"{ASSET}/temp")[-1]
                assert temp.value == 21.5 and temp.status == 0
                assert temp.source_ts_us == 1767323045678000
                assert temp.server_ts_us is not None and temp.receive_ts_us is not None
                assert 0 <= temp.receive_ts_us - temp.server_ts_us < 2_000_000
                count = r.sink.of(f"{ASSET}/count_total")[-1]
                assert (count.value, count.status, count.quality) == (7, UNCERTAIN_LAST_USABLE, Quality.UNCERTAIN)
                assert r.values("state") == ["production", "setup"]

                await rig.write("Temp", 0.0, status=BAD_COMMUNICATION)
                await wait_for(lambda: len(r.values("temp")) >= 3)
                assert r.sink.of(f"{ASSET}/temp")[-1].quality is Quality.BAD
            stats = collector.stats()
            assert stats["notifications"] >= 9 and stats["unresolved_nodes"] == 1
            assert stats["bad_status_samples"] == 2 and stats["overflow_drops"] == 0
            assert stats["samples_out"] == len(r.sink.samples) and stats["security"] == "None/None"

    run(body())


def test_deadband_filters_small_changes() -> None:
    async def body() -> None:
        async with serving() as rig:
            cfg = config(rig, [{"name": "fast", "mode": "subscription", "publishing_interval": 0.05,
                                "deadband": {"type": "absolute", "value": 1.0}, "nodes": [
                                    node("Temp", "temp"), node("Mode", "mode", "string"),
                                    node("Count", "count", "int", deadband={"type": "none"})]}])
            async with Reading(OpcUaCollector(cfg)) as r:
                await wait_for(lambda: len(r.sink.samples) >= 3, what="initial values")
                for temp, count in ((20.4, 1), (20.8, 2), (22.0, 3)):
                    await rig.write("Temp", temp)
                    await rig.write("Count", count)
                    await asyncio.sleep(0.15)  # more than a publishing interval: each change stands alone
                await rig.write("Mode", "manual")
                await wait_for(lambda: len(r.values("mode")) >= 2 and len(r.values("count")) >= 4)
                assert r.values("temp") == [20.0, 22.0]  # 0.4 steps stay inside the deadband
                assert r.values("count") == [0, 1, 2, 3]  # node-level override: no deadband
                assert r.values("mode") == ["auto", "manual"]  # text nodes never get the group's deadband

    run(body())


def test_polling_respects_max_nodes_per_read_and_reads_every_node() -> None:
    async def body() -> None:
        async with serving(extra=7, max_nodes_per_read=3, enforce_read_limit=3) as rig:
            nodes = [node(name, name.lower(), "string" if name == "Mode" else "float") for name in VARIABLES]
            nodes += [node(f"X{i}", f"x{i}") for i in range(7)]
            groups = [{"name": "slow", "mode": "polling", "interval": 0.1, "nodes": nodes}]
            collector = OpcUaCollector(config(rig, groups))
            async with Reading(collector) as r:
                await wait_for(lambda: len({s.key for s in r.sink.samples}) == 12, what="all 12 nodes")
                await asyncio.sleep(0.35)  # a few more polls of unchanged values
                assert max(rig.reads) <= 3
                assert rig.refused == [5]  # connect's own 5-node Read, retried in smaller pieces
                assert [s.value for s in r.sink.of(f"{ASSET}/x6")] == [6.0]  # unchanged: not sent again
                await rig.write("X6", 66.0)
                await wait_for(lambda: r.values("x6") == [6.0, 66.0])
            stats = collector.stats()
            assert stats["polls"] >= 3 and stats["poll_unchanged"] >= 24
            assert stats["read_requests"] == 4 * stats["polls"]  # 12 nodes, 3 per Read

            # A server that advertises no limit but enforces one: the collector halves its Reads until they pass.
            limit_node = rig.server.get_node(
                ua.NodeId(ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead))
            await limit_node.write_value(ua.Variant(0, ua.VariantType.UInt32))
            rig.reads.clear()
            rig.refused.clear()
            async with Reading(OpcUaCollector(config(rig, groups, max_nodes_per_request=10))) as r:
                await wait_for(lambda: len({s.key for s in r.sink.samples}) == 12, what="all 12 nodes")
            assert rig.refused == [5, 10, 5] and max(rig.reads) <= 3

    run(body())


def test_namespaces_resolve_by_uri_after_the_server_renumbers_them() -> None:
    async def body() -> None:
        port = free_port()
        groups = [{"name": "fast", "mode": "subscription", "publishing_interval": 0.05, "nodes": [
            node("Temp", "temp"),
            {"browse_path": f"/Objects/{{{NS}}}Plant/{{{NS}}}Line1/{{{NS}}}Count", "asset": ASSET, "tag": "count",
             "data_type": "int"},
            {"node_id": "ns=2;s=Line1.Temp", "asset": ASSET, "tag": "by_index"}]}]
        seen = []
        for order in ((NS, OTHER_NS), (OTHER_NS, NS)):  # NS is index 2, then index 3
            async with serving(port, namespaces=order) as rig:
                await rig.write("Temp", 30.0 + len(seen))
                await rig.write("Count", 100 + len(seen))
                collector = OpcUaCollector(config(rig, groups))
                async with Reading(collector) as r:
                    await wait_for(lambda: len(r.sink.samples) >= 3, what="initial values")
                    seen.append({s.key.rpartition("/")[2]: (s.value, s.status) for s in r.sink.samples})
        assert seen[0] == {"temp": (30.0, 0), "count": (100, 0), "by_index": (30.0, 0)}
        assert seen[1]["temp"] == (31.0, 0) and seen[1]["count"] == (101, 0)
        assert seen[1]["by_index"][1] == BAD_NODE_ID_UNKNOWN  # ns=2 now names another namespace

    run(body())


def test_overflow_drops_the_oldest_and_counts() -> None:
    cfg = parse_config({"type": "opcua", "endpoint": "opc.tcp://127.0.0.1:4840", "max_pending": 100,
                        "groups": [{"name": "g", "mode": "subscription", "nodes": [node("Temp", "temp")]}]})
    collector = OpcUaCollector(cfg)
    watched = Watched(cfg.groups[0])  # type: ignore[arg-type]
    items = [ua.MonitoredItemNotification(ClientHandle=0, Value=ua.DataValue(ua.Variant(float(i))))
             for i in range(150)]
    result = ua.PublishResult(NotificationMessage=ua.NotificationMessage(
        NotificationData=[ua.DataChangeNotification(MonitoredItems=items)]))
    collector._on_publish(watched, result)
    sink = ListSink()
    collector._flush(sink)
    assert [s.value for s in sink.samples] == [float(i) for i in range(50, 150)]
    assert collector.stats()["overflow_drops"] == 50 and collector.stats()["notifications"] == 150
