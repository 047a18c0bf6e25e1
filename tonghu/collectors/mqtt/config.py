"""Configuration of the MQTT JSON device collector.

A subscription maps the messages of one topic filter to tags; see ``sample.yaml`` for a commented example
and ``syntax.py`` for the filter, JSON path and template syntax.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    PlainValidator,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from tonghu.collectors.mqtt import syntax
from tonghu.common.errors import ConfigError
from tonghu.common.settings import YAML_VALUE_ERRORS, describe_errors
from tonghu.common.topics import CODE_RE


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QoS(IntEnum):
    AT_MOST_ONCE = 0
    AT_LEAST_ONCE = 1
    EXACTLY_ONCE = 2


class ProtocolVersion(StrEnum):
    V311 = "v311"
    V5 = "v5"


class SessionMode(StrEnum):
    # A persistent session makes the broker queue QoS 1/2 messages while the collector is away.
    PERSISTENT = "persistent"
    CLEAN = "clean"


class TlsVerify(StrEnum):
    FULL = "full"  # certificate chain and host name
    CHAIN_ONLY = "chain_only"  # chain only: brokers reached by an address their certificate does not name
    NONE = "none"  # no verification at all; for test rigs


class PayloadFormat(StrEnum):
    JSON = "json"
    PLAIN = "plain"  # the whole payload is one value as text, e.g. b"23.5"


class TimeFormat(StrEnum):
    EPOCH_S = "epoch_s"
    EPOCH_MS = "epoch_ms"
    EPOCH_US = "epoch_us"
    ISO8601 = "iso8601"


class DataType(StrEnum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    STATE = "state"


class FieldMissing(StrEnum):
    SKIP = "skip"  # no sample for this field; counted per field
    ERROR = "error"  # the whole message is rejected


class TimestampMissing(StrEnum):
    ERROR = "error"
    RECEIVE_TIME = "receive_time"


class QualityLevel(StrEnum):
    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | float):  # bool is an int
        return value
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


# One validator instead of a union, so a wrong value gives one error instead of one per member type.
Scalar = Annotated[
    str | int | float | bool,
    PlainValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]


class TlsConfig(_Model):
    ca_file: Path | None = None  # None: the system trust store
    cert_file: Path | None = None  # client certificate (PEM); may also hold the key
    key_file: Path | None = None
    key_password: SecretStr | None = None
    verify: TlsVerify = TlsVerify.FULL

    @model_validator(mode="after")
    def _client_pair(self) -> Self:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file (the client certificate)")
        if self.key_password is not None and self.cert_file is None:
            raise ValueError("key_password needs cert_file")
        return self


class BrokerConfig(_Model):
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="default 1883, or 8883 with tls")
    protocol: ProtocolVersion = ProtocolVersion.V5
    tls: TlsConfig | None = None  # absent: plain TCP
    # Persistent sessions are found again by client id, so it must be stable and unique per collector.
    client_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    username: str | None = None
    password: SecretStr | None = None
    keepalive: timedelta = timedelta(seconds=60)
    session: SessionMode = SessionMode.PERSISTENT
    session_expiry: timedelta = timedelta(hours=1)  # MQTT 5 only; how long the broker keeps queuing

    @property
    def resolved_port(self) -> int:
        if self.port is not None:
            return self.port
        return 8883 if self.tls is not None else 1883

    @field_validator("keepalive")
    @classmethod
    def _keepalive(cls, v: timedelta) -> timedelta:
        seconds = v.total_seconds()
        if not 1 <= seconds <= 65535 or seconds != int(seconds):
            raise ValueError("keepalive must be whole seconds between 1 and 65535")
        return v

    @field_validator("session_expiry")
    @classmethod
    def _expiry(cls, v: timedelta) -> timedelta:
        if not 0 <= v.total_seconds() <= 0xFFFFFFFF:
            raise ValueError("session_expiry must be between 0 and 4294967295 seconds")
        return v

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        return self


class TimestampConfig(_Model):
    path: str
    format: TimeFormat
    # Devices often send local time without an offset; guessing UTC would shift data silently.
    naive_timezone: str | None = Field(None, description="IANA zone for ISO 8601 times without offset")
    on_missing: TimestampMissing = TimestampMissing.ERROR

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        syntax.parse_json_path(v)
        return v

    @field_validator("naive_timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                zoneinfo.ZoneInfo(v)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{v!r} is not an IANA time zone name such as 'Asia/Shanghai'") from None
        return v


class QualityConfig(_Model):
    """Map a status field of the payload to sample quality; values compare as text (0 and "0" are equal)."""

    path: str
    good: list[Scalar] = []
    uncertain: list[Scalar] = []
    bad: list[Scalar] = []
    otherwise: QualityLevel = QualityLevel.BAD  # unlisted values and a missing status field

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        syntax.parse_json_path(v)
        return v

    @model_validator(mode="after")
    def _disjoint(self) -> Self:
        seen: dict[str, str] = {}
        for level in QualityLevel:
            for value in getattr(self, level.value):
                text = scalar_text(value)
                if text in seen:
                    raise ValueError(f"status value {value!r} is listed under both {seen[text]} and {level}")
                seen[text] = level.value
        return self


class FieldMapping(_Model):
    path: str | None = None  # JSON path; absent for plain payloads
    asset: str = Field(description="ISA-95 asset path template area/line/asset, may use {captures}")
    tag: str = Field(description="tag name template, may use {captures}")
    data_type: DataType = DataType.FLOAT
    unit: str = ""
    role: str = Field("", max_length=64, description="semantic role, e.g. energy_kwh, count_total, state")
    description: str = ""
    scale: FiniteFloat = 1.0
    offset: FiniteFloat = 0.0
    states: dict[str, str] | None = None  # state codes as text -> state names; unlisted codes pass through
    on_missing: FieldMissing = FieldMissing.SKIP
    quality: QualityConfig | None = None
    attrs: dict[str, Scalar] = {}

    @field_validator("states", mode="before")
    @classmethod
    def _state_codes(cls, v: Any) -> Any:
        # YAML reads `{1: running}` with integer keys; codes compare as text.
        if isinstance(v, dict):
            return {scalar_text(k) if isinstance(k, int) else k: val for k, val in v.items()}
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None:
            syntax.parse_json_path(v)
        return v

    @field_validator("asset")
    @classmethod
    def _asset(cls, v: str) -> str:
        syntax.template_names(v)
        syntax.check_template_segments(v, 3, "asset path")
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        syntax.template_names(v)
        syntax.check_template_segments(v, 1, "tag name")
        return v

    @model_validator(mode="after")
    def _numeric_options(self) -> Self:
        numeric = self.data_type in (DataType.FLOAT, DataType.INT)
        if (self.scale != 1.0 or self.offset != 0.0) and not numeric:
            raise ValueError(f"scale and offset apply to float and int only, not {self.data_type}")
        if self.scale == 0.0:
            raise ValueError("scale must not be 0")
        if self.data_type is DataType.INT and not (self.scale.is_integer() and self.offset.is_integer()):
            raise ValueError("an int tag needs whole-number scale and offset; use data_type float instead")
        if self.states is not None and self.data_type is not DataType.STATE:
            raise ValueError("states apply to data_type state only")
        return self


class Subscription(_Model):
    topic: str = Field(description="topic filter; {name} captures one level, + and # as in MQTT")
    qos: QoS | None = None  # default: the collector's qos
    payload: PayloadFormat = PayloadFormat.JSON
    timestamp: TimestampConfig | None = None  # absent: the time the message was received
    fields: list[FieldMapping] = Field(min_length=1)

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        syntax.parse_filter(v)
        return v

    @property
    def topic_filter(self) -> syntax.TopicFilter:
        return syntax.parse_filter(self.topic)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        captures = set(self.topic_filter.captures)
        keys: dict[tuple[str, str], int] = {}
        for i, f in enumerate(self.fields):
            for part in ("asset", "tag"):
                unknown = [n for n in syntax.template_names(getattr(f, part)) if n not in captures]
                if unknown:
                    known = ", ".join(sorted(captures)) or "none"
                    raise ValueError(f"fields[{i}].{part} uses {{{unknown[0]}}}, which topic {self.topic!r} "
                                     f"does not capture (captures: {known})")
            if (f.asset, f.tag) in keys:
                raise ValueError(f"fields[{i}] and fields[{keys[(f.asset, f.tag)]}] both map to "
                                 f"{f.asset}/{f.tag}")
            keys[(f.asset, f.tag)] = i
        if self.payload is PayloadFormat.PLAIN:
            if len(self.fields) != 1:
                raise ValueError("a plain payload is one value: give exactly one field")
            if self.fields[0].path is not None or self.fields[0].quality is not None:
                raise ValueError("fields[0]: a plain payload has no path or quality field")
            if self.timestamp is not None:
                raise ValueError("a plain payload has no timestamp field; remove timestamp")
        else:
            for i, f in enumerate(self.fields):
                if f.path is None:
                    raise ValueError(f"fields[{i}].path is required for json payloads")
        return self


class MqttConfig(_Model):
    name: Annotated[str, Field(pattern=CODE_RE.pattern)] = "mqtt"
    broker: BrokerConfig
    qos: QoS = QoS.AT_LEAST_ONCE
    max_payload_bytes: int = Field(1024 * 1024, ge=1, le=256 * 1024 * 1024)
    subscriptions: list[Subscription] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_filters(self) -> Self:
        seen: dict[str, int] = {}
        for i, sub in enumerate(self.subscriptions):
            wire = sub.topic_filter.broker_filter
            if wire in seen:
                raise ValueError(f"subscriptions[{i}] and subscriptions[{seen[wire]}] subscribe to the same "
                                 f"filter {wire!r}; merge their fields")
            seen[wire] = i
        return self


def scalar_text(value: Any) -> str:
    """The text a scalar compares as: JSON spelling for booleans, integral floats as integers."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_config(data: Any, source: str = "<config>") -> MqttConfig:
    """Validate already-loaded data; raises ConfigError naming ``source`` and each path in it."""
    try:
        return MqttConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_errors(err, source)) from err


def load_config(path: Path) -> MqttConfig:
    """Read and validate a YAML file holding an MQTT collector configuration."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, *YAML_VALUE_ERRORS) as err:
        raise ConfigError(f"{path}: cannot read the configuration: {str(err)[:500]}") from err
    return parse_config(data, str(path))
