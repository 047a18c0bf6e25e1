"""Random plant timelines for checking the analytics engine against tests/platform/kpi/reference.py.

A scenario is pure data (hypothesis strategies below); ``build`` registers it as a fresh tenant (company, site in
the scenario's time zone, assets, tags, two reason-map versions) and ``insert`` writes its rows through the ingest
store path, so that a test can hold rows back and insert them later, as late data arrives.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st

from tests.conftest import make_tenant, unique
from tests.platform.kpi import reference as ref
from tonghu.common.uplink import TagMeta
from tonghu.platform import reasons, registry, rollups
from tonghu.platform.ingest import store

MIN_US = 60_000_000
HOUR_US = 60 * MIN_US
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Past periods no other test writes to (so rebuilds stay small): a plain week, and the days before the EU's
# spring-forward and fall-back nights and before St John's falls back, for 23- and 25-hour local days.
PERIODS = [datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 3, 28, 12, tzinfo=UTC),
           datetime(2026, 10, 24, 12, tzinfo=UTC), datetime(2026, 10, 31, 12, tzinfo=UTC)]
UNCERTAIN, BAD = 0x40000000, -0x80000000  # OPC UA severities, stored as signed int4
GOOD_INFO = 0x00A80000  # good, with info bits set: still counts
STATES = ["running", "running", "running", "setup", "down", "planned_down", "idle", "held"]  # held: no default
CODES = ["", "", "RUN", "SET", "BRK", "JAM", "PM", "U9"]  # U9 is never mapped
MAPPED = ["RUN", "SET", "BRK", "JAM", "PM"]
TZS = ["UTC", "Asia/Kolkata", "America/St_Johns", "Europe/Berlin", "Asia/Shanghai"]

# ----------------------------------------------------------------------------------------------- scenarios

Point = tuple[int, Any, int]  # µs offset from the scenario's base hour, value, status


@dataclass
class TagSpec:
    name: str
    role: str
    data_type: str
    points: list[Point]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class AssetSpec:
    path: str
    tags: list[TagSpec]
    maps: list[tuple[int | None, list[dict[str, Any]]]]  # (valid_from offset or None for -infinity, rows)


@dataclass
class Scenario:
    hours: int
    live: bool
    period: int  # index into PERIODS (past data)
    shift: int  # hours from the period's start (past), or from the base hour to the real clock (live)
    tz: str
    assets: list[AssetSpec]
    lo: int  # a range inside the data, as offsets
    hi: int


statuses = st.sampled_from([0, 0, 0, 0, 0, 0, GOOD_INFO, UNCERTAIN, BAD])


def span_us(hours: int) -> int:
    return (hours + 3) * HOUR_US  # the data starts 2 h before the base hour and ends 1 h after the last one


def instants(hours: int) -> st.SearchStrategy[int]:
    """One instant of the timeline: on an hour, on a minute or anywhere (sampled, not integers(), which would
    crowd the examples around 0)."""
    return st.builds(lambda h, extra: h * HOUR_US + extra, st.sampled_from(range(-2, hours + 2)),
                     st.sampled_from([0, 0, 1, 7 * MIN_US, 29 * MIN_US + 654_321, HOUR_US - 1]))


def ranges(hours: int) -> st.SearchStrategy[tuple[int, int]]:
    """(lo, hi) offsets of a query range, from a microsecond to longer than the data."""
    lengths = [1, 17 * MIN_US, HOUR_US, 3 * HOUR_US + 5, span_us(hours) // 2, span_us(hours), span_us(hours),
               span_us(hours) + 2 * HOUR_US]
    return st.builds(lambda lo, n: (lo, lo + n), st.one_of(st.just(-2 * HOUR_US), instants(hours)),
                     st.sampled_from(lengths))


def times(draw: st.DrawFn, hours: int, also: list[int] | None = None, min_size: int = 0, max_size: int = 25
          ) -> list[int]:
    """Sorted distinct offsets spread over the timeline by random gaps, some snapped to the next hour or minute;
    with ``also``, some fall on those instants (ties decide the "at or before" and "strictly before" rules)."""
    n = draw(st.integers(min_size, max_size))
    mean = span_us(hours) // max(n, 1)
    gaps = st.sampled_from([1, MIN_US, mean // 4, mean // 2 + 17, mean, mean + 1_234_567, 2 * mean, 3 * mean])
    t = -2 * HOUR_US + draw(st.sampled_from([0, 1, 13 * MIN_US, HOUR_US]))
    out = set()
    for _ in range(n):
        how = draw(st.sampled_from(["gap"] * 4 + ["hour", "minute"] + (["also"] if also else [])))
        if how == "also":
            out.add(draw(st.sampled_from(also)))
            continue
        t += draw(gaps)
        unit = {"hour": HOUR_US, "minute": MIN_US}.get(how)
        if unit is not None:
            t = -(-t // unit) * unit
        out.add(t)
    return sorted(out)


def counter(draw: st.DrawFn, hours: int, integral: bool) -> list[Point]:
    """A cumulative counter with steps, repeats, resets, NaN and NULL samples (NULL: plain INSERT, not the store)."""
    value: float = draw(st.integers(0, 1000)) if integral else draw(st.floats(0, 1000, allow_nan=False))
    step = st.integers(1, 40) if integral else st.floats(0.001, 40, allow_nan=False)
    out: list[Point] = []
    for t in times(draw, hours, min_size=4, max_size=30):
        kind = draw(st.sampled_from(["step"] * 7 + ["reset", "same", "nan", "null"]))
        if kind == "step":
            value += draw(step)
        elif kind == "reset":
            value = draw(st.integers(0, 5))
        status = draw(statuses)
        v = {"nan": math.nan, "null": None}.get(kind, float(value))
        if not ref.good(status):  # a bad sample carries garbage that must not count
            v = draw(st.sampled_from([v, 99999.0, math.nan, -7.0]))
        out.append((t, v, status))
    return out


def series(draw: st.DrawFn, hours: int, values: st.SearchStrategy[float], also: list[int] | None = None
           ) -> list[Point]:
    return [(t, draw(values), draw(statuses)) for t in times(draw, hours, also, 1, 12)]


def reason_map(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Most codes mapped, unplanned down time (and failures) over-represented: failure events need them."""
    rows = []
    for code in MAPPED:
        if draw(st.sampled_from([True, True, True, False])):
            tclass = draw(st.sampled_from(["unplanned_down"] * 3 + list(ref.TIME_CLASSES)))
            rows.append({"code": code, "time_class": tclass,
                         "failure": tclass == "unplanned_down" and draw(st.sampled_from([True, True, False]))})
    return rows


