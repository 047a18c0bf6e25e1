"""The Sparkplug B host collector as an entry of an edge's ``collectors:`` list (``type: sparkplug``)."""

from __future__ import annotations

from typing import Literal

from tonghu.collectors.sparkplug.config import SparkplugConfig


class SparkplugEntry(SparkplugConfig):
    type: Literal["sparkplug"]
