"""``tonghu bench ingest``: broker → committed rows, against the same table's direct COPY + ON CONFLICT path.

Both runs happen in one invocation on a throwaway database, with the same batch size, so their ratio is
meaningful on a shared, noisy machine. The ingester runs as its own process, as in production; this process
plays the edge: it pre-encodes every batch, then publishes with a bounded window of unacknowledged batches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg.conninfo import make_conninfo

from tonghu.common import topics
from tonghu.common.uplink import TagMeta, decode_ack, encode_meta
from tonghu.platform import migrate, registry
from tonghu.platform.ingest import copybuf

HOUR_US = 3_600_000_000


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ceiling(dsn: str, tag_ids: np.ndarray, samples: int, batch_size: int, start_us: int) -> float:
    buffers = []
    for first in range(0, samples, batch_size):
        idx = np.arange(first, min(first + batch_size, samples), dtype=np.int64)
        buffers.append(copybuf.numeric_rows(tag_ids[idx % len(tag_ids)], start_us + idx * 10,
                                            idx.astype(np.float64), np.zeros(len(idx), dtype=np.int32)))
    with psycopg.connect(dsn) as conn:
        conn.execute("CREATE TEMP TABLE stage_num (LIKE samples_num) ON COMMIT DELETE ROWS")
        conn.commit()
        started = time.perf_counter()
        for buf in buffers:
            with conn.cursor() as cur:
                with cur.copy("COPY stage_num (tag_id, time, value, status) FROM STDIN (FORMAT BINARY)") as cp:
                    cp.write(buf)
                cur.execute("INSERT INTO samples_num SELECT * FROM stage_num ON CONFLICT DO NOTHING")
            conn.commit()
        return samples / (time.perf_counter() - started)


class _Edge:
    def __init__(self, host: str, port: int, prefix: str, ids: tuple[str, str, str]) -> None:
        self.ids = ids
        self.prefix = prefix
        self.acked: set[int] = set()
        self.cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-edge-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(256)
        self.client.on_message = self._on_ack
        self.client.connect(host, port)
        self.client.subscribe(topics.topic(prefix, *ids, topics.Kind.ACK), qos=1)
        self.client.loop_start()

    def _on_ack(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        ok, _dead = decode_ack(msg.payload)
        with self.cond:
            self.acked.update(ok)
            self.cond.notify_all()

    def publish(self, kind: topics.Kind, payload: bytes) -> None:
        info = self.client.publish(topics.topic(self.prefix, *self.ids, kind), payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")

    def wait(self, pred: Any, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(pred, timeout)


def run(admin_dsn: str, samples: int, batch_size: int, n_tags: int, mqtt_host: str, mqtt_port: int,
        window: int = 32) -> dict[str, Any]:
    name = f"tonghu_bench_{uuid.uuid4().hex[:8]}"
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    migrate.ensure_database(admin_dsn, name)
    dsn = make_conninfo(admin_dsn, dbname=name)
    ingester: subprocess.Popen | None = None
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate.migrate(conn)
            registry.add_company(conn, "bench", "Bench Co.", "electronics")
            site_id = registry.add_site(conn, "bench", "s1", "Bench site")
            registry.add_edge(conn, "bench", "s1", "e1")
            metas = [TagMeta(f"a/l{i // 1000}/m{i // 100}/t{i}", "float", "", "") for i in range(n_tags)]
            ids, _ = registry.upsert_tags(conn, site_id, metas)
        tag_ids = np.array([ids[m.key][0] for m in metas], dtype=np.int32)
        now = time.time_ns() // 1000
        # Half the ceiling run before and half after the ingest run: the unique index grows during the run,
        # and a ceiling measured only on the empty table would flatter it.
        half = max(batch_size, samples // 2)
        ceiling_before = _ceiling(dsn, tag_ids, half, batch_size, now - 4 * HOUR_US)

        ingester = subprocess.Popen(
            [sys.executable, "-m", "tonghu", "platform", "ingest", "--database-url", dsn, "--mqtt-host", mqtt_host,
             "--mqtt-port", str(mqtt_port), "--topic-prefix", prefix, "--client-id", f"bench-ingest-{prefix}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        edge = _Edge(mqtt_host, mqtt_port, prefix, ("bench", "s1", "e1"))
        start_us = now - 2 * HOUR_US
        payloads = []
        for seq, first in enumerate(range(0, samples, batch_size), start=2):
            idx = range(first, min(first + batch_size, samples))
            used = sorted({i % n_tags for i in idx})
            slot = {t: j for j, t in enumerate(used)}
            body = {"k": [slot[i % n_tags] for i in idx], "t": [start_us + i * 10 for i in idx],
                    "v": [float(i) for i in idx], "q": [0] * len(idx)}
            payloads.append((seq, _encode_columnar(seq, [metas[t].key for t in used], body)))
        # The meta (seq 1) is resent until the ingester, still subscribing, acknowledges it.
        meta = encode_meta("e1", 1, now, metas)
        deadline = time.monotonic() + 60
        while 1 not in edge.acked:
            if time.monotonic() > deadline:
                raise RuntimeError("the ingester never acknowledged the tag metadata")
            edge.publish(topics.Kind.META, meta)
            edge.wait(lambda: 1 in edge.acked, 2.0)

        cpu_before = _cpu_seconds(ingester.pid)
        started = time.perf_counter()
        for i, (_seq, payload) in enumerate(payloads):
            if i >= window:
                oldest = payloads[i - window][0]
                if not edge.wait(lambda o=oldest: o in edge.acked, 120):
                    raise RuntimeError(f"batch {oldest} was not acknowledged within 120 s")
            edge.publish(topics.Kind.DATA, payload)
        last = payloads[-1][0]
        if not edge.wait(lambda: all(s in edge.acked for s, _ in payloads), 300):
            raise RuntimeError("not every batch was acknowledged within 300 s")
        elapsed = time.perf_counter() - started
        cpu = _cpu_seconds(ingester.pid) - cpu_before
        edge.client.disconnect()
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT count(*) FROM samples_num WHERE time >= to_timestamp(%s / 1e6)",
                               (start_us,)).fetchone()
        stored = int(row[0]) if row else 0
        ceiling_after = _ceiling(dsn, tag_ids, half, batch_size, now - 5 * HOUR_US)
        ceiling = 2 / (1 / ceiling_before + 1 / ceiling_after)  # rows/s over both halves together
        ingest_rate = samples / elapsed
        return {
            "samples": samples, "batch_size": batch_size, "tags": n_tags, "batches": len(payloads),
            "last_seq": last, "stored": stored, "lost": samples - stored,
            "ingest_samples_per_s": round(ingest_rate), "ceiling_rows_per_s": round(ceiling),
            "ceiling_before_rows_per_s": round(ceiling_before), "ceiling_after_rows_per_s": round(ceiling_after),
            "ratio": round(ingest_rate / ceiling, 3), "ingest_seconds": round(elapsed, 2),
            "ingester_cpu_s_per_1m_samples": round(cpu * 1e6 / samples, 2), "cores": os.cpu_count(),
        }
    finally:
        if ingester is not None:
            ingester.terminate()
            try:
                ingester.wait(30)
            except subprocess.TimeoutExpired:
                ingester.kill()
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _encode_columnar(seq: int, keys: list[str], num: dict[str, list[Any]]) -> bytes:
    import msgpack

    return msgpack.packb({"v": 1, "edge": "e1", "seq": seq, "created": time.time_ns() // 1000, "keys": keys,
                          "num": num, "txt": {"k": [], "t": [], "v": [], "q": []}}, use_bin_type=True)
