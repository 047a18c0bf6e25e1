"""The dashboards shell: the login gate, a navigation bar built from the page registry for the user's role, and
the page container. Every page is one module under ``tonghu/dashboards/pages/`` that calls
``dash.register_page(__name__, path=…, layout=…, roles=(…), nav=True)``; the shell imports them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
import flask
from dash import dcc, html

from tonghu.common.errors import ConfigError
from tonghu.dashboards import auth, pages, secret, web
from tonghu.dashboards.settings import DashboardSettings

_ROLE_LABEL = {"admin": "admin", "plant_manager": "plant manager", "engineer": "engineer",
               "association_analyst": "association analyst"}


def create_app(cfg: DashboardSettings) -> dash.Dash:
    """A Dash app on its own Flask server. Dash keeps pages and ``@callback`` callbacks in process-wide
    registries, so there is one app per process: a second call is refused rather than served half-wired."""
    if dash.page_registry:
        raise ConfigError("the dashboards app was already created in this process (Dash registries are global)")
    key = cfg.secret_key.get_secret_value().encode() if cfg.secret_key else secret.load_or_create(cfg.secret_key_file)
    server = flask.Flask(__name__)
    web.install(server, cfg, key)
    # Pages are imported explicitly below (pages_folder=""); their layouts depend on the signed-in user, so the
    # full layout is never known up front and callbacks of pages not shown are expected to be absent.
    app = dash.Dash(__name__, server=server, use_pages=True, pages_folder="",
                    assets_folder=str(Path(__file__).with_name("assets")), external_stylesheets=list(cfg.stylesheets),
                    suppress_callback_exceptions=True, title="Tonghu", update_title=None)
    for mod in pkgutil.iter_modules(pages.__path__):
        if not mod.name.startswith("_"):  # as in Dash's own page discovery: "_name" modules are helpers
            importlib.import_module(f"{pages.__name__}.{mod.name}")
    app.layout = shell
    return app


def nav_pages(user: auth.User | None) -> list[dict[str, object]]:
    """Registered pages shown in the navigation bar for ``user``, in their declared order."""
    found = [p for p in dash.page_registry.values() if p.get("nav") and auth.may_view(user, p.get("roles", ()))]
    return sorted(found, key=lambda p: (p.get("order") or 0, p["name"]))


def shell() -> html.Div:
    """Built per request, so the navigation only ever names pages the signed-in user may open."""
    user = auth.current_user()
    if user is None:  # Dash also builds the layout once while setting itself up, possibly without a session
        return html.Div(dash.page_container)
    links = [dbc.NavItem(dbc.NavLink(p["name"], href=str(p["relative_path"]), active="exact",
                                     id=f"nav-{str(p['path']).strip('/') or 'home'}")) for p in nav_pages(user)]
    logout = html.Form([dcc.Input(type="hidden", name="csrf", value=web.csrf_token(), id="logout-csrf"),
                        html.Button("Sign out", type="submit", id="logout-button",
                                    className="btn btn-sm btn-outline-light")],
                       action="/logout", method="POST", className="logout-form")
    who = html.Span([user.display_name or user.username, html.Small(f" · {_ROLE_LABEL[user.role]}")],
                    id="nav-user", className="navbar-text me-3")
    navbar = dbc.Navbar(dbc.Container([dbc.NavbarBrand("Tonghu", href="/"), dbc.Nav(links, navbar=True, id="nav"),
                                       html.Div([who, logout], className="nav-right")], fluid=True),
                        color="dark", dark=True, className="mb-3")
    return html.Div([navbar, dbc.Container(dash.page_container, fluid=True)])
