"""Sector benchmarks: anonymised figures of a sector's companies as released by disclosure control. An association
analyst sees their sector; a plant manager sees their company's sector and, when the company shares its figures
and the manager is not bound to one site, the company's own position; an admin picks any sector. The sector and
the viewer's company always come from the session; the browser only picks a metric and a month."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html

from tonghu.dashboards import auth
from tonghu.dashboards.context import client_addr, conn
from tonghu.dashboards.views import benchmarks as view
from tonghu.dashboards.views import common
from tonghu.platform import users
from tonghu.platform.kpi import benchmark
from tonghu.platform.kpi.catalog import company_sector

ROLES = ("admin", "plant_manager", "association_analyst")
MONTHS_OFFERED = 12
TREND_MONTHS = 6


def _months(today: date, n: int) -> list[date]:
    out, y, m = [], today.year, today.month
    for _ in range(n):
        out.append(date(y, m, 1))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out


def viewer(c: Any, user: users.User, sector_value: Any) -> tuple[str, int | None]:
    """(sector, viewer company) from the session; an admin's sector pick is checked against the known sectors."""
    if user.is_admin:
        if sector_value not in users.SECTORS:
            raise auth.Denied("bad_sector", sector=repr(sector_value)[:40])
        return str(sector_value), None
    if user.role == "association_analyst":
        if user.sector not in users.SECTORS:
            raise auth.Denied("no_sector", role=user.role)
        return str(user.sector), None
    if user.company_id is None:
        raise auth.Denied("no_company", role=user.role)
    sector = company_sector(c, user.company_id)
    if sector is None:
        raise auth.Denied("no_company", role=user.role)
    # A manager bound to one site does not see the company-wide figure behind "your company".
    return sector, user.company_id if user.site_id is None else None


def metric_for(sector: str, name: Any) -> benchmark.Metric:
    m = benchmark.METRICS.get(name) if isinstance(name, str) else None
    if m is None or sector not in m.sectors:
        raise auth.Denied("bad_metric", metric=repr(name)[:40], sector=sector)
    return m


def month_of(value: Any, today: date) -> date:
    """The first day of a month offered by the page ("YYYY-MM")."""
    offered = {d.strftime("%Y-%m"): d for d in _months(today, MONTHS_OFFERED)}
    if not isinstance(value, str) or value not in offered:
        raise auth.Denied("bad_period", period=repr(value)[:20])
    return offered[value]


def sector_metrics(sector: str) -> list[benchmark.Metric]:
    return [m for m in benchmark.METRICS.values() if sector in m.sectors]


@auth.page_layout(*ROLES)
def layout(**_query: Any) -> html.Div:
    user = auth.current_user()
    assert user is not None
    today = datetime.now(UTC).date()
    fixed = None if user.is_admin else viewer(conn(), user, None)[0]
    sector = fixed or users.SECTORS[0]
    metrics = sector_metrics(sector)
    months = [{"label": d.strftime("%B %Y") + (" (so far)" if i == 0 else ""), "value": d.strftime("%Y-%m")}
              for i, d in enumerate(_months(today, MONTHS_OFFERED))]
    return html.Div([
        html.Div([html.H2("Sector benchmarks", className="h4 mb-0"),
                  html.Small(id="bench-updated", className="text-muted")], className="page-head"),
        dbc.Row([
            dbc.Col([html.Small("Sector", className="text-muted"),
                     dcc.Dropdown(id="bench-sector", options=list(users.SECTORS), value=sector, clearable=False,
                                  disabled=fixed is not None)], md=3),
            dbc.Col([html.Small("Metric", className="text-muted"),
                     dcc.Dropdown(id="bench-metric", options=view.metric_options(metrics), value=metrics[0].name,
                                  clearable=False)], md=4),
            dbc.Col([html.Small("Month (UTC)", className="text-muted"),
                     dcc.Dropdown(id="bench-month", options=months, value=months[0]["value"], clearable=False)], md=3),
            dbc.Col(dbc.Button("Download CSV", id="bench-csv-button", size="sm", color="secondary", outline=True,
                               className="mt-3"), md=2),
        ], className="g-2"),
        dcc.Download(id="bench-csv"),
        html.Div(id="bench-notice", className="mt-2"),
        dbc.Row([dbc.Col(dcc.Loading(dcc.Graph(id="bench-dist-graph", config=common.GRAPH_CONFIG,
                                               figure=common.empty_figure("Loading…")), type="dot", delay_show=400),
                         lg=6),
                 dbc.Col(dcc.Loading(dcc.Graph(id="bench-trend-graph", config=common.GRAPH_CONFIG,
                                               figure=common.empty_figure("Loading…")), type="dot", delay_show=400),
                         lg=6)], className="g-3 mt-1"),
        html.H3("All metrics of the month", className="h5 mt-3"),
        dcc.Loading(html.Div(id="bench-overview"), type="dot", delay_show=400),
    ], className="page page-analytics page-benchmarks")


