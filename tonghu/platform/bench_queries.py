"""``tonghu bench queries``: dashboard-sized analytics queries over a backfilled fleet, p50 / p95 / max each.

The fleet is ``tonghu.device_sims.models.fleet`` backfilled through the store path, rolled up once with
``rollups.refresh`` and vacuumed and analysed as autovacuum would have done by then. Every window ends at the last
minute of data, moved off the hour if it falls on one, as a dashboard's "now − 30 days .. now" does: the partial
hours at both ends then come from raw rows, the rest from rollups. Each query runs once to warm the caches, then
``repeats`` times; times include the Python side (KPI maths, disclosure), since that is what a dashboard waits for.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import psycopg
from psycopg.conninfo import make_conninfo

from tonghu.common.errors import ConfigError
from tonghu.device_sims.backfill import backfill
from tonghu.device_sims.models import Fleet, fleet
from tonghu.platform import migrate, rollups
from tonghu.platform.kpi import benchmark, disclosure, timeline
from tonghu.platform.kpi.core import core
from tonghu.platform.kpi.electronics import electronics
from tonghu.platform.kpi.equipment import equipment
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.petro import petrochemical
from tonghu.platform.kpi.scope import Scope

BUDGET_MS = 300.0
KEPT_NAME = "tonghu_bench_queries"
SECTOR_PACKS: dict[str, Callable[..., dict[str, Any]]] = {
    "electronics": electronics, "petrochemical": petrochemical, "equipment": equipment}
BENCH_METRIC = "oee"


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    what: str
    call: Callable[[psycopg.Connection], int]  # returns how many items it produced (rows, points, spans)


@dataclass(frozen=True, slots=True)
class Targets:
    start: datetime
    end: datetime
    line_id: int
    month: tuple[datetime, datetime]   # the calendar month (UTC) of the benchmark periods
    companies: dict[str, int]          # sector → its largest company
    sector_size: dict[str, int]        # sector → companies
    tag_id: int
    asset_id: int


def holds_fleet(conn: psycopg.Connection, fl: Fleet, days: int) -> bool:
    """Whether a backfill of ``fl`` over ``days`` finished here: it writes machine by machine, day by day, so the
    last machine's data spanning the days means every machine's does."""
    codes = [c.code for c in fl.companies]
    row = conn.execute("SELECT count(*) FROM companies WHERE code = ANY (%s)", (codes,)).fetchone()
    if not row or row[0] < len(codes):
        return False
    company, site, m = list(fl.machines())[-1]
    span = conn.execute(
        "SELECT max(s.time) - min(s.time) FROM samples_num s JOIN tags t ON t.id = s.tag_id "
        "JOIN sites si ON si.id = t.site_id JOIN companies c ON c.id = si.company_id "
        "WHERE c.code = %s AND si.code = %s AND t.key LIKE %s",
        (company.code, site.code, m.asset_path + "/%")).fetchone()
    return bool(span and span[0] is not None and span[0] >= timedelta(days=days) - timedelta(hours=1))


def prepare(dsn: str, companies: int, days: int, seed: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Backfill and roll up unless the database already holds the fleet; returns what was done and how long."""
    fl = fleet(companies, seed)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate.migrate(conn)
        if holds_fleet(conn, fl, days):
            log("the database already holds the fleet: no backfill")
            backfill_s = None
        else:
            log(f"backfilling {companies} companies × {days} days")
            began = time.perf_counter()
            backfill(dsn, companies, days, seed)
            backfill_s = time.perf_counter() - began
        # The fleet's companies share their figures, so the benchmark query computes them (a company without a
        # sharing row is never read); choices already made are kept.
        for (cid,) in conn.execute("SELECT c.id FROM companies c LEFT JOIN benchmark_sharing b ON b.company_id = c.id "
                                   "WHERE c.code = ANY (%s) AND b.company_id IS NULL ORDER BY c.id",
                                   ([c.code for c in fl.companies],)).fetchall():
            benchmark.set_sharing(conn, cid, True, "tonghu bench queries")
        rollup_s, rollup_rows = None, None
        if backfill_s is not None or len(rollups.watermarks(conn)) < len(rollups.ROLLUPS):
            log("building rollups")
            began = time.perf_counter()
            rollup_rows = rollups.refresh(conn).rows
            rollup_s = time.perf_counter() - began
        vacuum_s = None
        if _unanalyzed(conn):
            # What autovacuum does on a live system: without statistics the planner guesses one row per chunk,
            # and without the visibility map index-only scans visit the heap.
            log("vacuum analyze")
            began = time.perf_counter()
            conn.execute("VACUUM (ANALYZE)")
            vacuum_s = time.perf_counter() - began
    return {"machines": sum(1 for _ in fl.machines()), "backfill_s": _round(backfill_s),
            "rollups_s": _round(rollup_s), "rollup_rows_written": rollup_rows, "vacuum_analyze_s": _round(vacuum_s)}


