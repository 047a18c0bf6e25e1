"""Facts: summed times and quantities of assets over windows, from rollups where whole hours are rolled up and
from raw rows elsewhere (the partial hours at the ends of a window, and everything after the rollup watermark).

Both paths run the same SQL definition (``asset_facts`` of migration 0004), so a window computed from rollups
equals the same window computed from raw rows. Every KPI is a ratio of these sums: line, site and company
figures come from summed times and quantities, never from averaged ratios.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import psycopg

from tonghu.platform.kpi.scope import Asset, Scope, ScopeError, assets, names, timezone
from tonghu.platform.rollups import floor_to, watermark

HOUR = timedelta(hours=1)
Bucket = Literal["hour", "day", "week", "month"]
BUCKETS = ("hour", "day", "week", "month")
By = Literal["asset", "line", "site", "company"]
MAX_WINDOWS = 20_000


@dataclass(slots=True)
class Facts:
    """Additive quantities (seconds, units, kWh). ``unknown_s`` is time no known state covers."""

    production_s: float = 0.0
    setup_s: float = 0.0
    unplanned_down_s: float = 0.0
    planned_down_s: float = 0.0
    idle_s: float = 0.0
    unknown_s: float = 0.0
    failures: int = 0
    failure_down_s: float = 0.0
    cutting_s: float = 0.0
    produced: float = 0.0
    good: float = 0.0
    scrap: float = 0.0
    rework: float = 0.0
    ideal_s: float = 0.0
    energy_kwh: float = 0.0
    energy_main_kwh: float = 0.0
    opportunities: float = 0.0
    assets: int = 0

    def add(self, other: Facts) -> Facts:
        for f in FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))
        return self

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


FIELDS = tuple(f.name for f in fields(Facts) if f.name != "assets")
SUMMED = [f for f in FIELDS if f != "unknown_s"]
KNOWN = ("production_s", "setup_s", "unplanned_down_s", "planned_down_s", "idle_s")


@dataclass(frozen=True, slots=True)
class FactsRow:
    start: datetime
    end: datetime
    level: str
    group_id: int
    group_name: str
    facts: Facts = field(compare=False)


def windows(start: datetime, end: datetime, bucket: Bucket | None, tz: str = "UTC") -> list[tuple[datetime, datetime]]:
    """[start, end) cut at hour, or local calendar day / ISO week / month boundaries of ``tz``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ScopeError("start and end need a time zone")
    if end <= start:
        raise ScopeError(f"empty range: {start.isoformat()} .. {end.isoformat()}")
    if bucket is None:
        return [(start, end)]
    if bucket not in BUCKETS:
        raise ScopeError(f"bucket {bucket!r} must be one of {', '.join(BUCKETS)}")
    zone = ZoneInfo(tz)
    cuts: list[datetime] = []
    if bucket == "hour":
        t = floor_to(start, HOUR)
        while t < end:
            cuts.append(t)
            t += HOUR
    else:
        local = start.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        if bucket == "week":
            local -= timedelta(days=local.weekday())
        elif bucket == "month":
            local = local.replace(day=1)
        while (t := local.replace(tzinfo=zone).astimezone(UTC)) < end:
            cuts.append(t)
            if bucket == "day":
                local += timedelta(days=1)
            elif bucket == "week":
                local += timedelta(days=7)
            else:
                local = local.replace(year=local.year + local.month // 12, month=local.month % 12 + 1)
    if len(cuts) > MAX_WINDOWS:
        raise ScopeError(f"{len(cuts)} {bucket} buckets exceed the limit of {MAX_WINDOWS}; choose a coarser bucket")
    bounds = [*cuts[1:], end]
    return [(max(a, start), min(b, end)) for a, b in zip(cuts, bounds, strict=True) if min(b, end) > max(a, start)]


def _ceil_hour(t: datetime) -> datetime:
    f = floor_to(t, HOUR)
    return f if f == t else f + HOUR


Span = tuple[datetime, datetime, int]


def split_windows(wins: Sequence[tuple[datetime, datetime]], wm: datetime) -> tuple[list[Span], list[Span]]:
    """(spans read from hourly rollups, spans computed from raw rows), each tagged with its window index: whole
    hours before the watermark come from rollups, the partial hours at a window's ends and anything after the
    watermark from raw rows."""
    rolled: list[Span] = []
    raw: list[Span] = []
    wm = floor_to(wm, HOUR) if wm > datetime.min.replace(tzinfo=UTC) else wm  # only whole hours are rolled up
    for i, (a, b) in enumerate(wins):
        hs, he = _ceil_hour(a), min(floor_to(b, HOUR), max(wm, _ceil_hour(a)))
        if hs < he:
            rolled.append((hs, he, i))
            raw.extend(s for s in ((a, hs, i), (he, b, i)) if s[0] < s[1])
        else:
            raw.append((a, b, i))
    return rolled, raw


def raw_calls(raw: list[Span]) -> list[tuple[datetime, datetime, int, timedelta]]:
    """Raw spans as SQL calls (start, end, window index or -1 for hourly runs, bucket width)."""
    return [(a, b, i, HOUR if i < 0 else b - a) for a, b, i in _merge_hourly(raw)]


def per_asset(conn: psycopg.Connection, asset_ids: Sequence[int], wins: Sequence[tuple[datetime, datetime]],
              now: datetime | None = None) -> dict[tuple[int, int], Facts]:
    """Facts of each (asset, window index). ``now`` bounds the unknown time; states are clipped at the
    database's now() (the transaction time), so pass that transaction's now() when they must agree."""
    now = now or datetime.now(UTC)
    wm = watermark(conn, "asset_1h") or datetime.min.replace(tzinfo=UTC)
    ids = list(asset_ids)
    out: dict[tuple[int, int], Facts] = defaultdict(Facts)
    rolled, raw = split_windows(wins, wm)
    cols = ", ".join(f"sum(r.{f})" for f in SUMMED)
    if rolled and ids:
        cur = conn.execute(
            f"SELECT w.i, r.asset_id, {cols} "
            "FROM unnest(%s::timestamptz[], %s::timestamptz[], %s::int[]) WITH ORDINALITY w(a, b, i, k) "
            "JOIN rollup_asset_1h r ON w.k = width_bucket(r.bucket, %s::timestamptz[]) AND r.bucket < w.b "
            "WHERE r.asset_id = ANY (%s) AND r.bucket >= %s AND r.bucket < %s GROUP BY 1, 2",
            # Spans are sorted and disjoint: width_bucket finds a row's span by its start, so the join is an
            # equality (a hash join) instead of a range test of every row against every span.
            ([r[0] for r in rolled], [r[1] for r in rolled], [r[2] for r in rolled], [r[0] for r in rolled], ids,
             rolled[0][0], max(r[1] for r in rolled)))
        for i, asset, *vals in cur.fetchall():
            _accumulate(out[(asset, i)], vals)
    for a, b, i, width in raw_calls(raw):
        cur = conn.execute(f"SELECT r.bucket, r.asset_id, {cols.replace('sum(r.', '(r.')} "
                           "FROM asset_facts(%s, %s, %s, %s) r", (ids, a, b, width))
        for bucket, asset, *vals in cur.fetchall():
            _accumulate(out[(asset, i if i >= 0 else window_of(wins, bucket))], vals)
    for i, (a, b) in enumerate(wins):
        span = max(0.0, (min(b, max(now, a)) - a).total_seconds())
        for asset in ids:
            f = out[(asset, i)]
            f.unknown_s = max(0.0, span - sum(getattr(f, k) for k in KNOWN))
            f.assets = 1
    return out


def _accumulate(f: Facts, vals: Iterable[float | None]) -> None:
    for k, v in zip(SUMMED, vals, strict=True):
        setattr(f, k, getattr(f, k) + (v or 0))


def _merge_hourly(raw: list[Span]) -> list[Span]:
    """Runs of consecutive whole-hour spans become one call with hourly buckets (marked with index -1)."""
    hourly = sorted((a, b) for a, b, _ in raw if b - a == HOUR and floor_to(a, HOUR) == a)
    out = [s for s in raw if not (s[1] - s[0] == HOUR and floor_to(s[0], HOUR) == s[0])]
    run: list[datetime] = []
    for a, b in hourly:
        if run and run[1] == a:
            run[1] = b
        else:
            if run:
                out.append((run[0], run[1], -1))
            run = [a, b]
    if run:
        out.append((run[0], run[1], -1))
    return out


def window_of(wins: Sequence[tuple[datetime, datetime]], t: datetime) -> int:
    lo, hi = 0, len(wins) - 1
    while lo < hi:  # windows are sorted and contiguous
        mid = (lo + hi + 1) // 2
        if wins[mid][0] <= t:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _group_of(a: Asset, level: str) -> int:
    return {"asset": a.id, "line": a.line_id, "site": a.site_id, "company": a.company_id}[level]


def facts(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime, *, bucket: Bucket | None = None,
          by: By | None = None, now: datetime | None = None) -> list[FactsRow]:
    """Summed facts of the scope per window (and per group when ``by`` is given), in time then group order."""
    level = by or scope.level
    order = ("asset", "line", "site", "company")
    if order.index(level) > order.index(scope.level):
        raise ScopeError(f"cannot group a {scope.level} by {level}")
    members = assets(conn, scope)
    if level != "asset":
        members = [a for a in members if a.output]
    wins = windows(start, end, bucket, timezone(conn, scope))
    per = per_asset(conn, [a.id for a in members], wins, now)
    labels = names(conn, level, sorted({_group_of(m, level) for m in members} | {scope.id} if level == scope.level
                                       else {_group_of(m, level) for m in members}))
    rows: list[FactsRow] = []
    for i, (a, b) in enumerate(wins):
        groups: dict[int, Facts] = {}
        for m in members:
            g = _group_of(m, level)
            groups.setdefault(g, Facts()).add(per[(m.id, i)]).assets += 1
        if not groups and level == scope.level:
            groups[scope.id] = Facts()
        for g, f in sorted(groups.items()):
            rows.append(FactsRow(a, b, level, g, labels[g], f))
    return rows
