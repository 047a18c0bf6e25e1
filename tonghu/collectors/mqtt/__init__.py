"""MQTT JSON device collector: maps device topics and JSON (or plain text) payloads to samples.

``config`` holds the pydantic model, ``syntax`` the topic filter / JSON path / template parsers,
``convert`` the value and timestamp conversions, ``mapping`` the compiled, I/O-free mapper.
"""

from tonghu.collectors.mqtt.config import MqttConfig, load_config, parse_config
from tonghu.collectors.mqtt.mapping import MessageMapper, SubscriptionMapper

__all__ = ["MessageMapper", "MqttConfig", "SubscriptionMapper", "load_config", "parse_config"]
