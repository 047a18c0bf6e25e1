"""Start page: who is signed in, what they may see, and the pages open to their role."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import html

from tonghu.dashboards import auth
from tonghu.dashboards.context import conn
from tonghu.platform import fleet

_ROLE_TEXT = {
    "admin": "Administrator: every company.",
    "plant_manager": "Plant manager",
    "engineer": "Engineer",
    "association_analyst": "Association analyst: anonymised benchmarks of one sector.",
}


def _boundary_text(user: Any) -> str:
    if user.role == "association_analyst":
        return f"Sector: {user.sector}"
    if user.company_id is None:
        return "All companies"
    c = conn()
    company = dict(fleet.companies(c, user.company_id)).get(user.company_id, "?")
    if user.site_id is None:
        return f"Company: {company} (all sites)"
    site = dict(fleet.sites(c, user.company_id, user.site_id)).get(user.site_id, "?")
    return f"Company: {company}, site: {site}"


@auth.page_layout(*auth.ALL_ROLES)
def layout(**_query: Any) -> html.Div:
    user = auth.current_user()
    assert user is not None
    pages = [p for p in dash.page_registry.values() if p.get("nav") and auth.may_view(user, p.get("roles", ()))
             and p["path"] != "/"]
    links = [dbc.ListGroupItem(p["name"], href=p["relative_path"], id=f"home-link-{p['path'].strip('/')}")
             for p in sorted(pages, key=lambda p: p.get("order") or 0)]
    return html.Div([
        html.H2(f"Welcome, {user.display_name or user.username}", className="h4"),
        html.P([_ROLE_TEXT[user.role], html.Br(), _boundary_text(user)], id="home-scope"),
        dbc.ListGroup(links, className="home-links") if links else html.Div(
            "No pages are open to your role yet.", className="empty-state"),
    ], className="page page-home")


dash.register_page(__name__, path="/", name="Home", title="Tonghu", order=0, layout=layout,
                   roles=auth.ALL_ROLES, nav=True)
