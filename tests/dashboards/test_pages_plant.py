"""A small plant for the analytics pages, written straight into the test database (tests/platform/kpi/plant.py), and
the plant overview's views checked against it by hand.

Three tenants of their own (no other test's data is touched): A, electronics, a site in Europe/Berlin with an SMT
line whose line controller stands for the line and a second line that only idles and runs; B, equipment, one CNC
machine; P, petrochemical, one crude unit with totalisers, lab results and an alarm journal. Their data covers the
four hours from ``start``, ending an hour before now, so "Last 24 hours" shows it. Users of every role are bound to
them.

Hand numbers of A's line 1 over [start, start + 4 h) (ISO 22400-2, docs/KPI.md):
running 0–60 min | down BRK-SPINDLE (failure) 60–80 | running 80–150 | setup 150–170 | running 170–240
APT = 200 min = 12000 s, ASUT = 1200 s, ADET = 1200 s, PBT = 14400 s; availability = 12000 / 14400 = 0.8333.
count_total 0 → 110 → 240 → 400 (reports at 60, 150, 239 min): produced 400; good 392, scrap 8: quality 0.98.
Ideal cycle time 25 s: ideal time 10000 s, performance = 10000 / 12000 = 0.8333, OEE = 0.6806.
Ideal output (target) = PBT / ideal cycle time = 14400 / 25 = 576 units.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import flask
import pytest

from tests.conftest import make_tenant, unique
from tests.dashboards.conftest import PASSWORD, TEST_SCRYPT_N
from tests.platform.kpi.plant import Plant
from tonghu.dashboards.views import common
from tonghu.dashboards.views import plant as view
from tonghu.platform import registry, users
from tonghu.platform.kpi.facts import Facts, facts
from tonghu.platform.kpi.scope import Scope

TZ = "Europe/Berlin"
L1, L2 = "smt/l1/line", "smt/l2/line"
REFLOW, PNP, AOI = "smt/l1/reflow", "smt/l1/pnp", "smt/l1/aoi"
CNC, CDU = "mach/cell/m1", "crude/cdu1/unit"
PEAK = [252.0 if i == 3 else 233.0 if i == 7 else 240.0 for i in range(20)]   # 18 within 235–250, 1 above, 1 below
TAL = [95.0 if i == 5 else 60.0 for i in range(20)]                            # 19 within 45–90


@dataclass(frozen=True)
class PagesWorld:
    start: datetime               # the data covers [start, start + 4 h)
    end: datetime
    a_company: int
    a_site: int
    a_site2: int                  # a second site of A without data, for a site-bound engineer
    a_l1: int                     # line ids
    a_l2: int
    a_line_asset: int             # asset ids
    a_reflow: int
    a_pnp: int
    b_company: int
    b_site: int
    b_line: int
    b_asset: int
    p_company: int
    p_site: int
    p_asset: int
    tags: dict[str, int]          # "A:smt/l1/reflow/peak_temp" → tag id
    users: dict[str, str]         # admin, pm_a, eng_a, eng_a_site2, pm_b, pm_p, analyst → user name


def _minutes(start: datetime, m: float) -> datetime:
    return start + timedelta(minutes=m)


def _counters(plant: Plant, path: str, start: datetime, points: dict[str, list[tuple[float, float]]]) -> None:
    for name, pts in points.items():
        plant.num(f"{path}/{name}", [(_minutes(start, m), v) for m, v in pts])


def _line_a(plant: Plant, start: datetime) -> None:
    out = {"line_output": True}
    plant.asset(L1, {"count_total": ("count_total", out), "count_good": ("count_good", out),
                     "count_scrap": ("count_scrap", out), "ideal_cycle_time": "ideal_cycle_time",
                     "energy_kwh": "energy_kwh"})
    plant.states(L1, [(_minutes(start, 0), "running", "RUN"), (_minutes(start, 60), "down", "BRK-SPINDLE"),
                      (_minutes(start, 80), "running", "RUN"), (_minutes(start, 150), "setup", "SETUP-PRODUCT"),
                      (_minutes(start, 170), "running", "RUN"), (_minutes(start, 240), "down", "MS-JAM")])
    _counters(plant, L1, start, {
        "count_total": [(-1, 0), (60, 110), (150, 240), (239, 400)],
        "count_good": [(-1, 0), (60, 108), (150, 236), (239, 392)],
        "count_scrap": [(-1, 0), (60, 2), (150, 4), (239, 8)],
        "ideal_cycle_time": [(-60, 25)], "energy_kwh": [(-1, 1000), (239, 1060)]})
    plant.asset(L2, {"rate": "rate"})
    plant.states(L2, [(_minutes(start, 0), "idle", "IDLE-NO-ORDER"), (_minutes(start, 120), "running", "RUN")])
    plant.asset(REFLOW, {"peak_temp": ("process_value", {"lo_limit": 235.0, "hi_limit": 250.0}),
                         "time_above_liquidus": ("process_value", {"lo_limit": 45.0, "hi_limit": 90.0}),
                         "conveyor_speed": "speed"})
    _counters(plant, REFLOW, start, {"peak_temp": [(5 * i, v) for i, v in enumerate(PEAK)],
                                     "time_above_liquidus": [(5 * i, v) for i, v in enumerate(TAL)],
                                     "conveyor_speed": [(i / 2, 80.0 + i % 7) for i in range(480)]})
    plant.asset(PNP, {"placements": "placements", "placement_errors": "placement_errors",
                      "rated_cph": "rated_placement_rate",
                      "mispicks_f01": ("mispicks", {"feeder_slot": "F01"}),
                      "mispicks_f02": ("mispicks", {"feeder_slot": "F02"}),
                      "mispicks_n1": ("mispicks", {"nozzle": "N1"})})
    _counters(plant, PNP, start, {"placements": [(-1, 0), (239, 40000)], "placement_errors": [(-1, 0), (239, 8)],
                                  "rated_cph": [(-1, 15000)], "mispicks_f01": [(-1, 0), (239, 10)],
                                  "mispicks_f02": [(-1, 0), (239, 4)], "mispicks_n1": [(-1, 0), (239, 14)]})
    plant.states(PNP, [(_minutes(start, 0), "running", "RUN")])
    plant.asset(AOI, {"aoi_inspected": "aoi_inspected", "aoi_passed": "aoi_passed_first",
                      "aoi_defects": "aoi_defects", "aoi_false_calls": "aoi_false_calls",
                      "defects_bridge": ("aoi_defects_by_type", {"defect_type": "bridge"}),
                      "defects_missing": ("aoi_defects_by_type", {"defect_type": "missing"}),
                      "opportunities": "opportunities"})
    _counters(plant, AOI, start, {"aoi_inspected": [(-1, 0), (239, 400)], "aoi_passed": [(-1, 0), (239, 380)],
                                  "aoi_defects": [(-1, 0), (239, 25)], "aoi_false_calls": [(-1, 0), (239, 5)],
                                  "defects_bridge": [(-1, 0), (239, 15)], "defects_missing": [(-1, 0), (239, 10)],
                                  "opportunities": [(-60, 100)]})


def _machine_b(plant: Plant, start: datetime) -> None:
    plant.asset(CNC, {"count_total": "count_total", "count_good": "count_good", "ideal_cycle_time": "ideal_cycle_time",
                      "tool_life_used": "tool_life_used", "spindle_speed": "spindle_speed", "cycle_time": "cycle_time",
                      "bore_diameter": ("process_value", {"spec_lo": 9.98, "spec_hi": 10.02})})
    plant.states(CNC, [(_minutes(start, 0), "running", "RUN"), (_minutes(start, 120), "down", "BRK-SPINDLE"),
                       (_minutes(start, 150), "running", "RUN")])
    _counters(plant, CNC, start, {
        "count_total": [(-1, 0), (239, 100)], "count_good": [(-1, 0), (239, 95)], "ideal_cycle_time": [(-60, 60)],
        "tool_life_used": [(10, 40), (100, 60), (200, 95)], "spindle_speed": [(0, 8000), (120, 0), (150, 8000)],
        "cycle_time": [(m, 65) for m in range(5, 240, 30)],
        "bore_diameter": [(m, 10.0 + (0.004 if m % 20 else -0.004)) for m in range(0, 240, 8)]})


def _unit_p(plant: Plant, start: datetime) -> int:
    plant.asset(CDU, {"feed_t": "feed_t", "naphtha_t": ("product_t", {"product": "naphtha"}),
                      "diesel_t": ("product_t", {"product": "diesel"}), "flare_t": "flare_t", "co2_t": "co2_t",
                      "fuel_gj": "fuel_gj", "steam_t": "steam_t", "power_kwh": "power_kwh",
                      "lab_kero_flash": ("lab_quality", {"spec_lo": 38.0})},
                 text_roles=("state", "reason", "alarms"))
    plant.states(CDU, [(_minutes(start, 0), "running", "RUN")])
    _counters(plant, CDU, start, {
        "feed_t": [(-1, 0), (239, 1000)], "naphtha_t": [(-1, 0), (239, 300)], "diesel_t": [(-1, 0), (239, 600)],
        "flare_t": [(-1, 0), (239, 5)], "co2_t": [(-1, 0), (239, 80)], "fuel_gj": [(-1, 0), (239, 2000)],
        "steam_t": [(-1, 0), (239, 100)], "power_kwh": [(-1, 0), (239, 50000)],
        "lab_kero_flash": [(m, 45.0 + (m % 3) * 0.5) for m in range(0, 240, 20)]})
    tag = plant.tags[f"{CDU}/alarms"]
    # A chattering alarm (3 activations within 60 s), one that stands, one that clears.
    events = [(0, "TI-101", "active"), (0.3, "TI-101", "cleared"), (0.5, "TI-101", "active"),
              (0.7, "TI-101", "cleared"), (0.9, "TI-101", "active"), (1.1, "TI-101", "cleared"),
              (30, "LI-200", "active"), (90, "PI-300", "active"), (95, "PI-300", "acked"), (120, "PI-300", "cleared")]
    plant.conn.cursor().executemany(
        "INSERT INTO events (tag_id, time, kind, value, code, text) VALUES (%s, %s, 'alarm', %s, %s, %s)",
        [(tag, _minutes(start, m), v, a, f"{a} (priority high)") for m, a, v in events])
    return int(plant.conn.execute("SELECT asset_id FROM tags WHERE id = %s", (tag,)).fetchone()[0])


def _line_of(conn: Any, asset_id: int) -> int:
    return int(conn.execute("SELECT line_id FROM assets WHERE id = %s", (asset_id,)).fetchone()[0])


def _asset_of(conn: Any, site_id: int, path: str) -> int:
    from tonghu.platform import reasons

    return reasons.asset_id(conn, site_id, path)


@pytest.fixture(scope="session")
def pages(database_url: str) -> PagesWorld:
    import psycopg

    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(hours=5)
    with psycopg.connect(database_url, autocommit=True) as conn:
        a, b, p = make_tenant(conn, "electronics"), make_tenant(conn, "equipment"), make_tenant(conn, "petrochemical")
        a_site = registry.add_site(conn, a.company, unique("berlin"), "Berlin plant", TZ)
        a_site2 = registry.add_site(conn, a.company, unique("empty"), "Empty plant", TZ)
        code2 = conn.execute("SELECT code FROM sites WHERE id = %s", (a_site2,)).fetchone()[0]
        pa, pb, pp = (Plant(conn, a.company, "", a_site, a.company_id), Plant(conn, b.company, b.site, b.site_id,
                                                                                b.company_id),
                      Plant(conn, p.company, p.site, p.site_id, p.company_id))
        _line_a(pa, start)
        _machine_b(pb, start)
        p_asset = _unit_p(pp, start)
        names = {k: unique(f"pg-{k}-") for k in ("admin", "pm_a", "eng_a", "eng_a_site2", "pm_b", "pm_p", "analyst")}
        specs = {"admin": ("admin", {}), "pm_a": ("plant_manager", {"company": a.company}),
                 "eng_a": ("engineer", {"company": a.company}),
                 "eng_a_site2": ("engineer", {"company": a.company, "site": code2}),
                 "pm_b": ("plant_manager", {"company": b.company}), "pm_p": ("plant_manager", {"company": p.company}),
                 "analyst": ("association_analyst", {"sector": "equipment"})}
        for key, (role, scope) in specs.items():
            users.add_user(conn, names[key], PASSWORD, role, display_name=f"Pages {key}", scrypt_n=TEST_SCRYPT_N,
                           **scope)
        line_asset = _asset_of(conn, a_site, L1)
        b_asset = _asset_of(conn, b.site_id, CNC)
        tags = {f"A:{k}": v for k, v in pa.tags.items()} | {f"B:{k}": v for k, v in pb.tags.items()} | \
               {f"P:{k}": v for k, v in pp.tags.items()}
        return PagesWorld(start, start + timedelta(hours=4), a.company_id, a_site, a_site2, _line_of(conn, line_asset),
                          _line_of(conn, _asset_of(conn, a_site, L2)), line_asset, _asset_of(conn, a_site, REFLOW),
                          _asset_of(conn, a_site, PNP), b.company_id, b.site_id, _line_of(conn, b_asset), b_asset,
                          p.company_id, p.site_id, p_asset, tags, names)


def user_of(db: Any, name: str) -> users.User:
    uid = db.execute("SELECT id FROM users WHERE username = %s", (name,)).fetchone()[0]
    user = users.get_user(db, uid)
    assert user is not None
    return user


@pytest.fixture
def as_user(dash_app: Any) -> Any:
    """A request context as the login gate leaves it (``g.user`` from the server-side session), for calling
    callbacks as plain functions."""
    from contextlib import contextmanager

    from tonghu.dashboards.context import close_conn

    @contextmanager
    def ctx(user: users.User | None) -> Iterator[None]:
        with dash_app.server.test_request_context("/_dash-update-component", method="POST", json={"output": "t"}):
            flask.g.user = user
            try:
                yield
            finally:
                close_conn()

    return ctx


def text_of(component: Any) -> str:
    """All text in a Dash component tree."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(text_of(c) for c in component)
    children = getattr(component, "children", None)
    return text_of(children) if children is not None else ""