@callback(Output("bench-metric", "options"), Output("bench-metric", "value"), Input("bench-sector", "value"),
          State("bench-metric", "value"), prevent_initial_call=True)
@auth.require_role(*ROLES)
def metric_list(sector_value: Any, current: Any) -> tuple[list[dict[str, str]], str]:
    user = auth.current_user()
    assert user is not None
    sector, _ = viewer(conn(), user, sector_value)
    metrics = sector_metrics(sector)
    keep = current if any(m.name == current for m in metrics) else metrics[0].name
    return view.metric_options(metrics), keep


@callback(Output("bench-dist-graph", "figure"), Output("bench-notice", "children"), Output("bench-updated", "children"),
          Input("bench-sector", "value"), Input("bench-metric", "value"), Input("bench-month", "value"))
@auth.require_role(*ROLES)
def refresh(sector_value: Any, metric_name: Any, month_value: Any) -> tuple[Any, Any, str]:
    user = auth.current_user()
    assert user is not None
    c, today = conn(), datetime.now(UTC).date()
    sector, company = viewer(c, user, sector_value)
    metric, month = metric_for(sector, metric_name), month_of(month_value, today)
    b = benchmark.sector_benchmark(c, sector, metric.name, "month", month, viewer_company=company)
    note = None
    if user.role == "plant_manager" and company is not None and all(cl.viewer_value is None for cl in b.cells
                                                                      if cl.released):
        note = dbc.Alert("Your company has no position here: it does not share its figures for benchmarks, has no "
                         "such figure this month, or every cell holding it is suppressed.", color="info")
    return view.distribution_figure(b), note, f"{sector} · {b.start:%B %Y} · computed {datetime.now(UTC):%H:%M:%S} UTC"


@callback(Output("bench-trend-graph", "figure"), Input("bench-sector", "value"), Input("bench-metric", "value"),
          Input("bench-month", "value"))
@auth.require_role(*ROLES)
def refresh_trend(sector_value: Any, metric_name: Any, month_value: Any) -> Any:
    user = auth.current_user()
    assert user is not None
    c, today = conn(), datetime.now(UTC).date()
    sector, company = viewer(c, user, sector_value)
    metric, month = metric_for(sector, metric_name), month_of(month_value, today)
    months = _months(month, TREND_MONTHS)[::-1]
    return view.trend_figure([benchmark.sector_benchmark(c, sector, metric.name, "month", d, viewer_company=company)
                              for d in months])


def month_benchmarks(c: Any, sector: str, month: date, company: int | None) -> list[benchmark.Benchmark]:
    return [benchmark.sector_benchmark(c, sector, m.name, "month", month, viewer_company=company)
            for m in sector_metrics(sector)]


@callback(Output("bench-overview", "children"), Input("bench-sector", "value"), Input("bench-month", "value"))
@auth.require_role(*ROLES)
def refresh_overview(sector_value: Any, month_value: Any) -> Any:
    user = auth.current_user()
    assert user is not None
    c = conn()
    sector, company = viewer(c, user, sector_value)
    return view.overview_table(month_benchmarks(c, sector, month_of(month_value, datetime.now(UTC).date()), company))


@callback(Output("bench-csv", "data"), Input("bench-csv-button", "n_clicks"), State("bench-sector", "value"),
          State("bench-month", "value"), prevent_initial_call=True)
@auth.require_role(*ROLES)
def export(_clicks: int | None, sector_value: Any, month_value: Any) -> dict[str, Any]:
    user = auth.current_user()
    assert user is not None
    c = conn()
    sector, company = viewer(c, user, sector_value)
    month = month_of(month_value, datetime.now(UTC).date())
    benches = month_benchmarks(c, sector, month, company)
    released = sum(cell.released for b in benches for cell in b.cells)
    users.audit(c, user.username, "export", {"what": "benchmarks", "sector": sector, "month": f"{month:%Y-%m}",
                                             "cells": sum(len(b.cells) for b in benches), "released": released,
                                             "own_position": company is not None, "addr": client_addr()})
    return dcc.send_string(view.to_csv(benches), f"benchmarks-{sector}-{month:%Y-%m}.csv", type="text/csv")


dash.register_page(__name__, path="/benchmarks", name="Benchmarks", title="Sector benchmarks · Tonghu", order=30,
                   layout=layout, roles=ROLES, nav=True)
