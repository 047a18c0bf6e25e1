"""Host-side helpers around the shared device-broker client: SUBACK checks, publish waits, DISCONNECT."""

from __future__ import annotations

from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from tonghu.collectors.mqtt.client import connect_options, connect_subscribed, make_client
from tonghu.collectors.mqtt.config import BrokerConfig, ProtocolVersion

__all__ = ["connect_options", "connect_subscribed", "disconnect", "granted_problems", "make_client", "wait_published"]


def granted_problems(wanted: Sequence[tuple[str, int]], codes: Sequence[int]) -> list[str]:
    """Problems in a SUBACK's reason codes for the (filter, QoS) pairs asked for; empty if none.

    A broker may grant less than asked (an ACL, or a QoS cap like Mosquitto's ``max_qos``): then deaths
    published at QoS 1 could be lost, so a downgrade is refused like a rejection.
    """
    if len(codes) != len(wanted):
        return [f"the broker answered {len(codes)} codes for {len(wanted)} filters"]
    problems = []
    for (topic, qos), code in zip(wanted, codes, strict=True):
        if code >= 0x80:
            problems.append(f"{topic!r} refused by the broker (reason code 0x{code:02x})")
        elif code < qos:
            problems.append(f"{topic!r} granted QoS {code}, requested {qos}")
    return problems


def wait_published(info: mqtt.MQTTMessageInfo, timeout: float) -> bool:
    """Whether a QoS 1/2 message was acknowledged by the broker within ``timeout`` seconds."""
    try:
        info.wait_for_publish(timeout)
    except (RuntimeError, ValueError):
        return False
    return info.is_published()


def disconnect(client: mqtt.Client, b: BrokerConfig, *, with_will: bool) -> None:
    """DISCONNECT; ``with_will`` asks the broker to publish the Will all the same (MQTT 5 reason 0x04)."""
    if with_will and b.protocol is ProtocolVersion.V5:
        client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=0x04))
    else:
        client.disconnect()