@st.composite
def asset_specs(draw: st.DrawFn, hours: int, path: str) -> AssetSpec:
    specs: list[TagSpec] = []
    state_t = times(draw, hours, min_size=5, max_size=40)
    has = draw(st.sampled_from(["state and reason"] * 6 + ["state only", "neither"]))
    if has != "neither":
        specs.append(TagSpec("state", "state", draw(st.sampled_from(["state", "string"])),
                             [(t, draw(st.sampled_from(STATES)), draw(statuses)) for t in state_t]))
    if has == "state and reason":
        specs.append(TagSpec("reason", "reason", "string", [(t, draw(st.sampled_from(CODES)), draw(statuses))
                                                            for t in times(draw, hours, state_t, 3, 40)]))
    integral = draw(st.booleans())
    dtype = "int" if integral else "float"
    for role in ("count_total", "count_good", "count_scrap", "count_rework"):
        if role == "count_total" or draw(st.booleans()):
            specs.append(TagSpec(role, role, dtype, counter(draw, hours, integral)))
    counts = [p[0] for s in specs if s.role == "count_total" for p in s.points]
    weight = draw(st.sampled_from([None, "ideal_cycle_time", "ideal_cycle_time", "ideal_rate"]))
    if weight == "ideal_cycle_time":
        specs.append(TagSpec(weight, weight, "float", series(draw, hours, st.one_of(
            st.floats(0.5, 120), st.sampled_from([math.nan, None])), counts)))
    elif weight == "ideal_rate":
        specs.append(TagSpec(weight, weight, "float", series(draw, hours, st.sampled_from(
            [0.0, -3.0, 60.0, 90.5, 400.0, math.nan, None]), counts)))
    if draw(st.booleans()):
        specs.append(TagSpec("meter", "energy_kwh", "float", counter(draw, hours, False)))
        specs.append(TagSpec("meter_sub", draw(st.sampled_from(["energy_kwh", "power_kwh"])), "float",
                             counter(draw, hours, False), {"submeter_of": "meter"}))
    if draw(st.booleans()):
        specs.append(TagSpec("aoi", "aoi_inspected", "int", counter(draw, hours, True)))
        aoi_t = [p[0] for p in specs[-1].points]
        specs.append(TagSpec("opps", "opportunities", "int",
                             series(draw, hours, st.sampled_from([12.0, 40.0, 250.0]), aoi_t)))
    if draw(st.booleans()):  # NaN and NULL speeds are ignored like every other NaN and NULL
        specs.append(TagSpec("spindle", "spindle_speed", "float", series(draw, hours, st.sampled_from(
            [0.0, 0.0, 1200.5, 8000.0, -5.0, math.nan, None]))))
    if draw(st.booleans()):
        specs.append(TagSpec("temp", "pv", "float", series(draw, hours, st.one_of(
            st.floats(-50, 400, allow_nan=False), st.sampled_from([math.nan, None])))))
        specs.append(TagSpec("run_flag", "pv", "bool", series(draw, hours, st.sampled_from([0.0, 1.0]))))
    v2_from = draw(st.one_of(st.sampled_from(state_t), instants(hours)) if state_t else instants(hours))
    return AssetSpec(path, specs, [(None, reason_map(draw)), (v2_from, reason_map(draw))])


