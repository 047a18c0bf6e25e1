"""Statistical process control of one numeric tag: process capability and individuals / moving-range charts.

Formulas from D. C. Montgomery, *Introduction to Statistical Quality Control* (Wiley, 7th ed. 2013): chapter 6
(control charts for individual measurements), chapter 8 (process capability ratios), and its table of factors for
variables control charts:

- within σ = MR̄ / d2, MR̄ the mean of |x_i − x_{i−1}| (samples in time order), d2 = 1.128 for ranges of 2;
- overall σ = sample standard deviation (n − 1);
- Cp = (USL − LSL) / 6σ_within, Cpk = min(USL − x̄, x̄ − LSL) / 3σ_within; Pp and Ppk the same with σ_overall (the
  AIAG SPC manual's performance indices). With one limit only, Cp/Pp are undefined (None) and Cpk/Ppk are the
  one-sided Cpu = (USL − x̄)/3σ or Cpl = (x̄ − LSL)/3σ;
- I chart: x̄ ± E2·MR̄ with E2 = 3/d2 ≈ 2.66; MR chart: centre MR̄, UCL = D4·MR̄ with D4 = 3.267, LCL = D3·MR̄ = 0.

Whatever cannot be computed (n < 2, no variation, no limits) is None and ``notes`` says why. Spec limits come from
the tag's attrs: ``spec_lo``/``spec_hi`` (lab quality) or else ``lo_limit``/``hi_limit`` (process windows); the
alarm limits ``alarm_lo``/``alarm_hi`` are not specifications and are never used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
import psycopg

from tonghu.common.errors import TonghuError
from tonghu.platform.ingest.copybuf import PG_EPOCH_OFFSET_US, SIGNATURE

D2, E2, D4 = 1.128, 2.66, 3.267
SPEC_ATTRS = (("spec_lo", "spec_hi"), ("lo_limit", "hi_limit"))  # first pair with any value set wins
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SpcDataError(TonghuError, ValueError):
    """Values, limits or a tag the statistics cannot be computed on; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Capability:
    n: int
    mean: float | None
    sigma_overall: float | None
    sigma_within: float | None
    mr_bar: float | None
    lsl: float | None
    usl: float | None
    cp: float | None
    cpk: float | None
    pp: float | None
    ppk: float | None
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True, slots=True)
class ChartPoint:
    index: int                # position in the time-ordered series (for a moving range: its later point)
    value: float
    time: datetime | None = None


@dataclass(frozen=True, slots=True)
class ImrChart:
    centre: float | None
    ucl: float | None
    lcl: float | None
    mr_centre: float | None
    mr_ucl: float | None
    mr_lcl: float | None
    outside_count: int            # individuals strictly beyond the I-chart limits
    outside: tuple[ChartPoint, ...]  # all of them, or an evenly spaced ``max_listed`` of them
    mr_outside_count: int         # moving ranges strictly above UCL_MR
    mr_outside: tuple[ChartPoint, ...]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def capability(values: Sequence[float] | np.ndarray, lsl: float | None = None,
               usl: float | None = None) -> Capability:
    """Capability of time-ordered values against the spec limits (either may be None)."""
    x = _series(values)
    lsl, usl = _limits(_limit(lsl, "lsl"), _limit(usl, "usl"))
    n = len(x)
    # Centred on the first sample: residuals and distances to the limits keep their digits when the values sit far
    # from zero (a mean near 1e9 is only stored to ~1e-7; its distance to a limit can be exact).
    ref = float(x[0]) if n else 0.0
    xc = x - ref
    m = _mean(xc) if n else None
    notes: list[str] = []
    s_all = s_in = mr_bar = None
    if n < 2:
        notes.append(f"{n} sample(s): σ needs at least 2")
    elif x.min() == x.max():
        # Tested on the data, not on σ: the mean of equal values can round off them and fake a tiny σ.
        s_all = s_in = mr_bar = 0.0
        notes.append("no variation (all values equal): capability indices undefined")
    else:
        d = xc - m
        s_all = math.sqrt(float(d @ d) / (n - 1))  # two-pass: squared residuals about the mean
        mr_bar = float(np.mean(np.abs(np.diff(x))))
        s_in = mr_bar / D2
    if lsl is None and usl is None:
        notes.append("no spec limits: capability indices undefined")
    elif lsl is None or usl is None:
        notes.append(f"one-sided spec (only {'USL' if lsl is None else 'LSL'}): Cp and Pp undefined")
    lo, hi = (None if lsl is None else lsl - ref), (None if usl is None else usl - ref)
    cp, cpk = _indices(m, s_in, lo, hi)
    pp, ppk = _indices(m, s_all, lo, hi)
    mean = None if m is None else ref + m
    return Capability(n, mean, s_all, s_in, mr_bar, lsl, usl, cp, cpk, pp, ppk, tuple(notes))


