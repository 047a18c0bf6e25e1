"""Equipment manufacturing KPIs (CNC, assembly): spindle utilisation, cycle time against standard, tool life
used and scrap by cause; OEE, MTBF and MTTR come from the core KPIs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from tonghu.platform.kpi.core import ratio
from tonghu.platform.kpi.electronics import pareto
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import Scope
from tonghu.platform.kpi.tags import by_role

ROLES = ("cycle_time", "tool_life_used", "count_scrap_cause")


def equipment(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime) -> dict[str, Any]:
    rows = by_role(conn, scope, start, end, ROLES)
    per = {r.group_id: r.facts for r in facts(conn, scope, start, end, by="asset")}
    spindles = {a for a, f in per.items() if f.cutting_s > 0}
    cutting = sum(per[a].cutting_s for a in spindles)
    busy = sum(per[a].production_s + per[a].setup_s + per[a].unplanned_down_s for a in spindles)
    cycles = [(t, s) for t, s in rows if t.role == "cycle_time" and s.n]
    # Actual cycle time: the mean of the reported cycle times; standard: ideal time per unit produced.
    actual = ratio(sum(s.vsum for _, s in cycles), sum(s.n for _, s in cycles))
    with_ct = {t.asset_id for t, _ in cycles}
    ideal = ratio(sum(per[a].ideal_s for a in with_ct if a in per), sum(per[a].produced for a in with_ct if a in per))
    tools = [{"asset_id": t.asset_id, "tag": t.name, "last": s.vlast, "max": s.vmax}
             for t, s in rows if t.role == "tool_life_used" and s.n]
    return {
        "spindle_utilisation": ratio(cutting, busy),   # cutting time / planned busy time of spindle machines
        "cycle_time_s": actual, "standard_cycle_time_s": ideal,
        "cycle_time_vs_standard": ratio(actual or 0.0, ideal or 0.0) if actual is not None else None,
        "tool_life_used": tools,
        "scrap_by_cause": pareto(rows, "count_scrap_cause", "cause"),
    }
