"""Sector benchmarks for industry associations: each company's KPI from its own data, released only through
disclosure control (:mod:`tonghu.platform.kpi.disclosure`, docs/BENCHMARKS.md).

Periods are calendar weeks (ISO, Monday) and months in UTC, the same instants for every company of a sector, so
figures of companies in different time zones cover the same hours. Only companies that opted in
(``benchmark_sharing``) contribute; the company filter dimension is the region of its first site (the time-zone
area, e.g. "Asia"). Figures are ratios of sums (Σnumerator / Σdenominator per company), and volume-weighted sector
aggregates use the same sums, subject to the dominance rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tonghu.platform.kpi.disclosure import (
    DEFAULT_THRESHOLDS,
    BenchmarkCell,
    Contribution,
    Reason,
    Thresholds,
    disclose,
)
from tonghu.platform.kpi.electronics import electronics
from tonghu.platform.kpi.facts import Facts, per_asset
from tonghu.platform.kpi.petro import petrochemical
from tonghu.platform.kpi.scope import Scope, ScopeError, assets

Pair = tuple[float, float] | None  # (numerator, denominator), None when the company has no such figure


@dataclass(slots=True)
class CompanyFacts:
    total: Facts          # the company's output assets summed, as facts() sums a company
    assets: list[Facts]   # every asset, for figures of particular machines (spindles)


def company_facts(conn: psycopg.Connection, companies: list[int], start: datetime, end: datetime
                  ) -> dict[int, CompanyFacts]:
    """Facts of several companies from one read of the rollups (and one raw call per partial hour), rather than
    one per company."""
    members = {cid: assets(conn, Scope("company", cid)) for cid in companies}
    per = per_asset(conn, [a.id for ms in members.values() for a in ms], [(start, end)])
    out = {}
    for cid, ms in members.items():
        total = Facts()
        for a in ms:
            if a.output:
                total.add(per[(a.id, 0)])
        out[cid] = CompanyFacts(total, [per[(a.id, 0)] for a in ms])
    return out


def _facts_pair(num: Callable[[Facts], float], den: Callable[[Facts], float]) -> Callable[[CompanyFacts], Pair]:
    def get(cf: CompanyFacts) -> Pair:
        n, d = num(cf.total), den(cf.total)
        return (n, d) if d > 0 else None
    return get


def _pack_pair(pack: Callable[..., dict[str, Any]], num: str, den: str, scale: float = 1.0) -> Callable[..., Pair]:
    def get(conn: psycopg.Connection, s: Scope, a: datetime, b: datetime) -> Pair:
        r = pack(conn, s, a, b)
        n, d = r.get(num), r.get(den)
        return (n * scale, d) if n is not None and d else None
    return get


def _pbt(f: Facts) -> float:
    return f.production_s + f.setup_s + f.unplanned_down_s


def _spindle(cf: CompanyFacts) -> Pair:
    per = [f for f in cf.assets if f.cutting_s > 0]
    den = sum(_pbt(f) for f in per)
    return (sum(f.cutting_s for f in per), den) if den > 0 else None


def _oee(cf: CompanyFacts) -> Pair:
    # OEE = ideal time of good units / PBT: the product A × E × Q written as one ratio of sums.
    f = cf.total
    if f.produced <= 0 or _pbt(f) <= 0:
        return None
    return f.ideal_s * f.good / f.produced, _pbt(f)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    label: str
    unit: str
    sectors: tuple[str, ...]
    pair: Callable[..., Pair]  # of CompanyFacts when from_facts, else of (conn, scope, start, end)
    scale: float = 1.0  # value = numerator / denominator × scale
    from_facts: bool = True
    higher_is_better: bool = True


ALL = ("electronics", "petrochemical", "equipment")
METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("oee", "OEE", "%", ALL, _oee, 100.0),
    Metric("availability", "Availability", "%", ALL, _facts_pair(lambda f: f.production_s, _pbt), 100.0),
    Metric("quality", "Quality ratio", "%", ALL, _facts_pair(lambda f: f.good, lambda f: f.produced), 100.0),
    Metric("mtbf_h", "MTBF", "h", ALL, _facts_pair(lambda f: f.production_s, lambda f: f.failures), 1 / 3600),
    Metric("energy_per_good_kwh", "Energy per good unit", "kWh", ("electronics", "equipment"),
           _facts_pair(lambda f: f.energy_main_kwh, lambda f: f.good), higher_is_better=False),
    Metric("fpy", "First pass yield", "%", ("electronics",),
           _pack_pair(electronics, "passed_first", "inspected"), 100.0, from_facts=False),
    Metric("dpmo", "DPMO", "ppm", ("electronics",), _pack_pair(electronics, "defects", "opportunities"), 1e6,
           higher_is_better=False, from_facts=False),
    Metric("sec_gj_per_t", "Specific energy consumption", "GJ/t", ("petrochemical",),
           _pack_pair(petrochemical, "primary_energy_gj", "products_total_t"), higher_is_better=False,
           from_facts=False),
    Metric("co2_t_per_t", "CO2 intensity", "t/t", ("petrochemical",),
           _pack_pair(petrochemical, "co2_t", "products_total_t"), higher_is_better=False, from_facts=False),
    Metric("spindle_utilisation", "Spindle utilisation", "%", ("equipment",), _spindle, 100.0),
)}


def period_range(period: str, start: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the week (Monday) or month containing ``start``."""
    if period == "week":
        a = start - timedelta(days=start.weekday())
        b = a + timedelta(days=7)
    elif period == "month":
        a = start.replace(day=1)
        b = (a + timedelta(days=32)).replace(day=1)
    else:
        raise ScopeError(f"period {period!r} must be week or month")
    return datetime(a.year, a.month, a.day, tzinfo=UTC), datetime(b.year, b.month, b.day, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Benchmark:
    sector: str
    metric: Metric
    period: str
    start: datetime
    end: datetime
    cells: tuple[BenchmarkCell, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"sector": self.sector, "metric": self.metric.name, "label": self.metric.label,
                "unit": self.metric.unit, "period": self.period, "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "cells": [{"dimension": c.dimension, "value": c.value, "released": c.released,
                           "suppressed_because": [str(r) for r in c.reasons], "n": c.n, "p10": c.p10, "p25": c.p25,
                           "p50": c.p50, "p75": c.p75, "p90": c.p90, "aggregate": c.weighted,
                           "own_value": c.viewer_value, "own_rank": c.viewer_rank} for c in self.cells]}


