"""Sparkplug B 3.0.0 host application: payload codec, topics and the per-edge-node session logic.

Everything here is pure (no I/O, no clock); the collector that owns the MQTT connection feeds it.
"""

from tonghu.collectors.sparkplug.codec import (
    Metric,
    Payload,
    PropertyValue,
    decode_payload,
    encode_payload,
    encode_rebirth,
)
from tonghu.collectors.sparkplug.datatypes import DataType, Kind
from tonghu.collectors.sparkplug.session import (
    STATUS_STALE,
    Counters,
    HostSession,
    Output,
    Rebirth,
    SessionConfig,
)
from tonghu.collectors.sparkplug.state import KeyOf
from tonghu.collectors.sparkplug.topic import (
    NAMESPACE,
    MessageType,
    Topic,
    decode_state,
    encode_state,
    node_topic,
    parse_topic,
)

__all__ = [
    "NAMESPACE",
    "STATUS_STALE",
    "Counters",
    "DataType",
    "HostSession",
    "KeyOf",
    "Kind",
    "MessageType",
    "Metric",
    "Output",
    "Payload",
    "PropertyValue",
    "Rebirth",
    "SessionConfig",
    "Topic",
    "decode_payload",
    "decode_state",
    "encode_payload",
    "encode_rebirth",
    "encode_state",
    "node_topic",
    "parse_topic",
]
