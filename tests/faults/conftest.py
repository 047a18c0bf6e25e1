"""Fault injection across the whole chain: each scenario runs real processes, kills one, and checks the database.

Every scenario drives sequence-number devices (tonghu.chaos.load), injects its fault mid-stream, measures the
time to recover, then asserts with the checker (tonghu.chaos.check) that every generated sample is stored
exactly once, or that exactly the counted drops are missing where the scenario says so. The result of each
scenario is printed and written to build/faults/<scenario>.json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tonghu.chaos import procs
from tonghu.chaos.chain import Chain, EdgeProc
from tonghu.chaos.check import Report
from tonghu.chaos.load import SeqLoad, SeqPublisher, collector_entry

RESULTS = Path(__file__).resolve().parents[2] / "build" / "faults"
# 10 devices × 10 tags × 20 ticks/s = 2 000 samples/s: enough to be mid-stream at any instant, small enough for
# a 2-core machine running other tests.
LOAD = {"devices": 10, "tags": 10, "rate": 20.0}


@pytest.fixture
def make_chain(tmp_path: Path) -> Iterator[Callable[..., Chain]]:
    chains: list[Chain] = []

    def make(database_url: str, **kwargs: Any) -> Chain:
        chain = Chain(tmp_path, database_url, **kwargs).__enter__()
        chains.append(chain)
        return chain

    yield make
    for c in chains:
        c.close()


@dataclass
class Run:
    """One scenario's load and timings; ``finish`` checks and records the result."""

    name: str
    chain: Chain
    edge: EdgeProc
    load: SeqLoad
    pub: SeqPublisher | None = None
    timings: dict[str, float | None] = field(default_factory=dict)
    _t: dict[str, float] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return self.load.tag_keys()

    def start(self, min_stored: int = 2000) -> None:
        """Start the agent and the devices once the chain answers end to end; return when data flows."""
        self.edge.start()
        # The collector's 'connected' state sample crossing the whole chain proves that the agent's persistent
        # device session exists, so the device broker queues for it from the first tick on.
        assert procs.wait_until(lambda: self.chain.check({}, self.edge).site_rows >= 1, 60), \
            "the chain never stored the agent's connection state"
        self.pub = SeqPublisher(self.load, self.chain.devices.bind, self.chain.devices.port).start()
        self.chain.on_close.append(self.pub.abort)  # a failed test must not leave it publishing
        assert procs.wait_until(lambda: self.chain.stored_below(self.keys, 1 << 30) >= min_stored, 60), \
            "no data reached the database before the fault"

    def mark(self, event: str) -> None:
        self._t[event] = time.monotonic()
        if event == "restored" and self.pub is not None:
            self._t["ticks_at_restore"] = self.pub.ticks

    def _dropped(self) -> int:
        return self.edge.counts().dropped_total

    def wait_recovered(self, timeout: float = 120.0) -> None:
        """Time from the end of the fault until everything generated before it is stored."""
        ticks = int(self._t["ticks_at_restore"])
        caught = self.chain.wait_caught_up(self.keys, ticks, timeout, self._dropped)
        self.timings["recover_s"] = None if caught is None else round(
            time.monotonic() - self._t["restored"], 2)
        if "fault" in self._t:
            self.timings["fault_s"] = round(self._t["restored"] - self._t["fault"], 2)

    def finish(self, *, settle_s: float = 3.0, drain_timeout: float = 120.0, **extra: Any) -> Report:
        """Stop the devices, wait until everything generated is stored (or stops arriving), check and record."""
        assert self.pub is not None
        time.sleep(settle_s)
        ticks = self.pub.stop()
        self.chain.wait_caught_up(self.keys, ticks, drain_timeout, self._dropped)
        report = self.chain.check(dict.fromkeys(self.keys, ticks), self.edge, self.edge.counts())
        report.extra.update(scenario=self.name, samples_per_s=self.load.samples_per_s, **self.timings, **extra)
        record(self.name, report.summary())
        return report


def new_run(name: str, chain: Chain, *, uplink: dict[str, Any] | None = None,
            buffer: dict[str, Any] | None = None, collectors: list[dict[str, Any]] | None = None,
            **load: Any) -> Run:
    shape = SeqLoad(f"{chain.prefix}/dev", **{**LOAD, **load})
    entry = collector_entry(shape.prefix, shape.tags, chain.devices.bind, chain.devices.port)
    edge = chain.add_edge([entry, *(collectors or [])], uplink=uplink, buffer=buffer)
    return Run(name, chain, edge, shape)


def record(name: str, result: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"\n{name}: {json.dumps({k: v for k, v in result.items() if k != 'agent'}, default=str)} → {path}")


def assert_exactly_once(report: Report) -> None:
    s = report.summary()
    assert s["duplicated"] == 0 and s["unexpected"] == 0, s
    assert s["missing"] == 0, s
    assert report.dropped_counted == 0, s
    assert report.agent is not None and report.agent.buffered + report.agent.in_flight == 0, s
