"""Sector KPIs: the page of the picked company's sector — electronics (FPY, DPMO, placement, Paretos, reflow
conformance), petrochemical (throughput, yields and mass balance, energy, CO2 and flaring, ISA-18.2 alarm KPIs, lab
Cpk) or equipment (OEE, spindle utilisation, cycle time, MTBF / MTTR, tool life, scrap). The sector is the one of
the company owning the authorised scope, never a value from the browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate

from tonghu.dashboards import auth
from tonghu.dashboards.components.scope_picker import scope_picker, scope_store_id
from tonghu.dashboards.context import conn
from tonghu.dashboards.pages import _analytics as an
from tonghu.dashboards.views import common, timerange
from tonghu.dashboards.views import electronics as elec_view
from tonghu.dashboards.views import equipment as equip_view
from tonghu.dashboards.views import petro as petro_view
from tonghu.dashboards.views import plant as plant_view
from tonghu.platform.kpi import alarms, catalog, spc
from tonghu.platform.kpi import scope as kscope
from tonghu.platform.kpi.electronics import electronics
from tonghu.platform.kpi.equipment import equipment
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.petro import petrochemical
from tonghu.platform.kpi.scope import ScopeError
from tonghu.platform.kpi.tags import tags_of

ROLES = an.PLANT_ROLES
PAGE = "sector"
TITLES = {"electronics": "Electronics: SMT lines", "petrochemical": "Petrochemical: process units",
          "equipment": "Equipment manufacturing: machining and assembly"}
LAB_POINTS = 500
PICK_FIRST = "Pick a company above: the page follows its sector."


@auth.page_layout(*ROLES)
def layout(**query: Any) -> html.Div:
    """``?range=30d`` (any preset of the range picker) opens the page on that range, e.g. for a wall screen."""
    user = auth.current_user()
    assert user is not None
    return html.Div([
        html.Div([html.H2("Sector KPIs", className="h4 mb-0", id="sector-title"),
                  html.Small(id="sector-updated", className="text-muted")], className="page-head"),
        scope_picker(PAGE, user, depth="line"),
        timerange.controls(PAGE, preset=timerange.initial_preset(query.get("range"))),
        dcc.Interval(id="sector-interval", interval=an.KPI_REFRESH_MS),
        html.Div(id="sector-notice", className="mt-2"),
        dcc.Loading(html.Div(id="sector-content", className="mt-2",
                             children=common.empty_state("Loading…")), type="dot", delay_show=400),
    ], className="page page-analytics page-sector")


def reflow_conformance(c: Any, scope: kscope.Scope, start: datetime, end: datetime) -> list[elec_view.Conformance]:
    """Per oven and reflow tag, the samples within the tag's process window (attrs lo_limit / hi_limit)."""
    names = an.asset_labels(c, scope)
    out = []
    for t in tags_of(c, scope, ["process_value"]):
        if t.name not in elec_view.REFLOW_TAGS:
            continue
        try:
            lo, hi, source = spc.spec_limits(t.attrs)
        except spc.SpcDataError:
            continue
        if source is None:
            continue
        _, values = spc.load_samples(c, t.id, start, end)
        out.append(elec_view.conformance(f"{names.get(t.asset_id, t.asset_id)} · {t.name}", values, lo, hi))
    return out


def electronics_content(c: Any, req: an.Request, now: datetime) -> Any:
    rng = req.range
    return elec_view.content(electronics(c, req.scope, rng.start, rng.end),
                             reflow_conformance(c, req.scope, rng.start, rng.end))


def alarm_consoles(c: Any, req: an.Request) -> list[petro_view.AlarmConsole]:
    rng = req.range
    ids = catalog.alarm_consoles(c, req.scope)
    if not ids:
        return []
    period = timedelta(hours=1) if rng.span <= timedelta(days=2) else timedelta(days=1)
    journals = alarms.load_alarm_journals(c, req.company_id, ids, rng.start, rng.end)
    return [petro_view.AlarmConsole(j.asset, j.kpis(), alarms.counts_per_period(j.events, rng.start, rng.end, period),
                                    period) for j in journals.values()]


def lab_reports(c: Any, req: an.Request) -> list[tuple[str, spc.SpcReport]]:
    names = an.asset_labels(c, req.scope)
    out = []
    for t in tags_of(c, req.scope, ["lab_quality"]):
        try:
            report = spc.load_spc(c, req.company_id, t.id, req.range.start, req.range.end, max_points=LAB_POINTS)
        except spc.SpcDataError:
            continue  # malformed limits on one tag: the others still show
        out.append((f"{names.get(t.asset_id, t.asset_id)} · {t.name}", report))
    return out


def petro_content(c: Any, req: an.Request, now: datetime) -> Any:
    rng = req.range
    return petro_view.content(petrochemical(c, req.scope, rng.start, rng.end, now=now), alarm_consoles(c, req),
                              lab_reports(c, req), rng.start, rng.tz)


def equipment_content(c: Any, req: an.Request, now: datetime) -> Any:
    rng, scope = req.range, req.scope
    names = an.asset_labels(c, scope)
    machines, _ = plant_view.summarise(facts(c, scope, rng.start, rng.end, by="asset", now=now), names)
    # The total over the scope's output machines (as lines, sites and companies sum), not over every machine.
    _, total = plant_view.summarise(facts(c, scope, rng.start, rng.end, now=now))
    return equip_view.content(equipment(c, scope, rng.start, rng.end), machines, total, names)


CONTENT = {"electronics": electronics_content, "petrochemical": petro_content, "equipment": equipment_content}


@callback(Output("sector-notice", "children"), Output("sector-title", "children"),
          Output("sector-content", "children"), Output("sector-updated", "children"),
          Input("sector-interval", "n_intervals"), Input(scope_store_id(PAGE), "data"), *an.range_inputs(PAGE))
@auth.require_role(*ROLES)
def refresh(_n: int | None, scope_data: Any, *range_values: Any) -> tuple[Any, ...]:
    user = auth.current_user()
    assert user is not None
    c, now = conn(), datetime.now(UTC)
    try:
        req = an.request(c, user, scope_data, now, *range_values)
    except timerange.TimeRangeError as err:
        return dbc.Alert(str(err), color="warning"), "Sector KPIs", None, str(err)
    if req is None:
        return None, "Sector KPIs", common.empty_state(PICK_FIRST), PICK_FIRST
    if an.interval_tick_only("sector-interval", req.range.live):
        raise PreventUpdate
    sector = catalog.company_sector(c, req.company_id)
    if sector not in CONTENT:
        raise auth.Denied("unknown_scope", level=req.scope.level, id=req.scope.id)
    try:
        body = CONTENT[sector](c, req, now)
    except (ScopeError, alarms.AlarmDataError) as err:
        return dbc.Alert(str(err), color="warning"), TITLES[sector], None, str(err)
    return None, TITLES[sector], body, f"{req.range.label} · updated {now:%H:%M:%S} UTC"


dash.register_page(__name__, path="/sector", name="Sector KPIs", title="Sector KPIs · Tonghu", order=7,
                   layout=layout, roles=ROLES, nav=True)
