"""The Sparkplug B payload in wire form (§6.4.5–§6.4.9): what the codec decodes into and encodes from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tonghu.collectors.sparkplug.datatypes import DataType, Kind, from_wire, to_wire
from tonghu.common.errors import PayloadError


@dataclass(frozen=True, slots=True)
class PropertyValue:
    """One entry of a PropertySet (§6.4.9). ``raw`` is a dict for a PropertySet, a tuple of dicts for a
    PropertySetList."""

    type: int | None = None
    kind: Kind | None = None
    raw: Any = None
    is_null: bool = False

    @classmethod
    def of(cls, datatype: int, value: Any) -> PropertyValue:
        if value is None:
            return cls(int(datatype), is_null=True)
        kind, raw = to_wire(datatype, value)
        return cls(int(datatype), kind, raw)

    def value(self) -> Any:
        """The value converted per ``type``; properties are informational, so one that does not fit its
        declared type is returned as it came rather than failing the whole payload."""
        if self.is_null or self.kind is None:
            return None
        try:
            return from_wire(self.type, self.kind, self.raw)
        except PayloadError:
            return self.raw


Properties = Mapping[str, PropertyValue]


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric (§6.4.6) in wire form. Build one for encoding with ``Metric.of``."""

    name: str | None = None
    alias: int | None = None
    timestamp: int | None = None
    datatype: int | None = None
    is_historical: bool = False
    is_transient: bool = False
    is_null: bool = False
    properties: Properties = field(default_factory=dict)
    kind: Kind | None = None
    raw: Any = None

    @classmethod
    def of(cls, name: str | None, datatype: int, value: Any, *, alias: int | None = None,
           timestamp: int | None = None, is_historical: bool = False, is_transient: bool = False,
           properties: Properties | None = None) -> Metric:
        """A metric carrying ``value`` as ``datatype`` requires; ``None`` sets is_null. Raises ValueError
        when the value does not fit the datatype."""
        DataType(datatype)  # ValueError for a number that is not a Sparkplug datatype, even for null
        kind, raw = (None, None) if value is None else to_wire(datatype, value)
        if kind in (Kind.PROPERTYSET, Kind.PROPERTYSETLIST):
            raise ValueError(f"datatype {DataType(datatype).name} is for properties, not metrics")
        return cls(name, alias, timestamp, int(datatype), is_historical, is_transient, value is None,
                   dict(properties or {}), kind, raw)

    def value(self, datatype: int | None = None) -> Any:
        """The typed value per ``datatype`` (default: the metric's own), or None when null.

        Raises PayloadError: reason ``unsupported`` for DataSet/Template values, ``bad_value`` when the
        wire value does not fit the datatype, ``bad_datatype`` for an unknown datatype.
        """
        if self.is_null or self.kind is None:
            return None
        return from_wire(self.datatype if datatype is None else datatype, self.kind, self.raw)


@dataclass(frozen=True, slots=True)
class Payload:
    """A Sparkplug B payload (§6.4.5). Timestamps are milliseconds since the Unix epoch, UTC."""

    timestamp: int | None = None
    metrics: Sequence[Metric] = ()
    seq: int | None = None
    uuid: str | None = None
    body: bytes | None = None
    # Metrics whose value was a DataSet, Template or extension: decoded past, not kept.
    unsupported: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
