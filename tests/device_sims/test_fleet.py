"""The fleet: deterministic, six companies per sector by default, and companies that really differ."""

from __future__ import annotations

import itertools
import re
import statistics
from collections import Counter, defaultdict

import pytest

from tests.device_sims.conftest import T0
from tonghu.device_sims.models import SECTORS, Fleet, fleet
from tonghu.device_sims.models.core import DAY_US, US, TimeClass
from tonghu.device_sims.models.machine import Machine

CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@pytest.fixture(scope="module")
def default_fleet() -> Fleet:
    return fleet()


def _layout(f: Fleet) -> list[tuple[str, str, str, str, str, int]]:
    return [(c.code, c.name, c.sector, s.code, m.asset_path, m.seed) for c, s, m in f.machines()]


def test_same_seed_same_fleet(default_fleet: Fleet) -> None:
    again = fleet()
    assert _layout(again) == _layout(default_fleet)
    assert [c.profile for c in again.companies] == [c.profile for c in default_fleet.companies]
    other = fleet(seed=1)
    assert _layout(other) != _layout(default_fleet)
    _c, _s, m1 = next(default_fleet.machines())
    _c, _s, m2 = next(again.machines())
    assert m1.run(T0, T0 + DAY_US // 4).samples == m2.run(T0, T0 + DAY_US // 4).samples


def test_default_has_six_companies_per_sector(default_fleet: Fleet) -> None:
    assert Counter(c.sector for c in default_fleet.companies) == dict.fromkeys(SECTORS, 6)
    assert Counter(c.sector for c in fleet(7).companies) == {"electronics": 3, "petrochemical": 2, "equipment": 2}
    machines = list(default_fleet.machines())
    assert len(machines) >= 100
    assert {m.kind.sector for _c, _s, m in machines} == set(SECTORS)


def test_codes_and_keys_are_valid_and_unique(default_fleet: Fleet) -> None:
    codes = [c.code for c in default_fleet.companies]
    assert len(set(codes)) == len(codes)
    assert len({c.name for c in default_fleet.companies}) == len(codes)
    for c in default_fleet.companies:
        assert CODE.fullmatch(c.code)
        for s in c.sites:
            assert CODE.fullmatch(s.code) and CODE.fullmatch(s.edge)
            keys = [t.key for m in s.machines for t in m.tags()]
            assert len(keys) == len(set(keys))


def _class_seconds(m: Machine, days: int) -> dict[TimeClass, float]:
    run = m.run(T0, T0 + days * DAY_US, 3600 * US, keyframe_us=3600 * US)
    changes = [e for e in run.events if e[2] == "state"]
    table = {row["code"]: TimeClass(row["time_class"]) for row in m.reason_table()}
    out: dict[TimeClass, float] = defaultdict(float)
    for a, b in itertools.pairwise(changes):
        out[table[a[4]]] += (b[1] - a[1]) / US
    return out


def _week(m: Machine) -> tuple[dict[str, object], dict[str, object]]:
    r = m.timeline.last_reset(T0 + 14 * DAY_US)
    return m.snapshot(r + US), m.snapshot(r + 7 * DAY_US - US)


@pytest.mark.parametrize(("sector", "asset"), [("electronics", "line"), ("equipment", "cnc01")])
def test_companies_differ_in_oee_yield_and_energy(default_fleet: Fleet, sector: str, asset: str) -> None:
    rows = []
    for company in default_fleet.sector(sector):
        m = next(m for s in company.sites for m in s.machines if m.position.asset == asset)
        sec = _class_seconds(m, 28)
        busy = sec[TimeClass.PRODUCTION] + sec[TimeClass.SETUP] + sec[TimeClass.UNPLANNED_DOWN]
        availability = sec[TimeClass.PRODUCTION] / busy
        _start, end = _week(m)
        quality = end["count_good"] / end["count_total"]
        rows.append((company.profile.z, availability, quality, availability * quality * company.profile.speed_factor,
                     end["energy_kwh"] / end["count_good"]))
    z, availability, quality, oee, energy = (list(col) for col in zip(*rows, strict=True))
    assert max(oee) - min(oee) > 0.1
    assert statistics.correlation(z, oee) > 0.6
    assert statistics.correlation(z, availability) > 0.5
    assert max(quality) - min(quality) > 0.005
    assert max(energy) / min(energy) > 1.2


def test_process_units_differ_in_specific_energy(default_fleet: Fleet) -> None:
    sec = []
    for company in default_fleet.sector("petrochemical"):
        m = company.sites[0].machines[0]
        start, end = _week(m)
        sec.append((end["fuel_gj"] - start["fuel_gj"]) / (end["feed_t"] - start["feed_t"]))
    assert max(sec) / min(sec) > 1.1
