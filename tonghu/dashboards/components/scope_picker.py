"""Scope picker: company → site → line → asset drop-downs that list only what the user may see.

A page puts ``scope_picker("mypage", depth="site")`` in its layout and listens to
``Input(scope_store_id("mypage"), "data")``, which holds ``{"level": …, "id": …}`` of the deepest level picked
(or None: everything the user may see). The value comes from the browser, so the page still passes it through
``auth.scope_from_data`` and ``auth.authorise_scope``; the picker's own callbacks authorise every id they are
sent before listing its children.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, callback, dcc, html

from tonghu.dashboards.auth import Denied, ScopeRef, authorise_scope, boundary, current_user, require_role
from tonghu.dashboards.context import conn
from tonghu.platform import fleet
from tonghu.platform.users import User

LEVELS = fleet.LEVELS
_LABELS = {"company": "Company", "site": "Site", "line": "Line", "asset": "Machine"}


def _id(level: str, picker: str) -> dict[str, str]:
    return {"type": f"scope-{level}", "picker": picker}


def scope_store_id(picker: str) -> dict[str, str]:
    return {"type": "scope", "picker": picker}


def _options(items: list[tuple[int, str]]) -> list[dict[str, Any]]:
    return [{"label": name, "value": item_id} for item_id, name in items]


def children(c: Any, user: User, level: str, parent_id: int | None) -> list[dict[str, Any]]:
    """Options for ``level`` under ``parent_id`` (the picked item one level up), limited to the user's boundary.
    The parent id comes from the browser: it is authorised first."""
    if level == "company":
        company_id, _ = boundary(user)  # refuses users without plant data (analysts)
        return _options(fleet.companies(c, company_id))
    if parent_id is None:
        return []
    parent_level = LEVELS[LEVELS.index(level) - 1]
    if parent_level == "company" and user.site_id is not None:
        # A site-scoped user may not read the company as a whole, but may list its sites (just theirs, below).
        if parent_id != user.company_id:
            raise Denied("other_company", level="company", id=parent_id)
    else:
        authorise_scope(c, user, ScopeRef(parent_level, parent_id))
    if level == "site":
        return _options(fleet.sites(c, parent_id, None if user.is_admin else user.site_id))
    if level == "line":
        return _options(fleet.lines(c, parent_id))
    return _options(fleet.assets(c, parent_id))


def scope_picker(picker: str, user: User, depth: str = "asset") -> html.Div:
    """The picker's layout for ``user``; levels below ``depth`` are present but hidden (the callbacks need them)."""
    c = conn()
    fixed = {"company": None if user.is_admin else user.company_id, "site": user.site_id}
    cols = []
    parent: int | None = None
    for level in LEVELS:
        value = fixed.get(level)
        options = children(c, user, level, parent) if level == "company" or parent is not None else []
        shown = LEVELS.index(level) <= LEVELS.index(depth)
        everything = "All machines" if level == "asset" else f"All {_LABELS[level].lower()}s"
        dropdown = dcc.Dropdown(id=_id(level, picker), options=options, value=value, disabled=value is not None,
                                placeholder=everything, clearable=value is None)
        cols.append(dbc.Col([html.Small(_LABELS[level], className="text-muted"), dropdown], md=3,
                            style=None if shown else {"display": "none"}, className="scope-level"))
        parent = value
    # The initial options, values and scope are built here, so no callback has to run before the page's own
    # (the cascade below only reacts to the user's changes): one round trip less per level on every page load.
    initial = next(({"level": lv, "id": v} for lv, v in (("site", fixed["site"]), ("company", fixed["company"]))
                    if v is not None), None)
    return html.Div([dbc.Row(cols, className="g-2"), dcc.Store(id=scope_store_id(picker), data=initial)],
                    className="scope-picker")


def _cascade(level: str) -> None:
    """Register the callback that refills ``level``'s options when the level above changes."""
    above = LEVELS[LEVELS.index(level) - 1]

    @callback(Output(_id(level, MATCH), "options"), Output(_id(level, MATCH), "value"),
              Input(_id(above, MATCH), "value"), State(_id(level, MATCH), "value"), prevent_initial_call=True)
    @require_role()
    def refill(parent_id: int | None, current: int | None) -> tuple[list[dict[str, Any]], int | None]:
        user = current_user()
        assert user is not None
        options = children(conn(), user, level, parent_id)
        keep = current if any(o["value"] == current for o in options) else None
        return options, keep

    refill.__name__ = f"refill_{level}"


for _level in LEVELS[1:]:
    _cascade(_level)


@callback(Output(scope_store_id(MATCH), "data"),
          *(Input(_id(level, MATCH), "value") for level in LEVELS), prevent_initial_call=True)
@require_role()
def picked(*values: int | None) -> dict[str, Any] | None:
    """The deepest level picked; each id is authorised before it is handed to the page."""
    user = current_user()
    assert user is not None
    for level, value in reversed(list(zip(LEVELS, values, strict=True))):
        if value is not None:
            authorise_scope(conn(), user, ScopeRef(level, value))
            return {"level": level, "id": value}
    return None
