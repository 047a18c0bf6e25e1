"""Worked examples computed by hand (the arithmetic is in each docstring), checked to 1e-9 — from raw rows and,
after a rollup rebuild, from the rollups."""

from __future__ import annotations

import pytest

from tests.conftest import make_tenant
from tests.platform.kpi.plant import BAD, DAY, at, make_plant
from tonghu.platform import rollups
from tonghu.platform.kpi.core import core
from tonghu.platform.kpi.electronics import electronics
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.petro import POWER_GJ_PER_KWH, STEAM_GJ_PER_T, petrochemical
from tonghu.platform.kpi.scope import Scope

START, END = at("08:00"), at("12:00")
M1 = "mach/cell/m1"


@pytest.fixture(autouse=True)
def no_watermarks(db):
    """Watermarks are per database: a test that rolls up must not hide another test's raw rows behind one."""
    db.execute("DELETE FROM rollup_watermarks")
    yield
    db.execute("DELETE FROM rollup_watermarks")


def machine_one(plant) -> int:
    """State timeline of m1 from 07:50 to 12:00 (report at 07:50 sets the state at 08:00):

    running 08:00–08:30 30 min | setup 08:30–08:50 20 | running 08:50–09:40 50 (keyframe repeat at 09:00)
    BRK-SPINDLE 09:40–10:10 30 (failure) | running 10:10–10:30 20 | MS-JAM 10:30–10:32 2 (micro-stop, no failure)
    running 10:32–11:00 28 | PM 11:00–11:30 30 | idle 11:30–11:45 15 | running 11:45–11:50 5
    BRK-SPINDLE 11:50–11:56 6 (failure) | running 11:56–12:00 4
    APT = 30+50+20+28+5+4 = 137 min = 8220 s; ASUT = 1200 s; ADET = 30+2+6 = 38 min = 2280 s; PDOT = 1800 s;
    idle 900 s; failures 2, failure down time 36 min = 2160 s.
    count_total 1000 → 1030 → 1080 → 1100 → 20 (reset) → 30: produced 30+50+20+20+10 = 130 (a bad-quality
    99999 at 09:00 is ignored); count_good +29 +49 +19 +19 +9 = 125; count_scrap 5.
    ideal_cycle_time 60 s from 07:00, 50 s from 08:50, 40 s from 10:30 (the same instant as a count: that count
    still uses 50): 30×60 + 50×50 + 20×50 + 20×40 + 10×40 = 1800+2500+1000+800+400 = 6500 s.
    energy_kwh 500 → 520.5 → 530.25 → 0.5 (meter reset) → 10.5: 20.5 + 9.75 + 0.5 + 10 = 40.75 kWh.
    """
    a = plant.asset(M1, {"count_total": "count_total", "count_good": "count_good", "count_scrap": "count_scrap",
                         "ideal_cycle_time": "ideal_cycle_time", "energy_kwh": "energy_kwh"})
    plant.states(M1, [(at("07:50"), "running", "RUN"), (at("08:30"), "setup", "SETUP-PRODUCT"),
                      (at("08:50"), "running", "RUN"), (at("09:00"), "running", "RUN"),
                      (at("09:40"), "down", "BRK-SPINDLE"), (at("10:10"), "running", "RUN"),
                      (at("10:30"), "down", "MS-JAM"), (at("10:32"), "running", "RUN"),
                      (at("11:00"), "planned_down", "PM"), (at("11:30"), "idle", "IDLE-NO-ORDER"),
                      (at("11:45"), "running", "RUN"), (at("11:50"), "down", "BRK-SPINDLE"),
                      (at("11:56"), "running", "RUN"), (at("12:00"), "running", "RUN")])
    times = [at(x) for x in ("07:55", "08:30", "09:40", "10:30", "11:00", "11:59")]
    plant.num(f"{M1}/count_total", [*zip(times, [1000, 1030, 1080, 1100, 20, 30], strict=True),
                                    (at("09:00"), 99999, BAD)])
    plant.num(f"{M1}/count_good", list(zip(times, [990, 1019, 1068, 1087, 19, 28], strict=True)))
    plant.num(f"{M1}/count_scrap", list(zip(times, [10, 11, 12, 13, 1, 2], strict=True)))
    plant.num(f"{M1}/ideal_cycle_time", [(at("07:00"), 60), (at("08:50"), 50), (at("10:30"), 40)])
    plant.num(f"{M1}/energy_kwh", [(at("07:55"), 500), (at("09:00"), 520.5), (at("10:00"), 530.25),
                                   (at("11:00"), 0.5), (at("11:59"), 10.5)])
    return a


