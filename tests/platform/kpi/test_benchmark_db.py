"""Sector benchmarks end to end: company figures from their own data, opt-in, disclosure, the viewer's position."""

from __future__ import annotations

import itertools
from datetime import timedelta

import numpy as np
import pytest

from tests.conftest import make_tenant
from tests.platform.kpi.plant import DAY, at, make_plant
from tonghu.platform.kpi.benchmark import period_range, sector_benchmark, set_sharing
from tonghu.platform.kpi.core import core
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import Scope, ScopeError

WEEKS = itertools.count(10)


def company_with_machine(db, running_minutes: int, good: int, day=DAY) -> int:
    """One machine running ``running_minutes`` of 08:00–12:00 then down, 60 s ideal cycle, ``good`` of 100 good."""
    plant = make_plant(db, "equipment", make_tenant)
    path = "mach/cell/m1"
    plant.asset(path, {"count_total": "count_total", "count_good": "count_good",
                       "ideal_cycle_time": "ideal_cycle_time"})
    down = at("08:00", day) + timedelta(minutes=running_minutes)
    plant.states(path, [(at("08:00", day), "running", "RUN"), (down, "down", "BRK-SPINDLE"),
                        (at("12:00", day), "idle", "IDLE-NO-ORDER")])
    plant.num(f"{path}/count_total", [(at("07:59", day), 0), (at("11:00", day), 100)])
    plant.num(f"{path}/count_good", [(at("07:59", day), 0), (at("11:00", day), good)])
    plant.num(f"{path}/ideal_cycle_time", [(at("07:00", day), 60)])
    return plant.company_id


@pytest.fixture
def sector(db):
    """Five sharing companies and one that never opted in, with data in a week of their own: sectors are an enum,
    so other tests' companies are in the sector too, but they have no data in this week and are left out."""
    db.execute("DELETE FROM rollup_watermarks")
    day = DAY + timedelta(weeks=next(WEEKS))
    shared = [company_with_machine(db, m, g, day)
              for m, g in ((200, 100), (180, 95), (150, 99), (120, 90), (220, 97))]
    for c in shared:
        set_sharing(db, c, True, "test")
    hidden = company_with_machine(db, 60, 10, day)  # registered with data, never opted in
    return shared, hidden, day.date()


def test_released_distribution_is_that_of_opted_in_companies(db, sector) -> None:
    shared, hidden, day = sector
    start, end = period_range("week", day)
    own = {c: 100 * core(facts(db, Scope("company", c), start, end)[0].facts).oee for c in shared}
    b = sector_benchmark(db, "equipment", "oee", "week", day, viewer_company=shared[2])
    cell = b.cells[0]
    assert cell.released and cell.n == 5
    assert cell.p50 == pytest.approx(float(np.percentile(list(own.values()), 50)), rel=1e-9)
    assert cell.p25 == pytest.approx(float(np.percentile(list(own.values()), 25)), rel=1e-9)
    assert cell.p10 is None and cell.p90 is None  # N < 10
    assert cell.viewer_value == pytest.approx(own[shared[2]], rel=1e-9)
    outsider = sector_benchmark(db, "equipment", "oee", "week", day, viewer_company=hidden).cells[0]
    assert outsider.viewer_value is None and outsider.viewer_rank is None
    assert outsider.p50 == cell.p50
    audit = db.execute("SELECT count(*) FROM audit_log WHERE action = 'benchmark_sharing' AND actor = 'test'")
    assert audit.fetchone()[0] >= 5


def test_opting_out_one_company_suppresses_the_cell(db, sector) -> None:
    shared, _, day = sector
    assert sector_benchmark(db, "equipment", "availability", "week", day).cells[0].released
    set_sharing(db, shared[0], False, "test")
    cell = sector_benchmark(db, "equipment", "availability", "week", day).cells[0]
    assert not cell.released and "min_count" in [str(r) for r in cell.reasons]
    assert (cell.n, cell.p50, cell.weighted) == (None, None, None)


def test_unknown_metric_and_sector_mismatch_are_named(db) -> None:
    with pytest.raises(ScopeError, match="unknown benchmark metric 'nope'"):
        sector_benchmark(db, "equipment", "nope", "week", DAY.date())
    with pytest.raises(ScopeError, match="not defined for sector 'equipment'"):
        sector_benchmark(db, "equipment", "dpmo", "week", DAY.date())


def test_a_rerelease_differing_by_one_company_is_suppressed(db, sector) -> None:
    """Six members released; one opts out. Five would pass the count rule, but together with the earlier release
    the difference is one company's figure, so the cell stays suppressed — in the analyst's and the members' view."""
    shared, hidden, day = sector
    set_sharing(db, hidden, True, "test")
    first = sector_benchmark(db, "equipment", "availability", "week", day).cells[0]
    assert first.released and first.n == 6
    set_sharing(db, hidden, False, "test")
    again = sector_benchmark(db, "equipment", "availability", "week", day, viewer_company=shared[0]).cells[0]
    assert not again.released and [str(r) for r in again.reasons] == ["differencing"]
    assert (again.n, again.p50, again.viewer_value) == (None, None, None)
    # The same six again are the same release: nothing new is revealed.
    set_sharing(db, hidden, True, "test")
    assert sector_benchmark(db, "equipment", "availability", "week", day).cells[0].released
