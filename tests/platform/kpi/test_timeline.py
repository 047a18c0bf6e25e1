"""State timelines, stop Paretos, trends and data quality on a small hand-made history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import make_tenant
from tests.platform.kpi.plant import DAY, at, make_plant
from tonghu.platform import rollups
from tonghu.platform.kpi.scope import Scope
from tonghu.platform.kpi.timeline import data_quality, state_timeline, stop_durations, stop_pareto, trend

PATH = "mach/cell/t1"


@pytest.fixture(autouse=True)
def no_watermarks(db):
    db.execute("DELETE FROM rollup_watermarks")
    yield
    db.execute("DELETE FROM rollup_watermarks")


@pytest.fixture
def plant(db):
    p = make_plant(db, "equipment", make_tenant)
    p.asset_id = p.asset(PATH, {"temp": "temperature"})
    p.states(PATH, [(at("08:00"), "running", "RUN"), (at("08:30"), "running", "RUN"),  # a keyframe repeat
                    (at("09:00"), "down", "MS-JAM"), (at("09:05"), "running", "RUN"),
                    (at("10:00"), "down", "BRK-SPINDLE"), (at("10:40"), "down", "BRK-SPINDLE"),
                    (at("11:00"), "down", "MS-JAM"), (at("11:10"), "running", "RUN")])
    # Temperature every minute from 08:00 to 09:59, none 10:00–11:59 (the edge was away).
    p.num(f"{PATH}/temp", [(at("08:00") + timedelta(minutes=i), 20.0 + i % 7) for i in range(120)])
    return p


def test_timeline_merges_repeats_and_pareto_counts_stops(db, plant) -> None:
    spans = state_timeline(db, plant.asset_id, at("08:00"), at("12:00"))
    assert [(s.state, s.code, s.start, s.end) for s in spans] == [
        ("running", "RUN", at("08:00"), at("09:00")), ("down", "MS-JAM", at("09:00"), at("09:05")),
        ("running", "RUN", at("09:05"), at("10:00")), ("down", "BRK-SPINDLE", at("10:00"), at("11:00")),
        ("down", "MS-JAM", at("11:00"), at("11:10")), ("running", "RUN", at("11:10"), at("12:00"))]
    assert spans[3].failure and spans[3].time_class == "unplanned_down"
    pareto = stop_pareto(db, Scope("asset", plant.asset_id), at("08:00"), at("12:00"))
    assert [(p["code"], p["seconds"], p["stops"]) for p in pareto] == [("BRK-SPINDLE", 3600, 1), ("MS-JAM", 900, 2)]
    # From the hourly stop rollup (whole hours) and raw states (the partial hours), the same Pareto.
    rollups.rebuild(db, at("00:00"), at("00:00") + timedelta(days=1), ["stops_1h"])
    db.execute("INSERT INTO rollup_watermarks VALUES ('stops_1h', %s)", (DAY + timedelta(days=1),))
    for a, b in ((at("08:00"), at("12:00")), (at("08:20"), at("11:05"))):
        rolled = stop_pareto(db, Scope("asset", plant.asset_id), a, b)
        db.execute("DELETE FROM rollup_watermarks WHERE name = 'stops_1h'")
        assert rolled == stop_pareto(db, Scope("asset", plant.asset_id), a, b)
        db.execute("INSERT INTO rollup_watermarks VALUES ('stops_1h', %s)", (DAY + timedelta(days=1),))
    # 08:20–11:05: MS-JAM 09:00–09:05 and 11:00–11:05, BRK-SPINDLE 10:00–11:00.
    assert [(p["code"], p["seconds"], p["stops"]) for p in stop_pareto(
        db, Scope("asset", plant.asset_id), at("08:20"), at("11:05"))] == [("BRK-SPINDLE", 3600, 1), ("MS-JAM", 600, 2)]
    # The 10:40 repeat of BRK-SPINDLE continues the 10:00 stop: one stop of 60 min, not 40 + 20.
    assert stop_durations(db, Scope("asset", plant.asset_id), at("08:00"), at("12:00")) == [300, 3600, 600]


def test_trend_switches_from_raw_to_rollups(db, plant) -> None:
    tag = plant.tags[f"{PATH}/temp"]
    raw = trend(db, tag, at("08:00"), at("12:00"), max_points=500)
    assert raw["resolution"] == "raw" and len(raw["value"]) == 120
    rollups.rebuild(db, at("00:00"), at("00:00") + timedelta(days=1), ["tag_1h"])
    db.execute("INSERT INTO rollup_watermarks VALUES ('tag_1h', %s)", (DAY + timedelta(days=1),))
    hourly = trend(db, tag, at("08:00"), at("12:00"), max_points=50)
    assert hourly["resolution"] == "1h"
    assert hourly["time"] == [at("08:00"), at("09:00")]
    assert hourly["min"] == [20.0, 20.0] and hourly["max"] == [26.0, 26.0]
    expected = [sum(20.0 + i % 7 for i in range(h * 60, h * 60 + 60)) / 60 for h in (0, 1)]
    assert hourly["mean"] == pytest.approx(expected, rel=1e-12)


def test_data_quality_counts_hours_without_data(db, plant) -> None:
    (row,) = data_quality(db, Scope("asset", plant.asset_id), at("07:00"), at("12:00"))
    # 07:00–12:00 is five hours; temperature exists in 08 and 09 only; state unknown before 08:00.
    assert (row["hours"], row["hours_without_data"]) == (5, 3)
    assert row["unknown_state_hours"] == pytest.approx(1.0)
