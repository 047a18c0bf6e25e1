"""An OPC-UA server with N machines × M float variables changing at a fixed rate: load for tests and benchmarks.

Node ids are ``nsu={namespace};s=M{machine:04d}.T{tag:04d}``; every variable changes on every tick, so the
offered notification rate is machines × tags × rate. One asyncua server process saturates at roughly 20 k
changes/s on this kind of machine (docs/ARCHITECTURE.md): run several processes for more.

    python -m tonghu.device_sims.opcua_scale --port 4841 --machines 50 --tags 100 --rate 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import signal
import time
from datetime import UTC, datetime

NAMESPACE = "urn:tonghu:sims:scale"


def node_id(machine: int, tag: int, namespace: str = NAMESPACE) -> str:
    return f"nsu={namespace};s=M{machine:04d}.T{tag:04d}"


async def serve(port: int, machines: int, tags: int, rate: float, namespace: str = NAMESPACE,
                ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    server.set_server_name("Tonghu scale simulator")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(namespace)
    objects = server.nodes.objects
    nodes = []
    for m in range(machines):
        machine = await objects.add_object(ua.NodeId(f"M{m:04d}", idx), ua.QualifiedName(f"M{m:04d}", idx))
        for t in range(tags):
            var = await machine.add_variable(ua.NodeId(f"M{m:04d}.T{t:04d}", idx),
                                             ua.QualifiedName(f"T{t:04d}", idx), 0.0, ua.VariantType.Double)
            nodes.append(var.nodeid)
    stop = stop or asyncio.Event()
    async with server:
        if ready is not None:
            ready.set()
        period = 1.0 / rate
        tick = 0
        next_at = time.monotonic()
        while not stop.is_set():
            now = datetime.now(UTC)
            base = math.sin(tick / 10.0)
            for i, nid in enumerate(nodes):
                # A fresh value each tick (never equal to the last one), so every tick notifies every monitor.
                value = ua.DataValue(ua.Variant(base + i * 1e-3 + tick, ua.VariantType.Double),
                                     SourceTimestamp=now, ServerTimestamp=now)
                await server.write_attribute_value(nid, value)
            tick += 1
            next_at += period
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, next_at - time.monotonic()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=4841)
    parser.add_argument("--machines", type=int, default=10)
    parser.add_argument("--tags", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1.0, help="changes per second of every variable")
    parser.add_argument("--namespace", default=NAMESPACE)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(args.port, args.machines, args.tags, args.rate, args.namespace, stop=stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
