"""Sector benchmarks page: its views on released and suppressed cells from the engine, and its callbacks — the
sector and the viewer's company come from the session, the browser's metric and month are checked, each export is
audited.

Five equipment companies of their own share their figures and have data in one month four months back (no other
test writes there); a sixth has data but never opted in. Sectors are an enum, so other tests' equipment companies
exist too, but they have no data in that month and are left out by the engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from dash.exceptions import PreventUpdate

from tests.conftest import make_tenant, unique
from tests.dashboards.conftest import PASSWORD, TEST_SCRYPT_N, audit_rows, last_audit_id
from tests.dashboards.test_pages_plant import PagesWorld, text_of, user_of
from tests.platform.kpi.plant import Plant
from tonghu.dashboards.views import benchmarks as view
from tonghu.platform import users
from tonghu.platform.kpi.benchmark import sector_benchmark, set_sharing
from tonghu.platform.kpi.core import core
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import Scope

# The test plant's fixtures (pages, as_user) live with the plant overview's tests.
pytest_plugins = ["tests.dashboards.test_pages_plant"]
RUNS = ((200, 100), (180, 95), (150, 99), (120, 90), (220, 97))  # minutes running of 240, good units of 100


@dataclass(frozen=True)
class Sector:
    month: date
    shared: list[int]
    hidden: int
    users: dict[str, str]   # pm (of shared[2]), pm_site (of shared[2], bound to its site), pm_hidden


def _company(db: Any, day: datetime, running: int, good: int) -> tuple[Any, int]:
    """One machine running ``running`` minutes of 08:00–12:00, then down; 100 units of 60 s ideal cycle time."""
    t = make_tenant(db, "equipment")
    plant = Plant(db, t.company, t.site, t.site_id, t.company_id)
    path = "mach/cell/m1"
    plant.asset(path, {"count_total": "count_total", "count_good": "count_good",
                       "ideal_cycle_time": "ideal_cycle_time"})
    at8 = day + timedelta(hours=8)
    plant.states(path, [(at8, "running", "RUN"), (at8 + timedelta(minutes=running), "down", "BRK-SPINDLE"),
                        (at8 + timedelta(hours=4), "idle", "IDLE-NO-ORDER")])
    plant.num(f"{path}/count_total", [(at8 - timedelta(minutes=1), 0), (at8 + timedelta(hours=3), 100)])
    plant.num(f"{path}/count_good", [(at8 - timedelta(minutes=1), 0), (at8 + timedelta(hours=3), good)])
    plant.num(f"{path}/ideal_cycle_time", [(at8 - timedelta(hours=1), 60)])
    return t, t.company_id


@pytest.fixture(scope="module")
def sector(database_url: str) -> Sector:
    import psycopg

    today = datetime.now(UTC).date()
    y, m = (today.year, today.month - 4) if today.month > 4 else (today.year - 1, today.month + 8)
    day = datetime(y, m, 10, tzinfo=UTC)
    with psycopg.connect(database_url, autocommit=True) as db:
        made = [_company(db, day, r, g) for r, g in RUNS]
        for _, cid in made:
            set_sharing(db, cid, True, "pages-test")
        hidden_tenant, hidden = _company(db, day, 60, 10)
        names = {k: unique(f"pg-bench-{k}-") for k in ("pm", "pm_site", "pm_hidden")}
        own = made[2][0]
        users.add_user(db, names["pm"], PASSWORD, "plant_manager", company=own.company, scrypt_n=TEST_SCRYPT_N)
        users.add_user(db, names["pm_site"], PASSWORD, "plant_manager", company=own.company, site=own.site,
                       scrypt_n=TEST_SCRYPT_N)
        users.add_user(db, names["pm_hidden"], PASSWORD, "plant_manager", company=hidden_tenant.company,
                       scrypt_n=TEST_SCRYPT_N)
    return Sector(day.date().replace(day=1), [cid for _, cid in made], hidden, names)


def _oee(db: Any, company: int, month: date) -> float:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    k = core(facts(db, Scope("company", company), start, end)[0].facts)
    assert k.oee is not None
    return 100 * k.oee


def test_distribution_shows_band_median_and_own_position(db: Any, sector: Sector) -> None:
    b = sector_benchmark(db, "equipment", "oee", "month", sector.month, viewer_company=sector.shared[2])
    cell = b.cells[0]
    assert cell.released and cell.n == 5 and cell.p10 is None  # N < 10: no P10 / P90
    fig = view.distribution_figure(b)
    names = [t.name for t in fig.data]
    assert names == ["P25–P75", "median", "your company"]  # no whisker without P10 / P90
    band, median, own = fig.data
    assert band.base[0] == pytest.approx(cell.p25) and band.x[0] == pytest.approx(cell.p75 - cell.p25)
    assert median.x[0] == pytest.approx(cell.p50) and own.x[0] == pytest.approx(_oee(db, sector.shared[2],
                                                                                       sector.month))
    assert band.y[0] == "Whole sector (N=5)" and "higher is better" in fig.layout.title.text
    analyst_view = view.distribution_figure(sector_benchmark(db, "equipment", "oee", "month", sector.month))
    assert "your company" not in [t.name for t in analyst_view.data]


def test_suppressed_cells_say_so_and_are_never_zero(db: Any, sector: Sector) -> None:
    month = sector.month
    set_sharing(db, sector.shared[0], False, "pages-test")
    try:
        b = sector_benchmark(db, "equipment", "availability", "month", month, viewer_company=sector.shared[2])
    finally:
        set_sharing(db, sector.shared[0], True, "pages-test")
    cell = b.cells[0]
    assert not cell.released
    fig = view.distribution_figure(b)
    assert [a.text for a in fig.layout.annotations] == [view.suppressed_text(c) for c in b.cells]  # sector, region
    assert view.suppressed_text(cell).startswith("suppressed (") and all(v is None for t in fig.data for v in t.x)
    table = text_of(view.overview_table([b]))
    assert "suppressed (" in table and " 0 " not in f" {table} "
    csv_text = view.to_csv([b])
    header, *rows = csv_text.strip().splitlines()
    assert header.split(",")[7:9] == ["status", "n"] and len(rows) == len(b.cells)
    for row in rows:
        assert row.split(",")[7].startswith("suppressed") and row.split(",")[8:] == [""] * 9  # no figure, no zero


def test_trend_marks_suppressed_months(db: Any, sector: Sector) -> None:
    months = [sector_benchmark(db, "equipment", "oee", "month", d, viewer_company=sector.shared[2])
              for d in (sector.month - timedelta(days=20), sector.month)]
    fig = view.trend_figure(months)
    median = next(t for t in fig.data if t.name == "median")
    assert median.y[0] is None and median.y[1] == pytest.approx(months[1].cells[0].p50)
    assert len(fig.layout.annotations) == 1 and "suppressed" in fig.layout.annotations[0].text
    assert fig.layout.annotations[0].x == months[0].start.strftime("%Y-%m")


def test_csv_holds_the_released_figures(db: Any, sector: Sector) -> None:
    b = sector_benchmark(db, "equipment", "quality", "month", sector.month, viewer_company=sector.shared[2])
    rows = [r.split(",") for r in view.to_csv([b]).strip().splitlines()[1:]]
    sector_row = next(r for r in rows if r[6] == "Whole sector")
    assert sector_row[:3] == ["equipment", "quality", "%"] and sector_row[7:9] == ["released", "5"]
    assert float(sector_row[11]) == pytest.approx(b.cells[0].p50)


def test_member_sees_own_position_and_the_session_decides_the_sector(dash_app: Any, db: Any, sector: Sector,
                                                                     as_user: Any) -> None:
    from tonghu.dashboards.pages import benchmarks as page

    month = sector.month.strftime("%Y-%m")
    pm = user_of(db, sector.users["pm"])
    with as_user(pm):
        # The browser claims "electronics"; the plant manager's company is in equipment, and that is what counts.
        fig, note, updated = page.refresh("electronics", "oee", month)
        table = page.refresh_overview("electronics", month)
    assert updated.startswith("equipment") and note is None
    assert "your company" in [t.name for t in fig.data]
    assert "Spindle utilisation" in text_of(table) and "First pass yield" not in text_of(table)
    with as_user(user_of(db, sector.users["pm_site"])):
        fig_site, note_site, _ = page.refresh(None, "oee", month)
    assert "your company" not in [t.name for t in fig_site.data] and note_site is None
    with as_user(user_of(db, sector.users["pm_hidden"])):
        _, note_hidden, _ = page.refresh(None, "oee", month)
    assert "does not share its figures" in text_of(note_hidden)


def test_analyst_trend_and_admin_sector_pick(dash_app: Any, db: Any, pages: PagesWorld, sector: Sector,
                                            as_user: Any) -> None:
    from tonghu.dashboards.pages import benchmarks as page

    month = sector.month.strftime("%Y-%m")
    with as_user(user_of(db, pages.users["analyst"])):  # an analyst of the equipment sector
        trend = page.refresh_trend("petrochemical", "oee", month)
    assert len(trend.data[2].x) == page.TREND_MONTHS and trend.data[2].x[-1] == month
    with as_user(user_of(db, pages.users["admin"])):
        options, value = page.metric_list("petrochemical", "spindle_utilisation")
        fig, _, updated = page.refresh("equipment", "spindle_utilisation", month)
    assert value == "oee" and "sec_gj_per_t" in [o["value"] for o in options]
    assert updated.startswith("equipment") and fig.layout.title.text.startswith("Spindle utilisation")


@pytest.mark.parametrize(("who", "args", "reason"), [
    ("admin", ("plastics", "oee", None), "bad_sector"),
    ("analyst", (None, "dpmo", None), "bad_metric"),          # an electronics metric on the equipment sector
    ("analyst", (None, "oee", "1999-01"), "bad_period"),
    ("analyst", (None, "oee", {"$gt": ""}), "bad_period"),
    ("eng_a", (None, "oee", None), "role"),
])
def test_bad_requests_get_nothing_and_an_audit_row(dash_app: Any, db: Any, pages: PagesWorld, as_user: Any,
                                                   who: str, args: tuple[Any, ...], reason: str) -> None:
    from tonghu.dashboards.pages import benchmarks as page

    sector_value, metric, month = args
    month = month or datetime.now(UTC).strftime("%Y-%m")
    user = user_of(db, pages.users[who])
    for call in (lambda: page.refresh(sector_value, metric, month),
                 lambda: page.refresh_trend(sector_value, metric, month)):
        before = last_audit_id(db)
        with as_user(user), pytest.raises(PreventUpdate):
            call()
        assert [r["reason"] for r in audit_rows(db, user.username, "denied", before)] == [reason]


def test_each_export_is_audited(dash_app: Any, db: Any, sector: Sector, as_user: Any) -> None:
    from tonghu.dashboards.pages import benchmarks as page

    pm = user_of(db, sector.users["pm"])
    month = sector.month.strftime("%Y-%m")
    before = last_audit_id(db)
    with as_user(pm):
        first = page.export(1, "electronics", month)
        page.export(2, None, month)
    rows = audit_rows(db, pm.username, "export", before)
    assert len(rows) == 2 and rows[0]["what"] == "benchmarks" and rows[0]["sector"] == "equipment"
    assert rows[0]["month"] == month and rows[0]["released"] > 0 and rows[0]["own_position"] is True
    assert first["filename"] == f"benchmarks-equipment-{month}.csv"
    assert "Whole sector,released,5," in first["content"] and "spindle_utilisation" in first["content"]
    before = last_audit_id(db)
    with as_user(pm), pytest.raises(PreventUpdate):
        page.export(3, None, "2001-01")
    assert audit_rows(db, pm.username, "export", before) == []
    assert [r["reason"] for r in audit_rows(db, pm.username, "denied", before)] == ["bad_period"]
