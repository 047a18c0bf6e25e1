"""A second, independent implementation of the analytics semantics, for checking the SQL engine against.

Written from the documented conventions (header of migration 0004 and tonghu/platform/kpi/facts.py), not from the
SQL: plain loops over raw rows held in Python lists, one window at a time, so that nothing here shares a bug with
the set-based queries, the rollups or the way facts() stitches hours together.

* Only good samples count (0 ≤ status < 2^30); numeric samples that are NaN or NULL are ignored altogether.
* A state holds from its sample until the asset's next state sample, never past min(t1, now). Its reason code is
  the last reason sample at or before it ('' without one). The time class is that of the latest state_reasons row
  of the (asset, code) with valid_from ≤ the state's time, else the state_defaults class of the state name, else
  unknown.
* A failure event is a state sample in [t0, min(t1, now)) whose code maps to a failure and whose (state, code)
  differs from the previous state sample's (the first sample ever always differs).
* A counter's increase at a sample is v − prev, or v when v < prev (a reset); the first sample ever adds nothing;
  the previous sample may lie before t0.
* ideal_s and opportunities weight each counter increase with the last weight sample strictly before the counter
  sample (ideal_rate is a rate per hour: 3600 / rate, nothing when rate ≤ 0).
* unknown_s is the part of [t0, min(t1, now)) that no state with a time class covers.
* produced, good, scrap and rework are the increases of the count_total, count_good, count_scrap and count_rework
  tags; energy those of energy_kwh and power_kwh meters, the main energy only of meters without attrs.submeter_of.
* cutting_s is the time the spindle speed is > 0, a sample holding like a state does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

GOOD_LIMIT = 2**30
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DEFAULT_CLASSES: dict[str, str] = {"running": "production", "setup": "setup", "down": "unplanned_down",
                                   "planned_down": "planned_down", "idle": "idle"}
TIME_CLASSES = ("production", "setup", "unplanned_down", "planned_down", "idle")
COUNT_FIELDS = {"count_total": "produced", "count_good": "good", "count_scrap": "scrap", "count_rework": "rework"}
ENERGY_ROLES = ("energy_kwh", "power_kwh")
NUMERIC_TYPES = ("float", "int")
FACT_FIELDS = ("production_s", "setup_s", "unplanned_down_s", "planned_down_s", "idle_s", "unknown_s", "failures",
               "failure_down_s", "cutting_s", "produced", "good", "scrap", "rework", "ideal_s", "energy_kwh",
               "energy_main_kwh", "opportunities")

NumRow = tuple[int, datetime, float | None, int]   # tag id, time, value, status
TextRow = tuple[int, datetime, str | None, int]


@dataclass(frozen=True)
class Tag:
    id: int
    asset_id: int
    role: str
    data_type: str  # float, int, bool, string or state
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReasonRow:
    asset_id: int
    code: str
    valid_from: datetime | None  # None: -infinity (the first version)
    time_class: str
    failure: bool = False


@dataclass
class Raw:
    """Everything the engine reads, as plain lists."""

    tags: list[Tag] = field(default_factory=list)
    num: list[NumRow] = field(default_factory=list)
    text: list[TextRow] = field(default_factory=list)
    reasons: list[ReasonRow] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_CLASSES))


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime
    state: str | None
    code: str
    time_class: str | None
    failure: bool
    starts_failure: bool


@dataclass
class TagRef:
    n: int = 0
    vmin: float | None = None
    vmax: float | None = None
    vsum: float = 0.0
    vlast: float | None = None
    last_time: datetime | None = None
    delta: float = 0.0
    resets: int = 0


def good(status: int) -> bool:
    return 0 <= status < GOOD_LIMIT


def usable(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def increase(prev: float, value: float) -> float:
    return value - prev if value >= prev else value


def _sorted(points: list[tuple[datetime, Any]]) -> list[tuple[datetime, Any]]:
    return sorted(points, key=lambda p: p[0])


def num_series(raw: Raw, tag_ids: list[int]) -> list[tuple[datetime, float]]:
    """Good, usable samples of the tags, oldest first."""
    out = []
    for tag, t, v, status in raw.num:
        if tag in tag_ids and good(status) and usable(v):
            out.append((t, v))
    return _sorted(out)


def text_series(raw: Raw, tag_ids: list[int]) -> list[tuple[datetime, str | None]]:
    out = []
    for tag, t, v, status in raw.text:
        if tag in tag_ids and good(status):
            out.append((t, v))
    return _sorted(out)


def tags_of(raw: Raw, asset_id: int, roles: tuple[str, ...], types: tuple[str, ...]) -> list[Tag]:
    return [t for t in raw.tags if t.asset_id == asset_id and t.role in roles and t.data_type in types]


def _version(r: ReasonRow) -> tuple[int, datetime]:
    return (0, datetime.min.replace(tzinfo=UTC)) if r.valid_from is None else (1, r.valid_from)


def classify(raw: Raw, asset_id: int, state: str | None, code: str, at: datetime) -> tuple[str | None, bool]:
    """(time class or None, failure) of a state reported at ``at`` with ``code``."""
    best: ReasonRow | None = None
    for r in raw.reasons:
        if r.asset_id != asset_id or r.code != code or (r.valid_from is not None and r.valid_from > at):
            continue
        if best is None or _version(r) > _version(best):
            best = r
    if best is not None:
        return best.time_class, best.failure
    return (raw.defaults.get(state) if state is not None else None), False


def state_intervals(raw: Raw, asset_id: int, t0: datetime, t1: datetime, now: datetime) -> list[Interval]:
    states = text_series(raw, [t.id for t in tags_of(raw, asset_id, ("state",), ("state", "string"))])
    codes = text_series(raw, [t.id for t in tags_of(raw, asset_id, ("reason",), ("string",))])
    stop = min(t1, now)
    out = []
    prev: tuple[str | None, str] | None = None
    for i, (t, state) in enumerate(states):
        code = ""
        for rt, rv in codes:
            if rt <= t:
                code = rv if rv is not None else ""
        time_class, failure = classify(raw, asset_id, state, code, t)
        end = stop if i + 1 == len(states) else min(states[i + 1][0], stop)
        start = max(t, t0)
        if end > start:
            starts = failure and t >= t0 and (prev is None or prev != (state, code))
            out.append(Interval(start, end, state, code, time_class, failure, starts))
        prev = (state, code)
    return out


def counter_increase(series: list[tuple[datetime, float]], t0: datetime, t1: datetime) -> tuple[float, int]:
    """(Σ increase, number of resets) of the samples in [t0, t1)."""
    delta, resets = 0.0, 0
    prev: float | None = None
    for t, v in series:
        if prev is not None and t0 <= t < t1:
            delta += increase(prev, v)
            if v < prev:
                resets += 1
        prev = v
    return delta, resets


def weighted(raw: Raw, asset_id: int, t0: datetime, t1: datetime, counter_role: str, weight_role: str,
             invert: bool) -> float:
    weights = num_series(raw, [t.id for t in tags_of(raw, asset_id, (weight_role,), NUMERIC_TYPES)])
    total = 0.0
    for tag in tags_of(raw, asset_id, (counter_role,), NUMERIC_TYPES):
        prev: float | None = None
        for t, v in num_series(raw, [tag.id]):
            if prev is not None and t0 <= t < t1:
                w = None
                for wt, wv in weights:
                    if wt < t:  # strictly before: units counted at t were made under the earlier weight
                        w = wv
                if w is not None and invert:
                    w = 3600.0 / w if w > 0 else None
                if w is not None:
                    total += increase(prev, v) * w
            prev = v
    return total


def cutting_seconds(raw: Raw, asset_id: int, t0: datetime, t1: datetime, now: datetime) -> float:
    speeds = num_series(raw, [t.id for t in raw.tags if t.asset_id == asset_id and t.role == "spindle_speed"])
    stop = min(t1, now)
    total = timedelta(0)
    for i, (t, v) in enumerate(speeds):
        end = stop if i + 1 == len(speeds) else min(speeds[i + 1][0], stop)
        start = max(t, t0)
        if v > 0 and end > start:
            total += end - start
    return total / SECOND


def asset_facts(raw: Raw, asset_id: int, t0: datetime, t1: datetime, now: datetime) -> dict[str, float]:
    """Every fact of one asset over [t0, t1), as facts() reports them."""
    out: dict[str, float] = {f: 0.0 for f in FACT_FIELDS}
    out["failures"] = 0
    known = timedelta(0)
    failure_down = timedelta(0)
    per_class = {c: timedelta(0) for c in TIME_CLASSES}
    for iv in state_intervals(raw, asset_id, t0, t1, now):
        if iv.time_class is not None:
            per_class[iv.time_class] += iv.end - iv.start
            known += iv.end - iv.start
        if iv.failure:
            failure_down += iv.end - iv.start
        if iv.starts_failure:
            out["failures"] += 1
    for c in TIME_CLASSES:
        out[f"{c}_s"] = per_class[c] / SECOND
    span = max(timedelta(0), min(t1, max(now, t0)) - t0)
    out["unknown_s"] = max(0.0, (span - known) / SECOND)
    out["failure_down_s"] = failure_down / SECOND
    out["cutting_s"] = cutting_seconds(raw, asset_id, t0, t1, now)
    for tag in tags_of(raw, asset_id, (*COUNT_FIELDS, *ENERGY_ROLES), NUMERIC_TYPES):
        delta, _ = counter_increase(num_series(raw, [tag.id]), t0, t1)
        if tag.role in COUNT_FIELDS:
            out[COUNT_FIELDS[tag.role]] += delta
        else:
            out["energy_kwh"] += delta
            if "submeter_of" not in tag.attrs:
                out["energy_main_kwh"] += delta
    out["ideal_s"] = (weighted(raw, asset_id, t0, t1, "count_total", "ideal_cycle_time", False)
                      + weighted(raw, asset_id, t0, t1, "count_total", "ideal_rate", True))
    out["opportunities"] = weighted(raw, asset_id, t0, t1, "aoi_inspected", "opportunities", False)
    return out


def tag_stats(raw: Raw, tag_id: int, t0: datetime, t1: datetime) -> TagRef:
    """Count, min, max, sum, last and counter increase of one numeric tag's good samples in [t0, t1)."""
    ref = TagRef()
    series = num_series(raw, [tag_id])
    for t, v in series:
        if t0 <= t < t1:
            ref.n += 1
            ref.vmin = v if ref.vmin is None or v < ref.vmin else ref.vmin
            ref.vmax = v if ref.vmax is None or v > ref.vmax else ref.vmax
            ref.vsum += v
            ref.vlast, ref.last_time = v, t
    ref.delta, ref.resets = counter_increase(series, t0, t1)
    return ref


def floor_hour(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def hour_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    out = []
    t = floor_hour(start)
    while t < end:
        out.append((max(t, start), min(t + HOUR, end)))
        t += HOUR
    return out


def day_windows(start: datetime, end: datetime, tz: str) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at local midnights of ``tz`` (days of 23 or 25 hours across daylight-saving changes)."""
    zone = ZoneInfo(tz)
    out = []
    day: date = start.astimezone(zone).date()
    while True:
        a = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        b = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        if a >= end:
            return out
        if b > start:
            out.append((max(a, start), min(b, end)))
        day += timedelta(days=1)