def _indices(mean: float | None, sigma: float | None, lsl: float | None,
             usl: float | None) -> tuple[float | None, float | None]:
    """(Cp, Cpk) for the given σ: with one limit only, Cp is None and Cpk is Cpu or Cpl."""
    if mean is None or not sigma or (lsl is None and usl is None):
        return None, None
    cpu = None if usl is None else (usl - mean) / (3.0 * sigma)
    cpl = None if lsl is None else (mean - lsl) / (3.0 * sigma)
    cp = None if lsl is None or usl is None else (usl - lsl) / (6.0 * sigma)
    return cp, min(v for v in (cpu, cpl) if v is not None)


def imr_chart(values: Sequence[float] | np.ndarray, times: Sequence[datetime] | None = None,
              max_listed: int | None = None) -> ImrChart:
    """Individuals and moving-range chart of time-ordered values; points strictly outside the limits are listed."""
    x = _series(values)
    if times is not None and len(times) != len(x):
        raise SpcDataError(f"{len(times)} times for {len(x)} values")
    if len(x) < 2:
        return ImrChart(None, None, None, None, None, None, 0, (), 0, (), (f"{len(x)} sample(s): a chart needs 2",))
    mean = float(x[0]) + _mean(x - x[0])  # as in capability(), so the centre line is the reported mean
    mr = np.abs(np.diff(x))
    mr_bar = float(np.mean(mr)) if x.min() != x.max() else 0.0
    ucl, lcl, mr_ucl = mean + E2 * mr_bar, mean - E2 * mr_bar, D4 * mr_bar
    out = np.flatnonzero((x > ucl) | (x < lcl))
    mr_out = np.flatnonzero(mr > mr_ucl) + 1
    notes = ("no variation (all values equal): limits collapse onto the centre line",) if mr_bar == 0.0 else ()

    def points(idx: np.ndarray, vals: np.ndarray) -> tuple[ChartPoint, ...]:
        if max_listed is not None and len(idx) > max_listed:
            idx = idx[np.linspace(0, len(idx) - 1, max_listed).astype(np.int64)] if max_listed else idx[:0]
        return tuple(ChartPoint(int(i), float(vals[i]), times[i] if times is not None else None) for i in idx)

    # Moving range i spans points i − 1 and i, and is listed at i.
    return ImrChart(mean, ucl, lcl, mr_bar, mr_ucl, 0.0, len(out), points(out, x), len(mr_out),
                    points(mr_out, np.concatenate([[np.nan], mr])), notes)


