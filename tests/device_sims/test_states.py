"""State durations follow their configured distributions; planned events come when scheduled."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from dataclasses import replace
from types import MappingProxyType

import pytest

from tests.device_sims.conftest import T0, assembly_station, cdu, cnc_machine, smt_line
from tonghu.device_sims.models import cnc, petro_kind
from tonghu.device_sims.models.core import DAY_US, US, MachineKind, TimeClass
from tonghu.device_sims.models.machine import Machine
from tonghu.device_sims.models.profile import Profile, draw_profile

HOUR = 3600 * US


def _episodes(m: Machine, days: int) -> list[tuple[str, str, float]]:
    """(state, code, seconds) of every state the machine went through (the last one is dropped)."""
    run = m.run(T0, T0 + days * DAY_US, HOUR, keyframe_us=HOUR)
    changes = [e for e in run.events if e[2] == "state"]
    return [(a[3], a[4], (b[1] - a[1]) / US) for a, b in itertools.pairwise(changes)]


def _relative_scale(kind: MachineKind, episode: str) -> dict[str, float]:
    """Each reason's duration multiplier, relative to its episode's weighted mean (which is the profile mean)."""
    reasons = {r.code: r for r in kind.states.reasons}
    codes = next(e.reasons for e in kind.states.episodes if e.name == episode)
    mean = sum(reasons[c].weight * reasons[c].scale for c in codes) / sum(reasons[c].weight for c in codes)
    return {c: reasons[c].scale / mean for c in codes}


def _busy_cnc() -> tuple[Machine, Profile]:
    """A machine with many events, so that 150 days give hundreds of each."""
    profile = replace(draw_profile("equipment", 9), mtbf_h=8.0, mttr_min=60.0, microstop_per_h=2.0)
    return Machine(cnc.KIND, ("machining", "cell1", "cnc07"), profile, 21), profile


def test_breakdowns_are_lognormal_with_the_profile_mttr() -> None:
    m, p = _busy_cnc()
    scale = _relative_scale(cnc.KIND, "breakdown")
    episodes = _episodes(m, 150)
    repairs = [s / scale[c] for _st, c, s in episodes if c.startswith("BRK-")]
    assert len(repairs) > 250
    assert statistics.fmean(repairs) == pytest_approx(p.mttr_min * 60.0, 0.1)
    sigma = math.sqrt(math.log1p(p.repair_cv ** 2))
    assert statistics.stdev(math.log(x) for x in repairs) == pytest_approx(sigma, 0.1)
    # Each reason keeps its own scale: spindle repairs take longer than coolant repairs.
    by_code = defaultdict(list)
    for _st, c, s in episodes:
        by_code[c].append(s)
    assert statistics.fmean(by_code["BRK-SPINDLE"]) > 2 * statistics.fmean(by_code["BRK-COOLANT"])


def test_breakdowns_come_at_the_profile_mtbf() -> None:
    m, p = _busy_cnc()
    episodes = _episodes(m, 150)
    running_h = sum(s for st, _c, s in episodes if st == "running") / 3600.0
    breakdowns = sum(1 for _st, c, _s in episodes if c.startswith("BRK-"))
    assert running_h / breakdowns == pytest_approx(p.mtbf_h, 0.1)
    microstops = sum(1 for _st, c, _s in episodes if c.startswith("MS-"))
    assert microstops / running_h == pytest_approx(p.microstop_per_h, 0.1)


def test_microstops_are_exponential_seconds_to_minutes() -> None:
    m, p = _busy_cnc()
    scale = _relative_scale(cnc.KIND, "microstop")
    stops = [s / scale[c] for _st, c, s in _episodes(m, 150) if c.startswith("MS-")]
    assert len(stops) > 1500
    mean = statistics.fmean(stops)
    assert mean == pytest_approx(p.microstop_mean_s, 0.08)
    # Exponential: standard deviation equals the mean (a lognormal with cv 0.5 would fail this).
    assert statistics.stdev(stops) / mean == pytest_approx(1.0, 0.12)
    assert min(stops) >= 0.5 and statistics.median(stops) < 300


def test_setups_and_planned_maintenance() -> None:
    m, p = _busy_cnc()
    episodes = _episodes(m, 150)
    setups = [s for _st, c, s in episodes if c == "SETUP-PRODUCT"]
    assert len(setups) > 40
    assert statistics.fmean(setups) == pytest_approx(p.setup_mean_min * 60.0, 0.2)
    pms = [s for _st, c, s in episodes if c == "PM-WEEKLY"]
    assert 20 <= len(pms) <= 22
    assert all(0.79 * p.pm_hours * 3600 <= s <= 1.21 * p.pm_hours * 3600 for s in pms)


def test_process_unit_trips_restart_and_reduce_rate() -> None:
    base = draw_profile("petrochemical", 5)
    profile = replace(base, mtbf_h=150.0, extra=MappingProxyType({**base.extra, "rr_per_30d": 6.0}))
    m = Machine(petro_kind.KIND, ("crude", "cdu1", "unit"), profile, 3)
    episodes = _episodes(m, 400)
    codes = [c for _st, c, _s in episodes]
    trips = [i for i, c in enumerate(codes) if c.startswith("SD-TRIP") or c == "SD-LEAK"]
    assert len(trips) > 30
    # Every trip is followed by a startup, and production resumes after it.
    assert all(codes[i + 1] == "SU-RESTART" for i in trips if i + 1 < len(codes))
    scale = _relative_scale(petro_kind.KIND, "trip")
    shutdowns = [episodes[i][2] / scale[codes[i]] for i in trips]
    assert statistics.fmean(shutdowns) == pytest_approx(profile.mttr_min * 60.0, 0.15)
    reduced = [s for st, _c, s in episodes if st == "reduced_rate"]
    assert len(reduced) > 40
    assert statistics.fmean(reduced) == pytest_approx(profile.x("rr_mean_h") * 3600.0, 0.2)


def test_state_time_is_spread_over_the_iso_22400_classes() -> None:
    m, _p = _busy_cnc()
    table = {r.code: r.tclass for r in cnc.KIND.states.reasons}
    seconds: dict[TimeClass, float] = defaultdict(float)
    for _st, c, s in _episodes(m, 60):
        seconds[table[c]] += s
    total = sum(seconds.values())
    assert set(seconds) == set(TimeClass)
    assert 0.4 < seconds[TimeClass.PRODUCTION] / total < 0.95
    assert seconds[TimeClass.UNPLANNED_DOWN] > seconds[TimeClass.PLANNED_DOWN]


def test_epochs_join_where_both_streams_run_the_same_product() -> None:
    """The join between epoch streams is invisible (rank 1) for all but a tiny share of epochs."""
    ranks = []
    for m in (*smt_line().values(), cnc_machine(), assembly_station(), _busy_cnc()[0]):
        tl = m.timeline
        first = T0 // tl.epoch_us
        ranks += [tl.coupling(k)[1] for k in range(first, first + 120)]
    tl = cdu().timeline
    first = T0 // tl.epoch_us
    ranks += [tl.coupling(k)[1] for k in range(first, first + 52)]
    assert sum(r == 1 for r in ranks) / len(ranks) > 0.99


def pytest_approx(expected: float, rel: float) -> object:
    return pytest.approx(expected, rel=rel)
