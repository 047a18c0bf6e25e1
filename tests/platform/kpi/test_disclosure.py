"""Worked examples for the benchmark disclosure rules, computed by hand (docs/BENCHMARKS.md)."""

from __future__ import annotations

import dataclasses
import math
from decimal import Decimal

import numpy as np
import pytest

from tonghu.common.errors import ConfigError
from tonghu.platform.kpi import percentiles
from tonghu.platform.kpi.disclosure import (
    SECTOR,
    BenchmarkCell,
    BenchmarkInputError,
    Contribution,
    Reason,
    Thresholds,
    disclose,
)

FIGURES = ("n", "p10", "p25", "p50", "p75", "p90", "weighted", "viewer_value", "viewer_rank")


def plain(values: list[float], opted_in: bool = True, **attributes: list[str]) -> list[Contribution]:
    return [
        Contribution(f"co{i}", v, opted_in, {dim: vals[i] for dim, vals in attributes.items()})
        for i, v in enumerate(values)
    ]


def sec(energy_gj: list[float], tonnes: list[float], **attributes: list[str]) -> list[Contribution]:
    """Specific energy consumption: each company's GJ/t, weighted by its tonnes."""
    return [
        Contribution(f"co{i}", e / t, True, {dim: vals[i] for dim, vals in attributes.items()}, e, t)
        for i, (e, t) in enumerate(zip(energy_gj, tonnes, strict=True))
    ]


def by_key(cells: tuple[BenchmarkCell, ...]) -> dict[tuple[str | None, str | None], BenchmarkCell]:
    return {c.key: c for c in cells}


def assert_no_figures(cell: BenchmarkCell) -> None:
    assert not cell.released
    assert all(getattr(cell, f) is None for f in FIGURES), cell


def test_five_companies_release_quartiles_but_not_tails() -> None:
    (cell,) = disclose(plain([3, 1, 5, 2, 4]))
    # Type 7 with n = 5: h = 4p lands on order statistics, so the quartiles are the 2nd, 3rd and 4th values.
    assert (cell.n, cell.p25, cell.p50, cell.p75) == (5, 2.0, 3.0, 4.0)
    assert cell.p10 is None and cell.p90 is None and cell.weighted is None
    assert cell.released and cell.reasons == () and cell.key == SECTOR


def test_four_companies_are_suppressed_without_any_figure() -> None:
    (cell,) = disclose(plain([3, 1, 5, 2]), viewer="co0")
    assert cell.reasons == (Reason.MIN_COUNT,)
    assert_no_figures(cell)


def test_ten_companies_release_p10_and_p90_by_linear_interpolation() -> None:
    (cell,) = disclose(plain([float(v) for v in range(10, 0, -1)]))
    # h = 9p: P10 h=0.9 → 1 + 0.9·1; P25 h=2.25 → 3.25; P50 h=4.5 → 5.5; P75 h=6.75 → 7.75; P90 h=8.1 → 9.1.
    got = [cell.p10, cell.p25, cell.p50, cell.p75, cell.p90]
    assert got == pytest.approx([1.9, 3.25, 5.5, 7.75, 9.1], rel=1e-12)
    assert got == pytest.approx(list(np.percentile(np.arange(1, 11), [10, 25, 50, 75, 90], method="linear")))


def test_percentile_on_an_order_statistic_is_exactly_that_value() -> None:
    x = sorted(np.random.default_rng(7).normal(size=31))
    assert percentiles.quantile_type7(x, percentiles.P10) == x[3]  # h = 30/10 = 3
    assert percentiles.quantile_type7(x, percentiles.P90) == x[27]
    assert percentiles.quantile_type7([4.0], percentiles.P90) == 4.0
    with pytest.raises(ValueError, match="empty"):
        percentiles.quantile_type7([], percentiles.P50)
    with pytest.raises(ValueError, match="one of the values"):
        percentiles.percentile_rank([1.0, 2.0], 1.5)


def test_companies_that_did_not_opt_in_are_never_used() -> None:
    shared = plain([1, 2, 3, 4, 5])
    private = Contribution("private", 1000.0, False, {})
    (cell,) = disclose([*shared, private], viewer="private")
    assert (cell.n, cell.p75, cell.viewer_value, cell.viewer_rank) == (5, 4.0, None, None)
    (alone,) = disclose([*shared[:4], private])
    assert alone.reasons == (Reason.MIN_COUNT,)


