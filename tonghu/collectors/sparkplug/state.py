"""What a host remembers about each edge node and device, and the alias cache persisted across restarts.

Persistence format (JSON, version 1) — only what a birth certificate declared, for nodes that are online:

    {"version": 1,
     "nodes": [{"group": str, "node": str, "bdseq": int | null,
                "metrics": [[name, datatype, alias | null], ...],          # the NBIRTH's metrics
                "devices": {device_id: [[name, datatype, alias | null], ...]}}]}   # each online DBIRTH's

Tag keys are not stored: they are derived again from the current key mapping on load, so a changed mapping
applies at once. Last values and sequence numbers are not stored either: after a restart the first message
from a node sets its expected seq, and values come with the next data.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tonghu.collectors.sparkplug.codec import Payload
from tonghu.collectors.sparkplug.topic import Topic
from tonghu.common.errors import PermanentError
from tonghu.common.sample import Value

CACHE_VERSION = 1

# (group, edge node, device or None, metric name) → tag key, or None for a metric that is not collected.
KeyOf = Callable[[str, str, str | None, str], str | None]


@dataclass(slots=True)
class MetricDef:
    name: str
    datatype: int
    alias: int | None
    key: str | None
    last: Value | None = None
    last_us: int = 0


@dataclass(slots=True)
class Scope:
    """The metrics one birth certificate declared: an edge node's own, or one device's.

    Aliases are looked up per scope. §6.4.6 makes them unique across the whole edge node, so this costs
    nothing for compliant nodes and still works for nodes that number each device's aliases from zero.
    """

    by_name: dict[str, MetricDef] = field(default_factory=dict)
    by_alias: dict[int, MetricDef] = field(default_factory=dict)
    online: bool = False

    def add(self, metric: MetricDef) -> None:
        self.by_name[metric.name] = metric
        if metric.alias is not None:
            self.by_alias[metric.alias] = metric

    def resolve(self, name: str | None, alias: int | None) -> MetricDef | None:
        if alias is not None and alias in self.by_alias:
            return self.by_alias[alias]
        return self.by_name.get(name) if name is not None else None


@dataclass(slots=True)
class Held:
    """A message that arrived ahead of its turn, waiting for the ones before it (§5.9)."""

    topic: Topic
    payload: Payload
    at_us: int


@dataclass(slots=True)
class NodeState:
    group: str
    node: str
    metrics: Scope = field(default_factory=Scope)
    devices: dict[str, Scope] = field(default_factory=dict)
    bdseq: int | None = None
    next_seq: int | None = None
    held: dict[int, Held] = field(default_factory=dict)
    gap_since_us: int | None = None
    last_rebirth_us: int | None = None
    pending_rebirth: str | None = None

    @property
    def online(self) -> bool:
        return self.metrics.online


def dump(nodes: Iterable[NodeState]) -> str:
    doc = {"version": CACHE_VERSION, "nodes": [
        {"group": n.group, "node": n.node, "bdseq": n.bdseq, "metrics": _defs(n.metrics),
         "devices": {d: _defs(s) for d, s in sorted(n.devices.items()) if s.online}}
        for n in sorted(nodes, key=lambda n: (n.group, n.node)) if n.online]}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def _defs(scope: Scope) -> list[list[Any]]:
    return [[m.name, m.datatype, m.alias] for m in scope.by_name.values()]


def load(text: str, key_of: KeyOf) -> list[NodeState]:
    """Nodes from ``dump``'s output, online with unknown seq. Raises PermanentError when the text is not a
    cache of this version: the caller then starts empty, which costs one rebirth per node."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("version") != CACHE_VERSION:
            raise ValueError(f"version {doc.get('version') if isinstance(doc, dict) else None!r} is not "
                             f"{CACHE_VERSION}")
        nodes = []
        for raw in _list(doc["nodes"]):
            group, node = _str(raw["group"]), _str(raw["node"])
            bdseq = raw["bdseq"]
            if bdseq is not None and type(bdseq) is not int:
                raise ValueError(f"bdseq {bdseq!r} is not an integer")
            state = NodeState(group, node, _scope(raw["metrics"], key_of, group, node, None), bdseq=bdseq)
            devices = raw["devices"]
            if not isinstance(devices, dict):
                raise ValueError("devices must be an object")
            state.devices = {_str(d): _scope(m, key_of, group, node, d) for d, m in devices.items()}
            nodes.append(state)
        return nodes
    except (ValueError, KeyError, TypeError, RecursionError) as err:
        raise PermanentError(f"Sparkplug alias cache is not usable: {err}") from err


def _scope(raw: Any, key_of: KeyOf, group: str, node: str, device: str | None) -> Scope:
    scope = Scope(online=True)
    for item in _list(raw):
        name, datatype, alias = _list(item)
        if type(datatype) is not int or not (alias is None or type(alias) is int):
            raise ValueError(f"metric {item!r} must be [name, datatype, alias]")
        scope.add(MetricDef(_str(name), datatype, alias, key_of(group, node, device, _str(name))))
    return scope


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{str(value)[:60]!r} is not a list")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{str(value)[:60]!r} is not a string")
    return value