@st.composite
def scenarios(draw: st.DrawFn, live: bool | None = None, max_hours: int = 30) -> Scenario:
    hours = draw(st.sampled_from([h for h in (2, 3, 5, 8, 13, 21, 30) if h <= max_hours]))
    live = draw(st.booleans()) if live is None else live
    period = draw(st.integers(0, len(PERIODS) - 1))
    shift = draw(st.sampled_from([0, 1, hours // 2, hours, hours + 2] if live else range(0, 48, 5)))
    n = draw(st.integers(1, 3))
    assets = [draw(asset_specs(hours, f"a1/l{i % 2}/m{i}")) for i in range(n)]
    lo, hi = draw(ranges(hours))
    return Scenario(hours, live, period, shift, draw(st.sampled_from(TZS)), assets, lo, hi)


# ------------------------------------------------------------------------------------------ the database


@dataclass
class Built:
    base: datetime
    site_id: int
    asset_ids: list[int]
    raw: ref.Raw  # every row of the scenario, inserted or not

    def at(self, offset: int) -> datetime:
        return self.base + timedelta(microseconds=offset)


def build(db: Any, sc: Scenario, base: datetime) -> Built:
    """Register a fresh tenant with the scenario's assets, tags and reason maps (rows are inserted separately)."""
    tenant = make_tenant(db, "equipment")
    site_id = registry.add_site(db, tenant.company, unique("s"), "Reference site", sc.tz)
    metas = [TagMeta(f"{a.path}/{t.name}", t.data_type, role=t.role, attrs=t.attrs) for a in sc.assets for t in a.tags]
    ids, refused = registry.upsert_tags(db, site_id, metas)
    assert not refused, refused
    built = Built(base, site_id, [], ref.Raw())
    for a in sc.assets:
        asset_id = reasons.asset_id(db, site_id, a.path)
        built.asset_ids.append(asset_id)
        for valid_from, rows in a.maps:
            when = None if valid_from is None else built.at(valid_from)
            if rows:
                reasons.set_reasons(db, asset_id, rows, when)
            built.raw.reasons += [ref.ReasonRow(asset_id, r["code"], when, r["time_class"], r.get("failure", False))
                                  for r in rows]
        for t in a.tags:
            tag_id = ids[f"{a.path}/{t.name}"][0]
            built.raw.tags.append(ref.Tag(tag_id, asset_id, t.role, t.data_type, t.attrs))
            rows = [(tag_id, built.at(off), v, status) for off, v, status in t.points]
            (built.raw.text if t.data_type in ("string", "state") else built.raw.num).extend(rows)
    return built


def insert(db: Any, num: list[ref.NumRow], text: list[ref.TextRow]) -> None:
    """Through the ingest store path, as the ingester and bulk loaders write; NULL values, which the store's
    binary COPY cannot carry, with a plain INSERT."""
    store.prepare(db)
    nulls = [r for r in num if r[2] is None]
    num = [r for r in num if r[2] is not None]
    us = [(t - EPOCH) // timedelta(microseconds=1) for _, t, _, _ in num]
    with db.transaction(), db.cursor() as cur:
        store.numeric(cur, np.array([r[0] for r in num], dtype=np.int32), np.array(us, dtype=np.int64),
                      np.array([r[2] for r in num], dtype=np.float64), np.array([r[3] for r in num], dtype=np.int32))
        store.text(cur, [(tag, (t - EPOCH) // timedelta(microseconds=1), v, s) for tag, t, v, s in text])
        if nulls:
            cur.executemany("INSERT INTO samples_num (tag_id, time, value, status) VALUES (%s, %s, %s, %s)", nulls)


def set_watermarks(db: Any, at: datetime, names: tuple[str, ...] = tuple(rollups.ROLLUPS)) -> None:
    for name in names:
        db.execute("INSERT INTO rollup_watermarks (name, watermark) VALUES (%s, %s) ON CONFLICT (name) "
                   "DO UPDATE SET watermark = EXCLUDED.watermark", (name, at))


@pytest.fixture
def clear_watermarks(db: Any) -> Iterator[None]:
    """Watermarks are per database: a test that rolls up must not hide another test's raw rows behind one."""
    db.execute("DELETE FROM rollup_watermarks")
    yield
    db.execute("DELETE FROM rollup_watermarks")


def base_time(sc: Scenario) -> datetime:
    if sc.live:
        return ref.floor_hour(datetime.now(UTC)) - sc.shift * HOUR
    return PERIODS[sc.period] + sc.shift * HOUR


def txn_now(db: Any) -> datetime:
    return db.execute("SELECT now()").fetchone()[0]


def ceil_hour(t: datetime) -> datetime:
    f = ref.floor_hour(t)
    return f if f == t else f + HOUR
