"""Measure what one OPC-UA collector absorbs: notifications per second and client CPU per notification.

An asyncua server runs in a child process (so the two do not share a core) with N Double variables, all of
which change every 1/rate seconds (rate 0: as fast as the server can write). The collector subscribes to all of
them in one group and hands samples to a sink that only counts. Prints one JSON object:

    .venv/bin/python -m tonghu.collectors.opcua.measure --variables 10000 --rate 1 --duration 20
    .venv/bin/python -m tonghu.collectors.opcua.measure --variables 10000 --rate 0 --duration 20

``client_cpu_us_per_notification`` is the whole client process (asyncua's decoding included);
``convert_us_per_notification`` is the collector's own callback (DataValue → Sample) within it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

NAMESPACE = "urn:tonghu:measure"
PER_OBJECT = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(port: int, variables: int, rate: float) -> None:
    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(NAMESPACE)
    ids = []
    for o in range((variables + PER_OBJECT - 1) // PER_OBJECT):
        obj = await server.nodes.objects.add_object(ua.NodeId(f"O{o}", idx), ua.QualifiedName(f"O{o}", idx))
        for v in range(o * PER_OBJECT, min(variables, (o + 1) * PER_OBJECT)):
            var = await obj.add_variable(ua.NodeId(f"V{v}", idx), ua.QualifiedName(f"V{v}", idx), 0.0)
            ids.append(var.nodeid)
    await server.start()
    print(json.dumps({"ready": True}), flush=True)
    writes, value, last_report = 0, 0.0, time.monotonic()
    while True:
        started = time.monotonic()
        value += 1.0
        for i, nid in enumerate(ids):
            await server.write_attribute_value(nid, ua.DataValue(ua.Variant(value + i, ua.VariantType.Double)))
            writes += 1
            if i % 1000 == 999:
                await asyncio.sleep(0)  # let the server answer Publish requests between batches
        if time.monotonic() - last_report >= 1.0:
            last_report = time.monotonic()
            print(json.dumps({"writes": writes}), flush=True)
        if rate > 0:
            await asyncio.sleep(max(0.0, 1.0 / rate - (time.monotonic() - started)))


class _CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def put(self, samples: Sequence[Any]) -> None:
        self.count += len(samples)


async def _measure(port: int, variables: int, duration: float, warmup: float, publishing: float) -> dict[str, Any]:
    from tonghu.collectors.opcua.collector import OpcUaCollector
    from tonghu.collectors.opcua.config import parse_config

    cfg = parse_config({
        "type": "opcua", "name": "measure", "endpoint": f"opc.tcp://127.0.0.1:{port}",
        "timeouts": {"connect": 120, "request": 30}, "max_pending": 1_000_000,
        "groups": [{"name": "all", "mode": "subscription", "publishing_interval": publishing, "nodes": [
            {"node_id": f"nsu={NAMESPACE};s=V{v}", "asset": f"measure/o{v // PER_OBJECT}/a", "tag": f"v{v}"}
            for v in range(variables)]}]})
    collector = OpcUaCollector(cfg)
    convert_ns = 0
    inner = collector._on_publish

    def timed(watched: Any, result: Any) -> None:
        nonlocal convert_ns
        t0 = time.perf_counter_ns()
        inner(watched, result)
        convert_ns += time.perf_counter_ns() - t0

    collector._on_publish = timed  # type: ignore[method-assign]
    t_connect = time.monotonic()
    await collector.connect()
    connect_s = time.monotonic() - t_connect
    sink = _CountingSink()
    reader = asyncio.create_task(collector.read(sink))
    await asyncio.sleep(warmup)
    n0, cpu0, wall0, conv0 = collector.stats()["notifications"], time.process_time(), time.monotonic(), convert_ns
    await asyncio.sleep(duration)
    n1, cpu1, wall1, conv1 = collector.stats()["notifications"], time.process_time(), time.monotonic(), convert_ns
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    stats = collector.stats()
    await collector.close()
    notes = max(1, n1 - n0)
    return {"variables": variables, "connect_s": round(connect_s, 2), "duration_s": round(wall1 - wall0, 2),
            "notifications_per_s": round(notes / (wall1 - wall0)),
            "client_cpu_us_per_notification": round((cpu1 - cpu0) * 1e6 / notes, 2),
            "client_cpu_share": round((cpu1 - cpu0) / (wall1 - wall0), 3),
            "convert_us_per_notification": round((conv1 - conv0) / 1e3 / notes, 2),
            "overflow_drops": stats["overflow_drops"], "samples_out": sink.count}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variables", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1.0, help="changes per second per variable; 0 = flat out")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--publishing-interval", type=float, default=0.5)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.serve:
        asyncio.run(_serve(args.serve, args.variables, args.rate))
        return
    port = _free_port()
    child = subprocess.Popen([sys.executable, "-m", "tonghu.collectors.opcua.measure", "--serve", str(port),
                              "--variables", str(args.variables), "--rate", str(args.rate)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        if json.loads(child.stdout.readline()).get("ready") is not True:
            raise SystemExit("the server did not start")
        result = asyncio.run(_measure(port, args.variables, args.duration, args.warmup, args.publishing_interval))
    finally:
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=30)
    reports = [json.loads(line) for line in (out or "").splitlines() if line.startswith("{")]
    result["rate_per_variable"] = args.rate
    result["server_writes_last_report"] = reports[-1]["writes"] if reports else None
    result["cpus"] = os.cpu_count()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