def check_m1(f) -> None:
    assert f.production_s == pytest.approx(8220, abs=1e-9)
    assert f.setup_s == pytest.approx(1200, abs=1e-9)
    assert f.unplanned_down_s == pytest.approx(2280, abs=1e-9)
    assert f.planned_down_s == pytest.approx(1800, abs=1e-9)
    assert f.idle_s == pytest.approx(900, abs=1e-9)
    assert f.unknown_s == pytest.approx(0, abs=1e-9)
    assert (f.failures, f.failure_down_s) == (2, pytest.approx(2160, abs=1e-9))
    assert (f.produced, f.good, f.scrap) == (130, 125, 5)
    assert f.ideal_s == pytest.approx(6500, rel=1e-12)
    assert f.energy_kwh == pytest.approx(40.75, rel=1e-12)
    k = core(f, asset_level=True)
    assert k.availability == pytest.approx(8220 / 11700, rel=1e-9)
    assert k.effectiveness == pytest.approx(6500 / 8220, rel=1e-9)
    assert k.quality == pytest.approx(125 / 130, rel=1e-9)
    assert k.oee == pytest.approx(6500 / 11700 * 125 / 130, rel=1e-9)
    assert k.technical_efficiency == pytest.approx(8220 / 10500, rel=1e-9)
    assert k.setup_ratio == pytest.approx(1200 / 8220, rel=1e-9)
    assert k.throughput_per_h == pytest.approx(130 * 3600 / 11700, rel=1e-9)
    assert k.scrap_ratio == pytest.approx(5 / 130, rel=1e-9)
    assert (k.mtbf_s, k.mttr_s) == (pytest.approx(4110, rel=1e-9), pytest.approx(1080, rel=1e-9))
    assert k.energy_per_good_kwh == pytest.approx(40.75 / 125, rel=1e-9)
    assert k.rework_ratio is None


def test_machine_timeline_by_hand_from_raw_and_from_rollups(db) -> None:
    plant = make_plant(db, "equipment", make_tenant)
    a = machine_one(plant)
    (raw,) = facts(db, Scope("asset", a), START, END)
    check_m1(raw.facts)
    rollups.rebuild(db, at("00:00"), at("00:00") + (END - START) * 6, ["asset_1h"])
    db.execute("INSERT INTO rollup_watermarks VALUES ('asset_1h', %s) ON CONFLICT (name) DO UPDATE "
               "SET watermark = EXCLUDED.watermark", (at("23:00"),))
    (rolled,) = facts(db, Scope("asset", a), START, END)
    check_m1(rolled.facts)
    hourly = facts(db, Scope("asset", a), START, END, bucket="hour")
    # 08: 30 + 10 min; 09: 40; 10: 20 + 28; 11: 5 + 4
    assert [round(r.facts.production_s) for r in hourly] == [2400, 2400, 2880, 540]
    assert sum(r.facts.failures for r in hourly) == 2


def test_line_oee_comes_from_summed_times_not_averaged(db) -> None:
    """m2 runs all 4 h (APT = PBT = 14400 s) making 100 good units of 40 s ideal: OEE = 4000/14400 = 0.2778;
    m1's OEE = 6500/11700 × 125/130 = 0.5342. The cell (parallel machines) sums: APT 22620, PBT 26100,
    ideal 10500, good 225 of 230 → OEE = 10500/26100 × 225/230 = 0.3935, not the mean 0.4060."""
    plant = make_plant(db, "equipment", make_tenant)
    a1 = machine_one(plant)
    m2 = "mach/cell/m2"
    plant.asset(m2, {"count_total": "count_total", "count_good": "count_good", "ideal_cycle_time": "ideal_cycle_time"})
    plant.states(m2, [(at("07:00"), "running", "RUN")])
    plant.num(f"{m2}/count_total", [(at("07:59"), 0), (at("11:59"), 100)])
    plant.num(f"{m2}/count_good", [(at("07:59"), 0), (at("11:59"), 100)])
    plant.num(f"{m2}/ideal_cycle_time", [(at("07:00"), 40)])
    (line,) = facts(db, Scope("line", plant.line_of(a1)), START, END)
    k = core(line.facts)
    assert line.facts.assets == 2
    assert k.oee == pytest.approx(10500 / 26100 * 225 / 230, rel=1e-9)
    per = [core(r.facts).oee for r in facts(db, Scope("line", plant.line_of(a1)), START, END, by="asset")]
    assert sorted(per) == [pytest.approx(4000 / 14400), pytest.approx(6500 / 11700 * 125 / 130)]
    assert abs(k.oee - sum(per) / 2) > 0.01


