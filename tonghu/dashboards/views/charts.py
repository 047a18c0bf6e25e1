"""Generic charts of the sector pages: a Pareto of counts and a horizontal bar against reference lines. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import dcc

from tonghu.dashboards.views import common

TOP = 12


def graph(fig: go.Figure, id_: str) -> dcc.Graph:
    return dcc.Graph(id=id_, figure=fig, config=common.GRAPH_CONFIG)


def count_pareto(items: Sequence[dict[str, Any]], title: str, what: str, empty: str,
                 colour: str = common.TIME_CLASS_COLOURS["unplanned_down"]) -> go.Figure:
    """``electronics.pareto``-shaped rows (key, count, share, cumulative), largest first."""
    shown = [i for i in items if i["count"] > 0][:TOP]
    if not shown:
        return common.empty_figure(empty)
    keys = [str(i["key"]) for i in shown]
    traces = [go.Bar(x=keys, y=[i["count"] for i in shown], marker_color=colour, name=what,
                     customdata=[common.fmt_pct(i["share"]) for i in shown],
                     hovertemplate=f"%{{x}}: %{{y:,.0f}} {what} (%{{customdata}})<extra></extra>"),
              go.Scatter(x=keys, y=[i["cumulative"] for i in shown], yaxis="y2", mode="lines+markers",
                         line={"color": common.TARGET, "width": 1.5}, name="cumulative",
                         hovertemplate="%{y:.0%} cumulative<extra></extra>")]
    more = f" (top {TOP} of {len(items)})" if len(items) > TOP else ""
    return common.figure(traces, title + more, height=300, showlegend=False, yaxis={"title": {"text": what}},
                         yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.05], "tickformat": ".0%",
                                 "dtick": 0.25, "showgrid": False})


def hbar(labels: Sequence[str], values: Sequence[float | None], title: str, unit: str, *,
         refs: Sequence[tuple[float, str]] = (), colours: Sequence[str] | None = None, empty: str = "No data",
         fmt: str = ".2f", extra: Sequence[Any] = (), xaxis: dict[str, Any] | None = None) -> go.Figure:
    """One horizontal bar per label with vertical reference lines (targets, limits); ``extra`` traces are drawn
    over the bars."""
    if not labels or all(v is None for v in values):
        return common.empty_figure(empty)
    bars = go.Bar(y=list(labels), x=list(values), orientation="h",
                  marker_color=list(colours) if colours else common.ACCENT,
                  hovertemplate=f"%{{y}}: %{{x:{fmt}}} {unit}<extra></extra>")
    return common.figure([bars, *extra], title, height=max(220, 90 + 28 * len(labels)), showlegend=False,
                         xaxis={"title": {"text": unit}, **(xaxis or {})},
                         yaxis={"categoryorder": "array", "categoryarray": list(labels)[::-1]},
                         **common.lines(*(common.vline(x, text) for x, text in refs)))
