"""Sparkplug topics (3.0.0 §4.1, §4.2): ``spBv1.0/{group}/{type}/{node}[/{device}]`` and
``spBv1.0/STATE/{host_id}``, plus the JSON payload of a host's STATE message (§4.2.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from tonghu.common.errors import PayloadError

NAMESPACE = "spBv1.0"


class MessageType(StrEnum):
    NBIRTH = "NBIRTH"
    NDATA = "NDATA"
    NDEATH = "NDEATH"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDATA = "DDATA"
    DDEATH = "DDEATH"
    DCMD = "DCMD"
    STATE = "STATE"


NODE_TYPES = frozenset({MessageType.NBIRTH, MessageType.NDATA, MessageType.NDEATH, MessageType.NCMD})
DEVICE_TYPES = frozenset({MessageType.DBIRTH, MessageType.DDATA, MessageType.DDEATH, MessageType.DCMD})


@dataclass(frozen=True, slots=True)
class Topic:
    """A parsed topic. For STATE only ``host_id`` is set; otherwise ``device`` is set for device types."""

    type: MessageType
    group: str = ""
    node: str = ""
    device: str | None = None
    host_id: str | None = None

    def __str__(self) -> str:
        if self.type is MessageType.STATE:
            return f"{NAMESPACE}/STATE/{self.host_id}"
        tail = f"/{self.device}" if self.device is not None else ""
        return f"{NAMESPACE}/{self.group}/{self.type}/{self.node}{tail}"


def node_topic(group: str, type_: MessageType, node: str, device: str | None = None) -> str:
    """Build a topic, checking the identifiers as ``parse_topic`` would."""
    return str(parse_topic(str(Topic(type_, group, node, device))))


def parse_topic(name: str) -> Topic:
    """Split a Sparkplug topic; raises PayloadError('bad_topic') for anything else."""
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != NAMESPACE:
        raise PayloadError("bad_topic", f"topic {name[:200]!r} is not under {NAMESPACE}/")
    if parts[1] == "STATE":
        if len(parts) != 3:
            raise PayloadError("bad_topic", f"topic {name[:200]!r} must be {NAMESPACE}/STATE/host_id")
        return Topic(MessageType.STATE, host_id=_identifier(parts[2], "host id", name))
    if len(parts) not in (4, 5):
        raise PayloadError("bad_topic", f"topic {name[:200]!r} must be {NAMESPACE}/group/type/node[/device]")
    try:
        type_ = MessageType(parts[2])
    except ValueError:
        raise PayloadError("bad_topic", f"unknown message type {parts[2][:40]!r} in topic {name[:200]!r}") from None
    # §4.1: node-level types have no device element, device-level types must have one.
    wanted = 5 if type_ in DEVICE_TYPES else 4
    if type_ is MessageType.STATE or len(parts) != wanted:
        raise PayloadError("bad_topic", f"{type_} topic {name[:200]!r} must have {wanted} elements")
    group = _identifier(parts[1], "group id", name)
    node = _identifier(parts[3], "edge node id", name)
    device = _identifier(parts[4], "device id", name) if wanted == 5 else None
    return Topic(type_, group, node, device)


def _identifier(value: str, what: str, name: str) -> str:
    # §4.1.2–§4.1.5: UTF-8 strings without the MQTT wildcards (and, by construction here, without '/').
    if not value or "+" in value or "#" in value:
        raise PayloadError("bad_topic", f"{what} {value[:80]!r} in topic {name[:200]!r} must be non-empty "
                                        "and free of '+' and '#'")
    return value


def encode_state(online: bool, timestamp_ms: int) -> bytes:
    """A host application's STATE payload (retained, QoS 1; §4.2.3.1 and §4.2.3.2)."""
    return json.dumps({"online": online, "timestamp": timestamp_ms}, separators=(",", ":")).encode()


def decode_state(payload: bytes) -> tuple[bool, int | None]:
    """``(online, timestamp_ms)`` of a STATE payload; other keys (older drafts had a bdSeq) are ignored."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError) as err:  # RecursionError: arrays or objects nested too deeply
        raise PayloadError("bad_state", f"STATE payload is not JSON ({str(err)[:120]})") from None
    if not isinstance(body, dict) or not isinstance(body.get("online"), bool):
        raise PayloadError("bad_state", "STATE payload must be an object with a boolean 'online'")
    timestamp = body.get("timestamp")
    if timestamp is not None and (type(timestamp) is not int or timestamp < 0):
        raise PayloadError("bad_state", "STATE 'timestamp' must be a non-negative integer")
    return body["online"], timestamp
