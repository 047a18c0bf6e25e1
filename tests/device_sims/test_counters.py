"""Counters: monotonic between the documented weekly resets, resets detectable, totals consistent."""

from __future__ import annotations

import itertools

from tests.device_sims.conftest import T0, assembly_station, cdu, cnc_machine, smt_line
from tonghu.device_sims.models.core import DAY_US, US
from tonghu.device_sims.models.machine import Machine

MONOTONIC = {"count_total", "count_good", "count_scrap", "energy_kwh", "placements", "aoi_inspected", "feed_t",
             "fuel_gj", "co2_t", "power_kwh", "flare_t", "torque_nok", "scrap_wear"}


def _series(m: Machine, name: str, days: int = 15, step_s: int = 60) -> list[tuple[int, float]]:
    run = m.run(T0, T0 + days * DAY_US, step_s * US, throttle=False)
    return [(t, v) for n, t, v in run.samples if n == name]


def _check(m: Machine, name: str) -> tuple[int, int]:
    """Counter never decreases except across a reset instant; returns (resets seen, reset instants passed)."""
    tl = m.timeline
    series = _series(m, name)
    assert len(series) > 100
    resets = 0
    expected = len({tl.last_reset(t) for t, _v in series}) - 1
    for (t0, v0), (t1, v1) in itertools.pairwise(series):
        crossed = tl.last_reset(t1) > t0
        if v1 < v0:
            assert crossed, (m, name, t0, v0, t1, v1)
            resets += 1
        elif crossed:
            # A reset is visible: right after it the counter holds only what came after the reset.
            assert v1 <= v0 or v1 - v0 < 0.05 * max(v0, 1.0), (m, name, v0, v1)
    return resets, expected


def test_counters_are_monotonic_except_weekly_resets() -> None:
    line = smt_line()
    cases = [(line["line"], "count_total"), (line["pnp"], "placements"), (line["aoi"], "aoi_inspected"),
             (line["reflow"], "energy_kwh"), (cnc_machine(), "count_total"), (cnc_machine(), "energy_kwh"),
             (assembly_station(), "count_good"), (cdu(), "feed_t"), (cdu(), "co2_t")]
    for m, name in cases:
        # 15 days contain two or three weekly resets, and each one drops the counter.
        seen, expected = _check(m, name)
        assert seen == expected >= 2, (m, name)


def test_reset_instants_are_weekly_at_the_maintenance_slot() -> None:
    m = cnc_machine()
    tl = m.timeline
    r1 = tl.last_reset(T0 + 20 * DAY_US)
    r0 = tl.last_reset(r1 - 1)
    assert r1 - r0 == 7 * DAY_US
    assert tl.last_reset(r1) == r1
    # The weekly PM window starts at the reset instant (a PLC restart during maintenance).
    assert any(w.start == r1 for w in tl.windows(r1 - DAY_US, r1 + DAY_US))
    assert m.snapshot(r1)["count_total"] == 0
    assert m.snapshot(r1 - US)["count_total"] > 0


def test_total_is_good_plus_scrap() -> None:
    line = smt_line()
    for m in (*line.values(), cnc_machine(), assembly_station()):
        run = m.run(T0, T0 + 3 * DAY_US, 300 * US, throttle=False)
        by_t: dict[int, dict[str, int]] = {}
        for n, t, v in run.samples:
            if n in ("count_total", "count_good", "count_scrap"):
                by_t.setdefault(t, {})[n] = v
        full = [v for v in by_t.values() if len(v) == 3]
        assert full
        assert all(v["count_total"] == v["count_good"] + v["count_scrap"] for v in full), m
    snap = cdu().snapshot(T0 + 3 * DAY_US)
    assert abs(snap["count_total"] - snap["count_good"] - snap["count_scrap"]) < 1e-6


def test_line_counts_follow_the_board_flow() -> None:
    """Boards printed = boards populated + misprints; the line's scrap is the printer's plus the AOI's."""
    line = smt_line()
    t = T0 + 3 * DAY_US + 777 * US
    snap = {station: m.snapshot(t) for station, m in line.items()}
    assert snap["printer"]["count_total"] == snap["line"]["count_total"]
    assert snap["pnp"]["count_total"] == snap["printer"]["count_good"] == snap["reflow"]["count_total"]
    assert snap["aoi"]["count_total"] == snap["reflow"]["count_good"]
    assert snap["line"]["count_scrap"] == snap["printer"]["count_scrap"] + snap["aoi"]["count_scrap"]
    assert snap["line"]["count_good"] == snap["aoi"]["count_good"]
    pnp = snap["pnp"]
    assert pnp["mispicks"] == sum(pnp[f"mispicks_f{i:02d}"] for i in range(1, 21))
    assert pnp["mispicks"] == sum(pnp[f"mispicks_n{i}"] for i in range(1, 7))
    assert 0 < pnp["placement_errors"] < pnp["mispicks"]
    aoi = snap["aoi"]
    assert aoi["aoi_defects"] == sum(aoi[f"aoi_defects_{k}"] for k in
                                     ("bridge", "insufficient", "missing", "tombstone", "shifted", "polarity"))
    assert aoi["aoi_passed"] < aoi["aoi_inspected"]
