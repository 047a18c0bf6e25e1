"""Alarm journal, lab results and orders: the event streams KPIs are computed from."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import replace
from types import MappingProxyType

import pytest

from tests.device_sims.conftest import T0, cnc_machine, smt_line
from tonghu.device_sims.models import petro_kind
from tonghu.device_sims.models.core import DAY_US, US
from tonghu.device_sims.models.machine import Machine, Run
from tonghu.device_sims.models.profile import draw_profile

MIN = 60 * US


@pytest.fixture(scope="module")
def troubled_unit() -> tuple[Machine, Run]:
    """A unit with trips every ~10 days and plenty of alarms, over 60 days."""
    base = draw_profile("petrochemical", 5)
    extra = {**base.extra, "alarms_per_day": 20.0, "chatter_per_week": 3.0}
    profile = replace(base, mtbf_h=240.0, quality_sigma=1.5, extra=MappingProxyType(extra))
    m = Machine(petro_kind.KIND, ("crude", "cdu1", "unit"), profile, 17)
    return m, m.run(T0, T0 + 60 * DAY_US, 300 * US)


def _alarms(run: Run) -> list[tuple[int, str, str]]:
    return [(t, value, code) for name, t, kind, value, code, _text in run.events if kind == "alarm"]


def test_every_alarm_activates_before_it_clears(troubled_unit: tuple[Machine, Run]) -> None:
    _m, run = troubled_unit
    standing: dict[str, int] = {}
    for t, value, code in _alarms(run):
        if value == "active":
            assert code not in standing, f"{code} activated while standing"
            standing[code] = t
        elif value == "acked":
            assert code in standing
        else:
            assert standing.pop(code, None) is not None or t < T0 + DAY_US, code
    assert all(name in ("alarms", "state") for name, *_ in run.events)


def test_floods_chattering_and_stale_alarms_occur(troubled_unit: tuple[Machine, Run]) -> None:
    _m, run = troubled_unit
    activations = [(t, code) for t, value, code in _alarms(run) if value == "active"]
    times = [t for t, _c in activations]
    floods = sum(1 for i, t in enumerate(times) if sum(1 for u in times[i:i + 40] if u < t + 10 * MIN) > 10)
    assert floods > 0
    by_code = defaultdict(list)
    for t, code in activations:
        by_code[code].append(t)
    chattering = [c for c, ts in by_code.items() if any(ts[i + 2] - ts[i] < MIN for i in range(len(ts) - 2))]
    assert chattering
    first_active: dict[str, int] = {}
    stale = 0
    for t, value, code in _alarms(run):
        if value == "active":
            first_active[code] = t
        elif value == "cleared" and code in first_active and t - first_active[code] > DAY_US:
            stale += 1
    assert stale > 0
    trips = [t for _n, t, kind, _v, code, _x in run.events if kind == "state" and code.startswith("SD-TRIP")]
    assert trips
    for trip in trips:
        assert sum(1 for t in times if trip <= t < trip + 10 * MIN) > 10


def test_process_values_cross_their_limits_while_alarmed(troubled_unit: tuple[Machine, Run]) -> None:
    m, run = troubled_unit
    limits = {t.key.rsplit("/", 1)[1]: t.attrs for t in m.tags()}
    checked = 0
    for t, value, code in _alarms(run):
        if value != "active" or code not in ("TI-101.HI", "TI-201.HI", "PI-201.HI", "LI-301.LO", "AI-102.LO"):
            continue
        if m.state_at(t).state != "running":
            continue  # the cascade of a trip: the unit is going down, not drifting past a limit
        tag = {"TI-101": "heater_outlet_temp", "TI-201": "column_top_temp", "PI-201": "column_top_press",
               "LI-301": "reflux_drum_level", "AI-102": "heater_o2_pct"}[code[:6]]
        value_now = m.snapshot(t + 5 * US)[tag]
        if code.endswith(".HI"):
            assert value_now > limits[tag]["alarm_hi"] - 0.05 * abs(limits[tag]["alarm_hi"]), (code, value_now)
        else:
            assert value_now < limits[tag]["alarm_lo"] * 1.1 + 1.0, (code, value_now)
        checked += 1
    assert checked > 20


def test_lab_results_three_a_day_against_spec(troubled_unit: tuple[Machine, Run]) -> None:
    m, run = troubled_unit
    spec = {t.key.rsplit("/", 1)[1]: t.attrs for t in m.tags() if t.role == "lab_quality"}
    results = defaultdict(list)
    for name, _t, value in run.samples:
        if name in spec:
            results[name].append(value)
    assert set(results) == set(spec)
    for name, values in results.items():
        assert 100 < len(values) <= 180
        mean, sd = statistics.fmean(values), statistics.stdev(values)
        limit = spec[name].get("spec_hi", spec[name].get("spec_lo"))
        cpk = abs(limit - mean) / (3 * sd)
        assert 0.3 < cpk < 2.5, (name, cpk)


def test_capable_plants_have_higher_cpk() -> None:
    cpk = []
    for sigma in (0.6, 1.8):
        profile = replace(draw_profile("petrochemical", 5), quality_sigma=sigma)
        m = Machine(petro_kind.KIND, ("crude", "cdu1", "unit"), profile, 17)
        values = [v for n, _t, v in m.run(T0, T0 + 40 * DAY_US, 900 * US).samples if n == "lab_diesel_t95"]
        cpk.append((360.0 - statistics.fmean(values)) / (3 * statistics.stdev(values)))
    assert cpk[0] > 2 * cpk[1]


@pytest.mark.parametrize("which", ["line", "cnc"])
def test_orders_start_with_setups(which: str) -> None:
    m = smt_line()["line"] if which == "line" else cnc_machine()
    run = m.run(T0, T0 + 10 * DAY_US, 300 * US)
    setups = {t for _n, t, kind, state, _c, _x in run.events if kind == "state" and state == "setup"}
    orders = [(t, value, code) for _n, t, kind, value, code, _x in run.events if kind == "order"]
    assert len(orders) >= 5
    assert {t for t, _v, _c in orders} <= setups
    assert len({v for _t, v, _c in orders}) == len(orders)
    products = {p.code for p in m.products}
    assert all(code in products for _t, _v, code in orders)
