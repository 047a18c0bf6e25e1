"""``tonghu sims run``: a sector's simulated sites on OPC-UA, MQTT JSON and Sparkplug B, driven in real time.

One asyncio task owns the simulation: every tick it asks each machine's :class:`~tonghu.device_sims.live.Feed`
for the steps that are due and hands their samples to every protocol of the machine's site. Servers never
generate values themselves, so the three protocols always tell the same story. A second task injects faults
when asked to (OPC-UA restarts and stalls, malformed MQTT and Sparkplug payloads), logging each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tonghu.device_sims.live import Feed, SimClock, step_for
from tonghu.device_sims.models import SECTORS, Machine, Site, fleet
from tonghu.device_sims.models.machine import SampleT
from tonghu.device_sims.mqtt_devices import MqttDevices
from tonghu.device_sims.opcua_site import Security, SiteServer
from tonghu.device_sims.sparkplug_site import SiteNode

log = logging.getLogger(__name__)

PROTOCOLS = ("opcua", "mqtt", "sparkplug")


@dataclass(frozen=True)
class RunConfig:
    """What to simulate and where. ``machines`` caps the count (whole sites first, the last one cut short)."""

    sector: str
    machines: int = 10
    speed: float = 1.0
    seed: int = 0
    protocols: tuple[str, ...] = PROTOCOLS
    opcua_host: str = "127.0.0.1"
    opcua_port: int = 4840
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    topic_prefix: str = "tonghu/sims"
    sparkplug_group: str = ""
    security: Security | None = None
    faults: bool = False
    fault_period_s: float = 30.0
    stall_s: float = 10.0
    tick_s: float = 0.5
    state_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "tonghu-sims")

    def __post_init__(self) -> None:
        if self.sector not in SECTORS:
            raise ValueError(f"sector must be one of {', '.join(SECTORS)}, not {self.sector!r}")
        unknown = set(self.protocols) - set(PROTOCOLS)
        if unknown or not self.protocols:
            raise ValueError(f"protocols must be a non-empty subset of {', '.join(PROTOCOLS)}")
        if self.machines < 1 or self.speed <= 0 or self.tick_s <= 0:
            raise ValueError("machines, speed and tick must be positive")


@dataclass(frozen=True)
class SimSite:
    company: str
    site: Site
    machines: tuple[Machine, ...]


def pick_sites(sector: str, machines: int, seed: int) -> list[SimSite]:
    """The first ``machines`` machines of the sector's companies in a deterministic fleet, grouped by site."""
    out: list[SimSite] = []
    left = machines
    for company in fleet(18, seed).sector(sector):
        for site in company.sites:
            if left <= 0:
                return out
            take = site.machines[:left]
            out.append(SimSite(company.code, site, take))
            left -= len(take)
    if left > 0:
        log.warning("the %s fleet has only %d machines", sector, machines - left)
    return out


