"""Shared look of the analytics pages: one colour per time class, number formats, empty states, stat cards and
the base layout of every figure, so that a figure reads the same on every page. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

# ISO 22400-2 time classes as the engine names them; None is time no known state covers.
TIME_CLASSES = ("production", "setup", "unplanned_down", "planned_down", "idle", None)
TIME_CLASS_COLOURS: dict[str | None, str] = {
    "production": "#2e9d57", "setup": "#2f6fd6", "unplanned_down": "#d64541", "planned_down": "#7f8790",
    "idle": "#f0ad1e", None: "#d3d7dc",
}
TIME_CLASS_LABELS: dict[str | None, str] = {
    "production": "Production", "setup": "Setup", "unplanned_down": "Unplanned down", "planned_down": "Planned down",
    "idle": "Idle / no order", None: "Unknown",
}
FACTOR_COLOURS = {"availability": "#2f6fd6", "effectiveness": "#8a5cd6", "quality": "#2e9d57", "oee": "#1f2933"}
ACCENT, MUTED, TARGET = "#2f6fd6", "#7f8790", "#1f2933"
# Small figures without the mode bar (it covers titles and legends; drag still zooms, a double click resets);
# time series that are made to be explored keep it, shown on hover.
GRAPH_CONFIG: dict[str, Any] = {"displaylogo": False, "displayModeBar": False}
ZOOM_CONFIG: dict[str, Any] = {"displaylogo": False, "displayModeBar": "hover",
                               "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def colour(time_class: str | None) -> str:
    return TIME_CLASS_COLOURS.get(time_class, TIME_CLASS_COLOURS[None])


def label(time_class: str | None) -> str:
    return TIME_CLASS_LABELS.get(time_class, str(time_class))


# ------------------------------------------------------------------------------------------------ formats


def _missing(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """A ratio (0.853) as a percentage ("85.3 %"); a missing ratio is "–", never "0 %"."""
    return "–" if _missing(x) else f"{x * 100:.{digits}f} %"  # type: ignore[operator]


def fmt_num(x: float | None, digits: int = 0, unit: str = "") -> str:
    """Thousands separated, a thin space before the unit."""
    if _missing(x):
        return "–"
    text = f"{x:,.{digits}f}"
    return f"{text} {unit}" if unit else text


def fmt_sig(x: float | None, unit: str = "") -> str:
    """Three significant digits for figures whose size varies by orders (kWh per unit, DPMO, GJ/t)."""
    if _missing(x):
        return "–"
    v = float(x)  # type: ignore[arg-type]
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"
    return f"{text} {unit}" if unit else text


def fmt_window(lo: float | None, hi: float | None, unit: str = "") -> str:
    """A spec or process window: "235 – 250", "≥ 38", "≤ 180", or "–" without limits."""
    text = (f"{fmt_sig(lo)} – {fmt_sig(hi)}" if lo is not None and hi is not None else
            f"≥ {fmt_sig(lo)}" if lo is not None else f"≤ {fmt_sig(hi)}" if hi is not None else "–")
    return f"{text} {unit}" if unit and text != "–" else text


def fmt_period(seconds: float) -> str:
    """A period as people say it: "hour", "day", "10 min"."""
    return {3600: "hour", 86400: "day", 604800: "week"}.get(int(seconds), fmt_duration(seconds))


def fmt_duration(seconds: float | None) -> str:
    """Seconds as the largest sensible unit: "45 s", "12.5 min", "3.2 h", "2.1 d"."""
    if _missing(seconds):
        return "–"
    s = float(seconds)  # type: ignore[arg-type]
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def local(times: Iterable[datetime], tz: str) -> list[datetime]:
    """Times as the site's wall clock without an offset: plotly draws the wall time it is given, and people on
    the shop floor read their own clock."""
    z = ZoneInfo(tz)
    return [t.astimezone(z).replace(tzinfo=None) for t in times]


def local_one(t: datetime, tz: str) -> datetime:
    return local([t], tz)[0]


def time_axis_title(tz: str) -> str:
    return f"site time ({tz})"


# ------------------------------------------------------------------------------------------------ components


def empty_state(message: str, hint: str = "", id: str | None = None) -> html.Div:
    kwargs = {"id": id} if id else {}
    return html.Div([html.P(message, className="mb-1"), html.Small(hint, className="text-muted") if hint else None],
                    className="empty-state", **kwargs)


def stat_card(title: str, value: str, sub: str = "", tone: str = "", id: str | None = None) -> dbc.Card:
    """A figure with its label; ``tone`` is a Bootstrap text colour name (success, danger, …) or ''."""
    kwargs = {"id": id} if id else {}
    return dbc.Card(dbc.CardBody([html.Div(title, className="stat-label"),
                                  html.Div(value, className=f"stat-value {'text-' + tone if tone else ''}".strip()),
                                  html.Small(sub, className="text-muted") if sub else None]),
                    className="stat-card", **kwargs)


def stat_row(cards: Sequence[dbc.Card], xs: int = 6, md: int = 2) -> dbc.Row:
    return dbc.Row([dbc.Col(c, xs=xs, md=md) for c in cards], className="g-2 mb-3 stat-row")


def table(head: Sequence[str], rows: Sequence[Sequence[Any]], id: str | None = None,
          numeric: Sequence[int] = ()) -> dbc.Table:
    """A compact table; the columns in ``numeric`` are right-aligned so that digits line up."""
    cls = {i: "num" for i in numeric}
    kwargs = {"id": id} if id else {}
    return dbc.Table([html.Thead(html.Tr([html.Th(h, className=cls.get(i)) for i, h in enumerate(head)])),
                      html.Tbody([html.Tr([html.Td(c, className=cls.get(i)) for i, c in enumerate(r)])
                                  for r in rows])],
                     size="sm", striped=True, hover=True, responsive=True, className="kpi-table", **kwargs)


def tone_for(value: float | None, good: float, fair: float, higher_is_better: bool = True) -> str:
    """'success' / 'warning' / 'danger' against two thresholds, '' when there is no value."""
    if _missing(value):
        return ""
    v = float(value)  # type: ignore[arg-type]
    if not higher_is_better:
        v, good, fair = -v, -good, -fair
    return "success" if v >= good else "warning" if v >= fair else "danger"


# ------------------------------------------------------------------------------------------------ figures


# Figures are built in one go (``figure``: traces and a finished layout handed to the constructor) rather than by
# update_layout / add_hline calls: each of those validates again the part of the tree it touches, which costs a
# page several hundred milliseconds of server time per refresh.
AXIS = {"gridcolor": "#eef0f3", "zeroline": False, "automargin": True}


def layout_dict(title: str = "", height: int = 320, **extra: Any) -> dict[str, Any]:
    """The common frame: title top left, compact margins, legend on top, transparent paper for the cards.
    ``xaxis`` / ``yaxis`` in ``extra`` are merged into the common axis style; other keys are taken as they are."""
    out: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}}, "height": height,
        "margin": {"l": 10, "r": 10, "t": 44 if title else 12, "b": 30},
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "#ffffff", "font": {"size": 12},
        "hoverlabel": {"namelength": -1}}
    for name in ("xaxis", "yaxis"):
        out[name] = {**AXIS, **extra.pop(name, {})}
    out.update(extra)
    return out


def figure(traces: Iterable[Any], title: str = "", height: int = 320, **extra: Any) -> go.Figure:
    """A figure from its traces (plotly objects or dicts) and ``layout_dict(title, height, **extra)``."""
    return go.Figure(data=list(traces), layout=layout_dict(title, height, **extra))


def hline(y: float, text: str = "", colour: str = MUTED, dash: str = "dash", width: float = 1, axis: str = "y",
          side: str = "right") -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(shape, annotation) of a horizontal reference line across the plot, labelled at ``side`` above the line."""
    shape = {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": axis, "y0": y, "y1": y,
             "line": {"color": colour, "dash": dash, "width": width}}
    note = {"xref": "paper", "x": 1 if side == "right" else 0, "xanchor": side, "yref": axis, "y": y,
            "yanchor": "bottom", "text": text, "showarrow": False, "font": {"size": 11, "color": colour}}
    return shape, note if text else None


