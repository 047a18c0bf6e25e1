"""Configuration of the OPC-UA collector: one server, its security, and groups of nodes mapped to tags.

The model is the value of one ``collectors:`` entry of an edge configuration (``type: opcua``); ``sample.yaml``
is a commented example whose commented values are the defaults. Nothing here does I/O.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, FiniteFloat, SecretStr, field_validator, model_validator

from tonghu.collectors.opcua.groups import (
    NUMERIC,
    Code,
    DataType,
    Deadband,
    DeadbandType,
    Group,
    NodeConfig,
    PollingGroup,
    Strict,
    SubscriptionGroup,
)
from tonghu.common.settings import load_yaml_model, validate_model

__all__ = ["NUMERIC", "ConnectionConfig", "DataType", "Deadband", "DeadbandType", "Group", "NodeConfig",
           "OpcUaConfig", "PollingGroup", "SubscriptionGroup", "load_config", "parse_config"]

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:\S+")


class SecurityPolicy(StrEnum):
    """Security policies by the fragment of their URI (OPC 10000-7); the deprecated SHA-1 ones are left out."""

    NONE = "None"
    BASIC256SHA256 = "Basic256Sha256"
    AES128_SHA256_RSAOAEP = "Aes128_Sha256_RsaOaep"
    AES256_SHA256_RSAPSS = "Aes256_Sha256_RsaPss"

    @property
    def uri(self) -> str:
        return f"http://opcfoundation.org/UA/SecurityPolicy#{self.value}"


class SecurityMode(StrEnum):
    NONE = "None"
    SIGN = "Sign"
    SIGN_AND_ENCRYPT = "SignAndEncrypt"


class CleartextPassword(StrEnum):
    # A password the server wants unencrypted on an unencrypted channel is readable by anyone on the network.
    REFUSE = "refuse"
    ALLOW = "allow"


class OwnCertificate(StrEnum):
    GENERATE = "generate"  # self-signed, created when missing or when application_uri changed
    PROVIDED = "provided"  # issued elsewhere (e.g. by a plant CA); never written by the collector


class TrustMode(StrEnum):
    TRUST_LIST = "trust_list"  # certificates (or their issuing CAs) in pki/trusted
    PINNED = "pinned"  # exactly one certificate, by SHA-256 fingerprint


def _positive(v: timedelta, what: str) -> timedelta:
    if v <= timedelta(0):
        raise ValueError(f"{what} must be positive")
    return v


class Security(Strict):
    policy: SecurityPolicy = SecurityPolicy.NONE
    mode: SecurityMode = SecurityMode.NONE

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # OPC 10000-4 §7.15: policy None goes only with mode None, and a real policy needs Sign or SignAndEncrypt.
        if (self.policy is SecurityPolicy.NONE) != (self.mode is SecurityMode.NONE):
            raise ValueError(f"policy {self.policy} cannot be combined with mode {self.mode}: use policy None "
                             "with mode None, or a real policy with Sign or SignAndEncrypt")
        return self


class AnonymousIdentity(Strict):
    type: Literal["anonymous"] = "anonymous"


class UsernameIdentity(Strict):
    type: Literal["username"]
    username: str = Field(min_length=1)
    password: SecretStr
    cleartext_password: CleartextPassword = CleartextPassword.REFUSE


class CertificateIdentity(Strict):
    type: Literal["certificate"]
    certificate: Path  # DER or PEM, a user certificate (not the application certificate)
    private_key: Path
    private_key_password: SecretStr | None = None


Identity = Annotated[AnonymousIdentity | UsernameIdentity | CertificateIdentity, Field(discriminator="type")]


class Pki(Strict):
    """Where the agent keeps its own certificate and the server certificates it trusts or rejected."""

    dir: Path = Path("pki")  # holds own/, trusted/, rejected/
    certificate: Path | None = None  # default: dir/own/certs/application.der
    private_key: Path | None = None  # default: dir/own/private/application.pem
    own_certificate: OwnCertificate = OwnCertificate.GENERATE
    validity: timedelta = timedelta(days=5 * 365)  # for generated certificates

    @field_validator("validity")
    @classmethod
    def _validity(cls, v: timedelta) -> timedelta:
        if v < timedelta(days=1):
            raise ValueError("validity must be at least one day")
        return v

    @property
    def certificate_path(self) -> Path:
        return self.certificate or self.dir / "own" / "certs" / "application.der"

    @property
    def private_key_path(self) -> Path:
        return self.private_key or self.dir / "own" / "private" / "application.pem"


class ServerTrust(Strict):
    mode: TrustMode = TrustMode.TRUST_LIST
    sha256: str | None = None  # pinned: hex, with or without colons

    @field_validator("sha256")
    @classmethod
    def _fingerprint(cls, v: str | None) -> str | None:
        if v is None:
            return None
        clean = v.replace(":", "").replace(" ", "").lower()
        if not _FINGERPRINT.fullmatch(clean):
            raise ValueError("sha256 must be 64 hexadecimal digits (colons allowed)")
        return clean

    @model_validator(mode="after")
    def _pin(self) -> Self:
        if (self.mode is TrustMode.PINNED) != (self.sha256 is not None):
            raise ValueError("mode pinned needs sha256, and sha256 is only used with mode pinned")
        return self


class Timeouts(Strict):
    connect: timedelta = timedelta(seconds=15)  # the whole connect(): endpoints, session, subscriptions
    request: timedelta = timedelta(seconds=5)  # each service call
    session: timedelta = timedelta(seconds=60)  # how long the server keeps our session after we vanish

    @field_validator("connect", "request", "session")
    @classmethod
    def _positive(cls, v: timedelta) -> timedelta:
        return _positive(v, "a timeout")


class Watchdog(Strict):
    # A subscription must answer (data or keep-alive) within keepalive_count × publishing_interval
    # (OPC 10000-4 §5.13.1.1); the factor allows for the network and a busy server.
    keepalive_factor: FiniteFloat = Field(1.5, ge=1.0, le=10.0)
    # ServerStatus is read this often: a changed StartTime means the server restarted, and a read that times out
    # finds a frozen server even when only polling groups are configured.
    status_interval: timedelta = timedelta(seconds=5)

    @field_validator("status_interval")
    @classmethod
    def _interval(cls, v: timedelta) -> timedelta:
        return _positive(v, "status_interval")


class ConnectionConfig(Strict):
    """How to reach and trust one server; what ``tonghu edge browse`` needs as well as the collector."""

    endpoint: str = Field(pattern=r"^opc\.tcp://[^/:\s]+(:[0-9]{1,5})?(/\S*)?$",
                          description="opc.tcp://host:port[/path]")
    # Must equal the URI in our certificate (OPC 10000-4 §6.1.2); absent: urn:<hostname>:tonghu:edge.
    application_uri: str | None = None
    security: Security = Security()
    identity: Identity = AnonymousIdentity()
    pki: Pki = Pki()
    server_trust: ServerTrust = ServerTrust()
    timeouts: Timeouts = Timeouts()
    watchdog: Watchdog = Watchdog()

    @field_validator("application_uri")
    @classmethod
    def _uri(cls, v: str | None) -> str | None:
        if v is not None and not _URI.fullmatch(v):
            raise ValueError(f"application_uri {v!r} must be a URI such as urn:plant-a:tonghu:edge-1")
        return v


class OpcUaConfig(ConnectionConfig):
    type: Literal["opcua"] = "opcua"
    name: Code = "opcua"
    flush_interval: timedelta = timedelta(milliseconds=100)  # how often received values go to the sink
    # Samples held between flushes; beyond it the oldest are dropped and counted (overflow policy: drop_oldest).
    max_pending: int = Field(100_000, ge=100, le=10_000_000)
    # Upper bound per Read / CreateMonitoredItems / TranslateBrowsePaths call, lowered further by the server's
    # OperationLimits (OPC 10000-5 §6.3.11) read at every connect.
    max_nodes_per_request: int = Field(1000, ge=1, le=100_000)
    groups: list[Group] = Field(min_length=1)

    @field_validator("flush_interval")
    @classmethod
    def _flush(cls, v: timedelta) -> timedelta:
        if not timedelta(milliseconds=10) <= v <= timedelta(seconds=5):
            raise ValueError("flush_interval must be between 10 ms and 5 s")
        return v

    @model_validator(mode="after")
    def _unique(self) -> Self:
        groups: dict[str, int] = {}
        keys: dict[str, str] = {}
        for g, group in enumerate(self.groups):
            if group.name in groups:
                raise ValueError(f"groups[{g}] and groups[{groups[group.name]}] are both named {group.name!r}")
            groups[group.name] = g
            for n, node in enumerate(group.nodes):
                where = f"groups[{g}].nodes[{n}]"
                if node.key in keys:
                    raise ValueError(f"{where} and {keys[node.key]} both map to tag {node.key!r}")
                keys[node.key] = where
        return self

    @property
    def all_nodes(self) -> list[tuple[Group, NodeConfig]]:
        return [(g, n) for g in self.groups for n in g.nodes]


# Discriminator values pydantic puts into error locations after a list index; they are not in the file.
HIDDEN_TAGS = ("subscription", "polling")


def parse_config(data: Any, source: str = "<config>") -> OpcUaConfig:
    """Validate already-loaded data; ConfigError names ``source``, each path in it and what was expected."""
    return validate_model(OpcUaConfig, data, source, hidden=HIDDEN_TAGS)


def load_config(path: Path) -> OpcUaConfig:
    """Read and validate a YAML file holding one OPC-UA collector entry."""
    return parse_config(load_yaml_model(path), str(path))
