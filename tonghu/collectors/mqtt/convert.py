"""Turning JSON values into sample values, timestamps and statuses.

Every function here raises ``PayloadError`` for input it cannot take; the reason codes are stable because
they label metrics and dead letters: ``bad_type``, ``bad_value``, ``non_finite``, ``out_of_range``,
``text_too_long``, ``bad_timestamp``.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tonghu.collectors.mqtt.config import (
    DataType,
    FieldMapping,
    QualityConfig,
    QualityLevel,
    TimeFormat,
    TimestampConfig,
    scalar_text,
)
from tonghu.common.errors import PayloadError
from tonghu.common.sample import STATUS_BAD, STATUS_GOOD, STATUS_UNCERTAIN, Value
from tonghu.common.uplink import DEFAULT_LIMITS

Converter = Callable[[Any], Value]

# Devices that quote their numbers are common; accept JSON-like number text but not Python's extras
# ('nan', 'inf', '1_000'), which never come from a well-behaved device. The digits after the point only
# follow a point: with '[0-9]+\.?[0-9]*' a long run of digits that fails at its end backtracks quadratically.
_FLOAT_TEXT = re.compile(r"[ \t\r\n]*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?[ \t\r\n]*")
_INT_TEXT = re.compile(r"[ \t\r\n]*[-+]?[0-9]+[ \t\r\n]*")
_BOOL_TEXT = {"true": True, "false": False, "on": True, "off": False, "1": True, "0": False}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
MAX_TEXT = DEFAULT_LIMITS.max_text_len

# Timestamps outside this window are taken as a wrong unit or an unset device clock, not as data.
TS_MIN_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z
TS_MAX_US = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_LEVEL_STATUS = {QualityLevel.GOOD: STATUS_GOOD, QualityLevel.UNCERTAIN: STATUS_UNCERTAIN,
                 QualityLevel.BAD: STATUS_BAD}


def _kind(raw: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(raw), "number")


def _bad_type(where: str, expected: str, raw: Any) -> PayloadError:
    return PayloadError("bad_type", f"{where}: expected {expected}, got {_kind(raw)}")


def _number(raw: Any, where: str) -> float:
    t = type(raw)
    if t is float:
        x = raw
    elif t is int:
        try:
            x = float(raw)
        except OverflowError:
            raise PayloadError("out_of_range", f"{where}: integer too large for a float") from None
    elif t is str and _FLOAT_TEXT.fullmatch(raw):
        x = float(raw)
    else:
        raise _bad_type(where, "a number", raw)
    if not math.isfinite(x):
        raise PayloadError("non_finite", f"{where}: {x} is not a finite number")
    return x


def _integer(raw: Any, where: str) -> int:
    t = type(raw)
    if t is int:
        return raw
    if t is float:
        if not math.isfinite(raw):
            raise PayloadError("non_finite", f"{where}: {raw} is not a finite number")
        if not raw.is_integer():
            raise PayloadError("bad_value", f"{where}: expected an integer, got {raw}")
        return int(raw)
    if t is str and _INT_TEXT.fullmatch(raw):
        try:
            return int(raw)
        except ValueError:  # more digits than Python converts
            raise PayloadError("out_of_range", f"{where}: integer text too long") from None
    raise _bad_type(where, "an integer", raw)


def _text(value: str, where: str) -> str:
    if len(value) > MAX_TEXT:
        raise PayloadError("text_too_long", f"{where}: {len(value)} characters exceed {MAX_TEXT}")
    if not value.isascii():
        # JSON escapes can spell lone surrogates, which no later encoder accepts.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise PayloadError("bad_value", f"{where}: text holds an unpaired surrogate") from None
    return value


def value_converter(f: FieldMapping, where: str) -> Converter:
    """A function from a JSON value (never None) to the sample value of field ``f``."""
    scale, offset = f.scale, f.offset
    identity = scale == 1.0 and offset == 0.0
    if f.data_type is DataType.FLOAT:
        if identity:
            return lambda raw: _number(raw, where)

        def to_float(raw: Any) -> float:
            x = _number(raw, where) * scale + offset
            if not math.isfinite(x):
                raise PayloadError("non_finite", f"{where}: scaled value is not finite")
            return x

        return to_float
    if f.data_type is DataType.INT:
        # Whole-number factors keep counters exact beyond 2**53, where floats would round.
        iscale, ioffset = int(scale), int(offset)

        def to_int(raw: Any) -> int:
            x = _integer(raw, where) * iscale + ioffset
            if not _INT64_MIN <= x <= _INT64_MAX:
                raise PayloadError("out_of_range", f"{where}: {x} does not fit in 64 bits")
            return x

        return to_int
    if f.data_type is DataType.BOOL:
        return lambda raw: _boolean(raw, where)
    if f.data_type is DataType.STRING:
        return lambda raw: _string(raw, where)
    states = dict(f.states or {})
    return lambda raw: _state(raw, states, where)


def _boolean(raw: Any, where: str) -> bool:
    t = type(raw)
    if t is bool:
        return raw
    if t is int and raw in (0, 1):
        return bool(raw)
    if t is str:
        value = _BOOL_TEXT.get(raw.strip().lower())
        if value is not None:
            return value
    raise _bad_type(where, "a boolean (true/false, 1/0, on/off)", raw)


def _string(raw: Any, where: str) -> str:
    if type(raw) is str:
        return _text(raw, where)
    if isinstance(raw, int | float):  # identifiers sent as numbers, e.g. a board serial
        return _text(scalar_text(raw) if type(raw) is not float else repr(raw), where)
    raise _bad_type(where, "a string or number", raw)


def _state(raw: Any, states: dict[str, str], where: str) -> str:
    if type(raw) is str:
        code = raw
    elif type(raw) is int:
        code = str(raw)
    else:
        raise _bad_type(where, "a state name or integer code", raw)
    if not code:
        raise PayloadError("bad_value", f"{where}: empty state")
    return _text(states.get(code, code), where)


def timestamp_parser(cfg: TimestampConfig) -> Callable[[Any], int]:
    """A function from the JSON timestamp value to microseconds since the epoch (UTC)."""
    where = f"timestamp {cfg.path}"
    if cfg.format is TimeFormat.ISO8601:
        zone = zoneinfo.ZoneInfo(cfg.naive_timezone) if cfg.naive_timezone else None
        return lambda raw: _checked(_iso(raw, zone, where), where)
    per_unit = {TimeFormat.EPOCH_S: 1_000_000, TimeFormat.EPOCH_MS: 1_000, TimeFormat.EPOCH_US: 1}[cfg.format]
    return lambda raw: _checked(_epoch(raw, per_unit, where), where)


def _epoch(raw: Any, per_unit: int, where: str) -> int:
    t = type(raw)
    if t is int or (t is str and _INT_TEXT.fullmatch(raw)):
        try:
            return int(raw) * per_unit
        except ValueError:
            raise PayloadError("bad_timestamp", f"{where}: integer text too long") from None
    if t is float or (t is str and _FLOAT_TEXT.fullmatch(raw)):
        x = float(raw) * per_unit
        if not math.isfinite(x):
            raise PayloadError("bad_timestamp", f"{where}: not a finite number")
        return round(x)
    raise PayloadError("bad_timestamp", f"{where}: expected a number, got {_kind(raw)}")


def _iso(raw: Any, zone: zoneinfo.ZoneInfo | None, where: str) -> int:
    if type(raw) is not str:
        raise PayloadError("bad_timestamp", f"{where}: expected an ISO 8601 string, got {_kind(raw)}")
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise PayloadError("bad_timestamp", f"{where}: {raw[:64]!r} is not ISO 8601") from None
    if dt.tzinfo is None:
        if zone is None:
            raise PayloadError("bad_timestamp", f"{where}: {raw[:64]!r} has no UTC offset "
                               "(set timestamp.naive_timezone to accept local times)")
        dt = dt.replace(tzinfo=zone)
    try:
        return (dt - _EPOCH) // _ONE_US
    except OverflowError:
        raise PayloadError("bad_timestamp", f"{where}: {raw[:64]!r} is out of range") from None


def _checked(us: int, where: str) -> int:
    if not TS_MIN_US <= us < TS_MAX_US:
        raise PayloadError("bad_timestamp", f"{where}: {us} µs is outside 2000..2100 (wrong unit or unset "
                           "device clock?)")
    return us


def quality_mapper(cfg: QualityConfig) -> tuple[dict[str, int], int]:
    """The status for each listed value (as text), and the status for anything else."""
    table: dict[str, int] = {}
    for level in QualityLevel:
        for value in getattr(cfg, level.value):
            table[scalar_text(value)] = _LEVEL_STATUS[level]
    return table, _LEVEL_STATUS[cfg.otherwise]


def status_text(raw: Any) -> str | None:
    """The text a status value compares as, or None for objects, arrays and null."""
    if isinstance(raw, str | int | float):
        return scalar_text(raw)
    return None
