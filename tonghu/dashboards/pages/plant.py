"""Plant overview: OEE and its factors per line, production against the ideal output, the largest losses, scrap
and energy per good unit, OEE over time and the live state of each line, for a company or one site over a chosen
range or shift. KPIs refresh once a minute while the range ends now; line states at the page refresh interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from tonghu.dashboards import auth
from tonghu.dashboards.components.scope_picker import scope_picker, scope_store_id
from tonghu.dashboards.context import conn, settings
from tonghu.dashboards.pages import _analytics as an
from tonghu.dashboards.views import common, states, timerange
from tonghu.dashboards.views import plant as view
from tonghu.platform.kpi import scope as kscope
from tonghu.platform.kpi import timeline
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import ScopeError

ROLES = an.PLANT_ROLES
PAGE = "plant"
MAX_TILES = 48
LIVE_WINDOW = timedelta(hours=1)
PICK_FIRST = "Pick a company or a site above."


def _graph(id_: str) -> dcc.Graph:
    return dcc.Graph(id=id_, config=common.GRAPH_CONFIG, figure=common.empty_figure("Loading…"))


@auth.page_layout(*ROLES)
def layout(**query: Any) -> html.Div:
    """``?range=30d`` (any preset of the range picker) opens the page on that range, e.g. for a wall screen."""
    user = auth.current_user()
    assert user is not None
    return html.Div([
        html.Div([html.H2("Plant overview", className="h4 mb-0"),
                  html.Small(id="plant-updated", className="text-muted")], className="page-head"),
        scope_picker(PAGE, user, depth="site"),
        timerange.controls(PAGE, preset=timerange.initial_preset(query.get("range"))),
        dcc.Interval(id="plant-interval", interval=an.KPI_REFRESH_MS),
        dcc.Interval(id="plant-live-interval", interval=int(settings().refresh_interval.total_seconds() * 1000)),
        html.Div(id="plant-notice", className="mt-2"),
        dcc.Loading(html.Div(id="plant-cards", className="mt-2"), type="dot", delay_show=400),
        dbc.Row([dbc.Col(_graph("plant-oee-graph"), lg=7), dbc.Col(_graph("plant-production-graph"), lg=5)],
                className="g-3"),
        dbc.Row([dbc.Col(_graph("plant-losses-graph"), lg=7), dbc.Col(_graph("plant-scrap-graph"), lg=5)],
                className="g-3"),
        _graph("plant-trend-graph"),
        html.Div([html.H3("Line states now", className="h5 mb-0"),
                  html.Small(id="plant-live-updated", className="text-muted")], className="section-head mt-3"),
        html.Div(id="plant-live"),
        html.H3("Lines", className="h5 mt-3"),
        html.Div(id="plant-lines"),
    ], className="page page-analytics page-plant")


def snapshot(c: Any, req: an.Request, now: datetime) -> dict[str, Any]:
    """The KPIs of the page for an authorised request, from one ``facts`` call per group and time bucket: lines
    sum over the buckets, the trend over the lines (lost time comes separately: it reads raw states)."""
    scope, rng = req.scope, req.range
    by = "asset" if scope.level == "asset" else "line"
    bucket = timerange.bucket_for(rng.span)
    rows = facts(c, scope, rng.start, rng.end, by=by, bucket=bucket, now=now)  # type: ignore[arg-type]
    names = an.asset_labels(c, scope) if by == "asset" else an.line_labels(c, scope)
    lines, total = view.summarise(view.over_time(rows), names)
    return {"lines": lines, "total": total, "trend": view.trend_points(rows), "bucket": bucket}


def _blank(blank: an.Blank) -> tuple[Any, ...]:
    fig = common.empty_figure("No figures for this range" if blank.error else blank.message)
    notice = dbc.Alert(blank.message, color="warning") if blank.error else None
    return notice, None, fig, fig, fig, fig, None, blank.message


@callback(Output("plant-notice", "children"), Output("plant-cards", "children"),
          Output("plant-oee-graph", "figure"), Output("plant-production-graph", "figure"),
          Output("plant-scrap-graph", "figure"), Output("plant-trend-graph", "figure"),
          Output("plant-lines", "children"), Output("plant-updated", "children"),
          Input("plant-interval", "n_intervals"), Input(scope_store_id(PAGE), "data"), *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh(_n: int | None, scope_data: Any, *range_values: Any) -> tuple[Any, ...]:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    req = an.prepare(c, user, scope_data, range_values, "plant-interval", now, PICK_FIRST)
    if isinstance(req, an.Blank):
        return _blank(req)
    try:
        data = snapshot(c, req, now)
    except ScopeError as err:
        return _blank(an.Blank(str(err), True))
    lines = data["lines"]
    return (None, view.summary_cards(data["total"], lines), view.oee_figure(lines), view.production_figure(lines),
            view.scrap_energy_figure(lines), view.oee_trend_figure(data["trend"], data["bucket"], req.range.tz),
            view.line_table(lines), f"{req.range.label} · updated {now:%H:%M:%S} UTC")


@callback(Output("plant-losses-graph", "figure"), Input("plant-interval", "n_intervals"),
          Input(scope_store_id(PAGE), "data"), *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh_losses(_n: int | None, scope_data: Any, *range_values: Any) -> Any:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    req = an.prepare(c, user, scope_data, range_values, "plant-interval", now, PICK_FIRST)
    if isinstance(req, an.Blank):
        return common.empty_figure(req.message)
    try:
        items = an.loss_pareto(c, req.scope, req.range.start, req.range.end)
    except ScopeError as err:
        return common.empty_figure(str(err))
    return states.pareto_figure(items, "Top losses by time (each line's output machine)")


def live_states(c: Any, scope: kscope.Scope, now: datetime) -> list[states.LiveState]:
    """The latest state of each line's output machine over the last hour."""
    out = []
    lines = an.line_labels(c, scope)
    for a in [a for a in kscope.assets(c, scope) if a.output][:MAX_TILES]:
        spans = timeline.state_timeline(c, a.id, now - LIVE_WINDOW, now)
        out.append(states.LiveState(lines[a.line_id], a.path.rsplit("/", 1)[-1], spans[-1] if spans else None))
    return out


@callback(Output("plant-live", "children"), Output("plant-live-updated", "children"),
          Input("plant-live-interval", "n_intervals"), Input(scope_store_id(PAGE), "data"))
@auth.require_role(*ROLES)
def refresh_live(_n: int | None, scope_data: Any) -> tuple[Any, str]:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    scope = an.authorised_scope(c, user, scope_data)
    if scope is None:
        return common.empty_state(PICK_FIRST), ""
    return states.live_tiles(live_states(c, scope, now), now), f"as of {now:%H:%M:%S} UTC"


dash.register_page(__name__, path="/plant", name="Plant overview", title="Plant overview · Tonghu", order=5,
                   layout=layout, roles=ROLES, nav=True)
