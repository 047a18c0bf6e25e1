"""Petrochemical sector page: throughput, product yields and the mass balance, specific energy consumption, CO2
and flaring intensity, alarm system performance against the ANSI/ISA-18.2-2016 targets, and the capability of the
lab quality results. Built from ``kpi.petro``, ``kpi.alarms`` and ``kpi.spc`` results. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from tonghu.dashboards.views import charts, common
from tonghu.platform.kpi.alarms import TARGETS, AlarmKpis, assess
from tonghu.platform.kpi.petro import POWER_GJ_PER_KWH, STEAM_GJ_PER_T
from tonghu.platform.kpi.spc import SpcReport

ASSESSMENT = {"acceptable": ("very likely acceptable", "success"), "manageable": ("maximum manageable", "warning"),
              "over": ("over target", "danger"), "n/a": ("no value", "secondary")}
FIELD_TEXT = {"per_operator_per_day": ("Alarms per operator per day", "{:,.0f}"),
              "per_operator_per_10min": ("Alarms per operator per 10 min", "{:.2f}"),
              "max_10min": ("Most alarms in one 10-min period", "{:,.0f}"),
              "flood_periods_pct": ("10-min periods in flood", "{:.2f} %"),
              "flood_time_pct": ("Time in flood", "{:.2f} %"),
              "top10_share": ("Share of the 10 most frequent alarms", "{:.1%}"),
              "chattering_count": ("Chattering alarms", "{:,.0f}"),
              "stale_max_concurrent": ("Stale alarms at once (most)", "{:,.0f}")}
PRODUCT_COLOURS = ("#2e9d57", "#2f6fd6", "#8a5cd6", "#17a2b8", "#6f42c1", "#20c997", "#5b6b7a")


@dataclass(frozen=True, slots=True)
class AlarmConsole:
    name: str
    kpis: AlarmKpis
    counts: tuple[int, ...]   # annunciations per period from the range's start
    period: timedelta


def cards(pack: dict[str, Any]) -> Any:
    closure = pack["closure_error"]
    return common.stat_row([
        common.stat_card("Throughput", common.fmt_num(pack["throughput_t_per_h"], 1, "t/h"),
                         f"{common.fmt_num(pack['feed_t'])} t feed", id="sector-throughput"),
        common.stat_card("Specific energy", common.fmt_sig(pack["sec_gj_per_t"], "GJ/t"), "primary energy / product"),
        common.stat_card("CO2 intensity", common.fmt_sig(pack["co2_intensity_t_per_t"], "t/t"), "CO2 / product"),
        common.stat_card("Flaring", common.fmt_sig(pack["flaring_kg_per_t_feed"], "kg/t"), "flared / feed"),
        common.stat_card("Mass balance closure", common.fmt_pct(closure, 2), "(products + flare − feed) / feed",
                         tone=common.tone_for(abs(closure) if closure is not None else None, 0.005, 0.02,
                                              higher_is_better=False)),
        common.stat_card("Unaccounted loss", common.fmt_pct(pack["loss_ratio"], 2), "(feed − products) / feed"),
    ])


def mass_balance_figure(pack: dict[str, Any]) -> go.Figure:
    """Feed against where it went: each product, flare, and what is unaccounted (a negative gap is a surplus:
    the meters read more out than in)."""
    feed = pack["feed_t"]
    if not feed:
        return common.empty_figure("No feed metered in the range — does the unit report feed_t?")
    traces = [go.Bar(y=["Feed"], x=[feed], orientation="h", name="feed", marker_color=common.TARGET,
                     hovertemplate="feed %{x:,.0f} t<extra></extra>")]
    for i, (name, tonnes) in enumerate(pack["products_t"].items()):
        traces.append(go.Bar(y=["Out"], x=[tonnes], orientation="h", name=name,
                             marker_color=PRODUCT_COLOURS[i % len(PRODUCT_COLOURS)],
                             hovertemplate=f"{name} %{{x:,.0f}} t ({common.fmt_pct(tonnes / feed)} yield)"
                                           "<extra></extra>"))
    traces.append(go.Bar(y=["Out"], x=[pack["flare_t"]], orientation="h", name="flare", marker_color="#f0ad1e",
                         hovertemplate="flare %{x:,.1f} t<extra></extra>"))
    gap = feed - pack["products_total_t"] - pack["flare_t"]
    traces.append(go.Bar(y=["Out"], x=[abs(gap)], orientation="h", name="unaccounted" if gap >= 0 else "surplus",
                         marker={"color": "#d3d7dc", "pattern": {"shape": "/" if gap < 0 else ""}},
                         hovertemplate=f"{'unaccounted' if gap >= 0 else 'surplus'} %{{x:,.1f}} t<extra></extra>"))
    return common.figure(traces, f"Mass balance — closure error {common.fmt_pct(pack['closure_error'], 2)}",
                         barmode="stack", height=300, xaxis={"title": {"text": "t"}},
                         legend={"orientation": "h", "y": -0.3, "yanchor": "top", "x": 0, "xanchor": "left"})


def energy_figure(pack: dict[str, Any]) -> go.Figure:
    """Primary energy by carrier, with the conversion factors of docs/KPI.md."""
    parts = {"fuel": pack["fuel_gj"], "steam": pack["steam_t"] * STEAM_GJ_PER_T,
             "power": pack["power_kwh"] * POWER_GJ_PER_KWH}
    if not any(parts.values()):
        return common.empty_figure("No fuel, steam or power metered in the range")
    bars = go.Bar(x=list(parts), y=list(parts.values()), marker_color=["#d64541", "#7f8790", "#2f6fd6"],
                  hovertemplate="%{x}: %{y:,.0f} GJ primary<extra></extra>")
    return common.figure([bars], f"Primary energy by carrier — SEC {common.fmt_sig(pack['sec_gj_per_t'], 'GJ/t')}",
                         height=260, yaxis={"title": {"text": "GJ"}})


def alarm_table(consoles: Sequence[AlarmConsole]) -> Any:
    if not consoles:
        return common.empty_state("No alarm journal in this scope.", "Alarm KPIs need a tag with role 'alarms'.")
    verdicts = [assess(c.kpis) for c in consoles]
    rows = []
    for t in TARGETS:
        text, fmt = FIELD_TEXT.get(t.field, (t.field, "{}"))
        target = fmt.format(t.acceptable) + (f" (max {fmt.format(t.maximum)})" if t.maximum is not None else "")
        cells: list[Any] = [html.Span(text, title=t.source), target]
        for c, v in zip(consoles, verdicts, strict=True):
            value = getattr(c.kpis, t.field)
            word, tone = ASSESSMENT[v[t.field]]
            cells.append(html.Span([("–" if value is None else fmt.format(value)) + " ",
                                    dbc.Badge(word, color=tone, className="ms-1")]))
        rows.append(cells)
    head = ["ISA-18.2 metric", "Target", *(c.name for c in consoles)]
    return common.table(head, rows, id="sector-alarm-table", numeric=range(1, len(head)))


def alarm_rate_figure(consoles: Sequence[AlarmConsole], start: datetime, tz: str) -> go.Figure:
    """Annunciations per operator and period, against the ISA-18.2 average rates (1 and 2 per 10 minutes)."""
    if not consoles or not any(c.counts for c in consoles):
        return common.empty_figure("No alarms annunciated in the range")
    period = consoles[0].period
    every = common.fmt_period(period.total_seconds())
    traces = [go.Bar(x=common.local((start + i * c.period for i in range(len(c.counts))), tz),
                     y=[n / c.kpis.operators for n in c.counts], name=c.name,
                     hovertemplate=f"{c.name}: %{{y:,.0f}} alarms<extra></extra>") for c in consoles]
    per10 = period / timedelta(minutes=10)
    marks = [common.hline(rate * per10, f"{text} ({rate * per10:,.0f} per {every})", common.TARGET)
             for rate, text in ((1, "acceptable"), (2, "manageable"))]
    return common.figure(traces, f"Alarms per operator per {every}", barmode="group",
                         xaxis={"title": {"text": common.time_axis_title(tz)}}, **common.lines(*marks))


def lab_section(reports: Sequence[tuple[str, SpcReport]]) -> Any:
    if not reports:
        return common.empty_state("No lab quality results in this scope.",
                                  "Cpk needs tags with role 'lab_quality' and spec limits (attrs spec_lo / spec_hi).")
    labels = [name for name, _ in reports]
    cpk = [r.capability.cpk for _, r in reports]
    fig = charts.hbar(labels, cpk, "Cpk of the lab results", "Cpk", refs=[(1.0, "1.0"), (1.33, "1.33")],
                      colours=[common.colour("production") if v is not None and v >= 1.33 else "#f0ad1e"
                               if v is not None and v >= 1.0 else common.colour("unplanned_down") for v in cpk],
                      empty="No lab result has both samples and spec limits")
    rows = [[name, common.fmt_num(r.capability.n), common.fmt_sig(r.capability.mean),
             common.fmt_window(r.capability.lsl, r.capability.usl),
             common.fmt_sig(r.capability.cpk), common.fmt_sig(r.capability.ppk)] for name, r in reports]
    return dbc.Row([dbc.Col(charts.graph(fig, "sector-lab-graph"), lg=6),
                    dbc.Col(common.table(["Lab result", "Samples", "Mean", "Spec", "Cpk", "Ppk"], rows,
                                         id="sector-lab-table", numeric=[1, 2, 4, 5]), lg=6)], className="g-3")


def content(pack: dict[str, Any], consoles: Sequence[AlarmConsole], labs: Sequence[tuple[str, SpcReport]],
            start: datetime, tz: str) -> Any:
    yields = [[p, common.fmt_num(pack["products_t"][p], 1, "t"), common.fmt_pct(y)] for p, y in pack["yields"].items()]
    return html.Div([
        cards(pack),
        dbc.Row([dbc.Col(charts.graph(mass_balance_figure(pack), "sector-balance-graph"), lg=7),
                 dbc.Col(common.table(["Product", "Made", "Yield"], yields, id="sector-yield-table", numeric=[1, 2])
                         if yields else common.empty_state("No product metered in the range."), lg=5)],
                className="g-3"),
        charts.graph(energy_figure(pack), "sector-energy-graph"),
        html.H3("Alarm system performance (ANSI/ISA-18.2-2016, EEMUA 191)", className="h5 mt-3"),
        alarm_table(consoles),
        charts.graph(alarm_rate_figure(consoles, start, tz), "sector-alarm-graph"),
        html.H3("Lab quality", className="h5 mt-3"),
        lab_section(labs),
    ])
