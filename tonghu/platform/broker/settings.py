"""``broker.yaml``: what ``tonghu platform broker config`` was told, kept beside the files rendered from it.

Every value that ends up in ``mosquitto.conf`` lives here with the reason for its default; docs/SECURITY.md
repeats the reasons for operators.
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator

from tonghu.common.errors import ConfigError
from tonghu.common.settings import StrictModel, load_yaml_model, validate_model
from tonghu.common.topics import DEFAULT_PREFIX
from tonghu.common.uplink import DEFAULT_LIMITS

DEFAULT_BROKER_DIR = Path("/var/lib/tonghu/broker")
DEFAULT_PKI_DIR = Path("/var/lib/tonghu/pki")
SETTINGS_FILE = "broker.yaml"
# A prefix becomes the first levels of every ACL topic: no wildcards, no spaces, no empty level.
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
# Room for the topic, MQTT 5 properties and headers around the largest payload the ingester accepts.
PACKET_HEADROOM = 64 * 1024


def default_run_as() -> str:
    """As root, Mosquitto drops to its own user; otherwise it cannot switch and runs as whoever starts it."""
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("mosquitto")
            return "mosquitto"
        except KeyError:
            return "root"
    return getpass.getuser()


class BrokerSettings(StrictModel):
    topic_prefix: str = DEFAULT_PREFIX
    pki_dir: Path = DEFAULT_PKI_DIR
    # Names edges dial: the first is written into their uplink section; all go into the server certificate.
    public_host: str = Field(default_factory=socket.getfqdn, min_length=1)
    hosts: tuple[str, ...] = ()
    bind_address: str | None = None  # None: every interface (edges are remote)
    tls_port: int = Field(8883, ge=1, le=65535)
    # Client-certificate listener (use_identity_as_username); None disables it.
    mtls_port: int | None = Field(8884, ge=1, le=65535)
    # Plaintext listener on 127.0.0.1 for local tools; still needs a password. None (the default) disables it.
    local_port: int | None = Field(None, ge=1, le=65535)
    run_as: str = Field(default_factory=default_run_as, min_length=1)
    # Any packet larger than this disconnects its sender (announced to MQTT 5 clients in the CONNACK), so a batch
    # far beyond the ingester's payload limit never reaches it. Mosquitto's per-message `message_size_limit` is not
    # used: its refusal PUBACK (2.0.11) is rejected as malformed by paho-mqtt 2.2, which then reconnects in a loop.
    max_packet_size: int = Field(DEFAULT_LIMITS.max_payload_bytes + PACKET_HEADROOM, ge=2048)
    # Queues live in the ingester's persistent session while it is down or slow. Each edge has at most
    # uplink.max_in_flight (16) batches + a meta and a status message outstanding, and resends them every
    # resend_after (30 s): 100 000 messages hold ~9 minutes of it from 300 edges. Mosquitto drops silently
    # beyond either bound; edges keep every batch until the ingester acks it, so a drop costs a resend, not data.
    max_queued_messages: int = Field(100_000, ge=1000)
    max_queued_bytes: int = Field(512 * 1024 * 1024, ge=1024 * 1024)
    # The broker's PUBACK is not durability (edges wait for the ingester's ack), but a short interval keeps the
    # ingester's session and the retained edge status across a broker crash.
    autosave_interval: timedelta = timedelta(seconds=10)
    # Sessions of MQTT 3 clients (or v5 with an unbounded expiry) that never come back are dropped after this.
    persistent_client_expiration: str = Field("7d", pattern=r"^[0-9]+[hdwmy]$")

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not PREFIX_RE.fullmatch(v):
            raise ValueError(f"must match {PREFIX_RE.pattern} (topic levels without wildcards or spaces)")
        return v

    @field_validator("pki_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()  # rendered into mosquitto.conf and into edges' uplink sections

    @field_validator("public_host", "hosts", "run_as", "bind_address")
    @classmethod
    def _no_space(cls, v: Any) -> Any:
        for item in (v,) if isinstance(v, str) else (v or ()):
            if not item or any(c.isspace() for c in item):
                raise ValueError(f"{item!r} must be non-empty and without whitespace")
        return v

    @field_validator("autosave_interval")
    @classmethod
    def _whole_seconds(cls, v: timedelta) -> timedelta:
        if v < timedelta(seconds=1):
            raise ValueError("must be at least one second")
        return v

    def certificate_hosts(self) -> list[str]:
        return list(dict.fromkeys([self.public_host, *self.hosts]))


def load(directory: Path) -> BrokerSettings:
    path = directory / SETTINGS_FILE
    if not path.is_file():
        raise ConfigError(f"{directory}: no {SETTINGS_FILE}; run `tonghu platform broker config --dir {directory}` "
                          "first (or point --broker-dir / TONGHU_BROKER_DIR at the configured directory)")
    return validate_model(BrokerSettings, load_yaml_model(path), str(path))


def merged(directory: Path, changes: dict[str, Any]) -> BrokerSettings:
    """The existing settings (or the defaults) with ``changes`` applied (a key left out keeps its value)."""
    path = directory / SETTINGS_FILE
    data = load_yaml_model(path) if path.is_file() else {}
    data.update(changes)
    return validate_model(BrokerSettings, data, str(path))


def save(directory: Path, settings: BrokerSettings) -> None:
    from tonghu.platform.pki import write_private

    data = settings.model_dump(mode="json")
    text = "# Written by `tonghu platform broker config`; rerun it to change a value.\n"
    write_private(directory / SETTINGS_FILE, (text + yaml.safe_dump(data, sort_keys=False)).encode(), mode=0o644)
