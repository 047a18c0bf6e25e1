"""Edge fleet and data quality: which edges are online, how full their buffers are, how fresh each source is,
and what the ingester refused (dead letters). Refreshes itself without reloading the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html

from tonghu.dashboards import auth
from tonghu.dashboards.components.scope_picker import scope_picker, scope_store_id
from tonghu.dashboards.context import client_addr, conn, settings
from tonghu.dashboards.views import fleet as view
from tonghu.platform import fleet, users

ROLES = ("admin", "engineer", "plant_manager")
PICKER = "fleet"
DEAD_LETTER_WINDOW = timedelta(hours=24)


@auth.page_layout(*ROLES)
def layout(**_query: Any) -> html.Div:
    user = auth.current_user()
    assert user is not None
    return html.Div([
        html.Div([html.H2("Edge fleet and data quality", className="h4 mb-0"),
                  html.Small(id="fleet-updated", className="text-muted")], className="page-head"),
        scope_picker(PICKER, user, depth="site"),
        dcc.Interval(id="fleet-interval", interval=int(settings().refresh_interval.total_seconds() * 1000)),
        html.Div(id="fleet-summary", className="mt-3"),
        dbc.Row([dbc.Col(dcc.Graph(id="fleet-age-graph", config={"displaylogo": False}), md=7),
                 dbc.Col(dcc.Graph(id="fleet-dead-graph", config={"displaylogo": False}), md=5)], className="g-3"),
        html.H3("Edges", className="h5 mt-3"),
        html.Div(id="fleet-edges"),
        html.H3("Sources", className="h5 mt-3"),
        html.Div(id="fleet-sources"),
        html.Div([html.H3("Dead letters", className="h5 mb-0"),
                  dbc.Button("Download CSV", id="fleet-dead-csv-button", size="sm", color="secondary",
                             outline=True)], className="section-head mt-3"),
        dcc.Download(id="fleet-dead-csv"),
        html.Div(id="fleet-dead"),
    ], className="page page-fleet")


def snapshot(c: Any, user: users.User, scope_data: Any, now: datetime) -> dict[str, Any]:
    """Everything the page shows, for the scope the browser asked for once it is authorised."""
    company_id, site_id = auth.scope_boundary(c, user, auth.scope_from_data(scope_data))
    since = now - DEAD_LETTER_WINDOW
    return {"edges": fleet.edges(c, company_id, site_id),
            "dead_counts": fleet.dead_letter_counts(c, company_id, site_id, since),
            "dead": fleet.dead_letters(c, company_id, site_id, since, limit=500)}


@callback(Output("fleet-summary", "children"), Output("fleet-age-graph", "figure"),
          Output("fleet-dead-graph", "figure"), Output("fleet-edges", "children"),
          Output("fleet-sources", "children"), Output("fleet-dead", "children"), Output("fleet-updated", "children"),
          Input("fleet-interval", "n_intervals"), Input(scope_store_id(PICKER), "data"))
@auth.require_role(*ROLES)
def refresh(_n: int | None, scope_data: Any) -> tuple[Any, ...]:
    user = auth.current_user()
    assert user is not None
    now = datetime.now(UTC)
    data = snapshot(conn(), user, scope_data, now)
    return (view.summary(data["edges"], data["dead_counts"]), view.age_figure(data["edges"]),
            view.dead_letter_figure(data["dead_counts"]), view.edges_table(data["edges"], now),
            view.sources_table(data["edges"]), view.dead_letters_table(data["dead"]),
            f"updated {now:%H:%M:%S} UTC")


@callback(Output("fleet-dead-csv", "data"), Input("fleet-dead-csv-button", "n_clicks"),
          State(scope_store_id(PICKER), "data"), prevent_initial_call=True)
@auth.require_role(*ROLES)
def export_dead_letters(_clicks: int | None, scope_data: Any) -> dict[str, Any]:
    user = auth.current_user()
    assert user is not None
    c = conn()
    company_id, site_id = auth.scope_boundary(c, user, auth.scope_from_data(scope_data))
    now = datetime.now(UTC)
    rows = fleet.dead_letters(c, company_id, site_id, now - DEAD_LETTER_WINDOW, limit=10_000)
    users.audit(c, user.username, "export", {"what": "dead_letters", "rows": len(rows), "scope": scope_data,
                                             "addr": client_addr()})
    return dcc.send_string(view.dead_letters_csv(rows), f"dead-letters-{now:%Y%m%dT%H%M%SZ}.csv", type="text/csv")


dash.register_page(__name__, path="/fleet", name="Edge fleet", title="Edge fleet · Tonghu", order=20,
                   layout=layout, roles=ROLES, nav=True)