def test_line_output_asset_stands_for_a_flow_line(db) -> None:
    """An SMT line whose own counters are marked line_output: a board passes every station, so the line counts
    it once (the line asset's 50), not once per station (50 + 50)."""
    plant = make_plant(db, "electronics", make_tenant)
    line = plant.asset("smt/l1/line", {"count_total": ("count_total", {"line_output": True})})
    plant.asset("smt/l1/printer", {"count_total": "count_total"})
    for path in ("smt/l1/line", "smt/l1/printer"):
        plant.states(path, [(at("07:00"), "running", "RUN")])
        plant.num(f"{path}/count_total", [(at("07:00"), 0), (at("11:00"), 50)])
    (f,) = facts(db, Scope("line", plant.line_of(line)), START, END)
    assert (f.facts.produced, f.facts.assets) == (50, 1)
    assert sum(r.facts.produced for r in facts(db, Scope("line", plant.line_of(line)), START, END, by="asset")) == 100


def test_reason_map_versions_apply_from_their_time(db) -> None:
    """MS-JAM becomes a failure from 10:00: the 09:30 jam (10 min) stays a micro-stop, the 10:30 jam (5 min) counts
    as a failure: failures 1, failure down 300 s; both jams are unplanned down time (900 s)."""
    from tonghu.platform.reasons import set_reasons

    plant = make_plant(db, "equipment", make_tenant)
    a = plant.asset("mach/cell/m3", {})
    set_reasons(db, a, [{"code": "MS-JAM", "time_class": "unplanned_down", "failure": True}], at("10:00"))
    plant.states("mach/cell/m3", [(at("08:00"), "running", "RUN"), (at("09:30"), "down", "MS-JAM"),
                                  (at("09:40"), "running", "RUN"), (at("10:30"), "down", "MS-JAM"),
                                  (at("10:35"), "running", "RUN")])
    (f,) = facts(db, Scope("asset", a), START, END)
    assert (f.facts.failures, f.facts.failure_down_s, f.facts.unplanned_down_s) == (1, 300, 900)


def test_unknown_time_before_the_first_state_and_for_unmapped_states(db) -> None:
    """First report at 09:00 (08:00–09:00 unknown); 'warming' has no mapping (10:00–10:20 unknown): 80 min."""
    plant = make_plant(db, "equipment", make_tenant)
    a = plant.asset("mach/cell/m4", {})
    plant.states("mach/cell/m4", [(at("09:00"), "running", "RUN"), (at("10:00"), "warming", "WARM-UP"),
                                  (at("10:20"), "running", "RUN")])
    (f,) = facts(db, Scope("asset", a), START, END)
    assert f.facts.unknown_s == 4800
    assert f.facts.production_s == 14400 - 4800