def _unanalyzed(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM pg_stat_user_tables WHERE n_live_tup > 1000 "
                       "AND coalesce(last_analyze, last_autoanalyze) IS NULL").fetchone()
    return int(row[0]) if row else 0


def pick(conn: psycopg.Connection, fl: Fleet, days: int) -> Targets:
    """The largest line and companies of the fleet, and a busy tag and asset of that line."""
    codes = [c.code for c in fl.companies]
    # State reports are sparse, so they find the last day cheaply; numeric samples then give the last minute.
    last = conn.execute("SELECT max(time) FROM samples_num WHERE time > (SELECT max(time) FROM samples_text) "
                        "- interval '1 day'").fetchone()
    if not last or last[0] is None:
        raise ConfigError("the benchmark database holds no samples")
    end = last[0].replace(second=0, microsecond=0) + timedelta(minutes=1)
    if end.minute == 0:
        end -= timedelta(minutes=13)
    start = end - timedelta(days=days)
    members = conn.execute(
        "SELECT c.id, c.sector::text, l.id, count(a.id) FROM companies c JOIN sites s ON s.company_id = c.id "
        "JOIN areas ar ON ar.site_id = s.id JOIN lines l ON l.area_id = ar.id JOIN assets a ON a.line_id = l.id "
        "WHERE c.code = ANY (%s) GROUP BY c.id, l.id ORDER BY c.id, l.id", (codes,)).fetchall()
    if not members:
        raise ConfigError("the fleet's companies are not registered in the benchmark database")
    line_id = max(members, key=lambda r: (r[3], -r[2]))[2]
    size: dict[int, int] = {}
    sectors: dict[str, set[int]] = {}
    for cid, sector, _line, n in members:
        size[cid] = size.get(cid, 0) + n
        sectors.setdefault(sector, set()).add(cid)
    largest = {s: max(cs, key=lambda c: (size[c], -c)) for s, cs in sectors.items()}
    # The calendar month that overlaps the window most.
    month = max((benchmark.period_range("month", d.date()) for d in (start, end)),
                key=lambda m: min(m[1], end) - max(m[0], start))
    tag = conn.execute(
        "SELECT t.id FROM tags t JOIN assets a ON a.id = t.asset_id JOIN rollup_tag_1h r ON r.tag_id = t.id "
        "WHERE a.line_id = %s AND t.data_type = 'float' AND NOT is_counter(t.role, t.attrs) "
        "AND r.bucket >= %s AND r.bucket < %s GROUP BY t.id ORDER BY sum(r.n) DESC, t.id LIMIT 1",
        (line_id, start, end)).fetchone()
    asset = conn.execute(
        "SELECT t.asset_id FROM tags t JOIN assets a ON a.id = t.asset_id JOIN samples_text s ON s.tag_id = t.id "
        "WHERE a.line_id = %s AND t.role = 'state' AND s.time >= %s AND s.time < %s "
        "GROUP BY t.asset_id ORDER BY count(*) DESC, t.asset_id LIMIT 1", (line_id, end - timedelta(days=7), end)
    ).fetchone()
    if tag is None or asset is None:
        raise ConfigError(f"line {line_id} has no rolled-up numeric tag or no state samples in the window")
    return Targets(start, end, line_id, month, largest, {s: len(cs) for s, cs in sectors.items()}, tag[0], asset[0])


def _has_rework(conn: psycopg.Connection) -> bool:
    return bool(conn.execute("SELECT 1 FROM tags WHERE role = 'count_rework' LIMIT 1").fetchone())


def line_oee_by_hour(t: Targets) -> Callable[[psycopg.Connection], int]:
    def call(conn: psycopg.Connection) -> int:
        rework = _has_rework(conn)
        rows = facts(conn, Scope("line", t.line_id), t.start, t.end, bucket="hour")
        return sum(core(r.facts, has_rework=rework).oee is not None for r in rows)
    return call


def company_page(t: Targets, sector: str) -> Callable[[psycopg.Connection], int]:
    def call(conn: psycopg.Connection) -> int:
        scope = Scope("company", t.companies[sector])
        rework = _has_rework(conn)
        lines = [core(r.facts, has_rework=rework) for r in facts(conn, scope, t.start, t.end, by="line")]
        pack = SECTOR_PACKS[sector](conn, scope, t.start, t.end)
        stops = timeline.stop_pareto(conn, scope, t.start, t.end)
        return sum(k.oee is not None for k in lines) + sum(v is not None for v in pack.values()) + len(stops)
    return call


