"""Groups of nodes and how each node maps to a tag: the part of the OPC-UA configuration about data."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from tonghu.collectors.opcua import nodes
from tonghu.common.tagkey import NAME_RE, SEGMENT_RE
from tonghu.common.topics import CODE_RE

Code = Annotated[str, Field(pattern=CODE_RE.pattern)]
MAX_KEY_LEN = 255


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeadbandType(StrEnum):
    NONE = "none"
    ABSOLUTE = "absolute"  # in the value's unit
    PERCENT = "percent"  # of the node's EURange; the server needs that property


class DataType(StrEnum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    STATE = "state"


NUMERIC = frozenset({DataType.FLOAT, DataType.INT})


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | float):
        return value
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


Scalar = Annotated[str | int | float | bool, PlainValidator(_scalar),
                   WithJsonSchema({"type": ["string", "number", "boolean"]})]


class Deadband(Strict):
    type: DeadbandType = DeadbandType.NONE
    value: FiniteFloat = Field(0.0, ge=0.0)

    @model_validator(mode="after")
    def _value(self) -> Self:
        if self.type is DeadbandType.NONE and self.value != 0.0:
            raise ValueError("a value needs type absolute or percent")
        if self.type is DeadbandType.PERCENT and self.value > 100.0:
            raise ValueError("a percent deadband is 0..100")
        return self


class NodeConfig(Strict):
    node_id: str | None = None
    browse_path: str | None = None
    asset: str = Field(description="ISA-95 asset path area/line/asset")
    tag: str
    data_type: DataType = DataType.FLOAT
    unit: str = ""
    role: str = Field("", max_length=64, description="semantic role, e.g. count_total, energy_kwh, state")
    description: str = ""
    states: dict[str, str] | None = None  # state codes as text -> state names; unlisted codes pass through
    attrs: dict[str, Scalar] = {}
    # Subscription groups only: override the group's settings for this node.
    sampling_interval: timedelta | None = None
    queue_size: int | None = Field(None, ge=1, le=10_000)
    deadband: Deadband | None = None

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, v: str | None) -> str | None:
        if v is not None:
            nodes.parse_node_id(v)
        return v

    @field_validator("browse_path")
    @classmethod
    def _browse_path(cls, v: str | None) -> str | None:
        if v is not None:
            nodes.parse_browse_path(v)
        return v

    @field_validator("asset")
    @classmethod
    def _asset(cls, v: str) -> str:
        parts = v.split("/")
        if len(parts) != 3:
            raise ValueError(f"asset {v!r} must be area/line/asset (three segments)")
        for part in parts:
            if not SEGMENT_RE.fullmatch(part):
                raise ValueError(f"asset segment {part!r} must match {SEGMENT_RE.pattern}")
        return v

    @field_validator("tag")
    @classmethod
    def _tag(cls, v: str) -> str:
        if not NAME_RE.fullmatch(v):
            raise ValueError(f"tag {v!r} must match {NAME_RE.pattern}")
        return v

    @field_validator("states", mode="before")
    @classmethod
    def _state_codes(cls, v: Any) -> Any:
        # YAML reads `{1: running}` with integer keys; codes compare as text.
        if isinstance(v, dict):
            return {str(k) if isinstance(k, int) and not isinstance(k, bool) else k: val for k, val in v.items()}
        return v

    @field_validator("sampling_interval")
    @classmethod
    def _sampling(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v < timedelta(0):
            raise ValueError("sampling_interval must not be negative (0 asks for the fastest rate)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.node_id is None) == (self.browse_path is None):
            raise ValueError("give exactly one of node_id or browse_path")
        if len(self.key) > MAX_KEY_LEN:
            raise ValueError(f"tag key {self.key!r} is longer than {MAX_KEY_LEN} characters")
        if self.states is not None and self.data_type is not DataType.STATE:
            raise ValueError("states apply to data_type state only")
        if (self.deadband is not None and self.deadband.type is not DeadbandType.NONE
                and self.data_type not in NUMERIC):
            raise ValueError(f"a deadband applies to float and int nodes only, not {self.data_type}")
        return self

    @property
    def key(self) -> str:
        return f"{self.asset}/{self.tag}"


class SubscriptionGroup(Strict):
    name: Code
    mode: Literal["subscription"]
    publishing_interval: timedelta = timedelta(seconds=1)
    sampling_interval: timedelta | None = None  # absent: the publishing interval
    keepalive_count: int = Field(10, ge=1, le=10_000)
    queue_size: int = Field(1, ge=1, le=10_000)  # per node on the server, between two publishes
    deadband: Deadband = Deadband()  # applied to the float and int nodes of the group
    nodes: list[NodeConfig] = Field(min_length=1)

    @field_validator("publishing_interval")
    @classmethod
    def _publishing(cls, v: timedelta) -> timedelta:
        if v < timedelta(milliseconds=10):
            raise ValueError("publishing_interval must be at least 10 ms")
        return v

    @field_validator("sampling_interval")
    @classmethod
    def _sampling(cls, v: timedelta | None) -> timedelta | None:
        if v is not None and v < timedelta(0):
            raise ValueError("sampling_interval must not be negative (0 asks for the fastest rate)")
        return v


class PollingGroup(Strict):
    name: Code
    mode: Literal["polling"]
    interval: timedelta = timedelta(seconds=10)
    # Read's maxAge (OPC 10000-4 §5.10.2): 0 makes the server read the device, not its cache.
    max_age: timedelta = timedelta(0)
    nodes: list[NodeConfig] = Field(min_length=1)

    @field_validator("interval")
    @classmethod
    def _interval(cls, v: timedelta) -> timedelta:
        if v < timedelta(milliseconds=10):
            raise ValueError("interval must be at least 10 ms")
        return v

    @model_validator(mode="after")
    def _no_subscription_settings(self) -> Self:
        for i, node in enumerate(self.nodes):
            for name in ("sampling_interval", "queue_size", "deadband"):
                if getattr(node, name) is not None:
                    raise ValueError(f"nodes[{i}].{name} applies to subscription groups only")
        return self


Group = Annotated[SubscriptionGroup | PollingGroup, Field(discriminator="mode")]
