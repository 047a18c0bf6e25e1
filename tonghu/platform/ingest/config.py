"""Ingest service configuration: one pydantic model, from a YAML file and/or command-line overrides."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from pydantic import Field, SecretStr

from tonghu.common.settings import StrictModel
from tonghu.common.topics import DEFAULT_PREFIX
from tonghu.platform.db import DEFAULT_DSN


class BrokerConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_id: str = Field(default_factory=lambda: f"tonghu-ingest-{socket.gethostname()}")
    keepalive: timedelta = timedelta(seconds=30)
    # Messages for a restarting ingester wait at the broker for this long (MQTT 5 session expiry).
    session_expiry: timedelta = timedelta(hours=1)
    # Unacknowledged QoS 1 messages the broker may have in flight to us: the service's only inbound queue.
    receive_maximum: int = Field(256, ge=1, le=65535)


class IngestConfig(StrictModel):
    database_url: str = DEFAULT_DSN
    topic_prefix: str = DEFAULT_PREFIX
    share_group: str = "ingest"
    broker: BrokerConfig = BrokerConfig()
    group_max_messages: int = Field(64, ge=1)
    group_max_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    group_max_wait: timedelta = timedelta(milliseconds=20)
    max_past: timedelta = timedelta(days=35)
    max_future: timedelta = timedelta(minutes=5)
    metrics_port: int | None = Field(None, ge=0, le=65535)
    metrics_addr: str = "127.0.0.1"
