"""Line and machine drill-down: the state timeline, lost time by reason and stop durations, counts and speed, the
live trend of any numeric tag (zooming re-queries the zoomed range, so raw samples appear once they fit) and the
I-MR chart with capability of tags that have spec limits. Works at every level: above a line it shows each line's
output machine."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from tonghu.dashboards import auth
from tonghu.dashboards.components.scope_picker import scope_picker, scope_store_id
from tonghu.dashboards.context import conn, settings
from tonghu.dashboards.pages import _analytics as an
from tonghu.dashboards.views import common, states, timerange
from tonghu.dashboards.views import machine as view
from tonghu.platform.kpi import catalog, spc, timeline
from tonghu.platform.kpi import scope as kscope
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import ScopeError
from tonghu.platform.kpi.tags import TagInfo

ROLES = an.PLANT_ROLES
PAGE = "machine"
MAX_ROWS = 30
TREND_POINTS = 1500
SPC_POINTS = 3000
# Roles worth a first look when a scope is opened: process values rather than counters or set-points.
PREFERRED_ROLES = ("process_value", "temperature", "speed", "rate", "placement_rate", "spindle_load", "pressure")
PICK_FIRST = "Pick a company, site, line or machine above."


def _graph(id_: str, zoom: bool = False) -> dcc.Graph:
    return dcc.Graph(id=id_, config=common.ZOOM_CONFIG if zoom else common.GRAPH_CONFIG,
                     figure=common.empty_figure("Loading…"))


@auth.page_layout(*ROLES)
def layout(**query: Any) -> html.Div:
    """``?range=30d`` (any preset of the range picker) opens the page on that range, e.g. for a wall screen."""
    user = auth.current_user()
    assert user is not None
    live_ms = int(settings().refresh_interval.total_seconds() * 1000)
    return html.Div([
        html.Div([html.H2("Lines and machines", className="h4 mb-0"),
                  html.Small(id="machine-updated", className="text-muted")], className="page-head"),
        scope_picker(PAGE, user, depth="asset"),
        timerange.controls(PAGE, preset=timerange.initial_preset(query.get("range"))),
        dcc.Interval(id="machine-interval", interval=an.KPI_REFRESH_MS),
        dcc.Interval(id="machine-live-interval", interval=live_ms),
        dcc.Store(id="machine-zoom"),
        html.Div(id="machine-notice", className="mt-2"),
        dcc.Loading(_graph("machine-gantt-graph", zoom=True), type="dot", delay_show=400),
        dbc.Row([dbc.Col(_graph("machine-pareto-graph"), lg=7), dbc.Col(_graph("machine-stops-graph"), lg=5)],
                className="g-3"),
        _graph("machine-counts-graph"),
        html.Div([html.H3("Trend", className="h5 mb-0"),
                  html.Small("Zoom in to see finer data: the range is queried again at the best resolution that "
                             "fits (raw samples, 1-minute or hourly rollups).", className="text-muted")],
                 className="section-head mt-3"),
        dcc.Dropdown(id="machine-tag", placeholder="Pick a numeric tag", className="tag-pick"),
        dcc.Loading(_graph("machine-trend-graph", zoom=True), type="dot", delay_show=400),
        html.H3("Statistical process control", className="h5 mt-3"),
        dcc.Dropdown(id="machine-spc-tag", placeholder="Pick a tag with spec limits", className="tag-pick"),
        dbc.Row([dbc.Col(dcc.Loading(_graph("machine-spc-graph", zoom=True), type="dot", delay_show=400), lg=8),
                 dbc.Col(html.Div(id="machine-capability"), lg=4)], className="g-3"),
    ], className="page page-analytics page-machine")


def gantt_rows(c: Any, scope: kscope.Scope, start: datetime, end: datetime) -> list[tuple[str, list[Any]]]:
    """Each machine of a line or the machine itself; above a line, each line's output machine."""
    members = kscope.assets(c, scope)
    if scope.level in ("site", "company"):
        members = [a for a in members if a.output]
    labels = an.asset_labels(c, scope)
    return [(labels[a.id], timeline.state_timeline(c, a.id, start, end)) for a in members[:MAX_ROWS]]


