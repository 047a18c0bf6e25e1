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
from tonghu.collectors.sparkplug.entry import SparkplugEntry

# type → "module:Class" of the collector; its constructor takes the entry model.
COLLECTORS: dict[str, str] = {
    "mqtt": "tonghu.collectors.mqtt.collector:MqttCollector",
    "sparkplug": "tonghu.collectors.sparkplug.collector:SparkplugCollector",
}

CollectorEntry = Annotated[MqttEntry | SparkplugEntry, Field(discriminator="type")]


def build(entry: Any, edge: str) -> Collector:
    module, cls = COLLECTORS[entry.type].split(":")
    return getattr(importlib.import_module(module), cls)(entry, edge=edge)
