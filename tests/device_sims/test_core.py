"""The building blocks: validation, packed columns, segments and deterministic randomness."""

from __future__ import annotations

import itertools
import statistics

import pytest

from tonghu.device_sims.models.core import Dist, Episode, Position, Reason, Segment, StateMachineSpec, TimeClass
from tonghu.device_sims.models.partlog import PartLog, Steps
from tonghu.device_sims.models.rng import NORMAL_MAX, Draws, derive, mix64, noise, smooth


def test_seeds_are_derived_the_same_everywhere() -> None:
    """Changing these would silently change every simulated fleet; they must not depend on the process."""
    assert derive(0, "x") == 9511765210964949906
    assert derive(42, "raw", 20000) == 12962610585823828077
    assert mix64(1) == 10451216379200822465


def test_noise_is_a_bounded_pure_function_of_time() -> None:
    values = [noise(7, t * 1_000_000, 3) for t in range(20000)]
    assert values == [noise(7, t * 1_000_000, 3) for t in range(20000)]
    assert max(map(abs, values)) <= NORMAL_MAX < 4.0
    assert abs(statistics.fmean(values)) < 0.03
    assert statistics.stdev(values) == pytest.approx(1.0, abs=0.03)
    drift = [smooth(7, t * 60.0, 3600.0) for t in range(2000)]
    assert all(-1.0 <= v <= 1.0 for v in drift)
    assert max(abs(a - b) for a, b in itertools.pairwise(drift)) < 0.1  # slow: no jumps


def test_draws_have_their_moments() -> None:
    d = Draws(5)
    logn = [d.lognormal(100.0, 0.5) for _ in range(20000)]
    assert statistics.fmean(logn) == pytest.approx(100.0, rel=0.02)
    assert statistics.stdev(logn) == pytest.approx(50.0, rel=0.05)
    assert statistics.fmean(d.poisson(2.5) for _ in range(20000)) == pytest.approx(2.5, rel=0.03)
    assert Dist("lognormal", 10.0, 1.0, lo_s=5.0, hi_s=20.0).draw(d) <= 20.0


def test_packed_columns_read_like_lists() -> None:
    sparse = [0] * 50 + [1] * 30 + [3] * 20
    steps = Steps.of(sparse)
    assert steps is not None and len(steps) == 100
    assert [steps[i] for i in range(100)] == sparse
    assert steps[-1] == 3 and steps[-100] == 0
    with pytest.raises(IndexError):
        steps[100]
    assert Steps.of(list(range(100))) is None  # changes at every unit: kept as a plain array
    log = PartLog(times=[1, 2, 3], cols={"a": [0, 1, 2, 3], "b": [0, 0, 0, 0]}, lasts={"x": [1.5, 2.5, 3.5]})
    log.freeze()
    assert list(log.times) == [1, 2, 3] and list(log.cols["a"]) == [0, 1, 2, 3]
    assert log.cols["b"][3] == 0 and log.lasts["x"][2] == 3.5


def test_segments_interpolate_inside_and_when_clipped() -> None:
    s = Segment(0, 100, 0, 0, 0.0, 1.0, 0.2, 0.4)
    assert s.level(25) == 0.25 and s.aux(50) == pytest.approx(0.3)
    c = s.clip(50, 200)
    assert (c.start, c.end, c.l0, c.l1) == (50, 100, 0.5, 1.0)


def test_specs_refuse_inconsistent_tables() -> None:
    run = Reason("RUN", "running", TimeClass.PRODUCTION, "Producing")
    with pytest.raises(ValueError, match="not in the reason table"):
        StateMachineSpec(reasons=(run,), run="RUN", run_level=lambda p, d: 1.0, episodes=(), pm="PM-WEEKLY")
    with pytest.raises(ValueError, match="unknown reasons"):
        StateMachineSpec(reasons=(run,), run="RUN", run_level=lambda p, d: 1.0,
                         episodes=(Episode("x", ("BRK-NONE",), lambda p: Dist("fixed", 1.0)),))
    with pytest.raises(ValueError, match="must match"):
        Position("smt", "line 1", "pnp").check()