# ------------------------------------------------------------------------------------------------ the overview


def test_line_kpis_from_summed_facts_match_the_hand_numbers(db: Any, pages: PagesWorld) -> None:
    rows = facts(db, Scope("site", pages.a_site), pages.start, pages.end, by="line")
    lines, total = view.summarise(rows, {pages.a_l1: "Line one"})
    by_id = {ln.group_id: ln for ln in lines}
    l1, l2 = by_id[pages.a_l1], by_id[pages.a_l2]
    assert l1.name == "Line one" and l2.name == "smt/l2"
    assert l1.kpis.availability == pytest.approx(12000 / 14400)
    assert l1.kpis.effectiveness == pytest.approx(10000 / 12000)
    assert l1.kpis.quality == pytest.approx(392 / 400)
    assert l1.kpis.oee == pytest.approx(10000 / 14400 * 392 / 400)
    assert l1.target == pytest.approx(576)
    assert l2.kpis.oee is None and l2.target is None  # ran, but counted nothing: no ideal cycle time known
    assert total.facts.produced == 400 and total.facts.production_s == pytest.approx(12000 + 7200)


def test_buckets_sum_to_the_whole_range(db: Any, pages: PagesWorld) -> None:
    """The page reads one facts call per line and hour; lines summed over hours equal the unbucketed figures."""
    scope = Scope("site", pages.a_site)
    hourly = facts(db, scope, pages.start, pages.end, by="line", bucket="hour")
    whole = {r.group_id: r.facts for r in facts(db, scope, pages.start, pages.end, by="line")}
    for row in view.over_time(hourly):
        for field in ("production_s", "setup_s", "unplanned_down_s", "produced", "good", "ideal_s"):
            assert getattr(row.facts, field) == pytest.approx(getattr(whole[row.group_id], field))
    trend = view.trend_points(hourly)
    assert [t for t, _ in trend] == [pages.start + timedelta(hours=h) for h in range(4)]
    # Hour 2 (120–180 min): line 1 runs 40 of its 60 busy minutes (setup 150–170), line 2 runs all 60.
    assert trend[2][1].availability == pytest.approx((40 + 60) / (60 + 60))


