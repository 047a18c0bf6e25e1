"""Sector benchmarks: the distribution of one metric across the sector's companies (N, P25–P75 band, median,
P10 / P90 when released, the viewer's own position), the sector median month by month, an overview of every
metric and the CSV of what was released. Built from ``kpi.benchmark.Benchmark`` results. Pure.

A suppressed cell is shown as "suppressed (reason)": never as zero and never as a gap that could pass for one.
Display rounding happens here only (disclosure releases figures unrounded).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from dash import html

from tonghu.dashboards.views import common
from tonghu.platform.kpi.benchmark import Benchmark, Metric
from tonghu.platform.kpi.disclosure import BenchmarkCell

REASON_TEXT = {"min_count": "too few companies", "dominance": "one company dominates the volume",
               "differencing": "could be derived from other released cells"}
BAND, MEDIAN, OWN, TAILS = "rgba(47,111,214,0.35)", "#1f2933", "#d64541", "#7f8790"
CSV_COLUMNS = ("sector", "metric", "unit", "period", "start", "end", "cell", "status", "n", "p10", "p25", "p50", "p75",
               "p90", "sector_aggregate", "own_value", "own_percentile_rank")
DISCLOSURE_NOTE = ("Only companies that share their figures are counted. A cell is released when it holds at least 5 "
                   "companies, no company has more than 25 % of its volume, and it cannot be derived from other "
                   "released cells; otherwise it is shown as suppressed with the reason.")


def reasons_text(cell: BenchmarkCell) -> str:
    return ", ".join(REASON_TEXT.get(str(r), str(r)) for r in cell.reasons)


def suppressed_text(cell: BenchmarkCell) -> str:
    return f"suppressed ({reasons_text(cell)})"


def cell_label(cell: BenchmarkCell) -> str:
    return "Whole sector" if cell.dimension is None else f"{cell.dimension.capitalize()}: {cell.value}"


def fmt_value(x: float | None, unit: str) -> str:
    if x is None:
        return "–"
    if unit == "%":
        return f"{x:.1f} %"
    if unit == "h":
        return f"{x:,.1f} h"
    if unit == "ppm":
        return f"{x:,.0f} ppm"
    return common.fmt_sig(x, unit)


def sector_cell(b: Benchmark) -> BenchmarkCell:
    return next(c for c in b.cells if c.dimension is None)


def distribution_figure(b: Benchmark) -> go.Figure:
    """One row per cell: P10–P90 whisker, P25–P75 band, median tick, the viewer's own value as a red diamond."""
    m = b.metric
    labels = [f"{cell_label(c)} (N={c.n})" if c.released else cell_label(c) for c in b.cells]
    released = [(lbl, c) for lbl, c in zip(labels, b.cells, strict=True) if c.released]
    tails = [(lbl, c) for lbl, c in released if c.p10 is not None and c.p90 is not None]
    traces: list[Any] = [
        go.Scatter(x=[c.p10, c.p90], y=[lbl, lbl], mode="lines+markers", showlegend=lbl == tails[0][0],
                   name="P10–P90", line={"color": TAILS, "width": 2},
                   marker={"symbol": "line-ns-open", "size": 12, "color": TAILS},
                   hovertemplate=f"P10 {fmt_value(c.p10, m.unit)} · P90 {fmt_value(c.p90, m.unit)}<extra></extra>")
        for lbl, c in tails]
    if released:
        traces += [
            go.Bar(y=[lbl for lbl, _ in released], x=[(c.p75 or 0) - (c.p25 or 0) for _, c in released],
                   base=[c.p25 for _, c in released], orientation="h", name="P25–P75", width=0.45, marker_color=BAND,
                   customdata=[[fmt_value(c.p25, m.unit), fmt_value(c.p75, m.unit)] for _, c in released],
                   hovertemplate="P25 %{customdata[0]} · P75 %{customdata[1]}<extra></extra>"),
            go.Scatter(y=[lbl for lbl, _ in released], x=[c.p50 for _, c in released], mode="markers", name="median",
                       marker={"symbol": "line-ns-open", "size": 22, "color": MEDIAN, "line": {"width": 3}},
                       hovertemplate="median %{x:.4g}<extra></extra>")]
    own = [(lbl, c) for lbl, c in released if c.viewer_value is not None]
    if own:
        traces.append(go.Scatter(y=[lbl for lbl, _ in own], x=[c.viewer_value for _, c in own], mode="markers",
                                 name="your company", marker={"symbol": "diamond", "size": 13, "color": OWN},
                                 customdata=[common.fmt_pct(c.viewer_rank, 0) for _, c in own],
                                 hovertemplate="your company %{x:.4g} (percentile rank %{customdata})<extra></extra>"))
    if not released:  # no marks at all: keep the category axis so the suppressed rows still show, drop the scale
        traces.append(go.Scatter(y=labels, x=[None] * len(labels), mode="markers", showlegend=False,
                                 hoverinfo="skip"))
    notes = [{"x": 0.5, "xref": "paper", "y": lbl, "yref": "y", "text": suppressed_text(c), "showarrow": False,
              "font": {"color": "#664d03"}, "bgcolor": "#fff3cd"}
             for lbl, c in zip(labels, b.cells, strict=True) if not c.released]
    better = "higher is better" if m.higher_is_better else "lower is better"
    return common.figure(traces, f"{m.label} ({m.unit}), {b.start:%B %Y} — {better}",
                         height=max(200, 80 + 46 * len(labels)), annotations=notes,
                         yaxis={"categoryorder": "array", "categoryarray": labels[::-1], "type": "category"},
                         xaxis={"title": {"text": m.unit}, "visible": bool(released)})


