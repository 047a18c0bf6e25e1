"""From an OPC UA DataValue to a ``Sample``: value per configured data type, status, and the three timestamps.

This runs once per notification, so each tag gets a prebuilt converter and the DataValue is read by attribute
(duck-typed: no asyncua import here). The rules:

- status is the DataValue's 32-bit StatusCode (OPC 10000-4 §7.39), so quality follows the server;
- a bad status usually comes without a value: the sample then carries NaN (numeric tags) or "" (text tags);
- a value that does not fit the configured type becomes a sample with ``BadTypeMismatch`` and the same
  placeholder, and a non-finite number with a good or uncertain status becomes ``BadOutOfRange``: the platform
  refuses non-finite values that claim to be good, and a visible bad sample beats a silent gap;
- source_ts_us is the SourceTimestamp, else the ServerTimestamp, else the time of receipt (OPC 10000-4 §7.11:
  both timestamps are optional, and DateTime 0 / 1601-01-01 means "not set").
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from tonghu.collectors.opcua.config import DataType, NodeConfig
from tonghu.common.sample import STATUS_BAD, Sample, Value
from tonghu.common.uplink import DEFAULT_LIMITS

BAD_TYPE_MISMATCH = 0x80740000
BAD_OUT_OF_RANGE = 0x803C0000
BAD_NODE_ID_UNKNOWN = 0x80340000
BAD_NO_MATCH = 0x806F0000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MAX_TEXT = DEFAULT_LIMITS.max_text_len


class Mismatch(Exception):
    """A value that the configured data type cannot hold."""


def to_us(dt: datetime | None) -> int | None:
    """Microseconds since the Unix epoch, or None for an absent or unset (pre-1970) timestamp."""
    if dt is None:
        return None
    if dt.tzinfo is None:  # OPC UA DateTime is always UTC
        dt = dt.replace(tzinfo=UTC)
    us = (dt - _EPOCH) // _ONE_US
    return us if us > 0 else None


def _text_of(raw: Any) -> str | None:
    text = getattr(raw, "Text", None)  # LocalizedText
    if text is not None or type(raw).__name__ == "LocalizedText":
        return text or ""
    return None


def _to_float(raw: Any) -> float:
    if isinstance(raw, float | int):  # bool is an int: a digital input reads as 0.0 / 1.0
        return float(raw)
    raise Mismatch


def _to_int(raw: Any) -> int:
    if isinstance(raw, int):
        return int(raw)
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    raise Mismatch


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    raise Mismatch


def _checked_text(text: str) -> str:
    if len(text) > _MAX_TEXT or "\x00" in text:
        raise Mismatch
    return text


def _to_string(raw: Any) -> str:
    if isinstance(raw, str):
        return _checked_text(raw)
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return str(int(raw)) if isinstance(raw, int) else repr(raw)
    text = _text_of(raw)
    if text is not None:
        return _checked_text(text)
    raise Mismatch


def _state_converter(states: Mapping[str, str]) -> Callable[[Any], str]:
    def to_state(raw: Any) -> str:
        if isinstance(raw, bool):
            raise Mismatch
        if isinstance(raw, int):  # enumerations arrive as Int32, sometimes as a Python IntEnum
            code = str(int(raw))
        elif isinstance(raw, str):
            code = raw
        else:
            text = _text_of(raw)
            if text is None:
                raise Mismatch
            code = text
        if not code:
            raise Mismatch
        return _checked_text(states.get(code, code))

    return to_state


class TagConverter:
    """Turns the DataValues of one node into samples of one tag."""

    __slots__ = ("bad_status", "key", "mismatches", "placeholder", "to_value")

    def __init__(self, node: NodeConfig) -> None:
        self.key = node.key
        t = node.data_type
        self.placeholder: Value = "" if t in (DataType.STRING, DataType.STATE) else math.nan
        convert: Callable[[Any], Value]
        if t is DataType.FLOAT:
            convert = _to_float
        elif t is DataType.INT:
            convert = _to_int
        elif t is DataType.BOOL:
            convert = _to_bool
        elif t is DataType.STRING:
            convert = _to_string
        else:
            convert = _state_converter(node.states or {})
        self.to_value = convert
        self.mismatches = 0  # values refused by the data type
        self.bad_status = 0  # samples with a bad StatusCode (from the server or from a refused value)

    def sample(self, dv: Any, receive_us: int) -> Sample:
        """One sample from an asyncua ``DataValue``."""
        sc = dv.StatusCode
        status = sc.value if sc is not None else 0
        variant = dv.Value
        raw = variant.Value if variant is not None else None
        if status >= STATUS_BAD:
            value = self.placeholder
            if raw is not None:
                with contextlib.suppress(Mismatch):
                    value = self.to_value(raw)
            self.bad_status += 1
        else:
            try:
                if raw is None or isinstance(raw, list):
                    raise Mismatch
                value = self.to_value(raw)
                if type(value) is float and not math.isfinite(value):
                    status = BAD_OUT_OF_RANGE
                    self.mismatches += 1
                    self.bad_status += 1
            except Mismatch:
                value, status = self.placeholder, BAD_TYPE_MISMATCH
                self.mismatches += 1
                self.bad_status += 1
        server_us = to_us(dv.ServerTimestamp)
        source_us = to_us(dv.SourceTimestamp) or server_us or receive_us
        return Sample(self.key, source_us, value, status, server_us, receive_us)

    def failure(self, status: int, now_us: int) -> Sample:
        """A bad sample for a node that could not be resolved or monitored, so the gap shows in the data."""
        self.bad_status += 1
        return Sample(self.key, now_us, self.placeholder, status, None, now_us)
