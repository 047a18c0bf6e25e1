"""The plant overview: OEE and its factors per line, production against the ideal output, scrap and energy, OEE
over time. Every figure comes from summed facts (``facts(by="line")`` then ``core()``), never from averaged
ratios. Pure: no I/O.

The target of a line is its ideal output: what it would have made at its ideal cycle time over its planned busy
time, PBT × produced / Σ(ideal time of the units made) = PBT / mean ideal cycle time. A line that made nothing in
the range has no known ideal cycle time and so no target.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import plotly.graph_objects as go
from dash import html

from tonghu.dashboards.views import common
from tonghu.platform.kpi.core import CoreKpis, core
from tonghu.platform.kpi.facts import Facts, FactsRow

TARGET_NOTE = ("Target = ideal output: what the line would have made at its ideal cycle time during its planned "
               "busy time (production + setup + unplanned down time).")
FACTORS = (("availability", "Availability"), ("effectiveness", "Performance"), ("quality", "Quality"),
           ("oee", "OEE"))


@dataclass(frozen=True, slots=True)
class LineSummary:
    group_id: int
    name: str
    facts: Facts
    kpis: CoreKpis
    target: float | None


def ideal_output(f: Facts) -> float | None:
    """Units the scope would have made at its ideal cycle time in its planned busy time; None without a known
    ideal cycle time (nothing produced, or no ideal cycle time reported)."""
    pbt = f.production_s + f.setup_s + f.unplanned_down_s
    if f.ideal_s <= 0 or f.produced <= 0:
        return None
    return pbt * f.produced / f.ideal_s


def summarise(rows: Sequence[FactsRow], names: dict[int, str] | None = None
              ) -> tuple[list[LineSummary], LineSummary]:
    """Per group and in total, the total from the summed facts of the groups; ``names`` overrides the engine's
    group names (codes repeat across sites). The total target is the sum of the groups' targets: each line at its
    own ideal cycle time, and a line without one adds nothing (rather than being priced at another line's)."""
    total = Facts()
    out = []
    for r in rows:
        total.add(r.facts)
        name = (names or {}).get(r.group_id, r.group_name)
        out.append(LineSummary(r.group_id, name, r.facts, core(r.facts, asset_level=r.level == "asset"),
                               ideal_output(r.facts)))
    targets = [ln.target for ln in out if ln.target is not None]
    return out, LineSummary(0, "Total", total, core(total), sum(targets) if targets else None)


def over_time(rows: Sequence[FactsRow]) -> list[FactsRow]:
    """Rows of several time buckets summed per group (the whole range of each group), in first-seen order."""
    groups: dict[int, FactsRow] = {}
    for r in rows:
        g = groups.get(r.group_id)
        if g is None:
            groups[r.group_id] = FactsRow(r.start, r.end, r.level, r.group_id, r.group_name, Facts().add(r.facts))
        else:
            groups[r.group_id] = FactsRow(g.start, max(g.end, r.end), g.level, g.group_id, g.group_name,
                                          g.facts.add(r.facts))
    return list(groups.values())


def trend_points(rows: Sequence[FactsRow]) -> list[tuple[datetime, CoreKpis]]:
    """Rows of several groups summed per time bucket, with their core KPIs, in time order."""
    buckets: dict[datetime, Facts] = {}
    for r in rows:
        buckets.setdefault(r.start, Facts()).add(r.facts)
    return [(t, core(f)) for t, f in sorted(buckets.items())]


def attainment(lines: Sequence[LineSummary]) -> float | None:
    """Produced / target over the lines that have a target (a line without one is left out of both)."""
    known = [ln for ln in lines if ln.target]
    target = sum(ln.target or 0.0 for ln in known)
    return sum(ln.facts.produced for ln in known) / target if target else None


def summary_cards(total: LineSummary, lines: Sequence[LineSummary]) -> object:
    k, f = total.kpis, total.facts
    reached = attainment(lines)
    span = sum(getattr(f, n) for n in ("production_s", "setup_s", "unplanned_down_s", "planned_down_s", "idle_s",
                                       "unknown_s"))
    unknown = f.unknown_s / span if span > 0 else None
    return common.stat_row([
        common.stat_card("OEE", common.fmt_pct(k.oee), tone=common.tone_for(k.oee, 0.65, 0.45), id="plant-oee"),
        common.stat_card("Availability", common.fmt_pct(k.availability)),
        common.stat_card("Performance", common.fmt_pct(k.effectiveness)),
        common.stat_card("Quality", common.fmt_pct(k.quality)),
        common.stat_card("Produced vs target", common.fmt_num(f.produced),
                         f"target {common.fmt_num(total.target)} · {common.fmt_pct(reached, 0)}"
                         if total.target else "no ideal cycle time known"),
        common.stat_card("Scrap ratio", common.fmt_pct(k.scrap_ratio, 2),
                         tone=common.tone_for(k.scrap_ratio, 0.01, 0.03, higher_is_better=False)),
        common.stat_card("Energy per good unit", common.fmt_sig(k.energy_per_good_kwh, "kWh"),
                         "main meters" if k.energy_per_good_kwh is not None else "no main meter or no good units"),
        common.stat_card("Unknown time", common.fmt_pct(unknown, 1), "time without a known state",
                         tone="warning" if unknown and unknown > 0.05 else ""),
    ], md=3)


def oee_figure(lines: Sequence[LineSummary], title: str = "OEE and its factors per line") -> go.Figure:
    """Availability, performance, quality and OEE side by side for each line."""
    if not any(ln.kpis.oee is not None or ln.kpis.availability is not None for ln in lines):
        return common.empty_figure("No planned busy time in the range: no line ran, set up or broke down")
    names = [ln.name for ln in lines]
    traces = []
    for key, factor in FACTORS:
        vals = [getattr(ln.kpis, key) for ln in lines]
        traces.append(go.Bar(x=names, y=[None if v is None else v * 100 for v in vals], name=factor,
                             marker_color=common.FACTOR_COLOURS[key],
                             text=[common.fmt_pct(v, 0) if key == "oee" else "" for v in vals],
                             textposition="outside", cliponaxis=False,
                             hovertemplate=f"%{{x}} · {factor}: %{{y:.1f}} %<extra></extra>"))
    return common.figure(traces, title, barmode="group", bargap=0.25,
                         yaxis={"title": {"text": "%"}, "rangemode": "tozero"})


def production_figure(lines: Sequence[LineSummary]) -> go.Figure:
    """Good and scrapped units per line against the line's ideal output (the grey bar behind)."""
    if not any(ln.facts.produced > 0 or ln.target for ln in lines):
        return common.empty_figure("Nothing was produced in the range — are the lines' counters reporting?")
    names = [ln.name for ln in lines]
    good = [ln.facts.good for ln in lines]
    traces = [
        go.Bar(x=names, y=[ln.target for ln in lines], name="Target (ideal output)", width=0.7,
               marker={"color": "rgba(31,41,51,0.10)", "line": {"color": common.TARGET, "width": 1.5}},
               hovertemplate="%{x} target: %{y:,.0f}<extra></extra>"),
        go.Bar(x=names, y=good, name="Good", width=0.45, marker_color=common.colour("production"),
               hovertemplate="%{x} good: %{y:,.0f}<extra></extra>"),
        go.Bar(x=names, y=[max(0.0, ln.facts.produced - ln.facts.good) for ln in lines], base=good, name="Not good",
               width=0.45, marker_color=common.colour("unplanned_down"),
               hovertemplate="%{x} not good: %{y:,.0f}<extra></extra>")]
    return common.figure(traces, "Production vs target", barmode="overlay",
                         yaxis={"title": {"text": "units"}, "rangemode": "tozero"})


def scrap_energy_figure(lines: Sequence[LineSummary]) -> go.Figure:
    """Scrap ratio and energy per good unit per line, side by side (two plots on one figure)."""
    names = [ln.name for ln in lines]
    scrap = [ln.kpis.scrap_ratio for ln in lines]
    energy = [ln.kpis.energy_per_good_kwh for ln in lines]
    if all(v is None for v in scrap + energy):
        return common.empty_figure("No units produced in the range: no scrap ratio or energy per unit")
    traces = [go.Bar(x=names, y=[None if v is None else v * 100 for v in scrap], name="Scrap ratio",
                     marker_color=common.colour("unplanned_down"), hovertemplate="%{x}: %{y:.2f} %<extra></extra>"),
              go.Bar(x=names, y=energy, name="Energy per good unit", marker_color=common.ACCENT, xaxis="x2",
                     yaxis="y2", hovertemplate="%{x}: %{y:.3g} kWh<extra></extra>")]
    titles = [{"text": text, "xref": "paper", "yref": "paper", "x": x, "y": 1.0, "yanchor": "bottom",
               "xanchor": "center", "showarrow": False, "font": {"size": 14}}
              for text, x in (("Scrap ratio (%)", 0.22), ("Energy per good unit (kWh)", 0.78))]
    return common.figure(traces, "", showlegend=False, margin={"l": 10, "r": 10, "t": 36, "b": 30},
                         xaxis={"domain": [0, 0.44], "anchor": "y"}, yaxis={"anchor": "x"},
                         xaxis2={**common.AXIS, "domain": [0.56, 1], "anchor": "y2"},
                         yaxis2={**common.AXIS, "anchor": "x2"}, annotations=titles)


def oee_trend_figure(points: Sequence[tuple[datetime, CoreKpis]], bucket: str, tz: str = "UTC") -> go.Figure:
    """OEE and its factors per time bucket of the whole scope."""
    if not any(k.availability is not None for _, k in points):
        return common.empty_figure("No planned busy time in the range")
    x = common.local((t for t, _ in points), tz)
    traces = []
    for key, factor in FACTORS:
        vals = [getattr(k, key) for _, k in points]
        traces.append(go.Scatter(
            x=x, y=[None if v is None else v * 100 for v in vals], name=factor, mode="lines+markers",
            line={"color": common.FACTOR_COLOURS[key], "width": 3 if key == "oee" else 1.5}, connectgaps=False,
            hovertemplate=f"{factor}: %{{y:.1f}} %<extra></extra>"))
    return common.figure(traces, f"OEE per {bucket}", hovermode="x unified",
                         yaxis={"title": {"text": "%"}, "rangemode": "tozero"},
                         xaxis={"title": {"text": common.time_axis_title(tz)}})


def line_table(lines: Sequence[LineSummary]) -> object:
    if not lines:
        return common.empty_state("No line with production data in this scope.",
                                  "Lines appear once their machines report states and counters.")
    rows = []
    for ln in lines:
        k, f = ln.kpis, ln.facts
        rows.append([ln.name, common.fmt_pct(k.oee), common.fmt_pct(k.availability), common.fmt_pct(k.effectiveness),
                     common.fmt_pct(k.quality), common.fmt_num(f.produced), common.fmt_num(ln.target),
                     common.fmt_pct(f.produced / ln.target if ln.target else None, 0),
                     common.fmt_pct(k.scrap_ratio, 2), common.fmt_sig(k.energy_per_good_kwh),
                     common.fmt_duration(k.mtbf_s), common.fmt_duration(k.mttr_s)])
    head = ["Line", "OEE", "Availability", "Performance", "Quality", "Produced", "Target", "Attainment", "Scrap",
            "kWh / good", "MTBF", "MTTR"]
    return html.Div([common.table(head, rows, id="plant-lines-table", numeric=range(1, len(head))),
                     html.Small(TARGET_NOTE, className="text-muted")])
