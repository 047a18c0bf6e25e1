"""The line / machine drill-down: counts and speed per time bucket, the trend of one numeric tag (raw samples or
minute / hour rollups, whichever the engine chose for the range), and the I-MR chart with capability of a tag with
spec limits. Pure: built from ``tonghu.platform.kpi`` results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from dash import html

from tonghu.dashboards.views import common
from tonghu.platform.kpi.facts import FactsRow
from tonghu.platform.kpi.spc import SpcReport
from tonghu.platform.kpi.tags import TagInfo

RESOLUTION_TEXT = {"raw": "raw samples", "1m": "1-minute min / mean / max", "1h": "hourly min / mean / max"}
SPEC_COLOUR, LIMIT_COLOUR = "#d64541", "#7f8790"


def tag_label(t: TagInfo, asset: str) -> str:
    unit = f" ({t.unit})" if t.unit else ""
    return f"{asset} · {t.name}{unit}"


def tag_options(tags: Sequence[TagInfo], asset_names: dict[int, str]) -> list[dict[str, Any]]:
    return [{"label": tag_label(t, asset_names.get(t.asset_id, str(t.asset_id))), "value": t.id} for t in tags]


def counts_figure(rows: Sequence[FactsRow], bucket: str, tz: str = "UTC") -> go.Figure:
    """Good and not-good units per bucket (bars) with the actual speed while running against the ideal speed."""
    if not any(r.facts.produced > 0 for r in rows):
        return common.empty_figure("No units counted in the range — do the machines report count_total?")
    t = common.local((r.start for r in rows), tz)
    speed = [r.facts.produced / r.facts.production_s * 3600 if r.facts.production_s > 0 else None for r in rows]
    # The ideal speed of the units actually made: their count over their ideal time.
    ideal_rate = [3600 * r.facts.produced / r.facts.ideal_s if r.facts.ideal_s > 0 else None for r in rows]
    traces = [
        go.Bar(x=t, y=[r.facts.good for r in rows], name="Good", marker_color=common.colour("production"),
               hovertemplate="%{x}: %{y:,.0f} good<extra></extra>"),
        go.Bar(x=t, y=[max(0.0, r.facts.produced - r.facts.good) for r in rows], name="Not good",
               marker_color=common.colour("unplanned_down"), hovertemplate="%{x}: %{y:,.0f} not good<extra></extra>"),
        go.Scatter(x=t, y=speed, name="Speed while running", yaxis="y2", mode="lines+markers",
                   line={"color": common.ACCENT, "width": 2},
                   hovertemplate="%{y:,.1f} units/h while running<extra></extra>"),
        go.Scatter(x=t, y=ideal_rate, name="Ideal speed", yaxis="y2", mode="lines",
                   line={"color": common.TARGET, "width": 1.5, "dash": "dot"},
                   hovertemplate="ideal %{y:,.1f} units/h<extra></extra>")]
    return common.figure(traces, f"Counts and speed per {bucket}", barmode="stack", hovermode="x unified",
                         yaxis={"title": {"text": "units"}}, xaxis={"title": {"text": common.time_axis_title(tz)}},
                         yaxis2={"title": {"text": "units / h"}, "overlaying": "y", "side": "right",
                                 "showgrid": False, "rangemode": "tozero"})


def trend_figure(tag: TagInfo, asset: str, data: dict[str, Any], start: datetime, end: datetime, tz: str = "UTC",
                 limits: tuple[float | None, float | None] = (None, None)) -> go.Figure:
    """One tag over the range: raw samples as a line (bad-quality samples as grey crosses), or a rollup as its
    mean with the min–max band. Zooming in re-queries the zoomed range, so the resolution follows the zoom."""
    title = f"{tag_label(tag, asset)} — {RESOLUTION_TEXT.get(data.get('resolution', ''), data.get('resolution'))}"
    if not data.get("time"):
        return common.empty_figure(f"No samples of {tag.name} in the range — is its source connected?")
    t = common.local(data["time"], tz)
    traces: list[Any] = []
    if data["resolution"] == "raw":
        good = data["good"]
        traces.append(go.Scatter(x=[x for x, g in zip(t, good, strict=True) if g],
                                 y=[v for v, g in zip(data["value"], good, strict=True) if g], mode="lines",
                                 name=tag.name, line={"color": common.ACCENT, "width": 1.5, "shape": "hv"}))
        bad = [(x, v) for x, v, g in zip(t, data["value"], good, strict=True) if not g]
        if bad:
            traces.append(go.Scatter(x=[x for x, _ in bad], y=[v for _, v in bad], mode="markers",
                                     name="bad quality", marker={"symbol": "x", "color": LIMIT_COLOUR, "size": 6}))
    else:
        traces += [go.Scatter(x=t, y=data["max"], mode="lines", line={"width": 0}, showlegend=False,
                              hoverinfo="skip"),
                   go.Scatter(x=t, y=data["min"], mode="lines", line={"width": 0}, fill="tonexty",
                              fillcolor="rgba(47,111,214,0.18)", name="min–max", hoverinfo="skip"),
                   go.Scatter(x=t, y=data["mean"], mode="lines", name="mean",
                              line={"color": common.ACCENT, "width": 1.5})]
    marks = [common.hline(v, name, SPEC_COLOUR, side="left")
             for v, name in zip(limits, ("lower limit", "upper limit"), strict=True) if v is not None]
    return common.figure(traces, title, height=340, hovermode="x unified", uirevision=f"tag-{tag.id}",
                         xaxis={"range": common.local((start, end), tz), "type": "date",
                                "title": {"text": common.time_axis_title(tz)}},
                         yaxis={"title": {"text": tag.unit or "value"}}, **common.lines(*marks))


def spc_figure(report: SpcReport, asset: str, tz: str = "UTC") -> go.Figure:
    """Individuals chart (centre line, control limits, spec limits, points beyond the limits) over the moving-range
    chart, sharing the time axis. Moving ranges are drawn when every sample is shown; with a thinned series only
    their limits are."""
    chart, cap = report.chart, report.capability
    if len(report.values) < 2:
        return common.empty_figure(f"Fewer than 2 good samples of {report.tag} in the range: no chart")
    t = common.local(report.times, tz)
    traces = [go.Scatter(x=t, y=list(report.values), mode="lines+markers", name="value",
                         marker={"size": 3, "color": common.ACCENT}, line={"width": 1, "color": common.ACCENT})]
    timed = [p for p in chart.outside if p.time is not None]
    if timed:
        at = common.local((p.time for p in timed if p.time is not None), tz)
        traces.append(go.Scatter(x=at, y=[p.value for p in timed], mode="markers",
                                 name=f"beyond control limits ({chart.outside_count:,})",
                                 marker={"size": 7, "color": SPEC_COLOUR, "symbol": "circle-open"}))
    marks = [common.hline(y, f"{name} {y:.4g}", LIMIT_COLOUR, dash)
             for y, name, dash in ((chart.centre, "centre", "solid"), (chart.ucl, "UCL", "dash"),
                                   (chart.lcl, "LCL", "dash")) if y is not None]
    marks += [common.hline(y, f"{name} {y:.4g}", SPEC_COLOUR, "solid", 1.5, side="left")
              for y, name in ((cap.lsl, "LSL"), (cap.usl, "USL")) if y is not None]
    complete = len(report.values) == cap.n
    if complete:
        mr = [abs(b - a) for a, b in zip(report.values, report.values[1:], strict=False)]
        traces.append(go.Scatter(x=t[1:], y=mr, mode="lines", name="moving range", yaxis="y2",
                                 line={"width": 1, "color": "#8a5cd6"}))
    marks += [common.hline(y, f"{name} {y:.3g}", LIMIT_COLOUR, "dash" if name == "UCL" else "solid", axis="y2")
              for y, name in ((chart.mr_centre, "MR̄"), (chart.mr_ucl, "UCL")) if y is not None]
    shown = "" if complete else f" · {len(report.values):,} of {cap.n:,} samples drawn (each bucket's min and max)"
    unit = f" ({report.unit})" if report.unit else ""
    return common.figure(traces, f"I-MR chart: {asset} · {report.tag.rsplit('/', 1)[-1]}{unit}{shown}", height=420,
                         showlegend=False, xaxis={"anchor": "y2", "title": {"text": common.time_axis_title(tz)}},
                         yaxis={"domain": [0.36, 1], "title": {"text": "value"}},
                         yaxis2={**common.AXIS, "domain": [0, 0.3], "anchor": "x", "title": {"text": "MR"}},
                         **common.lines(*marks))


def capability_table(report: SpcReport) -> Any:
    cap, chart = report.capability, report.chart

    def f(x: float | None) -> str:
        return common.fmt_sig(x)
    rows = [["Samples", common.fmt_num(cap.n)], ["Mean", f(cap.mean)], ["σ within (MR̄/d2)", f(cap.sigma_within)],
            ["σ overall", f(cap.sigma_overall)], ["Spec (LSL – USL)", common.fmt_window(cap.lsl, cap.usl)],
            ["Cp", f(cap.cp)], ["Cpk", html.Span(f(cap.cpk), className=f"text-{common.tone_for(cap.cpk, 1.33, 1.0)}")
                                if cap.cpk is not None else "–"],
            ["Pp", f(cap.pp)], ["Ppk", f(cap.ppk)],
            ["Beyond control limits", f"{chart.outside_count:,} points, {chart.mr_outside_count:,} moving ranges"]]
    notes = [html.Li(n) for n in (*cap.notes, *chart.notes)]
    source = f"Spec limits from attrs {report.limits_from}." if report.limits_from else "No spec limits."
    return html.Div([common.table(["", ""], rows, id="machine-capability-table", numeric=[1]),
                     html.Small(source + " Cpk ≥ 1.33 is capable, 1.0–1.33 marginal.", className="text-muted"),
                     html.Ul(notes, className="small text-muted") if notes else None])
