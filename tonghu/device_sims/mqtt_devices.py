"""MQTT JSON devices of a simulated site: an energy meter per machine and, on SMT lines, the AOI's results.

Topics (one level per identifier, so ``{prefix}/+/+/+/energy`` selects every meter)::

    {prefix}/{company}/{site}/{area}.{line}.{asset}/energy
    {prefix}/{company}/{site}/{area}.{line}.{asset}/aoi

Payloads are nested JSON, as field devices send them: ``{"ts": <ms>, "device": {...}, "data": {...}}``.
A message goes out (QoS 1) whenever one of its source tags changed. Which tags feed which field is data
(``ENERGY_FIELDS``, ``AOI_FIELDS``); a machine without any of a payload's tags simply has no such device.
One paho client per site carries all its devices, as a gateway would.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tonghu.device_sims.live import asset_id
from tonghu.device_sims.models import Machine
from tonghu.device_sims.models.machine import SampleT

log = logging.getLogger(__name__)

Field = tuple[tuple[str, ...], str]  # (path in "data", source tag)

ENERGY_FIELDS: tuple[Field, ...] = (
    (("electrical", "active_power_kw"), "power_kw"),
    (("electrical", "active_energy_import_kwh"), "energy_kwh"),
    (("electrical", "active_energy_import_kwh"), "power_kwh"),
    (("fuel_gas", "rate_gj_h"), "fuel_rate"),
    (("fuel_gas", "total_gj"), "fuel_gj"),
    (("steam", "rate_t_h"), "steam_rate"),
    (("steam", "total_t"), "steam_t"),
)
AOI_FIELDS: tuple[Field, ...] = (
    (("boards", "inspected"), "aoi_inspected"),
    (("boards", "passed_first"), "aoi_passed"),
    (("boards", "false_calls"), "aoi_false_calls"),
    (("defects", "total"), "aoi_defects"),
    *((("defects", "by_type", t), f"aoi_defects_{t}")
      for t in ("bridge", "insufficient", "missing", "tombstone", "shifted", "polarity")),
    (("defects", "last", "designator_type"), "aoi_last_defect"),
)
DEVICES: dict[str, tuple[str, tuple[Field, ...]]] = {
    "energy": ("energy_meter", ENERGY_FIELDS),
    "aoi": ("aoi_results", AOI_FIELDS),
}


def nest(fields: Iterable[Field], values: Mapping[str, Any]) -> dict[str, Any]:
    """Build the nested ``data`` object from flat tag values (fields whose tag is missing are left out)."""
    out: dict[str, Any] = {}
    for path, tag in fields:
        if tag not in values:
            continue
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = values[tag]
    return out


def payload(device: str, machine: Machine, values: Mapping[str, Any], ts_ms: int) -> dict[str, Any]:
    dtype, fields = DEVICES[device]
    return {"ts": ts_ms,
            "device": {"id": f"{asset_id(machine)}.{device}", "type": dtype, "asset": machine.asset_path},
            "data": nest(fields, values)}


class MqttDevices:
    """The JSON devices of one site. ``apply`` may be called from any thread; paho's loop runs its own."""

    def __init__(self, host: str, port: int, prefix: str, company: str, site: str, machines: Sequence[Machine],
                 *, qos: int = 1, client_id: str | None = None) -> None:
        self.host, self.port, self.qos = host, port, qos
        self.base = f"{prefix}/{company}/{site}"
        self.machines = tuple(machines)
        self.client_id = client_id or f"sim-json-{site}-{uuid.uuid4().hex[:8]}"
        # Per machine: the devices it has, each with the set of tags that feed it.
        self._devices: dict[int, dict[str, frozenset[str]]] = {}
        for m in self.machines:
            names = {t.name for t in m.kind.tags}
            devs = {d: frozenset(tag for _, tag in fields if tag in names) for d, (_, fields) in DEVICES.items()}
            self._devices[id(m)] = {d: tags for d, tags in devs.items() if tags}
        self._values: dict[int, dict[str, Any]] = {id(m): {} for m in self.machines}
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self.published = 0

    def topics(self) -> list[str]:
        return [self.topic(m, d) for m in self.machines for d in self._devices[id(m)]]

    def topic(self, machine: Machine, device: str) -> str:
        return f"{self.base}/{asset_id(machine)}/{device}"

    def seed(self, t_us: int) -> None:
        for m in self.machines:
            self._values[id(m)].update(m.snapshot(t_us))

    def start(self, timeout: float = 10.0) -> None:
        client = self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        if not self._connected.wait(timeout):
            raise TimeoutError(f"MQTT devices of {self.base}: no CONNACK from {self.host}:{self.port}")

    def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def apply(self, machine: Machine, samples: Iterable[SampleT], t_us: int) -> int:
        """Take a step's samples; publish every device of the machine that one of them touched."""
        values = self._values[id(machine)]
        touched: set[str] = set()
        for name, _ts, value in samples:
            values[name] = value
            touched.add(name)
        sent = 0
        for device, tags in self._devices[id(machine)].items():
            if tags & touched:
                self._send(self.topic(machine, device), json.dumps(payload(device, machine, values, t_us // 1000)))
                sent += 1
        return sent

    def publish_malformed(self, machine: Machine) -> str:
        """A payload cut short mid-object, as a device rebooting during a write sends; returns the topic."""
        topic = self.topic(machine, next(iter(self._devices[id(machine)]), "energy"))
        self._send(topic, '{"ts": 0, "data": {"electrical": {"active_power_kw": ')
        return topic

    def _send(self, topic: str, body: str) -> None:
        if self._client is None:
            raise RuntimeError("start() first")
        # While disconnected paho queues QoS 1 messages and sends them after reconnecting, as a device would.
        self._client.publish(topic, body, qos=self.qos)
        self.published += 1

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object = None) -> None:
        if not reason.is_failure:
            if not self._connected.is_set():
                log.info("MQTT devices of %s connected to %s:%s", self.base, self.host, self.port)
            self._connected.set()

    def _on_disconnect(self, *_args: object) -> None:
        if self._client is not None:
            log.warning("MQTT devices of %s lost the broker; paho reconnects", self.base)
