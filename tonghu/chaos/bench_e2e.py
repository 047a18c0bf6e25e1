"""``tonghu bench e2e``: simulated devices → edge agents → broker → ingesters → TimescaleDB, all on this machine.

Everything runs as separate processes, configured as in production: sequence-number MQTT JSON devices
(``tonghu.chaos.load``, one process per agent), a device broker and a platform broker (private Mosquittos),
``tonghu edge run`` per site, ``tonghu platform ingest`` (one, then two in one shared subscription), and a private
PostgreSQL 15 + TimescaleDB cluster created for the run and deleted after it (a fresh database per
configuration). Reported per configuration:

- throughput: samples committed per second over the measured window (after warm-up, until the devices stop),
  how long the backlog took to drain after they stopped, and whether the checker found every sample exactly once;
- latency from each sample's source timestamp to the commit of the row holding it: the cluster runs with
  ``track_commit_timestamp``, so ``pg_xact_commit_timestamp(xmin)`` is the real commit time of every row;
- CPU seconds and peak PSS per component (devices, agents, brokers, ingesters, postgres), from /proc.

The machine is shared, so the figures carry the load average and how busy the whole machine was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from tonghu.chaos import procs
from tonghu.chaos.chain import Chain
from tonghu.chaos.check import Report, check
from tonghu.chaos.load import SeqLoad, collector_entry
from tonghu.chaos.pgcluster import PgCluster
from tonghu.platform import migrate

GOAL = 50_000
KEPT_UP_S = 2.0  # a chain that keeps up has committed everything this soon after the devices stop


def _machine_busy() -> tuple[int, int]:
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return sum(ticks), ticks[3] + ticks[4]  # total, idle + iowait


def _committed(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT coalesce(sum(samples), 0) FROM ingest_batches").fetchone()
    return int(row[0]) if row else 0


def _latency(conn: psycopg.Connection, since_us: int, until_us: int) -> dict[str, float | None]:
    row = conn.execute(
        """SELECT percentile_disc(ARRAY[0.5, 0.99, 1.0]) WITHIN GROUP (ORDER BY lat), count(*) FROM (
               SELECT (extract(epoch FROM pg_xact_commit_timestamp(xmin) - time) * 1000)::float8 AS lat FROM samples_num
               WHERE time >= to_timestamp(%s / 1e6) AND time < to_timestamp(%s / 1e6)) x""",
        (since_us, until_us)).fetchone()
    if row is None or row[0] is None:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None, "rows": 0}
    p50, p99, top = row[0]
    return {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "max_ms": round(top, 1), "rows": int(row[1])}


class _Config:
    """One configuration: a fresh database and brokers, ``agents`` edges, ``ingesters`` ingest processes."""

    def __init__(self, cluster: PgCluster, workdir: Path, agents: int, ingesters: int, loads: list[SeqLoad]) -> None:
        self.cluster, self.agents, self.n_ingesters, self.loads = cluster, agents, ingesters, loads
        name = f"bench_{ingesters}i"
        migrate.ensure_database(cluster.dsn(), name)
        self.dsn = cluster.dsn(name)
        with psycopg.connect(self.dsn) as conn:
            migrate.migrate(conn)
        self.workdir = workdir / name
        self.workdir.mkdir()
        self.devices: list[subprocess.Popen] = []

    def run(self, duration: float, warmup: float, drain_timeout: float) -> dict[str, Any]:
        with Chain(self.workdir, self.dsn) as chain:
            for load in self.loads:
                load_prefix = f"{chain.prefix}/{load.prefix}"
                entry = collector_entry(load_prefix, load.tags, "127.0.0.1", chain.devices.port)
                chain.add_edge([entry], metrics=False)
            for _ in range(self.n_ingesters):
                chain.start_ingester()
            for edge in chain.edges:
                edge.start()
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                # Each agent's connection state crossing the chain: sessions exist before the first tick.
                if not procs.wait_until(lambda: _committed(conn) >= len(chain.edges), 120):
                    raise RuntimeError(f"the chain never committed the agents' first samples; see {chain.log_dir}")
                registration = self._prime(chain, conn)
                result = self._measure(chain, conn, duration, warmup, drain_timeout)
                result["first_tick_with_tag_registration_s"] = registration
                return result

    def _spawn(self, chain: Chain, load: SeqLoad, first_tick: int, duration: float,
               start_at: float) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "tonghu.chaos.load", "--port", str(chain.devices.port),
             "--prefix", f"{chain.prefix}/{load.prefix}", "--devices", str(load.devices),
             "--first-device", str(load.first_device), "--tags", str(load.tags), "--rate", str(load.rate),
             "--duration", str(duration), "--start-at", str(start_at), "--first-tick", str(first_tick)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def _prime(self, chain: Chain, conn: psycopg.Connection) -> float:
        """Tick 0 of every device, alone: its tags are new, and an agent sends no data before the platform has
        registered them (docs/UPLINK.md), which is a one-off cost per tag, not part of the steady state measured
        next. Returns the seconds from tick 0 to its last committed sample."""
        base, started = _committed(conn), time.time()
        spawned = [self._spawn(chain, load, 0, 1 / load.rate, 0.0) for load in self.loads]
        for p in spawned:
            p.communicate(timeout=120)
        want = base + sum(ld.devices * ld.tags for ld in self.loads)
        if not procs.wait_until(lambda: _committed(conn) >= want, 600, every=0.25):
            raise RuntimeError(f"tick 0 was never committed; see {chain.log_dir}")
        return round(time.time() - started, 2)

    def _measure(self, chain: Chain, conn: psycopg.Connection, duration: float, warmup: float,
                 drain_timeout: float) -> dict[str, Any]:
        pg = self.cluster.postmaster_pid()
        meter = procs.Meter({
            "devices": lambda: [p.pid for p in self.devices],
            "agents": lambda: [e.proc.pid for e in chain.edges if e.proc is not None],
            "device_broker": lambda: [p for p in (chain.devices.pid,) if p],
            "platform_broker": lambda: [p for p in (chain.platform.pid,) if p],
            "ingesters": lambda: [p.pid for p in chain.ingesters.values()],
            "postgres": lambda: [pg] if pg else [],
        })
        base = _committed(conn)
        start_at = time.time() + 2.0
        self.devices = [self._spawn(chain, load, 1, duration, start_at) for load in self.loads]
        meter.start()
        busy0 = _machine_busy()
        time.sleep(max(0.0, start_at + warmup - time.time()))
        w0, c0 = time.time(), _committed(conn)
        time.sleep(max(0.0, start_at + duration - time.time()))
        w1, c1 = time.time(), _committed(conn)
        results = [json.loads(p.communicate(timeout=duration + 120)[0]) for p in self.devices]
        generated = sum(r["ticks"] * r["devices"] * r["tags"] for r in results)
        drained = procs.wait_until(lambda: _committed(conn) - base >= generated, drain_timeout, every=0.25)
        t_end = time.time()
        usage = meter.stop()
        # The device processes have exited (and been reaped) by now: they report their own CPU time.
        usage["devices"]["cpu_s"] = round(sum(r["cpu_s"] for r in results), 2)
        busy1 = _machine_busy()
        elapsed = t_end - start_at
        for u in usage.values():
            u["cores"] = round(u["cpu_s"] / elapsed, 2)
            u["us_per_sample"] = round(1e6 * u["cpu_s"] / generated, 2) if generated else None
        busy = (os.cpu_count() or 1) * (1 - (busy1[1] - busy0[1]) / max(1, busy1[0] - busy0[0]))
        report = self._check(conn, chain, results)
        lost = report.total("missing") + report.total("duplicated") + report.total("unexpected")
        return {
            "ingesters": self.n_ingesters, "agents": self.agents,
            "offered_samples_per_s": round(sum(ld.samples_per_s for ld in self.loads)),
            # Everything generated over the time from the first tick to the last commit: the rate the chain
            # delivered, backlog included. It equals the offered rate only if the chain kept up.
            "sustained_samples_per_s": round(generated / elapsed),
            "window_samples_per_s": round((c1 - c0) / (w1 - w0)),
            "drain_after_devices_stopped_s": round(t_end - w1, 2) if drained else None,
            "kept_up": drained and t_end - w1 <= KEPT_UP_S,
            "samples_measured": generated,  # the timed run; the checker's counts below include tick 0
            "generated": report.total("generated"), "stored": report.total("stored"),
            "missing": report.total("missing"),
            "duplicated": report.total("duplicated"), "nothing_lost": drained and lost == 0,
            "latency_source_to_commit": _latency(conn, int((start_at + warmup) * 1e6), int(w1 * 1e6)),
            "components": usage,
            "machine_busy_cores": round(busy, 2),
            # CPU the machine spent on anything but the benchmark's processes (and this one), in cores.
            "other_work_cores": round(max(0.0, busy - sum(u["cores"] for u in usage.values())), 2),
        }

    def _check(self, conn: psycopg.Connection, chain: Chain, results: list[dict[str, Any]]) -> Report:
        total = Report([])
        for edge, load, res in zip(chain.edges, self.loads, results, strict=True):
            total.tags.extend(check(conn, edge.site_id, dict.fromkeys(load.tag_keys(), res["next_tick"])).tags)
        return total


def _bottleneck(cfg: dict[str, Any]) -> dict[str, Any]:
    """Where the CPU goes per sample, what the offered load needs in cores, and what the machine had left."""
    comps = cfg["components"]
    per_sample = {n: c["us_per_sample"] or 0.0 for n, c in comps.items()}
    total = sum(per_sample.values())
    ranked = sorted(per_sample.items(), key=lambda kv: -kv[1])
    return {
        "cpu_us_per_sample": round(total, 2),
        "share": {n: round(v / total, 2) for n, v in ranked} if total else {},
        "cores_needed_at_offered_rate": round(total * cfg["offered_samples_per_s"] / 1e6, 2),
        "cores_needed_at_goal": round(total * GOAL / 1e6, 2),
        # One agent is one Python process: its threads share one core (the GIL), whatever the machine has.
        "cores_per_agent_process": round(comps["agents"]["cores"] / cfg["agents"], 2),
        "cores_used_by_chain": round(sum(c["cores"] for c in comps.values()), 2),
        "cores_taken_by_other_work": cfg["other_work_cores"],
    }


def run(samples_per_s: int = GOAL, duration: float = 30.0, warmup: float = 5.0, agents: int = 2, tags: int = 100,
        rate: float = 5.0, drain_timeout: float = 120.0, configs: tuple[int, ...] = (1, 2),
        workdir: Path | None = None) -> dict[str, Any]:
    """Run every configuration (number of ingesters) at the same offered load; one JSON-able result.

    ``workdir`` keeps the configurations and logs of every process there; by default a temporary directory."""
    devices = max(agents, round(samples_per_s / (tags * rate)))
    per_agent = [devices // agents + (1 if i < devices % agents else 0) for i in range(agents)]
    loads = [SeqLoad(f"a{i}", n, tags, rate, first_device=sum(per_agent[:i])) for i, n in enumerate(per_agent)]
    load_before = os.getloadavg()
    out: dict[str, Any] = {"goal_samples_per_s": GOAL, "cores": os.cpu_count(), "duration_s": duration,
                           "warmup_s": warmup, "devices": devices, "tags_per_device": tags, "rate_hz": rate}
    with tempfile.TemporaryDirectory(prefix="tonghu-bench-e2e-") as tmp, \
            PgCluster(settings={"track_commit_timestamp": "on"}) as cluster:
        base = Path(tempfile.mkdtemp(prefix="run-", dir=workdir)) if workdir else Path(tmp)
        results = {f"ingesters_{n}": _Config(cluster, base, agents, n, loads).run(duration, warmup, drain_timeout)
                   for n in configs}
    if workdir:
        out["workdir"] = str(base)
    out["configs"] = results
    if "ingesters_1" in results and "ingesters_2" in results:
        one, two = results["ingesters_1"], results["ingesters_2"]
        ratio = two["sustained_samples_per_s"] / max(1, one["sustained_samples_per_s"])
        out["ratio_2_to_1_ingesters"] = round(ratio, 3)
    met = [r["sustained_samples_per_s"] >= GOAL and r["kept_up"] and r["nothing_lost"] for r in results.values()]
    out["goal_met"] = all(met)
    out["bottleneck"] = {name: _bottleneck(r) for name, r in results.items()}
    out["load_average_before"] = [round(x, 2) for x in load_before]
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    other = max(r["other_work_cores"] for r in results.values())
    out["preliminary"] = other > 0.2
    if out["preliminary"]:
        out["note"] = (f"other work used up to {other} cores beside the benchmark (see load_average_* and "
                       "other_work_cores): rerun on a quiet machine for final figures")
    return out