def test_overview_figures_and_cards(db: Any, pages: PagesWorld) -> None:
    rows = facts(db, Scope("site", pages.a_site), pages.start, pages.end, by="line")
    lines, total = view.summarise(rows)
    oee = view.oee_figure(lines)
    assert [t.name for t in oee.data] == ["Availability", "Performance", "Quality", "OEE"]
    assert oee.data[3].y[0] == pytest.approx(100 * 10000 / 14400 * 392 / 400) and oee.data[3].y[1] is None
    prod = view.production_figure(lines)
    assert prod.data[0].name.startswith("Target") and prod.data[0].y[0] == pytest.approx(576)
    assert list(prod.data[1].y) == [392, 0] and list(prod.data[2].y) == [8, 0]
    assert prod.data[1].marker.color == common.colour("production")
    cards = text_of(view.summary_cards(total, lines))
    assert "OEE" in cards and common.fmt_pct(total.kpis.oee) in cards and "target 576 · 69 %" in cards
    assert view.attainment(lines) == pytest.approx(400 / 576)
    table = text_of(view.line_table(lines))
    assert "576" in table and "ideal cycle time" in table  # the target is explained on the page
    assert "–" in table  # line 2's OEE is unknown, shown as a dash and never as 0 %


def test_overview_empty_states_say_what_is_missing() -> None:
    assert common.is_empty_figure(view.oee_figure([]))
    assert "counters reporting" in view.production_figure([]).layout.annotations[0].text
    assert "No line with production data" in text_of(view.line_table([]))
    assert view.ideal_output(Facts()) is None
