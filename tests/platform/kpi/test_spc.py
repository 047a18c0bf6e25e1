"""Capability and I-MR chart maths on examples worked by hand, and properties of the indices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tonghu.platform.kpi.spc import ChartPoint, SpcDataError, capability, display_indices, imr_chart, spec_limits

X = [10.0, 12.0, 11.0, 13.0, 12.0]


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=0.0, abs_tol=1e-9)


def test_capability_worked_example() -> None:
    """x = 10, 12, 11, 13, 12: n = 5, x̄ = 58/5 = 11.6; deviations −1.6, 0.4, −0.6, 1.4, 0.4, squares sum
    2.56 + 0.16 + 0.36 + 1.96 + 0.16 = 5.2 → s² = 5.2/4 = 1.3, σ_overall = √1.3 = 1.1401754…
    Moving ranges 2, 1, 2, 1 → MR̄ = 1.5, σ_within = 1.5/1.128 = 1.3297872…
    LSL 8, USL 15: Cp = 7/(6·1.5/1.128) = 7·1.128/9 = 0.8773333…; Cpk = min(3.4, 3.6)/(3·1.5/1.128) = 3.4·1.128/4.5
    = 0.8522666…; Pp = 7/(6√1.3) = 1.0232343…; Ppk = 3.4/(3√1.3) = 0.9939990…"""
    c = capability(X, 8.0, 15.0)
    assert c.n == 5 and close(c.mean, 11.6) and close(c.sigma_overall, math.sqrt(1.3))
    assert close(c.mr_bar, 1.5) and close(c.sigma_within, 1.5 / 1.128)
    assert close(c.cp, 7 * 1.128 / 9) and close(c.cpk, 3.4 * 1.128 / 4.5)
    assert close(c.pp, 7 / (6 * math.sqrt(1.3))) and close(c.ppk, 3.4 / (3 * math.sqrt(1.3)))
    assert [round(v, 7) for v in (c.cp, c.cpk, c.pp, c.ppk)] == [0.8773333, 0.8522667, 1.0232344, 0.9939991]
    assert c.notes == () and c.to_dict()["cpk"] == c.cpk


def test_one_sided_and_undefined_indices() -> None:
    """USL 15 only: Cpk = Cpu = (15 − 11.6)/(3σ_w) = 3.4·1.128/4.5, Ppk = 3.4/(3√1.3); LSL 8 only: Cpl = 3.6·1.128/4.5.
    Cp and Pp need both limits: None."""
    up = capability(X, usl=15.0)
    assert up.cp is None and up.pp is None and close(up.cpk, 3.4 * 1.128 / 4.5)
    assert close(up.ppk, 3.4 / (3 * math.sqrt(1.3))) and "only USL" in up.notes[0]
    lo = capability(X, lsl=8.0)
    assert lo.cp is None and close(lo.cpk, 3.6 * 1.128 / 4.5) and close(lo.ppk, 3.6 / (3 * math.sqrt(1.3)))
    none = capability(X)
    assert (none.cp, none.cpk, none.pp, none.ppk) == (None,) * 4 and close(none.mean, 11.6)
    assert "no spec limits" in none.notes[0]
    one = capability([5.0], 0.0, 10.0)
    assert (one.n, one.mean, one.sigma_overall, one.cpk) == (1, 5.0, None, None) and "at least 2" in one.notes[0]
    empty = capability([], 0.0, 10.0)
    assert (empty.n, empty.mean, empty.cp) == (0, None, None)
    # 0.1 ten times: its mean rounds to 0.09999999999999999, which must not fake a tiny σ and a huge Cp.
    flat = capability([0.1] * 10, 0.0, 1.0)
    assert (flat.sigma_overall, flat.sigma_within, flat.cp, flat.cpk) == (0.0, 0.0, None, None)
    assert "no variation" in flat.notes[0]


def test_bad_input_is_named() -> None:
    with pytest.raises(SpcDataError, match="below the upper"):
        capability(X, 15.0, 8.0)
    with pytest.raises(SpcDataError, match=r"positions \[1\]"):
        capability([1.0, float("nan"), 2.0])
    with pytest.raises(SpcDataError, match="lsl must be a finite number"):
        capability(X, lsl=float("inf"))
    with pytest.raises(SpcDataError, match=r"attrs\.spec_hi must be a finite number, not '180'"):
        spec_limits({"spec_hi": "180"})


def test_large_offset_keeps_precision() -> None:
    """The same series around 10⁹: x̄ = 1 000 000 011.6 and σ = √1.3 still to 1e-9 (E[x²] − x̄² would lose all of it:
    x² ≈ 10¹⁸ has an ulp of 128)."""
    c = capability([1e9 + v for v in X], 1e9 + 8.0, 1e9 + 15.0)
    assert close(c.mean, 1e9 + 11.6) and close(c.sigma_overall, math.sqrt(1.3)) and close(c.mr_bar, 1.5)
    assert close(c.cpk, 3.4 * 1.128 / 4.5) and imr_chart([1e9 + v for v in X]).centre == c.mean


def test_imr_chart_worked_example() -> None:
    """x = 10, 12, 11, 13, 12: centre 11.6, UCL = 11.6 + 2.66·1.5 = 15.59, LCL = 7.61, MR centre 1.5,
    UCL_MR = 3.267·1.5 = 4.9005: nothing outside.
    x = 10, 10, 10, 10, 20: x̄ = 12, MR = 0, 0, 0, 10 → MR̄ = 2.5; UCL = 12 + 6.65 = 18.65, LCL = 5.35 → 20 (index 4)
    is outside; UCL_MR = 8.1675 → the moving range 10 ending at index 4 is outside."""
    c = imr_chart(X)
    assert close(c.centre, 11.6) and close(c.ucl, 15.59) and close(c.lcl, 7.61)
    assert close(c.mr_centre, 1.5) and close(c.mr_ucl, 4.9005) and c.mr_lcl == 0.0
    assert (c.outside_count, c.outside, c.mr_outside_count) == (0, (), 0)
    s = imr_chart([10.0, 10.0, 10.0, 10.0, 20.0], times=["a", "b", "c", "d", "e"])  # type: ignore[list-item]
    assert close(s.centre, 12.0) and close(s.ucl, 18.65) and close(s.lcl, 5.35) and close(s.mr_ucl, 8.1675)
    assert s.outside == (ChartPoint(4, 20.0, "e"),) and s.mr_outside == (ChartPoint(4, 10.0, "e"),)  # type: ignore[arg-type]
    assert imr_chart([1.0]).centre is None and "needs 2" in imr_chart([1.0]).notes[0]
    flat = imr_chart([3.0] * 4)
    assert (flat.ucl, flat.lcl, flat.outside_count) == (3.0, 3.0, 0) and flat.notes


def test_listed_points_are_capped_but_counted() -> None:
    """A step from 0 to 100 halfway: every point of the second half is above the UCL."""
    x = np.concatenate([np.zeros(500), np.full(500, 100.0)]) + np.tile([0.0, 1.0], 500)
    full, capped = imr_chart(x), imr_chart(x, max_listed=7)
    assert full.outside_count == capped.outside_count == len(full.outside) > 7
    assert len(capped.outside) == 7 and capped.outside[0] == full.outside[0] and capped.outside[-1] == full.outside[-1]
    assert (capped.centre, capped.ucl) == (full.centre, full.ucl)


def test_spec_limits_from_attrs() -> None:
    assert spec_limits({"spec_hi": 180.0, "lo_limit": 1.0, "hi_limit": 2.0}) == (None, 180.0, "spec_lo/spec_hi")
    assert spec_limits({"lo_limit": 78, "hi_limit": 122.0}) == (78.0, 122.0, "lo_limit/hi_limit")
    assert spec_limits({"alarm_lo": 1.0, "alarm_hi": 2.0}) == (None, None, None)


# ------------------------------------------------------------------------------------------ properties

values = st.lists(st.integers(-100_000, 100_000), min_size=2, max_size=300).map(lambda v: np.array(v) / 100.0)


@settings(max_examples=200, deadline=None)
@given(values, st.floats(-1e6, 1e6), st.floats(0.01, 1000.0), st.floats(0.01, 1000.0))
def test_shifting_values_and_limits_leaves_the_indices(x: np.ndarray, shift: float, below: float,
                                                       above: float) -> None:
    assume(x.min() != x.max())
    lsl, usl = float(x.min()) - below, float(x.max()) + above
    a, b = capability(x, lsl, usl), capability(x + shift, lsl + shift, usl + shift)
    for name in ("cp", "cpk", "pp", "ppk"):
        assert math.isclose(getattr(a, name), getattr(b, name), rel_tol=1e-6), name
    assert a.cpk <= a.cp * (1 + 1e-12) and a.ppk <= a.pp * (1 + 1e-12)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(values, st.floats(-50.0, 50.0), st.floats(0.1, 100.0))
def test_cpk_never_exceeds_cp_and_matches_naive_sums(x: np.ndarray, centre: float, half: float) -> None:
    assume(x.min() != x.max())
    c = capability(x, centre - half, centre + half)
    assert c.cpk is not None and c.cp is not None and c.cpk <= c.cp * (1 + 1e-12) + 1e-12
    naive_var = sum((v - sum(x) / len(x)) ** 2 for v in x) / (len(x) - 1)
    assert math.isclose(c.sigma_overall, math.sqrt(naive_var), rel_tol=1e-9)  # type: ignore[arg-type]
    mr = [abs(x[i] - x[i - 1]) for i in range(1, len(x))]
    assert math.isclose(c.mr_bar, sum(mr) / len(mr), rel_tol=1e-9)  # type: ignore[arg-type]
    chart = imr_chart(x)
    assert chart.outside_count == sum(1 for v in x if v > chart.ucl or v < chart.lcl)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=500), st.integers(2, 60))
def test_display_keeps_the_extremes_within_the_cap(v: list[float], cap: int) -> None:
    x = np.array(v)
    idx = display_indices(x, cap)
    assert len(idx) <= max(cap, len(x) if len(x) <= cap else 0) and np.all(np.diff(idx) > 0)
    assert x[idx].max() == x.max() and x[idx].min() == x.min()
