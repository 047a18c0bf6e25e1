"""A simulated site as one Sparkplug B edge node: group = company, node = site, one device per machine.

The session (Will/NDEATH, persistent bdSeq, births with aliases, rebirth on NCMD) is
:class:`~tonghu.device_sims.sparkplug_node.SparkplugNode`'s; this module only maps machines onto it. Device ids
are the machine's ISA-95 path with dots (``smt.l1.aoi``); metric names are the model's tag names. The equipment
model already reports by exception, so each step's samples go out as one DDATA per machine, by alias.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tonghu.collectors.sparkplug.datatypes import DataType as SpType
from tonghu.common.sample import Value
from tonghu.device_sims.live import asset_id
from tonghu.device_sims.models import DataType, Machine
from tonghu.device_sims.models.machine import SampleT
from tonghu.device_sims.sparkplug_node import SimDevice, SimMetric, SparkplugNode

log = logging.getLogger(__name__)

_TYPES = {DataType.FLOAT: (SpType.DOUBLE, float), DataType.INT: (SpType.INT64, int),
          DataType.BOOL: (SpType.BOOLEAN, bool), DataType.STRING: (SpType.STRING, str),
          DataType.STATE: (SpType.STRING, str)}


def _constant(value: Value) -> Callable[[int, random.Random], Value]:
    # Values come from the equipment model through SiteNode.apply, never from the node's own generator.
    return lambda _tick, _rng: value


class SiteNode:
    """Maps one site's machines onto a Sparkplug edge node."""

    def __init__(self, host: str, port: int, group: str, site: str, machines: Sequence[Machine], *,
                 bdseq_file: Path, t_us: int, qos: int = 0) -> None:
        self.machines = tuple(machines)
        self._types = {id(m): {t.name: _TYPES[t.dtype] for t in m.kind.tags} for m in self.machines}
        devices = []
        for m in self.machines:
            snap = m.snapshot(t_us)
            metrics = tuple(SimMetric(t.name, _TYPES[t.dtype][0], _constant(_TYPES[t.dtype][1](snap[t.name])),
                                      unit=t.unit) for t in m.kind.tags)
            devices.append(SimDevice(asset_id(m), metrics))
        node_metrics = [SimMetric("Node Info/Machines", SpType.INT64, _constant(len(self.machines)))]
        self.node = SparkplugNode(host, port, group, site, bdseq_file=bdseq_file, metrics=node_metrics,
                                  devices=devices, qos=qos)

    @property
    def topic_filter(self) -> str:
        return f"spBv1.0/{self.node.group}/+/{self.node.node}/#"

    def start(self, timeout: float = 10.0) -> None:
        self.node.start(timeout=timeout)

    def stop(self) -> None:
        self.node.stop()

    def apply(self, machine: Machine, samples: Iterable[SampleT], t_us: int) -> int:
        """Publish one DDATA with the samples whose value changed; returns how many metrics went out."""
        types, device = self._types[id(machine)], asset_id(machine)
        changed: dict[str, Value] = {}
        for name, _ts, value in samples:
            if name in types:
                v = types[name][1](value)
                if self.node.values.get((device, name)) != v:
                    changed[name] = v
        if changed:
            self.node.publish(changed, device, t_us // 1000)
        return len(changed)

    def publish_malformed(self, machine: Machine) -> None:
        """Bytes that are not a Sparkplug payload, on the machine's DDATA topic."""
        from tonghu.collectors.sparkplug.topic import MessageType

        self.node.publish_raw(MessageType.DDATA, b"\x0a\xff\xff\xff not protobuf", asset_id(machine))