def sector_benchmark(t: Targets, sector: str) -> Callable[[psycopg.Connection], int]:
    """The steps of ``benchmark.sector_benchmark`` one by one, so that the companies that contributed are counted."""
    metric = benchmark.METRICS[BENCH_METRIC]

    def call(conn: psycopg.Connection) -> int:
        given = benchmark.contributions(conn, sector, metric, *t.month)
        cells = disclosure.disclose(given, ("region",), str(t.companies[sector]))
        cells = benchmark.remembered(conn, (sector, metric.name, "month", t.month[0]), cells, given)
        return len(given) + sum(c.released for c in cells)
    return call


def tag_trend_and_timeline(t: Targets) -> Callable[[psycopg.Connection], int]:
    def call(conn: psycopg.Connection) -> int:
        trend = timeline.trend(conn, t.tag_id, t.start, t.end, max_points=2000)
        spans = timeline.state_timeline(conn, t.asset_id, t.end - timedelta(days=7), t.end)
        return len(trend["time"]) + len(spans)
    return call


def queries(t: Targets) -> list[Query]:
    days = (t.end - t.start) / timedelta(days=1)
    out = [Query("line_oee_by_hour", f"line {t.line_id}: facts by hour + core() per row, {days:g} days",
                 line_oee_by_hour(t))]
    out += [Query(f"company_page_{s}", f"company {cid}: core KPIs by line + {s} pack + stop Pareto, {days:g} days",
                  company_page(t, s)) for s, cid in sorted(t.companies.items())]
    out += [Query(f"sector_benchmark_{s}", f"{n} companies: {BENCH_METRIC} of each over {t.month[0]:%Y-%m} "
                  "(facts per company), disclosure by region", sector_benchmark(t, s))
            for s, n in sorted(t.sector_size.items())]
    out.append(Query("tag_trend_and_state_timeline", f"tag {t.tag_id}: {days:g}-day trend (2000 points max); "
                     f"asset {t.asset_id}: 7-day state timeline", tag_trend_and_timeline(t)))
    return out


def measure(conn: psycopg.Connection, q: Query, repeats: int) -> dict[str, Any]:
    items = q.call(conn)  # warm-up
    ms = []
    for _ in range(repeats):
        began = time.perf_counter()
        items = q.call(conn)
        ms.append((time.perf_counter() - began) * 1000.0)
    a = np.array(ms)
    # numpy's default percentile interpolates linearly between order statistics (Hyndman–Fan type 7).
    p95 = float(np.percentile(a, 95))
    return {"name": q.name, "what": q.what, "runs": repeats, "items": items, "p50_ms": round(float(np.median(a)), 1),
            "p95_ms": round(p95, 1), "max_ms": round(float(a.max()), 1), "min_ms": round(float(a.min()), 1),
            "within_budget": p95 < BUDGET_MS}


def data_size(conn: psycopg.Connection) -> dict[str, Any]:
    tables = ("samples_num", "samples_text", "events", "rollup_tag_1m", "rollup_tag_1h", "rollup_asset_1h")
    out: dict[str, Any] = {}
    for table in tables:
        row = conn.execute(f"SELECT count(*), hypertable_size('{table}') FROM {table}").fetchone()
        out[f"{table}_rows"], out[f"{table}_mb"] = (row[0], round(row[1] / 2**20, 1)) if row else (None, None)
    for what, sql in (("assets", "SELECT count(*) FROM assets"), ("tags", "SELECT count(*) FROM tags"),
                      ("database_mb", "SELECT pg_database_size(current_database()) / 1048576")):
        row = conn.execute(sql).fetchone()
        out[what] = int(row[0]) if row else None
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def run(admin_dsn: str, database_url: str | None = None, companies: int = 18, days: int = 30, seed: int = 0,
        repeats: int = 20, keep: bool = False, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    if repeats < 1 or days < 1 or companies < 1:
        raise ConfigError("--repeats, --days and --companies must be at least 1")
    name = None
    if database_url is None:
        name = KEPT_NAME if keep else f"tonghu_bench_{uuid.uuid4().hex[:8]}"
        migrate.ensure_database(admin_dsn, name)
        database_url = make_conninfo(admin_dsn, dbname=name)
    try:
        setup = prepare(database_url, companies, days, seed, log)
        with psycopg.connect(database_url, autocommit=True, application_name="tonghu-bench-queries") as conn:
            targets = pick(conn, fleet(companies, seed), days)
            load_before = os.getloadavg()
            results = []
            for q in queries(targets):
                log(f"measuring {q.name}")
                results.append(measure(conn, q, repeats))
            load_after = os.getloadavg()
            size = data_size(conn)
    finally:
        if name is not None and not keep:
            with psycopg.connect(admin_dsn, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return {
        "companies": companies, "days": days, "seed": seed, "database": name or "(given)", "kept": name is None or keep,
        "window": [targets.start.isoformat(), targets.end.isoformat()], "budget_p95_ms": BUDGET_MS,
        "all_within_budget": all(r["within_budget"] for r in results), "queries": results, "setup": setup,
        "data": size, "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in load_after], "cores": os.cpu_count(),
    }
