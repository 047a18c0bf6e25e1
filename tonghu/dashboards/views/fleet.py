"""Components of the edge fleet page, built from ``tonghu.platform.fleet`` results (pure: no I/O)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dash_table, html

from tonghu.platform.fleet import EdgeHealth

_BADGE = {"online": "success", "offline": "danger", "stale": "warning", "unknown": "secondary"}
_STATUS_TEXT = {"online": "online", "offline": "offline", "stale": "silent", "unknown": "never reported"}
MAX_AGE_BARS = 15
MAX_ROWS = 5000  # per table, bounding the response; a longer one is cut with a note (the scope picker narrows it)
PAGE_SIZE = 20
_SEVERITY = {"offline": 0, "stale": 1, "unknown": 2, "online": 3}
DEAD_LETTER_COLUMNS = ("received_at", "company", "site", "edge", "reason", "detail", "seq", "sample_count",
                       "payload_bytes", "topic")


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "–"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _since(at: datetime | None, now: datetime) -> float | None:
    return (now - at).total_seconds() if at else None


def empty_state(message: str, hint: str = "") -> html.Div:
    return html.Div([html.P(message, className="mb-1"), html.Small(hint, className="text-muted") if hint else None],
                    className="empty-state")


def summary(edges: Sequence[EdgeHealth], dead_counts: dict[str, int]) -> dbc.Row:
    counts = {s: sum(1 for e in edges if e.status == s) for s in _BADGE}
    cards = [("Edges", len(edges), "primary"), ("Online", counts["online"], "success"),
             ("Offline", counts["offline"], "danger"), ("Silent", counts["stale"], "warning"),
             ("Never reported", counts["unknown"], "secondary"),
             ("Dead letters, 24 h", sum(dead_counts.values()), "danger" if dead_counts else "success")]
    return dbc.Row([dbc.Col(dbc.Card(dbc.CardBody([html.Div(label, className="stat-label"),
                                                   html.Div(str(value), className=f"stat-value text-{color}")])),
                            xs=6, md=2) for label, value, color in cards], className="g-2 mb-3")


def _table(table_id: str, columns: Sequence[tuple[str, str]], rows: list[dict[str, Any]],
           status_column: str | None = None) -> dash_table.DataTable:
    """One DataTable component (paged and filterable in the browser) rather than a tree of html rows: the
    renderer's cost grows with the number of components, and a fleet of hundreds of edges made the page stall."""
    colours = {"offline": "#dc3545", "disconnected": "#dc3545", "silent": "#b58100", "never reported": "#6c757d",
               "unknown": "#6c757d", "disabled": "#343a40", "online": "#198754", "connected": "#198754"}
    conditional = [{"if": {"filter_query": f'{{{status_column}}} = "{value}"', "column_id": status_column},
                    "color": colour, "fontWeight": "600"} for value, colour in colours.items()] if status_column else []
    return dash_table.DataTable(
        id=table_id, columns=[{"name": name, "id": key} for name, key in columns], data=rows, page_size=PAGE_SIZE,
        filter_action="native", sort_action="native", style_as_list_view=True,
        style_table={"overflowX": "auto"}, style_header={"fontWeight": "600", "backgroundColor": "#fff"},
        style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px", "textAlign": "left",
                    "maxWidth": "28rem", "overflow": "hidden", "textOverflow": "ellipsis"},
        style_data_conditional=[{"if": {"row_index": "odd"}, "backgroundColor": "#f8f9fb"}, *conditional],
        tooltip_duration=None)


def edges_table(edges: Sequence[EdgeHealth], now: datetime) -> Any:
    if not edges:
        return empty_state("No edge gateways are registered in this scope.",
                           "Register one with: tonghu edges add --company … --site … --name …")
    ordered = sorted(edges, key=lambda e: (_SEVERITY[e.status] if e.enabled else 4, e.company, e.site, e.edge))
    rows = [{"site": f"{e.company} / {e.site}", "edge": e.edge,
             "status": _STATUS_TEXT[e.status] if e.enabled else "disabled",
             "status_age": fmt_age(_since(e.status_at, now)) + " ago" if e.status_at else "never",
             "batch_age": fmt_age(_since(e.last_batch_at, now)) + " ago" if e.last_batch_at else "never",
             "buffered": (f"{e.buffered_samples:,} samples · {fmt_bytes(e.buffered_bytes)}"
                          if e.buffered_samples is not None else "–"),
             "fill": f"{e.buffer_fill:.0%}" if e.buffer_fill is not None else "–",
             "oldest": fmt_age(e.oldest_age_s),
             "dropped": ", ".join(f"{k}: {v:,}" for k, v in e.dropped.items()) or "none"}
            for e in ordered[:MAX_ROWS]]
    columns = (("Site", "site"), ("Edge", "edge"), ("Status", "status"), ("Last status", "status_age"),
               ("Last batch", "batch_age"), ("Buffered", "buffered"), ("Buffer fill", "fill"),
               ("Oldest buffered", "oldest"), ("Dropped", "dropped"))
    return html.Div([_table("fleet-edges-table", columns, rows, "status"), _cut_note(len(edges), "edges")])


