"""The explicit collector registry: YAML ``type`` = registry key = folder name.

Config models are imported here (pydantic only); each collector class is imported when an agent builds one, so
that a gateway needs the protocol library only of the collectors it runs.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

from pydantic import Field

from tonghu.collectors.base import Collector
from tonghu.collectors.mqtt.entry import MqttEntry
from tonghu.collectors.opcua.config import HIDDEN_TAGS as OPCUA_HIDDEN_TAGS
from tonghu.collectors.opcua.config import OpcUaConfig
from tonghu.collectors.sparkplug.entry import SparkplugEntry

# type → "module:Class" of the collector; its constructor takes the entry model.
COLLECTORS: dict[str, str] = {
    "mqtt": "tonghu.collectors.mqtt.collector:MqttCollector",
    "opcua": "tonghu.collectors.opcua.collector:OpcUaCollector",
    "sparkplug": "tonghu.collectors.sparkplug.collector:SparkplugCollector",
}

CollectorEntry = Annotated[MqttEntry | OpcUaConfig | SparkplugEntry, Field(discriminator="type")]
# Discriminator values pydantic puts into error locations; not in the YAML, so hidden from messages.
HIDDEN_TAGS = frozenset(COLLECTORS) | frozenset(OPCUA_HIDDEN_TAGS)


def build(entry: Any, edge: str) -> Collector:
    module, cls = COLLECTORS[entry.type].split(":")
    return getattr(importlib.import_module(module), cls)(entry, edge=edge)
