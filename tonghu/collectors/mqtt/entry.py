"""The MQTT collector as an entry of an edge's ``collectors:`` list (``type: mqtt``)."""

from __future__ import annotations

from typing import Literal

from tonghu.collectors.mqtt.config import MqttConfig


class MqttEntry(MqttConfig):
    type: Literal["mqtt"]