@callback(Output("machine-notice", "children"), Output("machine-gantt-graph", "figure"),
          Output("machine-updated", "children"),
          Input("machine-interval", "n_intervals"), Input(scope_store_id(PAGE), "data"), *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh(_n: int | None, scope_data: Any, *range_values: Any) -> tuple[Any, ...]:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    req = an.prepare(c, user, scope_data, range_values, "machine-interval", now, PICK_FIRST)
    if isinstance(req, an.Blank):
        notice = dbc.Alert(req.message, color="warning") if req.error else None
        return notice, common.empty_figure(req.message), req.message
    rng = req.range
    try:
        fig = states.gantt_figure(gantt_rows(c, req.scope, rng.start, rng.end), rng.start, rng.end, rng.tz)
    except ScopeError as err:
        return dbc.Alert(str(err), color="warning"), common.empty_figure("No state timeline for this range"), str(err)
    return None, fig, f"{rng.label} · updated {now:%H:%M:%S} UTC"


@callback(Output("machine-pareto-graph", "figure"), Output("machine-stops-graph", "figure"),
          Input("machine-interval", "n_intervals"), Input(scope_store_id(PAGE), "data"), *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh_losses(_n: int | None, scope_data: Any, *range_values: Any) -> tuple[Any, Any]:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    req = an.prepare(c, user, scope_data, range_values, "machine-interval", now, PICK_FIRST)
    if isinstance(req, an.Blank):
        return common.empty_figure(req.message), common.empty_figure(req.message)
    rng = req.range
    title = "Lost time by reason" + (" (each line's output machine)" if req.scope.level in ("site", "company")
                                     else "")
    try:
        return (states.pareto_figure(an.loss_pareto(c, req.scope, rng.start, rng.end), title),
                states.duration_histogram(an.stop_durations(c, req.scope, rng.start, rng.end)))
    except ScopeError as err:
        return common.empty_figure(str(err)), common.empty_figure(str(err))


@callback(Output("machine-counts-graph", "figure"), Input("machine-interval", "n_intervals"),
          Input(scope_store_id(PAGE), "data"), *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh_counts(_n: int | None, scope_data: Any, *range_values: Any) -> Any:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    req = an.prepare(c, user, scope_data, range_values, "machine-interval", now, PICK_FIRST)
    if isinstance(req, an.Blank):
        return common.empty_figure(req.message)
    rng = req.range
    bucket = timerange.bucket_for(rng.span)
    try:
        rows = facts(c, req.scope, rng.start, rng.end, bucket=bucket, now=now)  # type: ignore[arg-type]
    except ScopeError as err:
        return common.empty_figure(str(err))
    return view.counts_figure(rows, bucket, rng.tz)


def _preferred(tags: list[TagInfo]) -> int | None:
    for role in PREFERRED_ROLES:
        for t in tags:
            if t.role == role:
                return t.id
    return tags[0].id if tags else None


def spec_tags(tags: list[TagInfo]) -> list[TagInfo]:
    """Tags with spec limits in their attrs; malformed limits leave a tag out rather than failing the page."""
    out = []
    for t in tags:
        try:
            if spc.spec_limits(t.attrs)[2] is not None:
                out.append(t)
        except spc.SpcDataError:
            continue
    return out


@callback(Output("machine-tag", "options"), Output("machine-tag", "value"), Output("machine-spc-tag", "options"),
          Output("machine-spc-tag", "value"), Input(scope_store_id(PAGE), "data"))
@auth.require_role(*ROLES)
def tag_lists(scope_data: Any) -> tuple[Any, ...]:
    user = auth.current_user()
    assert user is not None
    c = conn()
    scope = an.authorised_scope(c, user, scope_data)
    if scope is None:
        return [], None, [], None
    tags = catalog.numeric_tags(c, scope)
    names = an.asset_labels(c, scope)
    limited = spec_tags(tags)
    return (view.tag_options(tags, names), _preferred(tags), view.tag_options(limited, names),
            _preferred(limited))


def authorised_tag(c: Any, scope: kscope.Scope, tag_id: Any) -> TagInfo:
    """The tag the browser picked, when it is a numeric tag of the authorised scope."""
    if not isinstance(tag_id, int) or isinstance(tag_id, bool):
        raise auth.Denied("bad_tag", tag=repr(tag_id)[:50])
    found = next((t for t in catalog.numeric_tags(c, scope) if t.id == tag_id), None)
    if found is None:
        raise auth.Denied("tag_outside_scope", tag=tag_id, level=scope.level, id=scope.id)
    return found


def zoom_range(relayout: Any, tz: str, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The x range the user zoomed to (site wall-clock strings from plotly), clipped to [start, end]; None for
    the whole range (autorange, nothing zoomed, or anything unreadable)."""
    if not isinstance(relayout, dict):
        return None
    raw = relayout.get("xaxis.range") or [relayout.get("xaxis.range[0]"), relayout.get("xaxis.range[1]")]
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(x, str) for x in raw):
        return None
    try:
        a, b = (datetime.fromisoformat(x.strip().replace(" ", "T")).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
                for x in raw)
    except ValueError:
        return None
    a, b = max(a, start), min(b, end)
    return (a, b) if b > a else None


@callback(Output("machine-zoom", "data"), Input("machine-trend-graph", "relayoutData"), Input("machine-tag", "value"),
          *an.range_inputs(PAGE), prevent_initial_call=True)
@auth.require_role(*ROLES)
def remember_zoom(relayout: Any, *_: Any) -> Any:
    """Keep the zoomed x range across refreshes; a new tag or range starts unzoomed."""
    if an.triggered_id() != "machine-trend-graph":
        return None
    if not isinstance(relayout, dict):
        raise PreventUpdate
    if relayout.get("xaxis.autorange"):
        return None
    if not any(k.startswith("xaxis.range") for k in relayout):
        raise PreventUpdate  # autosize and the like: the zoom did not change
    return {k: v for k, v in relayout.items() if k.startswith("xaxis.range")}


@callback(Output("machine-trend-graph", "figure"), Input("machine-live-interval", "n_intervals"),
          Input("machine-tag", "value"), Input("machine-zoom", "data"), State(scope_store_id(PAGE), "data"),
          *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh_trend(_n: int | None, tag_id: Any, zoom: Any, scope_data: Any, *range_values: Any) -> Any:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    req = an.prepare(c, user, scope_data, range_values, "machine-live-interval", now, PICK_FIRST)
    if isinstance(req, an.Blank):
        return common.empty_figure(req.message)
    if tag_id is None:
        return common.empty_figure("Pick a numeric tag above (the list is empty when the scope has none)")
    tag = authorised_tag(c, req.scope, tag_id)
    rng = req.range
    a, b = zoom_range(zoom, rng.tz, rng.start, rng.end) or (rng.start, rng.end)
    data = timeline.trend(c, tag.id, a, b, max_points=TREND_POINTS)
    try:
        lo, hi, _ = spc.spec_limits(tag.attrs)
    except spc.SpcDataError:
        lo = hi = None
    return view.trend_figure(tag, an.asset_labels(c, req.scope).get(tag.asset_id, ""), data, a, b, rng.tz, (lo, hi))


@callback(Output("machine-spc-graph", "figure"), Output("machine-capability", "children"),
          Input("machine-spc-tag", "value"), State(scope_store_id(PAGE), "data"), *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh_spc(tag_id: Any, scope_data: Any, *range_values: Any) -> tuple[Any, Any]:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    req = an.prepare(c, user, scope_data, range_values, None, now, PICK_FIRST)
    if isinstance(req, an.Blank):
        return common.empty_figure(req.message), None
    if tag_id is None:
        return common.empty_figure("No tag with spec limits (attrs spec_lo/spec_hi or lo_limit/hi_limit) in this "
                                   "scope"), None
    tag = authorised_tag(c, req.scope, tag_id)
    try:
        report = spc.load_spc(c, req.company_id, tag.id, req.range.start, req.range.end, max_points=SPC_POINTS)
    except spc.SpcDataError as err:
        return common.empty_figure("No SPC chart for this tag"), dbc.Alert(str(err), color="warning")
    asset = an.asset_labels(c, req.scope).get(tag.asset_id, "")
    return view.spc_figure(report, asset, req.range.tz), view.capability_table(report)


dash.register_page(__name__, path="/machine", name="Lines and machines", title="Lines and machines · Tonghu",
                   order=6, layout=layout, roles=ROLES, nav=True)