def test_volume_weighted_sec_with_the_largest_company_at_exactly_25_percent() -> None:
    # SEC per company 5, 6, 7, 8, 9 GJ/t; co4 makes 2.5 of 10 t = 25 %, which is allowed (rule: more than 25 %).
    (cell,) = disclose(sec([10, 12, 14, 12, 22.5], [2, 2, 2, 1.5, 2.5]), viewer="co3")
    assert cell.released
    assert cell.weighted == pytest.approx(70.5 / 10)
    assert (cell.p25, cell.p50, cell.p75) == (6.0, 7.0, 8.0)
    # The viewer (8 GJ/t) has 3 companies below it and none equal: rank 100·(3 + 1/2)/5.
    assert (cell.viewer_value, cell.viewer_rank) == (8.0, pytest.approx(70.0))


def test_dominant_company_suppresses_the_whole_cell() -> None:
    (cell,) = disclose(sec([10, 12, 14, 11.2, 23.4], [2, 2, 2, 1.4, 2.6]), viewer="co4")  # co4: 26 % of tonnes
    assert cell.reasons == (Reason.DOMINANCE,)
    assert_no_figures(cell)
    (both,) = disclose(sec([10, 12, 14, 40], [2, 2, 2, 4]))
    assert both.reasons == (Reason.MIN_COUNT, Reason.DOMINANCE)


def test_cell_one_company_smaller_than_the_sector_is_suppressed() -> None:
    cells = by_key(disclose(plain([1, 2, 3, 4, 5, 6], region=["N"] * 5 + ["S"]), ["region"]))
    assert cells[SECTOR].n == 6
    assert cells[("region", "N")].reasons == (Reason.DIFFERENCING,)
    assert_no_figures(cells[("region", "N")])
    assert cells[("region", "S")].reasons == (Reason.MIN_COUNT,)


def test_member_inside_a_two_company_difference_could_recover_the_other() -> None:
    # North = five companies; the sector adds the viewer (10.0, the highest) and one other company x = 2.6.
    values = [1, 2, 3, 4, 5, 10, 2.6]
    contributions = plain(values, region=["N"] * 5 + ["S", "S"])
    loose_rule = Thresholds(min_difference=2, test=True)
    loose = by_key(disclose(contributions, ["region"], viewer="co5", thresholds=loose_rule))
    sector, north = loose[SECTOR], loose[("region", "N")]
    assert sector.released and north.released
    # Sector sorted: 1, 2, x, 3, 4, 5, 10 → P25 (h = 1.5) = (2 + x)/2, and North's P25 is its 2nd value, 2.
    assert 2 * sector.p25 - north.p25 == pytest.approx(2.6)
    strict = by_key(disclose(contributions, ["region"], viewer="co5"))
    assert strict[SECTOR].released
    assert strict[("region", "N")].reasons == (Reason.DIFFERENCING,)


def test_suppression_is_checked_only_against_released_cells() -> None:
    # Sector (7) ⊃ size=L (6) ⊃ region=N (5): L differs from the sector by one company and is suppressed;
    # N differs from the sector by two, which the default refuses and a test threshold of 2 allows.
    contributions = plain([1, 2, 3, 4, 5, 6, 7], size=["L"] * 6 + ["S"], region=["N"] * 5 + ["S"] * 2)
    default = by_key(disclose(contributions, ["size", "region"]))
    assert [default[k].reasons for k in [SECTOR, ("size", "L"), ("region", "N")]] == [
        (), (Reason.DIFFERENCING,), (Reason.DIFFERENCING,)]
    loose = by_key(disclose(contributions, ["size", "region"], thresholds=Thresholds(min_difference=2, test=True)))
    assert [loose[k].released for k in [SECTOR, ("size", "L"), ("region", "N")]] == [True, False, True]


def test_cells_not_requested_still_count_for_differencing() -> None:
    # region=N has 8 of 12 companies; size=L is N without one company. L is the smaller of the pair.
    region = ["N"] * 8 + ["S"] * 4
    size = ["L"] * 7 + ["M"] * 5
    contributions = plain([float(v) for v in range(12)], region=region, size=size)
    only_size = by_key(disclose(contributions, ["size"]))
    assert ("region", "N") not in only_size
    assert only_size[("size", "L")].reasons == (Reason.DIFFERENCING,)
    assert by_key(disclose(contributions, ["region", "size"]))[("size", "L")] == only_size[("size", "L")]


def test_union_of_regions_cannot_isolate_a_single_company_with_known_volumes() -> None:
    region = ["N"] * 6 + ["S"] * 5 + ["E"]
    tonnes = [1.0 + 0.25 * (i % 2) for i in range(12)]
    energy = [t * (5 + i / 3) for i, t in enumerate(tonnes)]
    contributions = sec(energy, tonnes, region=region)
    # Without rule 3 the sector, North and South are released, and anyone who knows the tonnes (often public)
    # gets East's only company from sector − North − South.
    off = by_key(disclose(contributions, ["region"], thresholds=Thresholds(min_difference=1, test=True)))
    t_n, t_s, t_e = sum(tonnes[:6]), sum(tonnes[6:11]), tonnes[11]
    east = (off[SECTOR].weighted * sum(tonnes) - off[("region", "N")].weighted * t_n
            - off[("region", "S")].weighted * t_s) / t_e
    assert east == pytest.approx(contributions[11].value)
    cells = by_key(disclose(contributions, ["region"]))
    assert cells[SECTOR].released and cells[("region", "N")].released
    assert cells[("region", "S")].reasons == (Reason.DIFFERENCING,)
    # Percentiles do not add up, so the same layout without weights keeps South.
    unweighted = by_key(disclose(plain([c.value for c in contributions], region=region), ["region"]))
    assert unweighted[("region", "S")].released


