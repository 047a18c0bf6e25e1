"""Every data callback of the analytics pages, called as a plain function inside a request context of the real
app: a user of one company asking for another company's scope (or anything outside their boundary) gets nothing
and an audit row; the same callback on the user's own scope answers. Also the page guards and the navigation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dash.exceptions import PreventUpdate

from tests.dashboards.conftest import audit_rows, last_audit_id
from tests.dashboards.test_pages_plant import PagesWorld, text_of, user_of

# The test plant's fixtures (pages, as_user) live with the plant overview's tests.
pytest_plugins = ["tests.dashboards.test_pages_plant"]

RANGE = ("24h", None, None, None, None)


def _callbacks(pages: PagesWorld | None = None) -> dict[str, Callable[[Any], Any]]:
    """name → call with a scope picker's data; every callback that reads plant data for a picked scope. Tag
    pickers hold a tag of A's reflow oven (the scope is checked before the tag)."""
    from tonghu.dashboards.pages import machine, plant, sector

    tag = pages.tags["A:smt/l1/reflow/peak_temp"] if pages else 0
    return {
        "plant.refresh": lambda s: plant.refresh(1, s, *RANGE),
        "plant.refresh_losses": lambda s: plant.refresh_losses(1, s, *RANGE),
        "plant.refresh_live": lambda s: plant.refresh_live(1, s),
        "machine.refresh": lambda s: machine.refresh(1, s, *RANGE),
        "machine.refresh_losses": lambda s: machine.refresh_losses(1, s, *RANGE),
        "machine.refresh_counts": lambda s: machine.refresh_counts(1, s, *RANGE),
        "machine.tag_lists": lambda s: machine.tag_lists(s),
        "machine.refresh_trend": lambda s: machine.refresh_trend(1, tag, None, s, *RANGE),
        "machine.refresh_spc": lambda s: machine.refresh_spc(tag, s, *RANGE),
        "sector.refresh": lambda s: sector.refresh(1, s, *RANGE),
    }


# Names only: page modules register themselves, which needs the app (the dash_app fixture) to exist first.
CALLBACKS = ["plant.refresh", "plant.refresh_losses", "plant.refresh_live", "machine.refresh", "machine.refresh_losses",
             "machine.refresh_counts", "machine.tag_lists", "machine.refresh_trend", "machine.refresh_spc",
             "sector.refresh"]


def test_every_data_callback_is_listed(dash_app: Any) -> None:
    """Each callback of these pages that takes the page's scope picker (as input or state) is checked below."""
    import dash._callback

    found = set()
    for spec in dash._callback.GLOBAL_CALLBACK_MAP.values():
        ids = [str(i["id"]) for i in (*spec["inputs"], *spec.get("state", ()))]
        fn = spec["callback"]
        page = fn.__module__.rsplit(".", 1)[-1]
        if page in ("plant", "machine", "sector") and any(f'"picker":"{page}"' in i for i in ids):
            found.add(f"{page}.{fn.__name__}")
    assert found == set(CALLBACKS) == set(_callbacks())


@pytest.mark.parametrize("name", CALLBACKS)
def test_other_company_scope_gets_nothing_and_an_audit_row(name: str, dash_app: Any, db: Any, pages: PagesWorld,
                                                           as_user: Any) -> None:
    call = _callbacks(pages)[name]
    eng = user_of(db, pages.users["eng_a"])
    for scope in ({"level": "company", "id": pages.b_company}, {"level": "site", "id": pages.b_site},
                  {"level": "line", "id": pages.b_line}, {"level": "asset", "id": pages.b_asset}):
        before = last_audit_id(db)
        with as_user(eng), pytest.raises(PreventUpdate):
            call(scope)
        rows = audit_rows(db, eng.username, "denied", before)
        assert len(rows) == 1 and rows[0]["reason"] == "other_company" and rows[0]["id"] == scope["id"], rows


