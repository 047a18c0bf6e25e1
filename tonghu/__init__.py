"""Tonghu: an open industrial IoT big-data platform."""

__version__ = "0.1.0"
