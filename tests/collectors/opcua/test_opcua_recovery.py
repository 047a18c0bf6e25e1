"""Failures that ``read`` must turn into TransientError promptly, and recovery through close() + connect().

The loop in these tests plays the agent's supervisor: read until it raises, close, connect again, read on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from opcua_rig import NS, ListSink, build_server, free_port, run, wait_for

from tonghu.collectors.opcua.collector import OpcUaCollector
from tonghu.collectors.opcua.config import parse_config
from tonghu.common.errors import TransientError

RIG = Path(__file__).with_name("opcua_rig.py")


def make(url: str, **extra: Any) -> OpcUaCollector:
    data = {"type": "opcua", "name": "line", "endpoint": url, "flush_interval": 0.02, "timeouts": {"request": 1},
            "groups": [{"name": "fast", "mode": "subscription", "publishing_interval": 0.2, "keepalive_count": 3,
                        "nodes": [{"node_id": f"nsu={NS};s=Line1.Temp", "asset": "a/b/c", "tag": "temp"}]}]}
    data.update(extra)
    return OpcUaCollector(parse_config(data))


async def raised_within(task: asyncio.Task[None], seconds: float) -> tuple[TransientError, float]:
    started = time.monotonic()
    with pytest.raises(TransientError) as info:
        await asyncio.wait_for(task, seconds)
    return info.value, time.monotonic() - started


def test_server_restart_mid_stream_then_resume() -> None:
    async def body() -> None:
        port = free_port()
        rig = await build_server(port)
        collector = make(f"opc.tcp://127.0.0.1:{port}")
        sink = ListSink()
        try:
            await collector.connect()
            reader = asyncio.create_task(collector.read(sink))
            await rig.write("Temp", 1.0)
            await wait_for(lambda: [s.value for s in sink.samples][-1:] == [1.0], what="first value")
            await rig.server.stop()
            error, elapsed = await raised_within(reader, 5.0)
            assert "connection lost" in str(error) and elapsed < 2.0

            # What the supervisor does: close, then connect with backoff until the server is back.
            await collector.close()
            rig = await build_server(port)
            await rig.write("Temp", 2.0)
            for _ in range(50):
                try:
                    await collector.connect()
                    break
                except TransientError:
                    await asyncio.sleep(0.1)
            reader = asyncio.create_task(collector.read(sink))
            await wait_for(lambda: [s.value for s in sink.samples][-1:] == [2.0], what="value after restart")
            await rig.write("Temp", 3.0)
            await wait_for(lambda: [s.value for s in sink.samples][-1:] == [3.0], what="live value")
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            stats = collector.stats()
            assert stats["connects"] == 2 and "connection lost" in stats["last_error"]
        finally:
            await collector.close()
            await rig.server.stop()

    run(body())


def test_changed_server_start_time_means_restart() -> None:
    async def body() -> None:
        port = free_port()
        rig = await build_server(port)
        collector = make(rig.url, watchdog={"status_interval": 0.2})
        try:
            await collector.connect()
            reader = asyncio.create_task(collector.read(ListSink()))
            await asyncio.sleep(0.5)
            assert not reader.done()  # status reads pass while StartTime holds still
            # A gateway in front of a restarted server: same socket, new StartTime.
            new_start = ua.DataValue(ua.Variant(datetime.now(UTC) + timedelta(seconds=1), ua.VariantType.DateTime))
            await rig.server.write_attribute_value(ua.NodeId(ua.ObjectIds.Server_ServerStatus_StartTime), new_start)
            error, elapsed = await raised_within(reader, 3.0)
            assert "the server restarted" in str(error) and elapsed < 1.0
        finally:
            await collector.close()
            await rig.server.stop()

    run(body())


@pytest.mark.slow
def test_frozen_server_trips_the_subscription_watchdog() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(RIG), str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

        async def body() -> None:
            # keep-alive every 0.2 s x 3 = 0.6 s; x 1.5 = 0.9 s, raised to the 1 s floor. The status check is
            # slow on purpose, so that the subscription watchdog is what notices.
            collector = make(f"opc.tcp://127.0.0.1:{port}", watchdog={"status_interval": 60})
            sink = ListSink()
            await collector.connect()
            reader = asyncio.create_task(collector.read(sink))
            await wait_for(lambda: len(sink.samples) >= 3, what="values from the child server")
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                error, elapsed = await raised_within(reader, 5.0)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            assert "no publish response or keep-alive for subscription fast" in str(error)
            assert 0.7 < elapsed < 2.0  # the deadline is 1 s after the last publish (at most 0.2 s earlier)
            await collector.close()

        run(body())
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait(timeout=10)
