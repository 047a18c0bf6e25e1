"""Who may see what. Every callback and page layout authorises from the server-side session, never from an id
the browser sent: ids from the browser are checked against the user's tenant boundary before any data is read.

Use in a page module::

    @callback(Output("fleet-table", "children"), Input("fleet-scope", "data"))
    @require_role("admin", "engineer")
    def refresh(scope_data):
        user = current_user()
        scope = authorise_scope(conn(), user, scope_from_data(scope_data))
        ...

A refusal (no session, wrong role, another tenant's id) is written to the audit log and the callback returns
nothing (HTTP 204, ``PreventUpdate``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, ParamSpec, Protocol, TypeVar

import flask
from dash.exceptions import PreventUpdate

from tonghu.common.errors import TonghuError
from tonghu.dashboards.context import client_addr, conn
from tonghu.platform import fleet, users
from tonghu.platform.users import User

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

ALL_ROLES = users.ROLES
PLANT_ROLES = ("admin", "plant_manager", "engineer")


class Denied(TonghuError):
    """A request outside the user's role or tenant boundary."""

    def __init__(self, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class ScopeLike(Protocol):
    """Anything naming one node of the registry tree, e.g. ``tonghu.platform.kpi.Scope``."""

    @property
    def level(self) -> str: ...
    @property
    def id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ScopeRef:
    level: str
    id: int


def current_user() -> User | None:
    """The user of this request's session (loaded by the login gate), or None."""
    return flask.g.get("user")


def audit_denied(reason: str, **detail: Any) -> None:
    user = current_user()
    body = {"reason": reason, "path": flask.request.path, "addr": client_addr(), **detail}
    if flask.request.path.endswith("_dash-update-component"):
        payload = flask.request.get_json(silent=True) or {}
        body["output"] = str(payload.get("output", ""))[:300]
    log.warning("denied %s: %s", user.username if user else "anonymous", body)
    users.audit(conn(), user.username if user else "anonymous", "denied", body)


def deny(reason: str, **detail: Any) -> NoReturn:
    """Audit the refusal and answer with nothing."""
    audit_denied(reason, **detail)
    raise PreventUpdate


def require_role(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Callback decorator (below ``@callback``): needs a session with one of ``roles`` (all roles when empty);
    turns a ``Denied`` raised inside into an audited empty answer."""
    allowed = roles or ALL_ROLES

    def deco(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            user = current_user()
            if user is None:
                deny("no_session")
            if user.role not in allowed:
                deny("role", role=user.role, needs=list(allowed))
            try:
                return fn(*args, **kwargs)
            except Denied as err:
                deny(err.reason, **err.detail)

        return wrapper

    return deco


def boundary(user: User) -> tuple[int | None, int | None]:
    """(company id, site id) the user is restricted to; (None, None) for an admin. Analysts have no plant data."""
    if user.is_admin:
        return None, None
    if user.company_id is None:
        raise Denied("no_company", role=user.role)
    return user.company_id, user.site_id


def authorise_scope(c: Any, user: User, scope: ScopeLike) -> ScopeLike:
    """``scope`` itself when ``user`` may read it; raises ``Denied`` otherwise (unknown ids included, so a
    probe cannot tell another tenant's ids from missing ones)."""
    if scope.level not in fleet.LEVELS or not isinstance(scope.id, int) or isinstance(scope.id, bool):
        raise Denied("bad_scope", scope=repr(scope)[:100])
    if user.role == "association_analyst":
        raise Denied("analyst_plant_scope", level=scope.level, id=scope.id)
    found = fleet.owner(c, scope.level, scope.id)
    if found is None:
        raise Denied("unknown_scope", level=scope.level, id=scope.id)
    if user.is_admin:
        return scope
    company_id, site_id = found
    if company_id != user.company_id:
        raise Denied("other_company", level=scope.level, id=scope.id)
    if user.site_id is not None and site_id != user.site_id:
        raise Denied("other_site", level=scope.level, id=scope.id)
    return scope


def scope_boundary(c: Any, user: User, scope: ScopeLike | None) -> tuple[int | None, int | None]:
    """(company id, site id) to restrict a query to: the user's boundary narrowed by an authorised scope.
    A line or an asset narrows to its site (for pages that work per site, such as the edge fleet)."""
    if scope is None:
        return boundary(user)
    authorise_scope(c, user, scope)
    found = fleet.owner(c, scope.level, scope.id)
    assert found is not None  # authorise_scope refused unknown ids
    return found[0], found[1]


def scope_from_data(data: Any) -> ScopeRef | None:
    """Parse the ``{"level", "id"}`` a scope picker stores; None when nothing is picked. Anything else is refused."""
    if data is None:
        return None
    if not isinstance(data, dict) or set(data) != {"level", "id"}:
        raise Denied("bad_scope", scope=repr(data)[:100])
    level, item = data["level"], data["id"]
    if level not in fleet.LEVELS or not isinstance(item, int) or isinstance(item, bool):
        raise Denied("bad_scope", scope=repr(data)[:100])
    return ScopeRef(level, item)


def may_view(user: User | None, roles: tuple[str, ...]) -> bool:
    return user is not None and user.role in roles


def page_layout(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Page layout decorator: the layout is built only for ``roles``; others get an audited refusal message.
    Query-string values arrive as keyword arguments and are the browser's: the layout must treat them as such."""
    from dash import html

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            user = current_user()
            if not may_view(user, roles):
                if flask.has_request_context():
                    audit_denied("page_role", role=user.role if user else None, needs=list(roles))
                return html.Div("This page is not available to your role.", className="alert alert-warning")
            return fn(**kwargs)

        wrapper.roles = roles  # type: ignore[attr-defined]
        return wrapper

    return deco
