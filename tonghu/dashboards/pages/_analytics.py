"""Plumbing shared by the analytics pages (plant overview, line and machine drill-down, sector KPIs): the scope
the browser picked, authorised into a KPI ``Scope``; the time range resolved in the site's time zone; the
time-range controls' own callback. Not a page: it registers none."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dash import MATCH, Input, Output, callback, ctx
from dash.exceptions import MissingCallbackContextException, PreventUpdate

from tonghu.dashboards import auth
from tonghu.dashboards.views import states, timerange
from tonghu.platform import fleet
from tonghu.platform.kpi import scope as kscope
from tonghu.platform.kpi import timeline
from tonghu.platform.users import User

PLANT_ROLES = ("admin", "plant_manager", "engineer")
KPI_REFRESH_MS = 60_000  # KPIs of a live range: once a minute is as fresh as a rollup-backed figure gets


@dataclass(frozen=True, slots=True)
class Request:
    """What a page callback works on once the session's user may: an authorised scope and a resolved range."""

    scope: kscope.Scope
    range: timerange.TimeRange
    company_id: int


def authorised_scope(c: Any, user: User, data: Any) -> kscope.Scope | None:
    """The picked scope as a KPI ``Scope`` after the tenant check; None when nothing is picked. Raises
    ``auth.Denied`` (audited by ``auth.require_role``) for anything the user may not read."""
    ref = auth.scope_from_data(data)
    if ref is None:
        return None
    auth.authorise_scope(c, user, ref)
    return kscope.Scope(ref.level, ref.id)  # type: ignore[arg-type]


def request(c: Any, user: User, scope_data: Any, now: datetime, preset: Any, day: Any = None, shift: Any = None,
            custom_start: Any = None, custom_end: Any = None) -> Request | None:
    """Authorise the scope, then resolve the range in its site's time zone. None when no scope is picked;
    ``timerange.TimeRangeError`` when the range controls hold something that does not resolve."""
    scope = authorised_scope(c, user, scope_data)
    if scope is None:
        return None
    company = kscope.scope_company(c, scope)
    if company is None:  # deleted between the check and now
        raise auth.Denied("unknown_scope", level=scope.level, id=scope.id)
    rng = timerange.resolve(preset, kscope.timezone(c, scope), now, day=day, shift=shift,
                            custom_start=custom_start, custom_end=custom_end)
    return Request(scope, rng, company)


def _site_names(c: Any, members: list[kscope.Asset]) -> dict[int, str] | None:
    """Site names when the assets span more than one site (their codes repeat across sites), else None."""
    if len({a.site_id for a in members}) < 2:
        return None
    return {i: n for company in {a.company_id for a in members} for i, n in fleet.sites(c, company, None)}


def asset_labels(c: Any, scope: kscope.Scope) -> dict[int, str]:
    """asset id → "area/line/asset", prefixed with the site's name when the scope spans several sites."""
    members = kscope.assets(c, scope)
    sites = _site_names(c, members)
    return {a.id: f"{sites.get(a.site_id, a.site_id)} · {a.path}" if sites else a.path for a in members}


def line_labels(c: Any, scope: kscope.Scope) -> dict[int, str]:
    """line id → "area/line", prefixed with the site's name when the scope spans several sites."""
    members = kscope.assets(c, scope)
    sites = _site_names(c, members)
    out = {}
    for a in members:
        line = a.path.rsplit("/", 1)[0]
        out[a.line_id] = f"{sites.get(a.site_id, a.site_id)} · {line}" if sites else line
    return out


def loss_scopes(c: Any, scope: kscope.Scope) -> list[kscope.Scope]:
    """Where lost time is read: a line or a machine as it is; above a line, each line's output machine (the lines'
    own losses, as OEE counts them), which also keeps a month of a whole site readable in a second or two."""
    if scope.level in ("line", "asset"):
        return [scope]
    return [kscope.Scope("asset", a.id) for a in kscope.assets(c, scope) if a.output]


def loss_pareto(c: Any, scope: kscope.Scope, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Lost time by reason over ``loss_scopes``."""
    return states.merge_paretos([timeline.stop_pareto(c, s, start, end) for s in loss_scopes(c, scope)])


def stop_durations(c: Any, scope: kscope.Scope, start: datetime, end: datetime) -> list[float]:
    """Unplanned stop durations over ``loss_scopes``."""
    return [d for s in loss_scopes(c, scope) for d in timeline.stop_durations(c, s, start, end)]


def range_inputs(page: str) -> list[Input]:
    """The time-range controls of ``page`` as callback inputs, in the order ``request`` takes them."""
    cid = timerange.control_id
    return [Input(cid("preset", page), "value"), Input(cid("day", page), "date"), Input(cid("shift", page), "value"),
            Input(cid("dates", page), "start_date"), Input(cid("dates", page), "end_date")]


@dataclass(frozen=True, slots=True)
class Blank:
    """Why a callback has nothing to draw: nothing picked yet, or range controls that do not resolve."""

    message: str
    error: bool


def prepare(c: Any, user: User, scope_data: Any, range_values: tuple[Any, ...], interval_id: str | None,
            now: datetime, pick_first: str) -> Request | Blank:
    """``request`` for a page callback: a ``Blank`` instead of a request when there is nothing to draw, and no
    update at all when only the refresh timer (``interval_id``, if the callback has one) fired on a range that
    does not end now."""
    try:
        req = request(c, user, scope_data, now, *range_values)
    except timerange.TimeRangeError as err:
        return Blank(str(err), True)
    if req is None:
        return Blank(pick_first, False)
    if interval_id is not None and interval_tick_only(interval_id, req.range.live):
        raise PreventUpdate
    return req


def triggered_id() -> Any:
    """The id of the input that fired the callback; None outside a Dash callback (a direct call, as in tests)."""
    try:
        return ctx.triggered_id
    except MissingCallbackContextException:
        return None


def interval_tick_only(interval_id: str, live: bool) -> bool:
    """True when only the refresh timer fired and the range does not end now: nothing new to show."""
    return triggered_id() == interval_id and not live


@callback(Output(timerange.control_id("shift-col", MATCH), "style"),
          Output(timerange.control_id("dates-col", MATCH), "style"),
          Input(timerange.control_id("preset", MATCH), "value"))
@auth.require_role()
def show_range_inputs(preset: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Show the shift picker or the date range only for the presets that use them."""
    return timerange.visible(preset)
