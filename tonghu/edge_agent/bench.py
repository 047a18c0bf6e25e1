"""``tonghu bench edge``: OPC-UA subscriptions → agent (normalise, durable buffer) → broker, at 10 000 tags.

Sources are asyncua servers in their own processes (``tonghu.device_sims.opcua_scale``; one process tops out near
20 k changes/s, so the load is split over several). The agent runs as its own process from a generated edge.yaml.
On the platform side a stand-in ingester acknowledges every batch without storing it and counts its samples, so
the figure is the agent's throughput, not the database's (``tonghu bench ingest`` measures that part). CPU and
peak RSS are read from /proc for the agent process only.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import msgpack
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tonghu.common import topics
from tonghu.common.uplink import encode_ack
from tonghu.device_sims.opcua_scale import node_id


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class AckResponder:
    """Acknowledges every data and meta batch of one prefix, counting samples; stores nothing."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        self.samples = 0
        self.batches = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-acker-{uuid.uuid4().hex[:6]}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe([(topics.subscription(prefix, topics.Kind.DATA), 1),
                               (topics.subscription(prefix, topics.Kind.META), 1)])
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        body = msgpack.unpackb(msg.payload, raw=False)
        n = len(body.get("num", {}).get("k", [])) + len(body.get("txt", {}).get("k", []))
        with self._lock:
            self.samples += n
            self.batches += 1
        client.publish(msg.topic.rsplit("/", 1)[0] + "/ack", encode_ack([body["seq"]]), qos=1)

    def count(self) -> int:
        with self._lock:
            return self.samples

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _edge_yaml(workdir: Path, prefix: str, mqtt_host: str, mqtt_port: int, servers: list[tuple[int, int, int]],
               publishing_interval_s: float) -> Path:
    collectors = []
    for i, (port, machines, tags) in enumerate(servers):
        nodes = [{"node_id": node_id(m, t), "asset": f"scale/s{i}/m{m:04d}", "tag": f"t{t:04d}",
                  "data_type": "float"} for m in range(machines) for t in range(tags)]
        collectors.append({"type": "opcua", "name": f"scale{i}", "endpoint": f"opc.tcp://127.0.0.1:{port}",
                           "pki": {"dir": str(workdir / "pki")},
                           "groups": [{"name": "all", "mode": "subscription",
                                       "publishing_interval": publishing_interval_s, "queue_size": 1,
                                       "nodes": nodes}]})
    cfg = {"edge": {"company": "bench", "site": "s1", "name": "e1"},
           "uplink": {"host": mqtt_host, "port": mqtt_port, "topic_prefix": prefix, "max_in_flight": 32},
           "buffer": {"path": str(workdir / "buffer.db"), "max_bytes": 1 << 30},
           "metrics": {"port": _free_port()},
           "collectors": collectors}
    path = workdir / "edge.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _scenario(tags: int, rate: float, servers: int, duration: float, warmup: float, mqtt_host: str,
              mqtt_port: int) -> dict[str, Any]:
    prefix = f"bench-edge-{uuid.uuid4().hex[:8]}"
    machines_per_server = max(1, tags // servers // 100)
    per_machine = tags // servers // machines_per_server
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tonghu-bench-edge-") as tmp:
        workdir = Path(tmp)
        layout = []
        try:
            for _ in range(servers):
                port = _free_port()
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "tonghu.device_sims.opcua_scale", "--port", str(port), "--machines",
                     str(machines_per_server), "--tags", str(per_machine), "--rate", str(rate)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                layout.append((port, machines_per_server, per_machine))
            for port, _, _ in layout:
                _wait_port(port, 120)
            acker = AckResponder(mqtt_host, mqtt_port, prefix)
            edge_yaml = _edge_yaml(workdir, prefix, mqtt_host, mqtt_port, layout, min(1.0, 0.5 / rate))
            agent = subprocess.Popen([sys.executable, "-m", "tonghu", "edge", "run", "-c", str(edge_yaml)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(agent)
            # Warm-up: sessions, subscriptions for every node, the first full round of values.
            deadline = time.monotonic() + 180
            while acker.count() < tags and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(warmup)
            n0, c0, t0 = acker.count(), _cpu_s(agent.pid), time.monotonic()
            time.sleep(duration)
            n1, c1, t1 = acker.count(), _cpu_s(agent.pid), time.monotonic()
            rss_peak = _status_kb(agent.pid, "VmHWM") / 1024
            acker.close()
            return {"tags": machines_per_server * per_machine * servers, "rate_hz": rate,
                    "offered_samples_per_s": round(machines_per_server * per_machine * servers * rate),
                    "samples_per_s": round((n1 - n0) / (t1 - t0)),
                    "agent_cpu_percent_of_one_core": round(100 * (c1 - c0) / (t1 - t0), 1),
                    "agent_peak_rss_mb": round(rss_peak, 1), "servers": servers, "duration_s": duration}
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"OPC-UA scale server on port {port} did not start within {timeout} s")


def run(tags: int, max_rate: float, servers: int, duration: float, mqtt_host: str, mqtt_port: int,
        warmup: float = 5.0) -> dict[str, Any]:
    return {
        "max": _scenario(tags, max_rate, servers, duration, warmup, mqtt_host, mqtt_port),
        "steady_1hz": _scenario(tags, 1.0, servers, duration, warmup, mqtt_host, mqtt_port),
        "cores": os.cpu_count(),
        "note": "platform side is a stand-in that acknowledges without storing (see tonghu bench ingest)",
    }