def display_indices(values: np.ndarray, max_points: int | None) -> np.ndarray:
    """At most ``max_points`` indices for drawing: each bucket's minimum and maximum, so excursions stay visible."""
    n = len(values)
    if max_points is None or n <= max_points:
        return np.arange(n)
    if max_points < 2:
        raise SpcDataError(f"max_points must be at least 2, not {max_points}")
    edges = np.linspace(0, n, max_points // 2 + 1).astype(np.int64)
    picks = [(a + int(np.argmin(values[a:b])), a + int(np.argmax(values[a:b])))
             for a, b in pairwise(edges.tolist()) if b > a]
    return np.unique(np.array(picks, dtype=np.int64).ravel())


@dataclass(frozen=True, slots=True)
class SpcReport:
    tag_id: int
    tag: str
    unit: str
    start: datetime
    end: datetime
    limits_from: str | None           # which attrs gave the spec limits
    capability: Capability            # from every good sample of the range
    chart: ImrChart                   # likewise; listed points capped at max_points
    times: tuple[datetime, ...]       # the display series: every sample, or at most max_points of them
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def spec_limits(attrs: dict[str, Any]) -> tuple[float | None, float | None, str | None]:
    """(LSL, USL, "lo_attr/hi_attr") from a tag's attrs, or (None, None, None)."""
    for lo, hi in SPEC_ATTRS:
        if attrs.get(lo) is not None or attrs.get(hi) is not None:
            return *_limits(_limit(attrs.get(lo), f"attrs.{lo}"), _limit(attrs.get(hi), f"attrs.{hi}")), f"{lo}/{hi}"
    return None, None, None


def load_samples(conn: psycopg.Connection, tag_id: int, start: datetime,
                 end: datetime) -> tuple[np.ndarray, np.ndarray]:
    """Good, finite samples of a tag in [start, end), time-ordered: (µs since 1970 int64, float64 values)."""
    buf = bytearray()
    with conn.cursor() as cur, cur.copy(
            "COPY (SELECT time, value FROM samples_num WHERE tag_id = %s AND time >= %s AND time < %s "
            "AND (status >> 30) & 3 = 0 AND value IS NOT NULL AND value NOT IN ('NaN', 'Infinity', '-Infinity')) "
            "TO STDOUT (FORMAT BINARY)", (tag_id, start, end)) as cp:
        for block in cp:
            buf += block
    # Binary COPY (PostgreSQL docs, "COPY", Binary Format): header, then per row int16 field count and, per field,
    # int32 length + big-endian data; no NULLs here, so every row is 26 bytes; int16 −1 ends the stream.
    row = np.dtype([("n", ">i2"), ("tl", ">i4"), ("t", ">i8"), ("vl", ">i4"), ("v", ">f8")])
    if buf[:len(SIGNATURE)] != SIGNATURE or (len(buf) - len(SIGNATURE) - 2) % row.itemsize:
        raise SpcDataError(f"unexpected binary COPY stream of {len(buf)} bytes for tag {tag_id}")
    rows = np.frombuffer(buf, dtype=row, offset=len(SIGNATURE), count=(len(buf) - len(SIGNATURE) - 2) // row.itemsize)
    # Sorted here rather than by an ORDER BY, which can make the server sort (and spill) a large range; the
    # (tag, time) key makes times unique, so the order is total.
    order = np.argsort(rows["t"], kind="stable")
    return rows["t"][order].astype(np.int64) + PG_EPOCH_OFFSET_US, rows["v"][order].astype(np.float64)


def load_spc(conn: psycopg.Connection, company_id: int, tag_id: int, start: datetime, end: datetime,
             max_points: int | None = None) -> SpcReport:
    """SPC of one of the company's numeric tags over [start, end); ``max_points`` caps only what is drawn."""
    if start.tzinfo is None or end.tzinfo is None or end <= start:
        raise SpcDataError(f"[{start}, {end}) must be a non-empty range of timezone-aware datetimes")
    row = conn.execute("SELECT t.key, t.unit, t.data_type::text, t.attrs FROM tags t JOIN sites s ON s.id = t.site_id "
                       "WHERE t.id = %s AND s.company_id = %s", (tag_id, company_id)).fetchone()
    if row is None:
        raise SpcDataError(f"tag {tag_id} is not a tag of company {company_id}")
    key, unit, data_type, attrs = row
    if data_type not in ("float", "int"):
        raise SpcDataError(f"tag {key} is of type {data_type}: SPC needs a float or int tag")
    try:
        lsl, usl, source = spec_limits(attrs)
    except SpcDataError as err:
        raise SpcDataError(f"tag {key}: {err}") from err
    t_us, x = load_samples(conn, tag_id, start, end)
    cap = capability(x, lsl, usl)
    chart = imr_chart(x, max_listed=max_points)
    chart = replace(chart, outside=_timed(chart.outside, t_us), mr_outside=_timed(chart.mr_outside, t_us))
    shown = display_indices(x, max_points)
    return SpcReport(tag_id, key, unit, start, end, source, cap, chart,
                     tuple(_dt(t) for t in t_us[shown].tolist()), tuple(x[shown].tolist()))


def _timed(points: tuple[ChartPoint, ...], t_us: np.ndarray) -> tuple[ChartPoint, ...]:
    return tuple(replace(p, time=_dt(int(t_us[p.index]))) for p in points)


def _series(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise SpcDataError(f"values must be a one-dimensional series, not shape {x.shape}")
    if bad := np.flatnonzero(~np.isfinite(x))[:3].tolist():
        raise SpcDataError(f"values must be finite; positions {bad} are not")
    return x


def _mean(x: np.ndarray) -> float:
    # The mean of the residuals corrects the rounding of the first pass (Chan, Golub & LeVeque, "Algorithms for
    # computing the sample variance", The American Statistician 37(3), 1983).
    m = float(np.mean(x))
    return m + float(np.mean(x - m))


def _limit(v: object, what: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise SpcDataError(f"{what} must be a finite number, not {v!r}")
    return float(v)


def _limits(lsl: float | None, usl: float | None) -> tuple[float | None, float | None]:
    if lsl is not None and usl is not None and lsl >= usl:
        raise SpcDataError(f"the lower spec limit {lsl} must be below the upper spec limit {usl}")
    return lsl, usl


def _dt(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _jsonable(x: Any) -> Any:
    if isinstance(x, datetime):
        return x.isoformat()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    return x
