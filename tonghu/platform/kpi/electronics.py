"""Electronics (SMT) KPIs: first pass yield, DPMO, placement rate and not-placed ratio, feeder / nozzle and AOI
defect Paretos, AOI false calls, line balance. All from counter increases summed over the scope."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import psycopg

from tonghu.platform.kpi.core import ratio
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import Scope, assets
from tonghu.platform.kpi.tags import TagInfo, TagStats, by_role, total

ROLES = ("aoi_inspected", "aoi_passed_first", "aoi_defects", "aoi_false_calls", "aoi_defects_by_type", "placements",
         "placement_errors", "mispicks", "rated_placement_rate")


def pareto(rows: list[tuple[TagInfo, TagStats]], role: str, attr: str) -> list[dict[str, Any]]:
    """Counts of one role grouped by a tag attribute, largest first, with the cumulative share."""
    sums: dict[str, float] = defaultdict(float)
    for t, s in rows:
        if t.role == role and attr in t.attrs:
            sums[str(t.attrs[attr])] += s.delta
    grand = sum(sums.values())
    out, run = [], 0.0
    for key, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0])):
        run += v
        out.append({"key": key, "count": v, "share": ratio(v, grand), "cumulative": ratio(run, grand)})
    return out


def electronics(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime) -> dict[str, Any]:
    rows = by_role(conn, scope, start, end, ROLES)
    per = {r.group_id: r.facts for r in facts(conn, scope, start, end, by="asset")}
    inspected, passed = total(rows, "aoi_inspected"), total(rows, "aoi_passed_first")
    defects, false_calls = total(rows, "aoi_defects"), total(rows, "aoi_false_calls")
    placed, missing = total(rows, "placements"), total(rows, "placement_errors")
    opportunities = sum(f.opportunities for f in per.values())
    # Rated placements an hour of production: each placement machine's rated rate (mean of its reports) times
    # its own production hours, so a faster machine weighs in with its own rate.
    rated_capacity = sum((s.mean or 0.0) * per[t.asset_id].production_s / 3600.0
                         for t, s in rows if t.role == "rated_placement_rate" and t.asset_id in per)
    pnp_assets = {t.asset_id for t, _ in rows if t.role == "placements"}
    pnp_hours = sum(per[a].production_s for a in pnp_assets if a in per) / 3600.0
    dpmo = ratio(defects, opportunities)
    return {
        # IPC-7912A: first pass yield = units passing the first inspection without a call / units inspected.
        "fpy": ratio(passed, inspected),
        # DPMO = defects / (units × opportunities per unit) × 10^6 (IPC-7912A).
        "dpmo": dpmo * 1e6 if dpmo is not None else None,
        "placement_rate_per_h": ratio(placed, pnp_hours),
        "placement_rate_vs_rated": ratio(placed, rated_capacity),
        "not_placed_ratio": ratio(missing, placed + missing),
        "false_call_rate": ratio(false_calls, false_calls + defects),   # share of AOI calls that were false
        "false_calls_per_board": ratio(false_calls, inspected),
        "feeder_pareto": pareto(rows, "mispicks", "feeder_slot"),
        "nozzle_pareto": pareto(rows, "mispicks", "nozzle"),
        "aoi_defect_pareto": pareto(rows, "aoi_defects_by_type", "defect_type"),
        "line_balance": line_balance(conn, scope, per),
        "inspected": inspected, "passed_first": passed, "defects": defects, "false_calls": false_calls,
        "placements": placed, "not_placed": missing, "opportunities": opportunities,
    }


def line_balance(conn: psycopg.Connection, scope: Scope, per: dict[int, Any]) -> dict[str, float | None]:
    """Line balance efficiency = Σ station cycle times / (stations × slowest station's cycle time), each station's
    cycle time being its ideal time per unit produced over the range. Lines whose stations produced nothing are
    left out."""
    by_line: dict[str, list[float]] = defaultdict(list)
    for a in assets(conn, scope):
        f = per.get(a.id)
        if a.output or f is None or f.produced <= 0:
            continue
        by_line[a.path.rsplit("/", 1)[0]].append(f.ideal_s / f.produced)
    return {line: (sum(ct) / (len(ct) * max(ct)) if ct and max(ct) > 0 else None)
            for line, ct in sorted(by_line.items()) if len(ct) > 1}
