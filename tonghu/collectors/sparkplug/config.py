"""Configuration of the Sparkplug B host collector: the broker, which groups to follow, and how metrics become
ISA-95 tag keys. ``sample.yaml`` beside this module is a commented example whose commented values are the
defaults. Nothing here does I/O.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from string import Formatter
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tonghu.collectors.mqtt.config import BrokerConfig, QoS
from tonghu.collectors.sparkplug.topic import NAMESPACE
from tonghu.common.tagkey import NAME_RE, SEGMENT_RE
from tonghu.common.topics import CODE_RE

PLACEHOLDERS = frozenset({"group", "node", "device", "metric", "leaf"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(StrEnum):
    ANY = "any"
    NODE = "node"  # metrics of the edge node's own NBIRTH
    DEVICE = "device"  # metrics of a DBIRTH


class Action(StrEnum):
    COLLECT = "collect"
    SKIP = "skip"


class Case(StrEnum):
    # §5.2 asks edge nodes not to publish names that differ only in case; for those that do, the collision
    # check of the mapping keeps the second name out instead of merging the two.
    LOWER = "lower"
    KEEP = "keep"


class Transient(StrEnum):
    # §6.4.6: transient metrics "should not be stored in a historian", which is what the platform is.
    SKIP = "skip"
    STORE = "store"


def template_names(template: str) -> list[str]:
    """The placeholders of a ``{name}`` template; ValueError for unknown names or format syntax."""
    names = []
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as err:
        raise ValueError(f"template {template!r}: {err}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"template {template!r}: {{{name}}} is not one of "
                             f"{', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
        names.append(name)
    return names


def check_template(template: str, segments: int, what: str) -> str:
    """Literal text must already be valid in a tag key; placeholders are sanitised when rendered."""
    template_names(template)
    parts = template.split("/")
    if len(parts) != segments:
        raise ValueError(f"{what} {template!r} must have {segments} segment(s) separated by '/'")
    regex = SEGMENT_RE if segments > 1 else NAME_RE
    for part in parts:
        probe = Formatter().vformat(part, (), {p: "x" for p in PLACEHOLDERS})
        if not regex.fullmatch(probe):
            raise ValueError(f"{what} {template!r}: segment {part!r} must match {regex.pattern} once its "
                             "placeholders are filled in")
    return template


def _identifier(value: str, what: str) -> str:
    # §4.1.2–§4.1.5: Sparkplug ids are UTF-8 without the MQTT wildcards and '/'.
    if not value or any(c in value for c in "/+#"):
        raise ValueError(f"{what} {value!r} must be non-empty and free of '/', '+' and '#'")
    return value


class MetricRule(_Model):
    """Overrides for the metrics it matches; the first matching rule wins. Patterns are shell globs
    (``*``, ``?``, ``[...]``) on the original, case-sensitive Sparkplug names; ``*`` also matches '/'."""

    metric: str = Field(min_length=1, description="glob on the metric name, e.g. 'Motor */Speed'")
    group: str = "*"
    node: str = "*"
    device: str = Field(default="*", description="glob on the device id; other than '*' it matches device metrics only")
    level: Level = Level.ANY
    action: Action = Action.COLLECT
    asset: str | None = Field(default=None, description="asset template area/line/asset; default: the mapping's")
    name: str | None = Field(default=None, description="tag name template; default: the mapping's")
    unit: str | None = None  # absent: the birth's 'engUnit' property, if any
    role: str = Field(default="", max_length=64, description="semantic role, e.g. count_total, energy_kwh, state")
    description: str | None = None  # absent: the birth's 'documentation' property, if any

    @property
    def device_only(self) -> bool:
        # A device pattern other than '*' can only match device metrics.
        return self.level is Level.DEVICE or self.device != "*"

    @field_validator("asset")
    @classmethod
    def _asset(cls, v: str | None) -> str | None:
        return None if v is None else check_template(v, 3, "asset")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else check_template(v, 1, "name")

    @model_validator(mode="after")
    def _device_placeholder(self) -> Self:
        if self.level is Level.NODE and self.device != "*":
            raise ValueError("level: node matches no device metrics, so it cannot have a device pattern")
        for field in ("asset", "name"):
            template = getattr(self, field)
            if template and "device" in template_names(template) and not self.device_only:
                raise ValueError(f"{field} uses {{device}}, which node metrics do not have; set level: device "
                                 "or a device pattern")
        return self


class MappingConfig(_Model):
    """Group / edge node / device / metric → ``area/line/asset/name``."""

    device_asset: str = "{group}/{node}/{device}"
    node_asset: str = "{group}/{node}/{node}"
    name: str = "{metric}"
    case: Case = Case.LOWER
    # Metrics no rule matches: collected with the templates above, or skipped.
    unmatched: Action = Action.COLLECT
    rules: list[MetricRule] = []

    @field_validator("device_asset")
    @classmethod
    def _device_asset(cls, v: str) -> str:
        return check_template(v, 3, "device_asset")

    @field_validator("node_asset")
    @classmethod
    def _node_asset(cls, v: str) -> str:
        check_template(v, 3, "node_asset")
        if "device" in template_names(v):
            raise ValueError("node_asset cannot use {device}: node metrics have none")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        check_template(v, 1, "name")
        if "device" in template_names(v):
            raise ValueError("name cannot use {device}: node metrics have none; use it in a rule with level: "
                             "device")
        return v


class SessionSettings(_Model):
    reorder_timeout: timedelta = timedelta(seconds=2)  # §5.9: how long a seq gap may stay open
    rebirth_min_interval: timedelta = timedelta(seconds=10)  # §5.17: per edge node
    max_held: int = Field(default=64, ge=1, le=255)  # messages held per node while a gap is open
    transient: Transient = Transient.SKIP

    @model_validator(mode="after")
    def _positive(self) -> Self:
        if self.reorder_timeout <= timedelta(0) or self.rebirth_min_interval <= timedelta(0):
            raise ValueError("reorder_timeout and rebirth_min_interval must be positive")
        return self


class SparkplugConfig(_Model):
    name: Annotated[str, Field(pattern=CODE_RE.pattern)] = "sparkplug"
    broker: BrokerConfig
    # The STATE topic spBv1.0/STATE/{host_id} (§4.2.3); edge nodes that name this host as their primary
    # wait for it before publishing births.
    host_id: str = Field(min_length=1, max_length=128)
    groups: list[str] = Field(min_length=1, description="Sparkplug group ids to follow; '+' for all")
    # NDEATH wills are QoS 1 (§4.2.1.3): a persistent session keeps them while the collector is away only at 1.
    qos: QoS = QoS.AT_LEAST_ONCE
    mapping: MappingConfig = MappingConfig()
    session: SessionSettings = SessionSettings()
    alias_cache: Path | None = Field(default=None, description="file keeping births across restarts; absent: none")
    alias_cache_interval: timedelta = timedelta(seconds=1)

    @field_validator("broker", mode="before")
    @classmethod
    def _clean_session_by_default(cls, v: Any) -> Any:
        # §5.3 requires a clean session of host applications (and the STATE/birth handshake assumes one);
        # the MQTT collector's default is persistent, so it is switched here unless set explicitly.
        if isinstance(v, dict) and "session" not in v:
            return {**v, "session": "clean"}
        return v

    @field_validator("host_id")
    @classmethod
    def _host_id(cls, v: str) -> str:
        return _identifier(v, "host_id")

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        for group in v:
            if group == "+":
                continue
            _identifier(group, "group id")
            if group == "STATE":
                raise ValueError("'STATE' cannot be a group id: spBv1.0/STATE/... is the host applications' "
                                 "topic (§4.2.3)")
        if len(set(v)) != len(v):
            raise ValueError("groups lists a group twice")
        if "+" in v and len(v) > 1:
            raise ValueError("'+' already follows every group; list no others with it")
        return v

    @property
    def state_topic(self) -> str:
        return f"{NAMESPACE}/STATE/{self.host_id}"

    def subscriptions(self) -> list[tuple[str, int]]:
        """(filter, QoS) pairs: the followed groups, then the host's own STATE topic (§4.2.3.1)."""
        subs = [(f"{NAMESPACE}/{group}/#", int(self.qos)) for group in self.groups]
        return [*subs, (self.state_topic, int(QoS.AT_LEAST_ONCE))]
