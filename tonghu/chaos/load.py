"""Load generator: MQTT JSON devices whose every value is its tag's sequence number.

Each tick publishes one message per device (QoS 1) on ``{prefix}/d{i}``::

    {"ts": <µs>, "seq": n, "v": {"t0": n, "t1": n, ...}}

so tag ``chaos/seq/d{i}/t{j}`` receives the values 0, 1, 2, … at strictly increasing source times (the real
clock, nudged forward by a microsecond when two ticks read the same time). A gap in the stored values is a lost
sample, a value stored twice (necessarily under another timestamp, the store being unique on (tag, time)) is a
duplicate. All devices of a run share the tick counter, so "generated" is one number per generator.

Run in-process (``SeqPublisher`` in a thread) for tests, or as processes for the benchmark::

    python -m tonghu.chaos.load --port 1884 --prefix dev/x --devices 50 --tags 100 --rate 10 --duration 30
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

AREA, LINE = "chaos", "seq"


@dataclass(frozen=True)
class SeqLoad:
    """The shape of one generator's load: ``devices`` × ``tags`` samples per tick, ``rate`` ticks per second."""

    prefix: str
    devices: int
    tags: int
    rate: float
    first_device: int = 0  # several generator processes cover disjoint device ranges of one collector

    def device_names(self) -> list[str]:
        return [f"d{i:05d}" for i in range(self.first_device, self.first_device + self.devices)]

    def tag_keys(self) -> list[str]:
        return [f"{AREA}/{LINE}/{d}/t{j}" for d in self.device_names() for j in range(self.tags)]

    @property
    def samples_per_s(self) -> float:
        return self.devices * self.tags * self.rate


def collector_entry(prefix: str, tags: int, host: str, port: int, name: str = "seq",
                    client_id: str | None = None) -> dict[str, Any]:
    """The edge agent's MQTT collector for these devices: persistent session, source time from ``ts``."""
    fields = [{"path": f"v.t{j}", "asset": f"{AREA}/{LINE}/{{device}}", "tag": f"t{j}", "data_type": "float"}
              for j in range(tags)]
    return {"type": "mqtt", "name": name,
            "broker": {"host": host, "port": port, "client_id": client_id or f"chaos-{name}-{uuid.uuid4().hex[:8]}",
                       "session": "persistent"},
            "subscriptions": [{"topic": f"{prefix}/{{device}}",
                               "timestamp": {"path": "ts", "format": "epoch_us"}, "fields": fields}]}


class SeqPublisher:
    """Publishes ticks from its own thread until ``stop``; ``ticks`` is the next seq, i.e. the ticks handed to the
    client so far when ``first_tick`` is 0 (a later run continues a sequence with ``first_tick``).

    paho queues QoS 1 messages without bound while the broker is away, as a device would buffer; ``stop``
    waits until the broker has acknowledged every one of them, so ``ticks`` is then exactly what was generated.
    """

    def __init__(self, load: SeqLoad, host: str, port: int, *, max_ticks: int | None = None,
                 first_tick: int = 0) -> None:
        self.load = load
        self.max_ticks = max_ticks
        self.ticks = first_tick
        self.last_ts_us = 0
        self._published = 0
        self._acked = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"chaos-load-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv5)
        self._client.max_inflight_messages_set(200)
        self._client.on_publish = self._on_publish
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()
        self._topics = [f"{load.prefix}/{d}" for d in load.device_names()]
        self._fields = [f"t{j}" for j in range(load.tags)]

    def _on_publish(self, *_args: object) -> None:
        with self._lock:
            self._acked += 1

    def tick(self) -> None:
        """Publish one tick now: every device, the next seq, a source time later than the last one."""
        ts = max(time.time_ns() // 1000, self.last_ts_us + 1)
        seq = self.ticks
        values = dict.fromkeys(self._fields, seq)
        for topic in self._topics:
            body = json.dumps({"ts": ts, "seq": seq, "v": values})
            info = self._client.publish(topic, body, qos=1)
            # NO_CONN: the broker is away and paho keeps the message for the next connection.
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                raise RuntimeError(f"device publish refused: {mqtt.error_string(info.rc)}")
            with self._lock:
                self._published += 1
        self.last_ts_us = ts
        self.ticks = seq + 1

    def _run(self) -> None:
        period = 1.0 / self.load.rate
        next_at = time.monotonic()
        while not self._stop.is_set() and (self.max_ticks is None or self.ticks < self.max_ticks):
            self.tick()
            next_at += period
            delay = next_at - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -1.0:
                next_at = time.monotonic()  # fell behind by more than a second: do not burst to catch up

    def start(self) -> SeqPublisher:
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._thread.start()
        return self

    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def unacked(self) -> int:
        with self._lock:
            return self._published - self._acked

    def abort(self) -> None:
        """Stop at once, dropping whatever the broker has not acknowledged (clean-up after a failure)."""
        self._stop.set()
        self._client.disconnect()
        self._client.loop_stop()

    def stop(self, timeout: float = 60.0) -> int:
        """Stop ticking, wait for the device broker's acks, disconnect; returns the next seq (with first_tick 0: the
        ticks generated)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        deadline = time.monotonic() + timeout
        while self.unacked() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.unacked() > 0:
            raise RuntimeError(f"the device broker never acknowledged {self.unacked()} messages")
        self._client.disconnect()
        self._client.loop_stop()
        return self.ticks


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Sequence-number MQTT JSON devices (prints one JSON line at exit).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--devices", type=int, required=True)
    p.add_argument("--first-device", type=int, default=0)
    p.add_argument("--first-tick", type=int, default=0, help="seq of the first tick (continues an earlier run)")
    p.add_argument("--tags", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="ticks per second")
    p.add_argument("--duration", type=float, required=True, help="seconds to publish")
    p.add_argument("--start-at", type=float, default=0.0, help="wall-clock time (epoch s) of the first tick")
    a = p.parse_args(argv)
    load = SeqLoad(a.prefix, a.devices, a.tags, a.rate, a.first_device)
    pub = SeqPublisher(load, a.host, a.port, max_ticks=a.first_tick + max(1, round(a.duration * a.rate)),
                       first_tick=a.first_tick)
    time.sleep(max(0.0, a.start_at - time.time()))
    started = time.monotonic()
    pub.start()
    while not pub.done():
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    ticks = pub.stop()
    json.dump({"ticks": ticks - a.first_tick, "next_tick": ticks, "devices": a.devices, "tags": a.tags,
               "seconds": round(elapsed, 3), "first_device": a.first_device, "cpu_s": round(time.process_time(), 2)},
              sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