def test_viewer_sees_its_position_only_where_it_contributes() -> None:
    contributions = plain([float(v) for v in range(12)], region=["N"] * 6 + ["S"] * 6)
    cells = by_key(disclose(contributions, ["region"], viewer="co2"))
    assert cells[SECTOR].viewer_value == 2.0 and cells[SECTOR].viewer_rank == pytest.approx(100 * 2.5 / 12)
    assert cells[("region", "N")].viewer_rank == pytest.approx(100 * 2.5 / 6)
    assert cells[("region", "S")].released and cells[("region", "S")].viewer_value is None
    assert disclose(contributions, viewer="someone-else")[0].viewer_rank is None


def test_ties_share_the_mid_rank() -> None:
    (cell,) = disclose(plain([1, 2, 2, 2, 3]), viewer="co1")
    assert cell.viewer_rank == pytest.approx(100 * (1 + 3 / 2) / 5)


def test_cells_come_sector_first_then_requested_dimensions_sorted() -> None:
    contributions = plain([float(v) for v in range(10)], region=list("BABABABABA"), size=["x"] * 10)
    cells = disclose(contributions, ["size", "region", "size", "unknown"])
    assert [c.key for c in cells] == [SECTOR, ("size", "x"), ("region", "A"), ("region", "B")]


def test_empty_input_gives_a_suppressed_sector_cell() -> None:
    assert disclose([]) == (BenchmarkCell(None, None, (Reason.MIN_COUNT,)),)


def test_database_and_numpy_numbers_are_accepted() -> None:
    c = Contribution("a", Decimal("1.5"), True, numerator=np.float64(3.0), denominator=np.int64(2))
    assert (c.value, c.numerator, c.denominator) == (1.5, 3.0, 2.0)
    assert all(type(x) is float for x in (c.value, c.numerator, c.denominator))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"company": "", "value": 1.0}, "company"),
        ({"value": math.nan}, "value must be a finite number"),
        ({"value": True}, "value must be a finite number"),
        ({"value": "1.0"}, "value must be a finite number"),
        ({"numerator": 1.0}, "numerator and denominator"),
        ({"numerator": 1.0, "denominator": 0.0}, "must be > 0"),
        ({"numerator": math.inf, "denominator": 1.0}, "numerator must be a finite number"),
        ({"attributes": {"region": 3}}, "attribute 'region'"),
        ({"opted_in": 1}, "opted_in must be a bool"),
    ],
)
def test_bad_contributions_are_named(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"company": "acme", "value": 1.0, "opted_in": True, **kwargs}
    with pytest.raises(BenchmarkInputError, match=message):
        Contribution(**args)  # type: ignore[arg-type]


def test_duplicate_and_mixed_contributions_are_refused() -> None:
    with pytest.raises(BenchmarkInputError, match="'co0' contributes twice"):
        disclose([*plain([1, 2]), *plain([3])])
    mixed = [*plain([1, 2]), Contribution("w", 1.0, False, numerator=1.0, denominator=1.0)]
    with pytest.raises(BenchmarkInputError, match="numerator/denominator"):
        disclose(mixed)
    with pytest.raises(BenchmarkInputError, match="dimensions must be a sequence"):
        disclose(plain([1, 2]), "region")
    with pytest.raises(BenchmarkInputError, match="expected Contribution objects, got tuple"):
        disclose([("co0", 1.0, True)])  # type: ignore[list-item]


def test_thresholds_can_only_be_made_stricter_outside_tests() -> None:
    assert Thresholds(min_companies=7, max_weight_share=0.2, min_companies_p10_p90=20, min_difference=5)
    for loose in ({"min_companies": 4}, {"max_weight_share": 0.3}, {"min_companies_p10_p90": 9},
                  {"min_difference": 2}):
        with pytest.raises(ConfigError, match=next(iter(loose))):
            Thresholds(**loose)  # type: ignore[arg-type]
        assert dataclasses.replace(Thresholds(test=True), **loose)
    with pytest.raises(ConfigError, match="max_weight_share"):
        Thresholds(max_weight_share=0.0, test=True)
    with pytest.raises(ConfigError, match="min_companies"):
        Thresholds(min_companies=0, test=True)
