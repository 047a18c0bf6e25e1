"""Sparkplug metrics as platform records: status codes from the Quality property, tag metadata, bdSeq."""

from __future__ import annotations

from tonghu.collectors.sparkplug.codec import BDSEQ_METRIC, Metric, Payload
from tonghu.collectors.sparkplug.datatypes import SIGNED_BITS, UNSIGNED_BITS, DataType, Kind
from tonghu.collectors.sparkplug.state import MetricDef
from tonghu.common.errors import PayloadError
from tonghu.common.sample import STATUS_BAD, STATUS_GOOD, STATUS_UNCERTAIN
from tonghu.common.uplink import TagMeta

# OPC UA Bad_NoCommunication (OPC 10000-4 §7.39): the source is configured but not reachable.
STATUS_STALE = 0x80310000
# The 'Quality' metric property (§6.4.9.1): 0 BAD, 192 GOOD, 500 STALE; absent means GOOD.
QUALITY = {0: STATUS_BAD, 192: STATUS_GOOD, 500: STATUS_STALE}
INFERRED = {Kind.INT: DataType.UINT32, Kind.LONG: DataType.UINT64, Kind.FLOAT: DataType.FLOAT,
             Kind.DOUBLE: DataType.DOUBLE, Kind.BOOLEAN: DataType.BOOLEAN, Kind.STRING: DataType.STRING,
             Kind.BYTES: DataType.BYTES, Kind.DATASET: DataType.DATASET, Kind.TEMPLATE: DataType.TEMPLATE}
TAG_TYPES = {**dict.fromkeys((*SIGNED_BITS, *UNSIGNED_BITS, DataType.DATETIME), "int"),
              DataType.FLOAT: "float", DataType.DOUBLE: "float", DataType.BOOLEAN: "bool",
              DataType.STRING: "string", DataType.TEXT: "string", DataType.UUID: "string"}


def bdseq_of(p: Payload) -> int | None:
    for m in p.metrics:
        if m.name == BDSEQ_METRIC:
            try:
                value = m.value()
            except PayloadError:
                return None
            return value if type(value) is int else None
    return None


def status_of(m: Metric) -> int:
    quality = m.properties.get("Quality")
    if quality is None:
        return STATUS_GOOD
    code = quality.value()
    return QUALITY.get(code, STATUS_UNCERTAIN) if type(code) is int else STATUS_UNCERTAIN


def tag_meta(d: MetricDef, m: Metric) -> TagMeta:
    # Units and descriptions are not in the specification; Ignition-based edge nodes send them as the
    # 'engUnit' and 'documentation' properties, so those are used when present.
    texts = {k: v.value() for k, v in m.properties.items() if k in ("engUnit", "documentation")}
    unit, doc = texts.get("engUnit"), texts.get("documentation")
    return TagMeta(d.key or "", TAG_TYPES[DataType(d.datatype)], unit if isinstance(unit, str) else "",
                   description=doc if isinstance(doc, str) else "",
                   attrs={"sparkplug_metric": d.name, "sparkplug_datatype": DataType(d.datatype).name})