def vline(x: float, text: str = "", colour: str = TARGET) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(shape, annotation) of a vertical reference line over the plot, labelled at the top."""
    shape = {"type": "line", "yref": "paper", "y0": 0, "y1": 1, "xref": "x", "x0": x, "x1": x,
             "line": {"color": colour, "dash": "dash", "width": 1}}
    note = {"yref": "paper", "y": 1, "yanchor": "bottom", "xref": "x", "x": x, "text": text, "showarrow": False,
            "font": {"size": 11, "color": colour}}
    return shape, note if text else None


def lines(*marks: tuple[dict[str, Any], dict[str, Any] | None]) -> dict[str, list[dict[str, Any]]]:
    """Layout keys ``shapes`` and ``annotations`` of reference lines from ``hline`` / ``vline``."""
    return {"shapes": [s for s, _ in marks], "annotations": [a for _, a in marks if a is not None]}


def empty_figure(message: str, height: int = 260) -> go.Figure:
    """A figure that says what is missing instead of drawing empty axes."""
    return go.Figure(layout={
        "xaxis": {"visible": False}, "yaxis": {"visible": False}, "height": height,
        "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "annotations": [{"text": message, "showarrow": False, "font": {"size": 14, "color": "#495057"},
                         "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}]})


def is_empty_figure(fig: go.Figure) -> bool:
    return not fig.data and bool(fig.layout.annotations)