def test_smt_lot_with_known_defects(db) -> None:
    """100 boards inspected, 90 passed the first inspection (FPY 0.90 — not good/total: after repair 97 are
    good), 6 true defects (bridge 4, missing 2) and 8 false calls on 1500 opportunities per board:
    DPMO = 6 / (100 × 1500) × 10^6 = 40; false-call rate 8 / 14. Placement: 149 990 placed, 10 not placed:
    not-placed ratio 10 / 150 000; mispicks F02 7, F01 5."""
    plant = make_plant(db, "electronics", make_tenant)
    aoi = "smt/l2/aoi"
    plant.asset(aoi, {"inspected": "aoi_inspected", "passed": "aoi_passed_first", "defects": "aoi_defects",
                      "false_calls": "aoi_false_calls", "opportunities": "opportunities", "good": "count_good",
                      "total": "count_total",
                      "bridge": ("aoi_defects_by_type", {"defect_type": "bridge"}),
                      "missing": ("aoi_defects_by_type", {"defect_type": "missing"})})
    pnp = "smt/l2/pnp"
    plant.asset(pnp, {"placements": "placements", "errors": "placement_errors",
                      "f01": ("mispicks", {"feeder_slot": "F01"}), "f02": ("mispicks", {"feeder_slot": "F02"})})
    for name, end_value in (("inspected", 100), ("passed", 90), ("defects", 6), ("false_calls", 8), ("good", 97),
                            ("total", 100), ("bridge", 4), ("missing", 2)):
        plant.num(f"{aoi}/{name}", [(at("07:59"), 0), (at("11:00"), end_value)])
    plant.num(f"{aoi}/opportunities", [(at("07:00"), 1500)])
    for name, end_value in (("placements", 149_990), ("errors", 10), ("f01", 5), ("f02", 7)):
        plant.num(f"{pnp}/{name}", [(at("07:59"), 0), (at("11:00"), end_value)])
    site = Scope("site", plant.site_id)
    e = electronics(db, site, START, END)
    assert e["fpy"] == pytest.approx(0.90, rel=1e-12)
    assert e["dpmo"] == pytest.approx(40.0, rel=1e-9)
    assert e["false_call_rate"] == pytest.approx(8 / 14, rel=1e-12)
    assert e["not_placed_ratio"] == pytest.approx(10 / 150_000, rel=1e-12)
    assert [(p["key"], p["count"]) for p in e["feeder_pareto"]] == [("F02", 7), ("F01", 5)]
    assert [(p["key"], p["count"]) for p in e["aoi_defect_pareto"]] == [("bridge", 4), ("missing", 2)]
    assert e["aoi_defect_pareto"][-1]["cumulative"] == pytest.approx(1.0)


def test_petrochemical_mass_balance_by_hand(db) -> None:
    """Feed 600 t over 4 h → 150 t/h; products naphtha 150, diesel 300, residue 140 = 590 t; flare 3 t.
    Loss ratio (600 − 590)/600; closure error (590 + 3 − 600)/600 = −7/600; flaring 3000 kg / 600 t = 5 kg/t.
    Primary energy 300 GJ fuel + 20 t steam × 2.778/0.9 + 10 000 kWh × 0.0036 × 2.1 = 437.3333… GJ;
    SEC = 437.3333/590 GJ/t; CO2 30 t / 590 t. The diesel totaliser resets at 10:00 (480 → 0 → 20):
    200→480 is +280, 0→20 is +20, 300 t in all — never negative."""
    plant = make_plant(db, "petrochemical", make_tenant)
    unit = "crude/cdu1/unit"
    plant.asset(unit, {"feed_t": "feed_t", "naphtha_t": ("product_t", {"product": "naphtha"}),
                       "diesel_t": ("product_t", {"product": "diesel"}),
                       "residue_t": ("product_t", {"product": "residue"}), "flare_t": "flare_t",
                       "fuel_gj": "fuel_gj", "steam_t": "steam_t", "power_kwh": "power_kwh", "co2_t": "co2_t"})
    series = {"feed_t": (1000, 1600), "naphtha_t": (100, 250), "residue_t": (50, 190), "flare_t": (1, 4),
              "fuel_gj": (10, 310), "steam_t": (0, 20), "power_kwh": (1000, 11000), "co2_t": (0, 30)}
    for name, (v0, v1) in series.items():
        plant.num(f"{unit}/{name}", [(at("07:59"), v0), (at("11:59"), v1)])
    plant.num(f"{unit}/diesel_t", [(at("07:59"), 200), (at("09:59"), 480), (at("10:00"), 0), (at("11:59"), 20)])
    p = petrochemical(db, Scope("site", plant.site_id), START, END, now=DAY.replace(year=2027))
    primary = 300 + 20 * STEAM_GJ_PER_T + 10_000 * POWER_GJ_PER_KWH
    assert primary == pytest.approx(437.3333333333333, rel=1e-12)
    assert p["throughput_t_per_h"] == pytest.approx(150, rel=1e-12)
    assert p["products_t"] == {"diesel": 300, "naphtha": 150, "residue": 140}
    assert p["loss_ratio"] == pytest.approx(10 / 600, rel=1e-12)
    assert p["closure_error"] == pytest.approx(-7 / 600, rel=1e-12)
    assert p["flaring_kg_per_t_feed"] == pytest.approx(5, rel=1e-12)
    assert p["sec_gj_per_t"] == pytest.approx(primary / 590, rel=1e-12)
    assert p["co2_intensity_t_per_t"] == pytest.approx(30 / 590, rel=1e-12)
    assert p["yields"]["diesel"] == pytest.approx(0.5, rel=1e-12)