def sources_table(edges: Sequence[EdgeHealth]) -> Any:
    # Disconnected and stale sources first: they are what this table is read for.
    sources = sorted(((e, s) for e in edges for s in e.sources),
                     key=lambda es: (es[1].connected is not False, -(es[1].last_value_age_s or 0.0)))
    if not sources:
        if not edges:
            return empty_state("No sources: no edge is registered in this scope.")
        return empty_state("No edge has reported its sources yet.",
                           "Sources appear once an edge agent publishes its status (every 30 s while connected). "
                           "An edge that never reported has not reached the platform broker, or no ingester runs.")
    rows = [{"edge": f"{e.site} / {e.edge}", "source": s.name,
             "connection": {True: "connected", False: "disconnected"}.get(s.connected, "unknown"),  # type: ignore[arg-type]
             "age": fmt_age(s.last_value_age_s), "samples": "–" if s.samples is None else f"{s.samples:,}",
             "outages": "–" if s.outages is None else str(s.outages)} for e, s in sources[:MAX_ROWS]]
    columns = (("Edge", "edge"), ("Source", "source"), ("Connection", "connection"), ("Last value", "age"),
               ("Samples", "samples"), ("Outages", "outages"))
    return html.Div([_table("fleet-sources-table", columns, rows, "connection"), _cut_note(len(sources), "sources")])


def _cut_note(total: int, what: str) -> Any:
    if total <= MAX_ROWS:
        return None
    return html.Small(f"Showing {MAX_ROWS} of {total} {what}; pick a site to narrow the list.", className="text-muted")


def _empty_figure(message: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=260,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      annotations=[{"text": message, "showarrow": False, "font": {"size": 14}}])
    return fig


def age_figure(edges: Sequence[EdgeHealth], top: int = MAX_AGE_BARS) -> go.Figure:
    """The stalest sources by age of their last value: the quickest way to spot a source that went quiet. Only
    the ``top`` oldest are drawn (the sources table lists all): the browser's drawing time grows with every bar."""
    points = sorted(((f"{e.edge} · {s.name}", s.last_value_age_s) for e in edges for s in e.sources
                     if s.last_value_age_s is not None), key=lambda p: -p[1])
    if not points:
        return _empty_figure("No source has reported a value yet")
    shown = points[:top][::-1]  # plotly draws the first bar at the bottom
    title = "Age of the last value per source (s)" if len(points) <= top else \
        f"Age of the last value: the {top} stalest of {len(points)} sources (s)"
    fig = go.Figure(go.Bar(x=[a for _, a in shown], y=[n for n, _ in shown], orientation="h",
                           marker_color="#0d6efd", hovertemplate="%{y}: %{x:.0f} s<extra></extra>"))
    fig.update_layout(title=title, height=max(260, 60 + 22 * len(shown)),
                      margin={"l": 10, "r": 10, "t": 40, "b": 30}, yaxis={"automargin": True})
    return fig


def dead_letter_figure(counts: dict[str, int]) -> go.Figure:
    if not counts:
        return _empty_figure("No dead letters in the last 24 hours")
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color="#dc3545",
                           hovertemplate="%{x}: %{y}<extra></extra>"))
    fig.update_layout(title="Dead letters by reason, last 24 h", height=260,
                      margin={"l": 10, "r": 10, "t": 40, "b": 30})
    return fig


def dead_letters_table(rows: Sequence[dict[str, Any]]) -> Any:
    if not rows:
        return empty_state("No dead letters in the last 24 hours.",
                           "Payloads the ingester refuses (unknown tags, bad values, malformed batches) are kept "
                           "here with their reason, byte for byte.")
    data = [{"received": r["received_at"].strftime("%Y-%m-%d %H:%M:%S"),
             "edge": f"{r['site']} / {r['edge']}" if r["edge"] else "(unregistered sender)",
             "reason": r["reason"], "detail": r["detail"][:300], "seq": "–" if r["seq"] is None else str(r["seq"]),
             "samples": str(r["sample_count"])} for r in rows]
    columns = (("Received", "received"), ("Edge", "edge"), ("Reason", "reason"), ("Detail", "detail"),
               ("Seq", "seq"), ("Samples", "samples"))
    return _table("fleet-dead-table", columns, data)


def dead_letters_csv(rows: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(DEAD_LETTER_COLUMNS)
    for r in rows:
        writer.writerow([_csv_cell(r.get(c)) for c in DEAD_LETTER_COLUMNS])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to spreadsheet programs; the detail text comes from edges.
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