@pytest.mark.parametrize("name", CALLBACKS)
def test_boundaries_roles_and_malformed_scopes(name: str, dash_app: Any, db: Any, pages: PagesWorld,
                                              as_user: Any) -> None:
    call = _callbacks(pages)[name]
    cases = [
        (pages.users["eng_a_site2"], {"level": "site", "id": pages.a_site}, "other_site"),
        (pages.users["eng_a_site2"], {"level": "company", "id": pages.a_company}, "other_site"),
        (pages.users["analyst"], {"level": "site", "id": pages.a_site}, "role"),
        (pages.users["pm_a"], {"level": "line", "id": "1 OR 1=1"}, "bad_scope"),
        (pages.users["pm_a"], {"level": "asset", "id": 2_000_000_000}, "unknown_scope"),
    ]
    for username, scope, reason in cases:
        user = user_of(db, username)
        before = last_audit_id(db)
        with as_user(user), pytest.raises(PreventUpdate):
            call(scope)
        rows = audit_rows(db, username, "denied", before)
        assert [r["reason"] for r in rows] == [reason], (username, scope, rows)
    before = last_audit_id(db)
    with as_user(None), pytest.raises(PreventUpdate):
        call({"level": "site", "id": pages.a_site})
    assert audit_rows(db, "anonymous", "denied", before)[0]["reason"] == "no_session"


@pytest.mark.parametrize("name", CALLBACKS)
def test_own_scope_answers(name: str, dash_app: Any, db: Any, pages: PagesWorld, as_user: Any) -> None:
    call = _callbacks(pages)[name]
    before = last_audit_id(db)
    with as_user(user_of(db, pages.users["pm_a"])):
        out = call({"level": "site", "id": pages.a_site})
    assert out is not None
    assert audit_rows(db, pages.users["pm_a"], "denied", before) == []


def test_a_tag_of_another_company_is_refused_even_with_an_own_scope(dash_app: Any, db: Any, pages: PagesWorld,
                                                                    as_user: Any) -> None:
    from tonghu.dashboards.pages import machine

    pm = user_of(db, pages.users["pm_a"])
    own = {"level": "line", "id": pages.a_l1}
    theirs = pages.tags["B:mach/cell/m1/bore_diameter"]
    for call in (lambda: machine.refresh_trend(1, theirs, None, own, *RANGE),
                 lambda: machine.refresh_spc(theirs, own, *RANGE),
                 lambda: machine.refresh_trend(1, True, None, own, *RANGE)):
        before = last_audit_id(db)
        with as_user(pm), pytest.raises(PreventUpdate):
            call()
        reasons = [r["reason"] for r in audit_rows(db, pm.username, "denied", before)]
        assert reasons in (["tag_outside_scope"], ["bad_tag"])
    # A tag of the user's own company but outside the picked line is refused too.
    other_line = {"level": "line", "id": pages.a_l2}
    before = last_audit_id(db)
    with as_user(pm), pytest.raises(PreventUpdate):
        machine.refresh_spc(pages.tags["A:smt/l1/reflow/peak_temp"], other_line, *RANGE)
    assert audit_rows(db, pm.username, "denied", before)[0]["reason"] == "tag_outside_scope"


def test_layouts_follow_the_role(dash_app: Any, db: Any, pages: PagesWorld, as_user: Any) -> None:
    from tonghu.dashboards.pages import benchmarks, machine, plant, sector

    for key in ("admin", "pm_a", "eng_a"):
        with as_user(user_of(db, pages.users[key])):
            for page, marker in ((plant, "plant-oee-graph"), (machine, "machine-gantt-graph"),
                                 (sector, "sector-content")):
                assert marker in str(page.layout())
    before = last_audit_id(db)
    with as_user(user_of(db, pages.users["analyst"])):
        for page in (plant, machine, sector):
            assert "not available to your role" in text_of(page.layout())
        assert "bench-dist-graph" in str(benchmarks.layout())
    assert len(audit_rows(db, pages.users["analyst"], "denied", before)) == 3
    with as_user(user_of(db, pages.users["eng_a"])):
        assert "not available to your role" in text_of(benchmarks.layout())


def test_navigation_lists_the_pages_of_each_role(dash_app: Any, db: Any, pages: PagesWorld, as_user: Any) -> None:
    from tonghu.dashboards.app import nav_pages

    def paths(key: str) -> list[str]:
        with as_user(user_of(db, pages.users[key])):
            return [str(p["path"]) for p in nav_pages(user_of(db, pages.users[key]))]

    assert {"/plant", "/machine", "/sector", "/benchmarks"} <= set(paths("pm_a"))
    assert {"/plant", "/machine", "/sector"} <= set(paths("eng_a")) and "/benchmarks" not in paths("eng_a")
    assert "/benchmarks" in paths("analyst") and not {"/plant", "/machine", "/sector"} & set(paths("analyst"))
    order = paths("admin")
    assert order.index("/plant") < order.index("/machine") < order.index("/sector") < order.index("/benchmarks")
