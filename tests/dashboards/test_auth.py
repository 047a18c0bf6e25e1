"""Authorisation as plain functions: tenant boundary checks, the callback decorator, page guards, the scope
picker and the fleet callbacks called directly inside a request context of the real app."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import flask
import pytest
from dash.exceptions import PreventUpdate

from tests.dashboards.conftest import World, audit_rows, last_audit_id
from tonghu.dashboards import auth
from tonghu.dashboards.auth import Denied, ScopeRef
from tonghu.platform import users


def _user(db: Any, name: str) -> users.User:
    uid = db.execute("SELECT id FROM users WHERE username = %s", (name,)).fetchone()[0]
    user = users.get_user(db, uid)
    assert user is not None
    return user


@contextmanager
def as_user(app: Any, user: users.User | None, path: str = "/_dash-update-component") -> Iterator[None]:
    """A request context as the login gate leaves it: ``g.user`` loaded from the server-side session."""
    with app.server.test_request_context(path, method="POST", json={"output": "test"}):
        flask.g.user = user
        yield


def test_authorise_scope_matrix(db: Any, world: World) -> None:
    a, b = world.a, world.b
    scopes = {
        "a_company": ScopeRef("company", a.company_id), "a_site": ScopeRef("site", a.site_id),
        "a_site2": ScopeRef("site", world.a_site2_id), "a_line": ScopeRef("line", world.a_line_id),
        "a_asset": ScopeRef("asset", world.a_asset_id), "b_company": ScopeRef("company", b.company_id),
        "b_site": ScopeRef("site", b.site_id), "b_line": ScopeRef("line", world.b_line_id),
        "b_asset": ScopeRef("asset", world.b_asset_id), "missing": ScopeRef("asset", 2_000_000_000),
    }
    a_all = {"a_company", "a_site", "a_site2", "a_line", "a_asset"}
    allowed = {
        "admin": set(scopes) - {"missing"},
        "pm_a": a_all, "eng_a": a_all,
        "eng_a_site2": {"a_site2"},  # site-scoped: not the company as a whole, not the other site's line
        "pm_b": {"b_company", "b_site", "b_line", "b_asset"},
        "analyst": set(),
    }
    for key, may in allowed.items():
        user = _user(db, world.users[key])
        for name, scope in scopes.items():
            if name in may:
                assert auth.authorise_scope(db, user, scope) is scope
            else:
                with pytest.raises(Denied):
                    auth.authorise_scope(db, user, scope)


@pytest.mark.parametrize("data", [{"level": "site", "id": "5"}, {"level": "plant", "id": 1},
                                  {"level": "site", "id": True}, {"level": "site", "id": 1, "company": 2},
                                  ["site", 1], "site:1"])
def test_scope_data_from_the_browser_is_validated(data: Any) -> None:
    with pytest.raises(Denied, match="bad_scope"):
        auth.scope_from_data(data)


def test_fleet_callback_denies_other_tenants_and_audits(dash_app: Any, db: Any, world: World) -> None:
    from tonghu.dashboards.pages import fleet as page

    eng = _user(db, world.users["eng_a"])
    with as_user(dash_app, eng):
        out = page.refresh(1, {"level": "site", "id": world.a.site_id})
        assert world.a.edge in str(out) and world.b.edge not in str(out)
    for scope in ({"level": "site", "id": world.b.site_id}, {"level": "asset", "id": world.b_asset_id},
                  {"level": "company", "id": world.b.company_id}):
        before = last_audit_id(db)
        with as_user(dash_app, eng), pytest.raises(PreventUpdate):
            page.refresh(1, scope)
        rows = audit_rows(db, eng.username, "denied", before)
        assert len(rows) == 1 and rows[0]["reason"] == "other_company" and rows[0]["id"] == scope["id"]
    before = last_audit_id(db)
    with as_user(dash_app, None), pytest.raises(PreventUpdate):
        page.refresh(1, None)
    assert audit_rows(db, "anonymous", "denied", before)[0]["reason"] == "no_session"
    analyst = _user(db, world.users["analyst"])
    with as_user(dash_app, analyst), pytest.raises(PreventUpdate):
        page.refresh(1, None)
    assert audit_rows(db, analyst.username, "denied", before)[0]["reason"] == "role"


def test_fleet_layout_builds_for_each_plant_role(dash_app: Any, db: Any, world: World) -> None:
    from tonghu.dashboards.pages import fleet as page

    for key in ("admin", "pm_a", "eng_a_site2"):
        with as_user(dash_app, _user(db, world.users[key])):
            text = str(page.layout())
        assert "fleet-age-graph" in text and "scope-company" in text
        assert (world.b.company in text) == (key == "admin")  # company options: only the admin lists B


def test_site_scoped_engineer_sees_only_their_site(dash_app: Any, db: Any, world: World) -> None:
    from tonghu.dashboards.pages import fleet as page

    eng = _user(db, world.users["eng_a_site2"])
    with as_user(dash_app, eng):
        out = str(page.refresh(1, None))
    site2, edge2 = db.execute("SELECT site, edge FROM edge_identities WHERE edge_id = %s",
                              (world.a_edge2_id,)).fetchone()
    assert f"{site2} / {edge2}" in out  # the page names edges by site / edge code
    assert world.a.edge not in out and world.a.site not in out


def test_csv_export_is_scoped_and_audited(dash_app: Any, db: Any, world: World) -> None:
    from tonghu.dashboards.pages import fleet as page

    pm = _user(db, world.users["pm_a"])
    before = last_audit_id(db)
    with as_user(dash_app, pm):
        sent = page.export_dead_letters(1, None)
    assert sent["filename"].endswith(".csv") and "unknown_tag" in sent["content"]
    assert world.a.company in sent["content"] and world.b.company not in sent["content"]
    rows = audit_rows(db, pm.username, "export", before)
    assert rows and rows[0]["what"] == "dead_letters" and rows[0]["rows"] == 2
    with as_user(dash_app, pm), pytest.raises(PreventUpdate):
        page.export_dead_letters(1, {"level": "site", "id": world.b.site_id})
    assert len(audit_rows(db, pm.username, "export", before)) == 1


def test_scope_picker_lists_only_what_the_user_may_see(dash_app: Any, db: Any, world: World) -> None:
    from tonghu.dashboards.components import scope_picker as sp

    pm = _user(db, world.users["pm_a"])
    with as_user(dash_app, pm):
        assert [o["value"] for o in sp.children(db, pm, "company", None)] == [world.a.company_id]
        assert {o["value"] for o in sp.children(db, pm, "site", world.a.company_id)} == {world.a.site_id,
                                                                                          world.a_site2_id}
        with pytest.raises(Denied):
            sp.children(db, pm, "site", world.b.company_id)
        with pytest.raises(PreventUpdate):  # the registered callback: audited, nothing returned
            sp.picked(world.b.company_id, None, None, None)
        assert sp.picked(world.a.company_id, world.a.site_id, world.a_line_id, None) == {"level": "line",
                                                                                        "id": world.a_line_id}
    site_eng = _user(db, world.users["eng_a_site2"])
    with as_user(dash_app, site_eng):
        assert [o["value"] for o in sp.children(db, site_eng, "site", world.a.company_id)] == [world.a_site2_id]
        with pytest.raises(Denied):
            sp.children(db, site_eng, "line", world.a.site_id)
    analyst = _user(db, world.users["analyst"])
    with pytest.raises(Denied):
        sp.children(db, analyst, "company", None)
    admin = _user(db, world.users["admin"])
    with as_user(dash_app, admin):
        ids = {o["value"] for o in sp.children(db, admin, "company", None)}
        assert {world.a.company_id, world.b.company_id} <= ids


def test_navigation_and_page_guard_follow_the_role(dash_app: Any, db: Any, world: World) -> None:
    from tonghu.dashboards.app import nav_pages
    from tonghu.dashboards.pages import fleet as page

    pages = {key: nav_pages(_user(db, world.users[key])) for key in world.users}
    assert pages["analyst"][0]["path"] == "/"
    assert all("association_analyst" in p["roles"] for p in pages["analyst"])  # no plant page, whoever adds one
    for key in ("admin", "pm_a", "eng_a", "pm_b"):
        paths = [p["path"] for p in pages[key]]
        assert paths[0] == "/" and "/fleet" in paths
    analyst = _user(db, world.users["analyst"])
    before = last_audit_id(db)
    with as_user(dash_app, analyst):
        refused = page.layout()
    assert "not available to your role" in str(refused) and "fleet-edges" not in str(refused)
    assert audit_rows(db, analyst.username, "denied", before)[0]["reason"] == "page_role"