def contributions(conn: psycopg.Connection, sector: str, metric: Metric, start: datetime, end: datetime
                  ) -> list[Contribution]:
    """Each company of the sector with its figure; companies without the figure (no data) are left out."""
    rows = conn.execute(
        "SELECT c.id, coalesce(b.shared, false), "
        "       (SELECT split_part(s.timezone, '/', 1) FROM sites s WHERE s.company_id = c.id ORDER BY s.id LIMIT 1) "
        "FROM companies c LEFT JOIN benchmark_sharing b ON b.company_id = c.id "
        "WHERE c.sector = %s::sector ORDER BY c.id", (sector,)).fetchall()
    shared_ids = [cid for cid, shared, _ in rows if shared]
    cfs = company_facts(conn, shared_ids, start, end) if metric.from_facts and shared_ids else {}
    out = []
    for cid, shared, region in rows:
        if not shared:
            continue  # a company that does not share is not even read
        pair = metric.pair(cfs[cid]) if metric.from_facts else metric.pair(conn, Scope("company", cid), start, end)
        if pair is None:
            continue
        num, den = pair
        out.append(Contribution(str(cid), num / den * metric.scale, True, {"region": region or "UTC"},
                                num * metric.scale, den))
    return out


def sector_benchmark(conn: psycopg.Connection, sector: str, metric_name: str, period: str, day: date,
                     viewer_company: int | None = None, dimensions: tuple[str, ...] = ("region",)) -> Benchmark:
    """The released cells of one metric for one sector and period. ``viewer_company`` comes from the viewer's
    session (a member sees its own position), never from a request parameter."""
    metric = METRICS.get(metric_name)
    if metric is None:
        raise ScopeError(f"unknown benchmark metric {metric_name!r}; known: {', '.join(METRICS)}")
    if sector not in metric.sectors:
        raise ScopeError(f"metric {metric_name!r} is not defined for sector {sector!r}")
    start, end = period_range(period, day)
    contribs = contributions(conn, sector, metric, start, end)
    cells = disclose(contribs, dimensions, str(viewer_company) if viewer_company is not None else None)
    cells = remembered(conn, (sector, metric.name, period, start), cells, contribs)
    return Benchmark(sector, metric, period, start, end, cells)


def _members(cell: BenchmarkCell, contribs: list[Contribution]) -> list[int]:
    return sorted(int(c.company) for c in contribs if c.opted_in and (
        cell.dimension is None or c.attributes.get(cell.dimension) == cell.value))


def remembered(conn: psycopg.Connection, key: tuple[str, str, str, datetime], cells: tuple[BenchmarkCell, ...],
               contribs: list[Contribution], t: Thresholds = DEFAULT_THRESHOLDS) -> tuple[BenchmarkCell, ...]:
    """Check released cells against earlier releases of the same cell and record the new ones.

    ``disclose`` sees one request; releases of the same period repeat over time while opt-ins change and late data
    arrives. A cell whose companies differ from an earlier release by 1 … min_difference − 1 companies is
    suppressed (differencing); suppressing never makes another released cell unsafe."""
    out = []
    with conn.transaction():
        for cell in cells:
            if not cell.released:
                out.append(cell)
                continue
            members = _members(cell, contribs)
            where = (*key, cell.dimension or "", cell.value or "")
            earlier = conn.execute(
                "SELECT members FROM benchmark_releases WHERE sector = %s::sector AND metric = %s AND period = %s "
                "AND start = %s AND dimension = %s AND value = %s", where).fetchall()
            if any(0 < len(set(members) ^ set(m)) < t.min_difference for (m,) in earlier):
                out.append(BenchmarkCell(cell.dimension, cell.value, (Reason.DIFFERENCING,)))
                continue
            conn.execute("INSERT INTO benchmark_releases (sector, metric, period, start, dimension, value, members) "
                         "VALUES (%s::sector, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", (*where, members))
            out.append(cell)
    return tuple(out)


def set_sharing(conn: psycopg.Connection, company_id: int, shared: bool, actor: str) -> None:
    """Opt a company in or out of sector benchmarks; audited."""
    row = conn.execute("SELECT code FROM companies WHERE id = %s", (company_id,)).fetchone()
    if row is None:
        raise ScopeError(f"company {company_id} is not registered")
    with conn.transaction():
        conn.execute("INSERT INTO benchmark_sharing (company_id, shared, changed_by) VALUES (%s, %s, %s) "
                     "ON CONFLICT (company_id) DO UPDATE SET shared = EXCLUDED.shared, changed_at = now(), "
                     "changed_by = EXCLUDED.changed_by", (company_id, shared, actor))
        conn.execute("INSERT INTO audit_log (actor, action, detail) VALUES (%s, 'benchmark_sharing', %s)",
                     (actor, Jsonb({"company": row[0], "shared": shared})))
