"""The whole chain as separate processes, each of which a scenario can kill -9 and start again.

devices ─► device broker ─► edge agent ─► platform broker ─► ingester(s) ─► PostgreSQL + TimescaleDB

Both brokers are private Mosquittos with persistence; the agent and every ingester are ``python -m tonghu``
subprocesses configured exactly as in production (edge.yaml, ingest command-line options). The database is
given (a migrated throwaway database on the shared server, or a private cluster); the chain registers its own
company, and a site with its edge per agent (``add_edge``), and never reads or writes anything else.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tonghu.chaos import procs
from tonghu.chaos.check import AgentCounts, Report, check, scrape
from tonghu.chaos.mosquitto import Mosquitto
from tonghu.chaos.netcut import EdgeNetns
from tonghu.platform import registry


@dataclass
class EdgeProc:
    """One edge agent of the chain: its registry codes, edge.yaml, buffer file and process."""

    name: str
    site: str
    site_id: int
    workdir: Path
    config: dict[str, Any]
    netns: EdgeNetns | None = None
    metrics_port: int | None = None
    proc: subprocess.Popen | None = None
    log_dir: Path | None = None

    @property
    def buffer_path(self) -> Path:
        return Path(self.config["buffer"]["path"])

    @property
    def collectors(self) -> list[dict[str, Any]]:
        return self.config["collectors"]

    def start(self) -> None:
        path = self.workdir / f"edge-{self.name}.yaml"
        path.write_text(yaml.safe_dump(self.config))
        cmd = [sys.executable, "-m", "tonghu", "edge", "run", "-c", str(path)]
        with _log(self.log_dir or self.workdir, f"agent-{self.name}") as log:
            self.proc = subprocess.Popen([*self.netns.prefix(), *cmd] if self.netns else cmd,
                                         stdout=subprocess.DEVNULL, stderr=log)
        if self.metrics_port is not None:
            procs.wait_port("127.0.0.1", self.metrics_port, 30, alive=self.alive)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.proc is not None:
            procs.kill9(self.proc)

    def stop(self) -> int | None:
        """SIGTERM: the agent flushes to its buffer and exits 0."""
        return procs.stop(self.proc, 30)

    def counts(self) -> AgentCounts:
        """Buffer counters plus, while the agent runs with metrics, its in-memory ingress drops."""
        ingress = 0
        if self.metrics_port is not None and self.alive():
            ingress = AgentCounts.ingress_dropped(f"http://127.0.0.1:{self.metrics_port}/metrics")
        return AgentCounts.from_buffer(self.buffer_path, ingress)


def _log(directory: Path, name: str) -> Any:
    directory.mkdir(parents=True, exist_ok=True)
    return open(directory / f"{name}.log", "ab")


class Chain:
    def __init__(self, workdir: Path, database_url: str, *, netns: EdgeNetns | None = None,
                 devices_bind: str | None = None) -> None:
        self.workdir = workdir
        self.dsn = database_url
        self.netns = netns
        tag = uuid.uuid4().hex[:8]
        self.prefix = f"chaos-{tag}"
        self.company = f"co{tag}"
        self.devices = Mosquitto(workdir, name="devices",
                                 bind=devices_bind or (netns.host_ip["factory"] if netns else "127.0.0.1"))
        self.platform = Mosquitto(workdir, name="platform")
        self.log_dir = workdir / "logs"
        self.edges: list[EdgeProc] = []
        self.ingesters: dict[str, subprocess.Popen] = {}
        self.ingester_metrics: dict[str, int] = {}
        self.on_close: list[Callable[[], object]] = []  # run first by close(): whatever feeds the chain

    # ------------------------------------------------------------------------------------ set-up

    def __enter__(self) -> Chain:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            registry.add_company(conn, self.company, f"Chaos {self.company}", "electronics")
        self.devices.start()
        if self.netns is not None:
            # The platform broker also listens on the host end of the agent's uplink link.
            self.platform.conf.write_text(self.platform.conf.read_text()
                                          + f"listener {self.platform.port} {self.netns.host_ip['uplink']}\n")
        self.platform.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for stop_feed in self.on_close:
            stop_feed()
        for e in self.edges:
            procs.stop(e.proc)
        for p in self.ingesters.values():
            procs.stop(p)
        self.platform.stop()
        self.devices.stop()

    @property
    def edge(self) -> EdgeProc:
        return self.edges[0]

    def add_edge(self, collectors: list[dict[str, Any]], *, uplink: Mapping[str, Any] | None = None,
                 buffer: Mapping[str, Any] | None = None, metrics: bool = True) -> EdgeProc:
        """Register one more site with its edge, and configure (not start) its agent."""
        n = len(self.edges)
        site, name = f"s{n}-{self.company}", f"e{n}"
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            site_id = registry.add_site(conn, self.company, site, f"Chaos site {n}")
            registry.add_edge(conn, self.company, site, name)
        in_ns = self.netns is not None
        port = procs.free_port() if metrics and not in_ns else None  # a port inside a namespace is out of reach
        config = {
            "edge": {"company": self.company, "site": site, "name": name},
            "uplink": {"host": self.netns.host_ip["uplink"] if in_ns else "127.0.0.1", "port": self.platform.port,
                       "topic_prefix": self.prefix, "resend_after": "PT5S", "reconnect_max_delay": "PT2S",
                       "batch_interval": "PT0.05S", **(uplink or {})},
            "buffer": {"path": str(self.workdir / f"agent-{name}" / "buffer.db"), **(buffer or {})},
            "metrics": {"port": port},
            "collectors": collectors,
        }
        edge = EdgeProc(name, site, site_id, self.workdir, config, self.netns, port, log_dir=self.log_dir)
        self.edges.append(edge)
        return edge

    # ------------------------------------------------------------------------------------ ingesters

    def start_ingester(self, client_id: str | None = None, *, metrics: bool = False) -> str:
        """Start one more ingester (same client id: a restart that resumes its persistent session)."""
        client_id = client_id or f"chaos-ingest-{uuid.uuid4().hex[:6]}"
        cmd = [sys.executable, "-m", "tonghu", "platform", "ingest", "--database-url", self.dsn,
               "--mqtt-host", "127.0.0.1", "--mqtt-port", str(self.platform.port),
               "--topic-prefix", self.prefix, "--client-id", client_id]
        if metrics:
            self.ingester_metrics[client_id] = procs.free_port()
            cmd += ["--metrics-port", str(self.ingester_metrics[client_id])]
        with _log(self.log_dir, client_id) as log:
            self.ingesters[client_id] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        return client_id

    def ingester_committed(self, client_id: str) -> int:
        """Samples this ingester process committed (0 while its metrics endpoint is not up yet)."""
        try:
            m = scrape(f"http://127.0.0.1:{self.ingester_metrics[client_id]}/metrics")
        except OSError:
            return 0
        return int(m.get("tonghu_ingest_samples_committed_total", 0))

    def kill_ingester(self, client_id: str) -> None:
        procs.kill9(self.ingesters[client_id])

    # ------------------------------------------------------------------------------------ observation

    def check(self, generated: Mapping[str, int], edge: EdgeProc | None = None,
              agent: AgentCounts | None = None) -> Report:
        edge = edge or self.edge
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return check(conn, edge.site_id, generated, agent=agent)

    def stored_below(self, keys: list[str], below: int) -> int:
        """Rows of these tags (any site of the chain) with a value below ``below``: what of the first ticks landed."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM samples_num s JOIN tags t ON t.id = s.tag_id "
                               "JOIN sites si ON si.id = t.site_id JOIN companies c ON c.id = si.company_id "
                               "WHERE c.code = %s AND t.key = ANY(%s) AND s.value < %s",
                               (self.company, keys, below)).fetchone()
        return int(row[0]) if row else 0

    def wait_caught_up(self, keys: list[str], ticks: int, timeout: float,
                       dropped: Callable[[], int] = lambda: 0) -> float | None:
        """Seconds until every sample of the first ``ticks`` ticks is stored, less those the agent counted as
        dropped (``dropped``); None if not within ``timeout``."""
        started = time.monotonic()
        want = len(keys) * ticks
        if procs.wait_until(lambda: self.stored_below(keys, ticks) >= want - dropped(), timeout, every=0.25):
            return round(time.monotonic() - started, 2)
        return None
