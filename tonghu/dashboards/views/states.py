"""Machine states drawn the same way on every page: the state timeline (a Gantt chart), lost time by reason (a
Pareto chart), the histogram of stop durations and the live state tiles. Colours follow the time class
(``common.TIME_CLASS_COLOURS``). Pure: built from ``tonghu.platform.kpi.timeline`` results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from tonghu.dashboards.views import common
from tonghu.platform.kpi.timeline import StateSpan

MAX_BARS = 4000      # more bars than this make the browser sluggish and are narrower than a pixel anyway
PARETO_TOP = 15


def gantt_figure(rows: Sequence[tuple[str, Sequence[StateSpan]]], start: datetime, end: datetime, tz: str = "UTC",
                 title: str = "State timeline") -> go.Figure:
    """One row per asset, one bar per state span, coloured by time class. When there are more spans than
    ``MAX_BARS``, the shortest (narrower than ~1/1500 of the range) are left out, and the title says how many."""
    spans = [(name, s) for name, ss in rows for s in ss]
    if not spans:
        return common.empty_figure("No state data for this scope in the range — is its edge online?")
    dropped = 0
    if len(spans) > MAX_BARS:
        tiny = (end - start) / 1500
        kept = [(n, s) for n, s in spans if s.end - s.start >= tiny]
        dropped, spans = len(spans) - len(kept), kept
    traces = []
    for tclass in common.TIME_CLASSES:
        mine = [(n, s) for n, s in spans if s.time_class == tclass]
        if not mine:
            continue
        traces.append(go.Bar(
            base=common.local((s.start for _, s in mine), tz),
            x=[(s.end - s.start).total_seconds() * 1000.0 for _, s in mine],
            y=[n for n, _ in mine], orientation="h", name=common.label(tclass), marker_color=common.colour(tclass),
            marker_line_width=0, customdata=[[s.state, s.code or "–", common.fmt_duration(
                (s.end - s.start).total_seconds()), "yes" if s.failure else "no"] for _, s in mine],
            hovertemplate="%{y}<br>%{base|%d %b %H:%M:%S} · %{customdata[2]}<br>state %{customdata[0]}, "
                          "reason %{customdata[1]}<br>failure: %{customdata[3]}<extra></extra>"))
    names = list(dict.fromkeys(n for n, _ in rows))
    note = f" ({dropped:,} spans shorter than {common.fmt_duration(((end - start) / 1500).total_seconds())} " \
           "not drawn)" if dropped else ""
    return common.figure(traces, title + note, height=max(180, 70 + 34 * len(names)), barmode="overlay",
                         bargap=0.25, xaxis={"type": "date", "range": common.local((start, end), tz),
                                             "title": {"text": common.time_axis_title(tz)}},
                         yaxis={"categoryorder": "array", "categoryarray": names[::-1]})


def merge_paretos(parts: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``timeline.stop_pareto`` rows of several scopes as one list: seconds and stops added per (code, time
    class), largest first, as ``stop_pareto`` orders them."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for part in parts:
        for row in part:
            key = (row["code"], row["time_class"])
            if key in merged:
                merged[key]["seconds"] += row["seconds"]
                merged[key]["stops"] += row["stops"]
                merged[key]["text"] = merged[key]["text"] or row["text"]
            else:
                merged[key] = dict(row)
    return sorted(merged.values(), key=lambda r: (-r["seconds"], r["code"]))


def pareto_figure(items: Sequence[dict[str, Any]], title: str = "Top losses by time") -> go.Figure:
    """Lost time by reason code (``timeline.stop_pareto`` rows), largest first, with the cumulative share."""
    if not items:
        return common.empty_figure("No setup or down time in the range")
    top = list(items[:PARETO_TOP])
    total = sum(i["seconds"] for i in items)
    run, cum = 0.0, []
    for i in top:
        run += i["seconds"]
        cum.append(run / total if total else None)
    names = [f"{i['code'] or i['state']}" for i in top]
    bars = go.Bar(
        x=names, y=[i["seconds"] / 3600.0 for i in top], marker_color=[common.colour(i["time_class"]) for i in top],
        customdata=[[i.get("text") or i["state"], common.label(i["time_class"]), i["stops"],
                     common.fmt_duration(i["seconds"])] for i in top], name="Lost time",
        hovertemplate="%{x}: %{customdata[0]}<br>%{customdata[1]}<br>%{customdata[3]} in %{customdata[2]} stops"
                      "<extra></extra>")
    share = go.Scatter(x=names, y=cum, yaxis="y2", mode="lines+markers", name="Cumulative share",
                       line={"color": common.TARGET, "width": 1.5}, hovertemplate="%{y:.0%}<extra></extra>")
    more = f" (top {PARETO_TOP} of {len(items)})" if len(items) > PARETO_TOP else ""
    return common.figure([bars, share], title + more, showlegend=False, yaxis={"title": {"text": "hours"}},
                         yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.05], "tickformat": ".0%",
                                 "dtick": 0.25, "showgrid": False})


# Upper bounds (seconds) of the duration classes: roughly logarithmic, as stop durations are.
DURATION_CLASSES = ((60, "< 1 min"), (120, "1–2 min"), (300, "2–5 min"), (600, "5–10 min"), (1800, "10–30 min"),
                    (3600, "30–60 min"), (7200, "1–2 h"), (14400, "2–4 h"), (math.inf, "≥ 4 h"))


def duration_classes(durations: Sequence[float]) -> list[tuple[str, int, float]]:
    """(class label, stops, seconds lost) per duration class, shortest first; every class is listed."""
    counts = [0] * len(DURATION_CLASSES)
    lost = [0.0] * len(DURATION_CLASSES)
    for d in durations:
        i = next(k for k, (upper, _) in enumerate(DURATION_CLASSES) if d < upper)
        counts[i] += 1
        lost[i] += d
    return [(label, n, sec) for (_, label), n, sec in zip(DURATION_CLASSES, counts, lost, strict=True)]


def duration_histogram(durations: Sequence[float], title: str = "Unplanned stops by duration") -> go.Figure:
    """How many unplanned stops fall in each duration class and how much time each class lost: many short stops
    and a few long ones call for different fixes."""
    if not durations:
        return common.empty_figure("No unplanned stops in the range")
    classes = duration_classes(durations)
    labels = [c[0] for c in classes]
    stops = go.Bar(x=labels, y=[c[1] for c in classes], name="stops", marker_color=common.colour("unplanned_down"),
                   customdata=[common.fmt_duration(c[2]) for c in classes],
                   hovertemplate="%{x}: %{y:,} stops, %{customdata} lost<extra></extra>")
    lost = go.Scatter(x=labels, y=[c[2] / 3600.0 for c in classes], name="hours lost", yaxis="y2",
                      mode="lines+markers", line={"color": common.TARGET, "width": 1.5},
                      hovertemplate="%{y:.1f} h lost<extra></extra>")
    median = sorted(durations)[len(durations) // 2]
    return common.figure([stops, lost], f"{title} — {len(durations):,} stops, median {common.fmt_duration(median)}",
                         yaxis={"title": {"text": "stops"}},
                         yaxis2={"title": {"text": "hours lost"}, "overlaying": "y", "side": "right",
                                 "showgrid": False, "rangemode": "tozero", "tickformat": ".1f"})


@dataclass(frozen=True, slots=True)
class LiveState:
    line: str
    asset: str
    span: StateSpan | None  # the latest span of the last hour, None when the asset reported no state in it


def live_tiles(states: Sequence[LiveState], now: datetime) -> Any:
    """One tile per line output asset: its current state coloured by time class and for how long it has held."""
    if not states:
        return common.empty_state("No line in this scope has an output machine.",
                                  "A line's output is the machine whose counters carry attrs.line_output, or every "
                                  "machine of the line when none does.")
    tiles = []
    for s in states:
        if s.span is None:
            body = [html.Div("no state in the last hour", className="tile-state"),
                    html.Small("is its edge online?", className="tile-since")]
            tclass: str | None = None
        else:
            tclass = s.span.time_class
            since = common.fmt_duration(max(0.0, (now - s.span.start).total_seconds()))
            body = [html.Div(f"{s.span.state}" + (f" · {s.span.code}" if s.span.code else ""), className="tile-state"),
                    html.Small(f"{common.label(tclass)} for {since}", className="tile-since")]
        tiles.append(dbc.Col(html.Div([html.Div(s.line, className="tile-line"), html.Div(s.asset,
                                                                                          className="tile-asset"),
                                       *body], className="state-tile",
                                      style={"borderLeftColor": common.colour(tclass)}), xs=12, sm=6, md=4, xl=3))
    return dbc.Row(tiles, className="g-2 state-tiles")
