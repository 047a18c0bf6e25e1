"""The paho client for a device broker, built from ``BrokerConfig``; shared by the MQTT and Sparkplug collectors."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tonghu.collectors.mqtt.config import BrokerConfig, ProtocolVersion, SessionMode, TlsVerify
from tonghu.common.errors import PermanentError, TransientError

CONNECT_TIMEOUT_S = 15.0


def make_client(b: BrokerConfig) -> mqtt.Client:
    """A client that acknowledges QoS 1/2 messages only when told to (``client.ack``)."""
    v5 = b.protocol is ProtocolVersion.V5
    kwargs: dict[str, Any] = {"protocol": mqtt.MQTTv5 if v5 else mqtt.MQTTv311, "manual_ack": True}
    if not v5:
        kwargs["clean_session"] = b.session is not SessionMode.PERSISTENT
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=b.client_id, **kwargs)
    if b.username:
        client.username_pw_set(b.username, b.password.get_secret_value() if b.password else None)
    if b.tls is not None:
        t = b.tls
        client.tls_set(ca_certs=str(t.ca_file) if t.ca_file else None,
                       certfile=str(t.cert_file) if t.cert_file else None,
                       keyfile=str(t.key_file) if t.key_file else None,
                       keyfile_password=t.key_password.get_secret_value() if t.key_password else None,
                       cert_reqs=ssl.CERT_NONE if t.verify is TlsVerify.NONE else ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
        client.tls_insecure_set(t.verify is not TlsVerify.FULL)
    return client


def connect_options(b: BrokerConfig) -> dict[str, Any]:
    """Keyword arguments of ``Client.connect`` for the session the configuration asks for."""
    if b.protocol is not ProtocolVersion.V5:
        # MQTT 3.1.1 takes its session flag in the constructor.
        return {"clean_start": mqtt.MQTT_CLEAN_START_FIRST_ONLY}
    persistent = b.session is SessionMode.PERSISTENT
    props = Properties(PacketTypes.CONNECT)
    # §5.3: a clean host session is Clean Start with a Session Expiry Interval of 0.
    props.SessionExpiryInterval = int(b.session_expiry.total_seconds()) if persistent else 0
    return {"clean_start": not persistent, "properties": props}


async def connect_subscribed(client: mqtt.Client, b: BrokerConfig, subscribed: threading.Event,
                             outcome: Callable[[], tuple[str, list[str]]]) -> None:
    """Connect, start paho's loop and wait until the callbacks set ``subscribed`` (SUBACK or failure).

    ``outcome`` returns (connection error, SUBACK problems) as the callbacks recorded them. A broker that cannot
    be reached or does not answer is transient; a refused or downgraded subscription is permanent.
    """
    try:
        await asyncio.to_thread(client.connect, b.host, b.resolved_port, int(b.keepalive.total_seconds()),
                                **connect_options(b))
    except (OSError, ssl.SSLError) as err:
        raise TransientError(f"cannot reach MQTT broker {b.host}:{b.resolved_port}: {err}") from err
    client.loop_start()
    ok = await asyncio.to_thread(subscribed.wait, CONNECT_TIMEOUT_S)
    error, problems = outcome()
    if error:
        raise TransientError(error)
    if not ok:
        raise TransientError(f"no CONNACK/SUBACK from {b.host}:{b.resolved_port} within {CONNECT_TIMEOUT_S} s")
    if problems:
        raise PermanentError("; ".join(problems))
