"""Electronics (SMT) sector page: first pass yield, DPMO, placement rate, feeder / nozzle and AOI defect Paretos,
line balance and reflow profile conformance. Built from ``kpi.electronics.electronics`` and reflow samples. Pure.

Reflow profile conformance is the share of the oven's predicted board peak temperature and time above liquidus
samples within the tag's process window (attrs lo_limit / hi_limit), per oven and tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
import plotly.graph_objects as go
from dash import html

from tonghu.dashboards.views import charts, common
from tonghu.platform.kpi.spc import capability

REFLOW_TAGS = ("peak_temp", "time_above_liquidus")
BELOW, WITHIN, ABOVE = "#2f6fd6", "#2e9d57", "#d64541"


@dataclass(frozen=True, slots=True)
class Conformance:
    label: str
    n: int
    below: int
    within: int
    above: int
    lo: float | None
    hi: float | None
    cpk: float | None

    @property
    def share(self) -> float | None:
        return self.within / self.n if self.n else None


def conformance(label: str, values: np.ndarray, lo: float | None, hi: float | None) -> Conformance:
    """Samples below, within (limits included) and above the window, and Cpk against it."""
    x = np.asarray(values, dtype=np.float64)
    below = int(np.count_nonzero(x < lo)) if lo is not None else 0
    above = int(np.count_nonzero(x > hi)) if hi is not None else 0
    cpk = capability(x, lo, hi).cpk if len(x) else None
    return Conformance(label, len(x), below, len(x) - below - above, above, lo, hi, cpk)


def overall(items: Sequence[Conformance]) -> float | None:
    n = sum(c.n for c in items)
    return sum(c.within for c in items) / n if n else None


def cards(pack: dict[str, Any], reflow: Sequence[Conformance]) -> Any:
    dpmo = pack["dpmo"]
    return common.stat_row([
        common.stat_card("First pass yield", common.fmt_pct(pack["fpy"]), f"{common.fmt_num(pack['inspected'])} "
                         "boards inspected", tone=common.tone_for(pack["fpy"], 0.98, 0.95), id="sector-fpy"),
        common.stat_card("DPMO", common.fmt_num(dpmo), "defects per million opportunities",
                         tone=common.tone_for(dpmo, 100, 500, higher_is_better=False)),
        common.stat_card("Placement rate", common.fmt_num(pack["placement_rate_per_h"], 0, "/h"),
                         f"{common.fmt_pct(pack['placement_rate_vs_rated'], 0)} of rated"
                         if pack["placement_rate_vs_rated"] is not None else "no rated rate reported"),
        common.stat_card("Not placed", common.fmt_num(pack["not_placed_ratio"] * 1e6 if pack["not_placed_ratio"]
                                                      is not None else None, 0, "ppm"), "of pick attempts"),
        common.stat_card("AOI false calls", common.fmt_pct(pack["false_call_rate"]),
                         f"{common.fmt_sig(pack['false_calls_per_board'])} per board"),
        common.stat_card("Reflow conformance", common.fmt_pct(overall(reflow)),
                         "peak temp and TAL within window", tone=common.tone_for(overall(reflow), 0.99, 0.95)),
    ])


def reflow_figure(items: Sequence[Conformance]) -> go.Figure:
    """Share of samples below / within / above the window, one bar per oven and tag."""
    shown = [c for c in items if c.n]
    if not shown:
        return common.empty_figure("No reflow peak temperature or time-above-liquidus samples in the range")
    labels = [c.label for c in shown]
    traces = []
    for name, colour, get in (("below window", BELOW, lambda c: c.below), ("within window", WITHIN,
                                                                          lambda c: c.within),
                              ("above window", ABOVE, lambda c: c.above)):
        traces.append(go.Bar(y=labels, x=[get(c) / c.n * 100 for c in shown], name=name, orientation="h",
                             marker_color=colour, customdata=[[get(c), c.n, common.fmt_sig(c.lo),
                                                               common.fmt_sig(c.hi)] for c in shown],
                             hovertemplate="%{y}: %{x:.1f} % " + name + " (%{customdata[0]:,} of %{customdata[1]:,}"
                                           " samples; window %{customdata[2]} – %{customdata[3]})<extra></extra>"))
    return common.figure(traces, "Reflow profile conformance", barmode="stack", height=max(220, 90 + 30 * len(shown)),
                         xaxis={"title": {"text": "% of samples"}, "range": [0, 100]},
                         yaxis={"categoryorder": "array", "categoryarray": labels[::-1]})


def reflow_table(items: Sequence[Conformance]) -> Any:
    rows = [[c.label, common.fmt_window(c.lo, c.hi), common.fmt_num(c.n),
             common.fmt_pct(c.share), common.fmt_sig(c.cpk)] for c in items]
    return common.table(["Oven · tag", "Window", "Samples", "Within", "Cpk"], rows, id="sector-reflow-table",
                        numeric=[2, 3, 4]) if rows else None


def balance_table(balance: dict[str, float | None]) -> Any:
    if not balance:
        return common.empty_state("No line balance: it needs at least two stations that produced in the range.")
    return common.table(["Line", "Balance efficiency"], [[k, common.fmt_pct(v)] for k, v in balance.items()],
                        id="sector-balance-table", numeric=[1])


def content(pack: dict[str, Any], reflow: Sequence[Conformance]) -> Any:
    feeder = charts.count_pareto(pack["feeder_pareto"], "Mispicks by feeder slot", "mispicks",
                                 "No mispicks counted per feeder slot")
    nozzle = charts.count_pareto(pack["nozzle_pareto"], "Mispicks by nozzle", "mispicks",
                                 "No mispicks counted per nozzle")
    aoi = charts.count_pareto(pack["aoi_defect_pareto"], "AOI defects by type", "defects",
                              "No AOI defects counted by type")
    return html.Div([
        cards(pack, reflow),
        dbc.Row([dbc.Col(charts.graph(feeder, "sector-feeder-graph"), lg=6),
                 dbc.Col(charts.graph(nozzle, "sector-nozzle-graph"), lg=6)], className="g-3"),
        dbc.Row([dbc.Col(charts.graph(aoi, "sector-aoi-graph"), lg=6),
                 dbc.Col(charts.graph(reflow_figure(reflow), "sector-reflow-graph"), lg=6)], className="g-3"),
        dbc.Row([dbc.Col([html.H3("Reflow windows", className="h6"), reflow_table(reflow)], lg=6),
                 dbc.Col([html.H3("Line balance", className="h6"), balance_table(pack["line_balance"])], lg=6)],
                className="g-3 mt-2"),
    ])
