"""The edge agent's configuration (``edge.yaml``): identity, uplink, buffer, metrics and the collectors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import Field, SecretStr, model_validator

from tonghu.collectors.registry import HIDDEN_TAGS, CollectorEntry
from tonghu.common.settings import StrictModel, load_yaml_model, validate_model
from tonghu.common.topics import CODE_RE, DEFAULT_PREFIX
from tonghu.edge_agent.buffer_model import BufferConfig

Code = Annotated[str, Field(pattern=CODE_RE.pattern)]


class EdgeIdentity(StrictModel):
    """Who this agent is on the platform: the codes its topics and broker ACL are built from."""

    company: Code
    site: Code
    name: Code

    @property
    def client_id(self) -> str:
        return f"tonghu-edge-{self.company}-{self.site}-{self.name}"


class UplinkConfig(StrictModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_id: str | None = None
    topic_prefix: str = DEFAULT_PREFIX
    keepalive: timedelta = timedelta(seconds=30)
    reconnect_max_delay: timedelta = timedelta(seconds=30)
    # Batches published and not yet acknowledged by the ingester; more hides more latency, costs broker memory.
    max_in_flight: int = Field(16, ge=1, le=1000)
    resend_after: timedelta = timedelta(seconds=30)
    batch_interval: timedelta = timedelta(milliseconds=200)
    status_interval: timedelta = timedelta(seconds=30)

    @model_validator(mode="after")
    def _pairs(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together (client certificate authentication)")
        if self.tls_cert is not None and self.tls_ca is None:
            raise ValueError("a client certificate needs tls_ca (the broker's CA)")
        return self


class MetricsConfig(StrictModel):
    port: int | None = Field(9109, ge=0, le=65535)
    addr: str = "127.0.0.1"


class EdgeConfig(StrictModel):
    edge: EdgeIdentity
    uplink: UplinkConfig = UplinkConfig()
    buffer: BufferConfig
    # Samples handed from collectors to the buffer writer and not yet on disk; beyond it they are dropped, counted.
    ingress_max_samples: int = Field(500_000, ge=1000)
    flush_interval: timedelta = timedelta(milliseconds=100)
    metrics: MetricsConfig = MetricsConfig()
    collectors: list[CollectorEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for i, c in enumerate(self.collectors):
            if c.name in seen:
                raise ValueError(f"collectors[{i}]: name {c.name!r} is used twice; names key state and metrics")
            seen.add(c.name)
        return self


def load(path: Path) -> EdgeConfig:
    """Read and validate ``edge.yaml``; ConfigError names the file, the path inside it and what was expected."""
    data: dict[str, Any] = load_yaml_model(path)
    return validate_model(EdgeConfig, data, str(path), hidden=HIDDEN_TAGS)
