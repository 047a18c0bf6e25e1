"""An asyncua server whose variables all carry one counter: the OPC-UA source of the fault scenarios.

The counter is time-derived, ``seq = floor((now - epoch) / period)``, with the epoch taken at the first start and
kept in the tick log, so a server killed and started again continues the sequence (the values it did not write
while down are a gap) instead of repeating it. Each tick writes every variable with value ``seq`` and
SourceTimestamp now, then appends ``seq`` and the time of the write to the tick log (one write per tick, which
survives a kill -9 of the server), so the scenario knows exactly which values the source produced and when (a
loaded machine writes late: the write time, not ``epoch + seq * period``).

    python -m tonghu.chaos.opcua_counter --port 4850 --tags 20 --period 0.1 --log ticks.txt
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NAMESPACE = "urn:tonghu:chaos:counter"
AREA, LINE, ASSET = "chaos", "opcua", "counter"


def node_id(i: int) -> str:
    return f"nsu={NAMESPACE};s=C{i:04d}"


def tag_keys(tags: int) -> list[str]:
    return [f"{AREA}/{LINE}/{ASSET}/c{i}" for i in range(tags)]


def collector_entry(port: int, tags: int, pki_dir: Path, period: float, name: str = "counter") -> dict[str, Any]:
    """The agent's OPC-UA collector for this server: every change, none merged (queue larger than a publish)."""
    nodes = [{"node_id": node_id(i), "asset": f"{AREA}/{LINE}/{ASSET}", "tag": f"c{i}", "data_type": "float"}
             for i in range(tags)]
    return {"type": "opcua", "name": name, "endpoint": f"opc.tcp://127.0.0.1:{port}", "pki": {"dir": str(pki_dir)},
            "groups": [{"name": "all", "mode": "subscription", "publishing_interval": max(period, 0.1),
                        "sampling_interval": 0, "queue_size": 100, "nodes": nodes}]}


def read_log(log: Path) -> dict[int, float]:
    """Every seq any run of the server wrote → when (epoch s); a line cut short by a kill is left out."""
    if not log.exists():
        return {}
    lines = log.read_text().split("\n")[1:-1]
    return {int(seq): float(t) for seq, t in (line.split() for line in lines)}


def _epoch(log: Path) -> float | None:
    if not log.exists():
        return None
    first = log.read_text().split("\n", 1)[0]
    return float(first.split()[1]) if first.startswith("epoch ") else None


async def serve(port: int, tags: int, period: float, log: Path, stop: asyncio.Event) -> None:
    from asyncua import Server, ua

    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    server.set_server_name("Tonghu chaos counter")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    idx = await server.register_namespace(NAMESPACE)
    folder = await server.nodes.objects.add_object(ua.NodeId("Counter", idx), ua.QualifiedName("Counter", idx))
    nodes = []
    for i in range(tags):
        var = await folder.add_variable(ua.NodeId(f"C{i:04d}", idx), ua.QualifiedName(f"C{i:04d}", idx), -1.0,
                                        ua.VariantType.Double)
        nodes.append(var.nodeid)
    epoch = _epoch(log)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    if epoch is None:
        epoch = time.time()
        os.write(fd, f"epoch {epoch!r}\n".encode())
    try:
        async with server:
            last = -1
            while not stop.is_set():
                seq = math.floor((time.time() - epoch) / period)
                if seq > last:
                    now = datetime.now(UTC)
                    for nid in nodes:
                        await server.write_attribute_value(nid, ua.DataValue(
                            ua.Variant(float(seq), ua.VariantType.Double), SourceTimestamp=now, ServerTimestamp=now))
                    os.write(fd, f"{seq} {time.time()!r}\n".encode())
                    last = seq
                wait = epoch + (last + 1) * period - time.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(0.0, wait))
    finally:
        os.close(fd)


def main() -> None:
    p = argparse.ArgumentParser(description="OPC-UA counter server for fault scenarios.")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--tags", type=int, default=10)
    p.add_argument("--period", type=float, default=0.1, help="seconds per tick")
    p.add_argument("--log", type=Path, required=True,
                   help="tick log: the epoch (first start) and every tick's seq; keep it across restarts")
    a = p.parse_args()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(a.port, a.tags, a.period, a.log, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