class SimRun:
    """The running simulation: construct (no I/O), then ``await run(stop)``."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.sites = pick_sites(config.sector, config.machines, config.seed)
        self.clock = SimClock(config.speed)
        self.opcua: list[SiteServer] = []
        self.mqtt: list[MqttDevices] = []
        self.sparkplug: list[SiteNode] = []
        self.faults: list[str] = []
        self._failing: set[str] = set()

    def describe(self) -> list[str]:
        """Human-readable endpoints and topics (valid once ``run`` has started the servers)."""
        lines = []
        for s in self.opcua:
            lines.append(f"opcua      {s.endpoint}  ns={s.namespace}  ({len(s.machines)} machines)")
        for d in self.mqtt:
            lines.append(f"mqtt       {d.host}:{d.port}  {d.base}/+/energy|aoi  ({len(d.topics())} devices)")
        for n in self.sparkplug:
            lines.append(f"sparkplug  {n.node.host}:{n.node.port}  {n.topic_filter}")
        return lines

    async def run(self, stop: asyncio.Event, ready: Callable[[SimRun], None] | None = None) -> None:
        cfg = self.config
        t0 = self.clock.now_us()
        await self._start(t0)
        try:
            if ready is not None:
                ready(self)
            step_us = step_for(cfg.speed, cfg.tick_s)
            feeds = [(i, Feed(m, t0, step_us)) for i, s in enumerate(self.sites) for m in s.machines]
            tasks = [asyncio.create_task(self._fault_loop(stop))] if cfg.faults else []
            try:
                while not stop.is_set():
                    now = self.clock.now_us()
                    for i, feed in feeds:
                        for st in feed.due(now):
                            await self._apply(i, feed.machine, st.samples, st.t_us)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), cfg.tick_s)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self._stop()

    # ------------------------------------------------------------------------------------------ lifecycle

    async def _start(self, t0: int) -> None:
        cfg = self.config
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(self.sites):
            if "opcua" in cfg.protocols:
                server = SiteServer(s.company, s.site.code, s.machines, cfg.opcua_port + i, host=cfg.opcua_host,
                                    security=cfg.security)
                server.seed(t0)
                await server.start()
                self.opcua.append(server)
            if "mqtt" in cfg.protocols:
                dev = MqttDevices(cfg.mqtt_host, cfg.mqtt_port, cfg.topic_prefix, s.company, s.site.code,
                                  s.machines)
                dev.seed(t0)
                await asyncio.to_thread(dev.start)
                self.mqtt.append(dev)
            if "sparkplug" in cfg.protocols:
                group = cfg.sparkplug_group or s.company
                node = SiteNode(cfg.mqtt_host, cfg.mqtt_port, group, s.site.code, s.machines,
                                bdseq_file=cfg.state_dir / f"{group}.{s.site.code}.bdseq", t_us=t0)
                await asyncio.to_thread(node.start)
                self.sparkplug.append(node)

    async def _stop(self) -> None:
        for server in self.opcua:
            await server.stop()
        for dev in self.mqtt:
            await asyncio.to_thread(dev.stop)
        for node in self.sparkplug:
            await asyncio.to_thread(node.stop)

    async def _apply(self, i: int, machine: Machine, samples: list[SampleT], t_us: int) -> None:
        if self.opcua:
            await self.opcua[i].apply(machine, samples)
        if self.mqtt:
            self._guard("mqtt", self.mqtt[i].apply, machine, samples, t_us)
        if self.sparkplug:
            self._guard("sparkplug", self.sparkplug[i].apply, machine, samples, t_us)

    def _guard(self, what: str, fn: Callable[..., object], *args: object) -> None:
        # A broker outage must not stop the simulation; log when publishing starts and stops failing.
        try:
            fn(*args)
        except Exception as err:  # any publish failure is the same event to the operator
            if what not in self._failing:
                self._failing.add(what)
                log.warning("%s publishing fails: %s", what, err)
            return
        if what in self._failing:
            self._failing.discard(what)
            log.info("%s publishing works again", what)

    # ------------------------------------------------------------------------------------------ faults

    async def _fault_loop(self, stop: asyncio.Event) -> None:
        cfg = self.config
        rng = random.Random(cfg.seed)
        kinds = [k for k, ok in (("restart", self.opcua), ("stall", self.opcua), ("malformed_json", self.mqtt),
                                 ("malformed_sparkplug", self.sparkplug)) if ok]
        while kinds and not stop.is_set():
            await asyncio.sleep(cfg.fault_period_s * rng.uniform(0.5, 1.5))
            kind = rng.choice(kinds)
            i = rng.randrange(len(self.sites))
            machine = rng.choice(self.sites[i].machines)
            await self._inject(kind, i, machine, rng)

    async def _inject(self, kind: str, i: int, machine: Machine, rng: random.Random) -> None:
        if kind in ("restart", "stall"):
            server = self.opcua[i]
            pause = 0.0 if kind == "restart" else self.config.stall_s * rng.uniform(0.5, 1.5)
            self._fault(f"opcua {kind} of {server.endpoint}" + (f" for {pause:.1f} s" if pause else ""))
            await server.stop()
            await asyncio.sleep(pause)
            await server.start()
            log.info("fault over: opcua %s is serving again", server.endpoint)
        elif kind == "malformed_json":
            self._fault(f"malformed JSON on {self.mqtt[i].publish_malformed(machine)}")
        else:
            self.sparkplug[i].publish_malformed(machine)
            self._fault(f"malformed Sparkplug DDATA for {machine.asset_path} of {self.sparkplug[i].topic_filter}")

    def _fault(self, text: str) -> None:
        self.faults.append(text)
        log.warning("fault: %s", text)
