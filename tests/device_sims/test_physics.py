"""Physics a plant engineer would check: correlations, balances and plausible operating values."""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict

import pytest

from tests.device_sims.conftest import T0, cdu, cnc_machine, smt_line
from tonghu.device_sims.models import petro
from tonghu.device_sims.models.core import DAY_US, US
from tonghu.device_sims.models.machine import Machine


def _frames(m: Machine, days: int, step_s: int = 30) -> list[dict[str, object]]:
    """Every tag's value at every step (the last report carried forward)."""
    run = m.run(T0, T0 + days * DAY_US, step_s * US, throttle=False)
    frames: dict[int, dict[str, object]] = defaultdict(dict)
    for name, t, value in run.samples:
        frames[t][name] = value
    current: dict[str, object] = {}
    out = []
    for t in sorted(frames):
        current.update(frames[t])
        if t % (step_s * US) == 0:
            out.append(dict(current, t=t))
    return out


@pytest.fixture(scope="module")
def cnc_frames() -> list[dict[str, object]]:
    return _frames(cnc_machine(), 20)


def test_worn_tool_raises_spindle_load(cnc_frames: list[dict[str, object]]) -> None:
    groups: dict[tuple[object, object], list[tuple[float, float]]] = defaultdict(list)
    for f in cnc_frames:
        if f["spindle_speed"] and f["execution"] == "ACTIVE":
            groups[(f["program"], f["feed_override"])].append((f["tool_life_used"], f["spindle_load"]))
    big = [g for g in groups.values() if len(g) > 200]
    assert big
    for pairs in big:
        wear, load = zip(*pairs, strict=True)
        assert statistics.correlation(wear, load) > 0.6
        low = [ld for w, ld in pairs if w < 25]
        high = [ld for w, ld in pairs if w > 75]
        assert statistics.fmean(high) > 1.25 * statistics.fmean(low)


def test_worn_tool_raises_scrap(cnc_frames: list[dict[str, object]]) -> None:
    """Scrap from tool wear per part, by the share of tool life used when the part was made."""
    made = defaultdict(int)
    scrapped = defaultdict(int)
    for prev, f in itertools.pairwise(cnc_frames):
        parts = f["count_total"] - prev["count_total"]
        if parts <= 0:
            continue  # nothing made, or a counter reset
        bucket = "high" if f["tool_life_used"] > 70 else "low" if f["tool_life_used"] < 40 else "mid"
        made[bucket] += parts
        scrapped[bucket] += f["scrap_wear"] - prev["scrap_wear"]
    assert made["low"] > 300 and made["high"] > 300
    assert scrapped["high"] / made["high"] > 2.0 * scrapped["low"] / made["low"]


def test_more_feed_takes_more_power(cnc_frames: list[dict[str, object]]) -> None:
    by_override: dict[tuple[object, int], list[float]] = defaultdict(list)
    for f in cnc_frames:
        if f["execution"] == "ACTIVE":
            by_override[(f["program"], f["feed_override"])].append(f["power_kw"])
    checked = 0
    for (program, override), powers in by_override.items():
        faster = by_override.get((program, override + 10))
        if faster and len(powers) > 50 and len(faster) > 50:
            assert statistics.fmean(faster) > statistics.fmean(powers)
            checked += 1
    assert checked >= 2


def test_reflow_peak_falls_with_conveyor_speed() -> None:
    frames = _frames(smt_line()["reflow"], 10, 60)
    by_product: dict[object, list[tuple[float, float]]] = defaultdict(list)
    for f in frames:
        if f["state"] in ("running", "starved", "blocked"):
            by_product[f["product"]].append((f["conveyor_speed"], f["peak_temp"]))
            assert 230.0 < f["peak_temp"] < 256.0
            assert 30.0 < f["time_above_liquidus"] < 110.0
            assert 300.0 < f["o2_ppm"] < 3000.0
    tested = 0
    for pairs in by_product.values():
        if len(pairs) > 300:
            speed, peak = zip(*pairs, strict=True)
            assert statistics.correlation(speed, peak) < -0.5
            tested += 1
    assert tested >= 2


def test_line_meter_is_the_sum_of_its_submeters_plus_conveyors() -> None:
    line = smt_line()
    a, b = T0 + 2 * DAY_US + 3600 * US, T0 + 2 * DAY_US + 9 * 3600 * US
    r = line["line"].timeline.last_reset(b)
    assert r <= a or r > b, "window must not cross a reset"
    delta = {s: m.snapshot(b)["energy_kwh"] - m.snapshot(a)["energy_kwh"] for s, m in line.items()}
    stations = sum(v for s, v in delta.items() if s != "line")
    assert delta["line"] - stations == pytest.approx(1.2 * 8, abs=0.006)  # meters read to 1 Wh
    assert delta["reflow"] > max(delta["printer"], delta["pnp"], delta["aoi"])


def _week_window(m: Machine) -> tuple[int, int]:
    r = m.timeline.last_reset(T0 + 10 * DAY_US)
    return r + 3600 * US, r + 7 * DAY_US - 3600 * US


def test_mass_balance_closes_within_two_percent() -> None:
    m = cdu()
    a, b = _week_window(m)
    sa, sb = m.snapshot(a), m.snapshot(b)
    delta = {k: sb[k] - sa[k] for k in sa if isinstance(sa[k], float)}
    products = sum(delta[f"{p}_t"] for p in petro.PRODUCTS)
    assert delta["feed_t"] > 50_000
    closure = (delta["feed_t"] - products - delta["flare_t"]) / delta["feed_t"]
    assert 0.0 < closure < 0.02
    assert delta["count_total"] == pytest.approx(products, abs=0.01)  # totalisers read to 1 kg
    assert 0.0 < delta["count_scrap"] < 0.05 * delta["count_total"]


def test_co2_follows_fuel_and_flare_with_the_documented_factors() -> None:
    m = cdu()
    a, b = _week_window(m)
    sa, sb = m.snapshot(a), m.snapshot(b)
    fuel, flare, co2 = (sb[k] - sa[k] for k in ("fuel_gj", "flare_t", "co2_t"))
    assert co2 == pytest.approx(fuel * 0.0561 + flare * 2.744 * 0.98, rel=1e-4)
    # Fired heater: roughly 0.35-0.7 GJ of fuel per tonne of crude.
    assert 0.3 < fuel / (sb["feed_t"] - sa["feed_t"]) < 0.8


def test_more_feed_burns_more_fuel() -> None:
    base = cdu()
    frames = [f for f in _frames(base, 60, 300) if f["state"] in ("running", "reduced_rate")]
    feed = [f["feed_rate"] for f in frames]
    assert max(feed) > 1.2 * min(feed), "the run must include rate changes"
    assert statistics.correlation(feed, [f["fuel_rate"] for f in frames]) > 0.9
    assert statistics.correlation(feed, [f["power_kw"] for f in frames]) > 0.9
    for f in frames:
        assert 330.0 < f["heater_outlet_temp"] < 400.0
        assert 0.0 < f["column_top_press"] < 3.0