def trend_figure(months: Sequence[Benchmark]) -> go.Figure:
    """The whole-sector cell month by month: median with its P25–P75 band, the viewer's own value; suppressed
    months are marked as such."""
    if not months:
        return common.empty_figure("No months to show")
    m = months[0].metric
    cells = [(b.start, sector_cell(b)) for b in months]
    x = [t.strftime("%Y-%m") for t, _ in cells]
    rel = [c if c.released else None for _, c in cells]
    traces = [
        go.Scatter(x=x, y=[c.p75 if c else None for c in rel], mode="lines", line={"width": 0}, showlegend=False,
                   hoverinfo="skip"),
        go.Scatter(x=x, y=[c.p25 if c else None for c in rel], mode="lines", line={"width": 0}, fill="tonexty",
                   fillcolor=BAND, name="P25–P75", hoverinfo="skip"),
        go.Scatter(x=x, y=[c.p50 if c else None for c in rel], mode="lines+markers", name="median",
                   line={"color": MEDIAN, "width": 2}, customdata=[c.n if c else None for c in rel],
                   hovertemplate="%{x}: median %{y:.4g} (N=%{customdata})<extra></extra>")]
    if any(c and c.viewer_value is not None for c in rel):
        traces.append(go.Scatter(x=x, y=[c.viewer_value if c else None for c in rel], mode="lines+markers",
                                 name="your company", line={"color": OWN, "dash": "dot"},
                                 marker={"symbol": "diamond", "size": 9}))
    notes = [{"x": xi, "y": 0.5, "yref": "paper", "text": suppressed_text(c).replace(" (", "<br>("),
              "showarrow": False, "font": {"size": 10, "color": "#664d03"}, "bgcolor": "#fff3cd"}
             for xi, (_, c) in zip(x, cells, strict=True) if not c.released]
    return common.figure(traces, f"{m.label}: sector median by month", hovermode="x unified", annotations=notes,
                         xaxis={"type": "category"}, yaxis={"title": {"text": m.unit}, "visible": any(rel)})


def overview_table(benches: Sequence[Benchmark]) -> Any:
    if not benches:
        return common.empty_state("No benchmark metric is defined for this sector.")
    rows = []
    for b in benches:
        c, u = sector_cell(b), b.metric.unit
        if c.released:
            status: Any = html.Span("released", className="text-success")
            figures = [str(c.n), fmt_value(c.p25, u), fmt_value(c.p50, u), fmt_value(c.p75, u),
                       fmt_value(c.weighted, u), fmt_value(c.viewer_value, u), common.fmt_pct(c.viewer_rank, 0)]
        else:
            status = html.Span(suppressed_text(c), className="suppressed")
            figures = ["–"] * 7
        rows.append([b.metric.label, *figures, status])
    head = ["Metric", "N", "P25", "Median", "P75", "Sector aggregate", "Your company", "Your rank", "Status"]
    return html.Div([common.table(head, rows, id="bench-table", numeric=range(1, 8)),
                     html.Small(DISCLOSURE_NOTE, className="text-muted")])


def to_csv(benches: Sequence[Benchmark]) -> str:
    """Every cell of each benchmark: released cells with their figures, suppressed cells with their reason only."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for b in benches:
        for c in b.cells:
            base = [b.sector, b.metric.name, b.metric.unit, b.period, b.start.isoformat(), b.end.isoformat(),
                    cell_label(c)]
            if c.released:
                w.writerow([*base, "released", c.n, *(_num(v) for v in (c.p10, c.p25, c.p50, c.p75, c.p90,
                                                                        c.weighted, c.viewer_value, c.viewer_rank))])
            else:
                w.writerow([*base, suppressed_text(c), *([""] * 9)])
    return out.getvalue()


def _num(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def metric_options(metrics: Sequence[Metric]) -> list[dict[str, str]]:
    return [{"label": f"{m.label} ({m.unit})", "value": m.name} for m in metrics]
