"""Equipment manufacturing sector page (CNC, assembly): OEE per machine, spindle utilisation, cycle time against
the standard, MTBF and MTTR per machine, tool life used and scrap by cause. Built from ``kpi.equipment`` and the
core KPIs of ``facts(by="asset")``. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from tonghu.dashboards.views import charts, common
from tonghu.dashboards.views.plant import LineSummary, oee_figure

TOOL_WARN = 90.0  # % of tool life used from which a tool is due for change


def cards(pack: dict[str, Any], total: LineSummary) -> Any:
    k = total.kpis
    ratio = pack["cycle_time_vs_standard"]
    return common.stat_row([
        common.stat_card("OEE", common.fmt_pct(k.oee), tone=common.tone_for(k.oee, 0.65, 0.45), id="sector-oee"),
        common.stat_card("Availability", common.fmt_pct(k.availability)),
        common.stat_card("Spindle utilisation", common.fmt_pct(pack["spindle_utilisation"]),
                         "cutting time / planned busy time"),
        common.stat_card("Cycle time", common.fmt_duration(pack["cycle_time_s"]),
                         f"standard {common.fmt_duration(pack['standard_cycle_time_s'])} · "
                         f"{common.fmt_pct(ratio, 0)} of it" if ratio is not None else "no cycle times reported",
                         tone=common.tone_for(ratio, 1.05, 1.15, higher_is_better=False)),
        common.stat_card("MTBF", common.fmt_duration(k.mtbf_s), "operating time between failures"),
        common.stat_card("MTTR", common.fmt_duration(k.mttr_s), "mean time to restore"),
    ])


def reliability_figure(machines: Sequence[LineSummary]) -> go.Figure:
    """MTBF against MTTR per machine: the top left corner is where machines should be."""
    pts = [(m.name, m.kpis.mtbf_s, m.kpis.mttr_s) for m in machines
           if m.kpis.mtbf_s is not None and m.kpis.mttr_s is not None]
    if not pts:
        return common.empty_figure("No failures in the range: MTBF and MTTR need at least one")
    dots = go.Scatter(x=[p[2] / 60 for p in pts], y=[p[1] / 3600 for p in pts], mode="markers+text",
                               text=[p[0].rsplit("/", 1)[-1] for p in pts], textposition="top center",
                               marker={"size": 11, "color": common.ACCENT},
                               customdata=[[p[0], common.fmt_duration(p[1]), common.fmt_duration(p[2])] for p in pts],
                               hovertemplate="%{customdata[0]}<br>MTBF %{customdata[1]} · MTTR %{customdata[2]}"
                                             "<extra></extra>")
    return common.figure([dots], "MTBF and MTTR per machine", showlegend=False,
                         xaxis={"title": {"text": "MTTR (min)"}, "rangemode": "tozero"},
                         yaxis={"title": {"text": "MTBF (h)"}, "rangemode": "tozero"})


def tool_figure(tools: Sequence[dict[str, Any]], names: dict[int, str]) -> go.Figure:
    """Tool life used (the latest reading) per machine's tool tag, with the highest reading as a marker."""
    if not tools:
        return common.empty_figure("No tool life readings in the range")
    labels = [f"{names.get(t['asset_id'], t['asset_id'])} · {t['tag']}" for t in tools]
    last = [t["last"] for t in tools]
    highest = go.Scatter(y=labels, x=[t["max"] for t in tools], mode="markers", name="highest",
                         marker={"symbol": "line-ns-open", "size": 14, "color": common.TARGET},
                         hovertemplate="highest %{x:.0f} %<extra></extra>")
    return charts.hbar(labels, last, "Tool life used (latest reading)", "%", refs=[(TOOL_WARN, "change soon")],
                       colours=[common.colour("unplanned_down") if (v or 0) >= TOOL_WARN else common.ACCENT
                                for v in last], fmt=".0f", extra=[highest], xaxis={"range": [0, 105]})


def content(pack: dict[str, Any], machines: Sequence[LineSummary], total: LineSummary,
            names: dict[int, str]) -> Any:
    scrap = charts.count_pareto(pack["scrap_by_cause"], "Scrap by cause", "parts", "No scrap counted by cause")
    oee = oee_figure(machines, "OEE and its factors per machine")
    return html.Div([
        cards(pack, total),
        charts.graph(oee, "sector-machine-oee-graph"),
        dbc.Row([dbc.Col(charts.graph(reliability_figure(machines), "sector-reliability-graph"), lg=6),
                 dbc.Col(charts.graph(tool_figure(pack["tool_life_used"], names), "sector-tool-graph"), lg=6)],
                className="g-3"),
        charts.graph(scrap, "sector-scrap-graph"),
    ])
