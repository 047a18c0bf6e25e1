"""Petrochemical: an atmospheric crude distillation unit (fired heater + column), as one asset.

Mass balance: products = feed × yields (crude assay of the day; a hotter heater outlet shifts residue into
diesel) minus flare and an unaccounted loss of 0.2–0.6 %; every flow meter has its own bias of a few tenths of a
percent, so the balance closes within about 1 %. Energy: heater duty ≈ 0.42 GJ per tonne of crude (scaled by the
company's energy factor, rising with outlet temperature and heater fouling) divided by the heater efficiency,
which follows the Siegert flue-gas loss formula for natural gas, q = (T_stack − T_air)·(0.66/(21 − O2) + 0.009)
(1. BImSchV, Anlage III), less 1.5 % casing losses. CO2 (scope 1): fuel × 56.1 t/TJ, the IPCC 2006 default for
natural gas (2006 IPCC Guidelines, Vol. 2, Ch. 1, Table 1.4), plus flared gas × 2.744 t CO2/t (methane
stoichiometry, 44.01/16.04) × 0.98 combustion efficiency (US EPA AP-42, §13.5). Power ≈ 5–9 kWh per tonne
(charge, reflux and product pumps, air coolers). Lab spec limits: kerosene flash point ≥ 38 °C (ASTM D1655),
diesel 95 % recovered ≤ 360 °C (EN 590), naphtha final boiling point ≤ 180 °C (a reformer-feed limit).
"""

from __future__ import annotations

from functools import partial
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tonghu.device_sims.models import petro_alarms
from tonghu.device_sims.models.core import (
    DAY_US,
    HOUR_US,
    US,
    Dist,
    Episode,
    Product,
    Reason,
    Segment,
    StateMachineSpec,
    TimeClass,
    Total,
)
from tonghu.device_sims.models.machine import Ctx, Machine
from tonghu.device_sims.models.partlog import PartLog
from tonghu.device_sims.models.profile import Profile
from tonghu.device_sims.models.rng import Draws, derive, mix64, normal

if TYPE_CHECKING:
    from tonghu.device_sims.models.timeline import Timeline

PROD, SETUP, DOWN = TimeClass.PRODUCTION, TimeClass.SETUP, TimeClass.UNPLANNED_DOWN
PRODUCTS = ("gas", "naphtha", "kerosene", "diesel", "residue")
EF_NATURAL_GAS_T_PER_GJ = 0.0561
EF_FLARE_T_PER_T = 2.744 * 0.98
TRIP_RELIEF_TPH = 40.0

REASONS = (
    Reason("RUN-PRODUCTION", "running", PROD, "Running at target rate"),
    Reason("RR-CRUDE-SUPPLY", "reduced_rate", PROD, "Reduced rate: crude supply", 2.0),
    Reason("RR-DOWNSTREAM", "reduced_rate", PROD, "Reduced rate: product tankage or downstream unit limit", 1.5),
    Reason("RR-HEATER-LIMIT", "reduced_rate", PROD, "Reduced rate: heater at maximum duty (fouling)", 1.0),
    Reason("RR-EQUIPMENT", "reduced_rate", PROD, "Reduced rate: pump or exchanger out of service", 1.0),
    Reason("SD-TRIP-HEATER", "shutdown", DOWN, "Trip: heater flame failure or low fuel-gas pressure", 2.0),
    Reason("SD-TRIP-POWER", "shutdown", DOWN, "Trip: power dip", 1.0, 0.7),
    Reason("SD-LEAK", "shutdown", DOWN, "Emergency shutdown: leak", 0.5, 1.8),
    Reason("SD-PLANNED", "shutdown", TimeClass.PLANNED_DOWN, "Planned shutdown: inspection, exchanger cleaning"),
    Reason("SU-RESTART", "startup", SETUP, "Startup: heating up, feed in, lining out"),
    Reason("IDLE-NO-FEED", "idle", TimeClass.IDLE, "No crude available: hot circulation"),
)
_CODES = MappingProxyType({r.code: i for i, r in enumerate(REASONS)})
TRIPS = frozenset(i for i, r in enumerate(REASONS) if r.state == "shutdown" and r.tclass is DOWN)
PLANNED = frozenset({_CODES["SD-PLANNED"]})
STARTUP = _CODES["SU-RESTART"]


def _load(p: Profile, d: Draws) -> float:
    return min(1.03, max(0.8, p.speed_factor + p.speed_sd * d.normal()))


def _reduced(p: Profile, d: Draws) -> tuple[float, float]:
    v = d.uniform(0.55, 0.8)
    return v, v


STATES = StateMachineSpec(
    reasons=REASONS, run="RUN-PRODUCTION", run_level=_load, epoch_s=7 * 86400,
    episodes=(
        # Operators move the feed rate every few hours: a new running segment, no state change.
        Episode("move", ("RUN-PRODUCTION",), lambda p: Dist("fixed", 0.0, lo_s=0.0), lambda p: 0.25),
        Episode("reduced", tuple(r.code for r in REASONS if r.code.startswith("RR-")),
                lambda p: Dist("lognormal", p.x("rr_mean_h") * 3600.0, 0.6, lo_s=1800.0),
                lambda p: p.x("rr_per_30d") / 720.0, _reduced),
        Episode("trip", tuple(REASONS[i].code for i in sorted(TRIPS)),
                lambda p: Dist("lognormal", p.mttr_min * 60.0, p.repair_cv, lo_s=3600.0),
                lambda p: 1.0 / p.mtbf_h, then="startup"),
        Episode("startup", ("SU-RESTART",),
                lambda p: Dist("lognormal", p.setup_mean_min * 60.0, p.setup_cv, lo_s=3600.0),
                level=lambda p, d: (0.0, 0.75)),
        Episode("idle", ("IDLE-NO-FEED",), lambda p: Dist("exponential", p.idle_mean_min * 60.0, lo_s=600.0),
                lambda p: p.idle_per_day / 24.0),
    ),
    planned_sd="SD-PLANNED", planned_then="startup")


def params(d: Draws, p: Profile) -> dict[str, Any]:
    ef = p.energy_factor
    yields = {"gas": d.uniform(0.015, 0.03), "naphtha": d.uniform(0.15, 0.22), "kerosene": d.uniform(0.10, 0.15),
              "diesel": d.uniform(0.20, 0.27)}
    cot, top, press = d.uniform(355.0, 368.0), d.uniform(112.0, 128.0), d.uniform(0.8, 1.4)
    stack = d.uniform(150.0, 185.0) * ef ** 0.5
    limits = {
        "heater_outlet_temp": {"alarm_hi": cot + 12.0, "alarm_lo": cot - 25.0},
        "column_top_temp": {"alarm_hi": top + 12.0},
        "column_top_press": {"alarm_hi": press + 0.45},
        "reflux_drum_level": {"alarm_lo": 20.0, "alarm_hi": 80.0},
        "heater_o2_pct": {"alarm_lo": 1.0},
        "stack_temp": {"alarm_hi": stack + 45.0},
    }
    return {
        "design_tph": round(d.uniform(300.0, 900.0) / 10.0) * 10.0, "yields": yields,
        "loss": d.uniform(0.002, 0.006), "flare_frac": 0.0003,
        "bias": {name: 0.004 * d.normal() for name in ("feed", *PRODUCTS)},
        "duty_gj_t": 0.42 * ef * d.uniform(0.95, 1.05), "cot": cot, "top": top, "press": press, "stack": stack,
        "o2": p.x("o2_pct"), "steam_ratio": d.uniform(0.015, 0.035), "power_kwh_t": d.uniform(4.5, 8.5) * ef,
        "base_kw": d.uniform(300.0, 600.0), "fouling": 0.04 * p.drift_per_day, "offspec": p.scrap_rate,
        "key": derive(d.index(1 << 30), "petro"), "quality_sigma": p.quality_sigma,
        "alarms": {"alarms_per_day": p.x("alarms_per_day"), "chatter_per_week": p.x("chatter_per_week"),
                   "stale_per_week": 0.3 * p.quality_sigma},
        "limits": limits,
        "tag_attrs": {**limits, "lab_naphtha_fbp": {"spec_hi": 180.0}, "lab_kero_flash": {"spec_lo": 38.0},
                      "lab_diesel_t95": {"spec_hi": 360.0}},
    }


def catalogue(d: Draws, prm: Any) -> tuple[Product, ...]:
    # A process unit has one "product" for the timeline: crude throughput at design rate.
    ideal = prm["design_tph"] * (1.0 - prm["loss"] - prm["flare_frac"])
    return (Product("CRUDE", "Crude oil blend", round(3600.0 / ideal, 4), {"ideal_rate": ideal}),)


def conditions(prm: dict[str, Any], seg: Segment) -> dict[str, Any]:
    """Operating conditions held through a segment: heater outlet setpoint, yields, fouling, efficiency."""
    key = prm["key"] ^ seg.start
    # Setpoint moves are smaller where advanced process control holds the unit tighter (quality_sigma).
    cot = prm["cot"] + 2.5 * prm["quality_sigma"] * normal(mix64(key))
    y = {name: v * (1.0 + 0.05 * normal(mix64(key + i + 1))) for i, (name, v) in enumerate(prm["yields"].items())}
    y["diesel"] += 0.0025 * (cot - prm["cot"])
    y["residue"] = 1.0 - prm["loss"] - prm["flare_frac"] - sum(y.values())
    # Heater fouling: a level that changes every few days (build-up, then cleaning), up to +4 % duty a drift unit.
    fouling = prm["fouling"] * (0.5 + 0.5 * normal(mix64(prm["key"] + seg.start // (3 * DAY_US))) / 3.7)
    stack = prm["stack"] * (1.0 + fouling)
    o2 = prm["o2"]
    efficiency = 1.0 - (stack - 20.0) * (0.66 / (21.0 - o2) + 0.009) / 100.0 - 0.015
    duty = prm["duty_gj_t"] * (1.0 + 0.004 * (cot - 360.0)) * (1.0 + fouling)
    return {"cot": cot, "yields": y, "stack": stack, "efficiency": efficiency, "gj_per_t": duty / efficiency}


def rates(m: Machine, seg: Segment) -> dict[str, tuple[float, float, float]]:
    """Per-hour rates a + b·level + c·aux of every totaliser (level = feed / design, aux = flare relief)."""
    prm = m.params
    reason = REASONS[seg.r]
    cond = conditions(prm, seg)
    design, bias = prm["design_tph"], prm["bias"]
    feeding = reason.state in ("running", "reduced_rate", "startup")
    firing = feeding or reason.state == "idle"
    out: dict[str, tuple[float, float, float]] = {"feed_t": (0.0, design * (1.0 + bias["feed"]) * feeding, 0.0)}
    total = 0.0
    for name in PRODUCTS:
        b = design * cond["yields"][name] * (1.0 + bias[name]) * feeding
        out[f"{name}_t"] = (0.0, b, 0.0)
        total += b
    offspec = 1.0 if seg.r == STARTUP else prm["offspec"] * (1.5 if reason.state == "reduced_rate" else 1.0)
    out["count_total"] = (0.0, total, 0.0)
    out["count_scrap"] = (0.0, total * offspec, 0.0)
    out["count_good"] = (0.0, total * (1.0 - offspec), 0.0)
    # The heater holds a minimum firing while warming up or circulating hot, and only pilots when shut down.
    fuel_a = {"startup": 0.15, "idle": 0.25}.get(reason.state, 0.0) * design * cond["gj_per_t"]
    out["fuel_gj"] = (fuel_a if firing else 0.5, design * cond["gj_per_t"] * feeding, 0.0)
    out["steam_t"] = (2.0 if firing else 1.0, design * prm["steam_ratio"] * feeding, 0.0)
    out["power_kwh"] = (prm["base_kw"] * (1.0 if firing else 0.4), design * prm["power_kwh_t"] * feeding, 0.0)
    relief = TRIP_RELIEF_TPH if seg.r in TRIPS or seg.r in PLANNED or seg.r == STARTUP else 0.0
    out["flare_t"] = (0.2, design * prm["flare_frac"] * feeding, relief)
    fa, fb, fc = out["fuel_gj"]
    la, lb, lc = out["flare_t"]
    e, f = EF_NATURAL_GAS_T_PER_GJ, EF_FLARE_T_PER_T
    out["co2_t"] = (fa * e + la * f, fb * e + lb * f, fc * e + lc * f)
    return out


TOTALS = ("feed_t", *(f"{n}_t" for n in PRODUCTS), "count_total", "count_good", "count_scrap", "fuel_gj", "steam_t",
          "power_kwh", "flare_t", "co2_t")


def rate(name: str, m: Machine, seg: Segment) -> tuple[float, float, float]:
    return rates(m, seg)[name]


def parts(tl: Timeline, k: int, segs: list[Segment]) -> tuple[list[Segment], PartLog]:
    """Flare relief as the aux ramp of shutdowns and startups, the alarm journal and the lab results."""
    out: list[Segment] = []
    for s in segs:
        if s.r in TRIPS or s.r in PLANNED:
            peak, span = (1.0, HOUR_US) if s.r in TRIPS else (0.3, 2 * HOUR_US)
            cut = min(s.end, s.start + span)
            out.append(Segment(s.start, cut, s.r, s.prod, s.l0, s.l1, peak, peak * (1.0 - (cut - s.start) / span)))
            if cut < s.end:
                out.append(Segment(cut, s.end, s.r, s.prod, s.l0, s.l1, 0.0))
        elif s.r == STARTUP:
            out.append(Segment(s.start, s.end, s.r, s.prod, s.l0, s.l1, 0.08))
        else:
            out.append(s)
    prm = tl.params
    d = Draws(derive(tl.seed, "alarms", k))
    production = frozenset(i for i, r in enumerate(REASONS) if r.state == "running")
    items, bumps = petro_alarms.journal(k, out, production, TRIPS, PLANNED, prm["alarms"], d)
    log = PartLog(items=items, extra={"bumps": bumps})
    log.items.extend(_lab(prm, out, Draws(derive(tl.seed, "lab", k))))
    return out, log


def _lab(prm: dict[str, Any], segs: list[Segment], d: Draws) -> list[tuple[int, str, Any, str, str, str]]:
    """Lab results of samples drawn at 02:00, 10:00 and 18:00 (UTC), posted 60–120 minutes later."""
    out = []
    qs = prm["quality_sigma"]
    first = segs[0].start // (8 * HOUR_US)
    for n in range(first, segs[-1].end // (8 * HOUR_US) + 1):
        t = n * 8 * HOUR_US + 2 * HOUR_US + int(d.uniform(0.0, 20.0) * 60 * US)
        post = t + int(d.uniform(60.0, 120.0) * 60 * US)
        z = (d.normal(), d.normal(), d.normal())
        seg = next((s for s in segs if s.start <= t < s.end), None)
        if seg is None or REASONS[seg.r].state not in ("running", "reduced_rate"):
            continue
        cond = conditions(prm, seg)
        x = seg.level(t)
        top = prm["top"] + 6.0 * (x - 0.95) + 0.3 * (cond["cot"] - prm["cot"])
        out.append((post, "lab_naphtha_fbp", round(172.0 + 1.5 * (top - prm["top"]) + 2.2 * qs * z[0], 1), "", "", ""))
        out.append((post, "lab_kero_flash",
                    round(45.0 + 200.0 * (prm["steam_ratio"] - 0.025) + 1.8 * qs * z[1], 1), "", "", ""))
        out.append((post, "lab_diesel_t95", round(352.0 + 0.8 * (cond["cot"] - prm["cot"]) + 2.4 * qs * z[2], 1),
                    "", "", ""))
    return out


def physics(c: Ctx) -> None:
    p, prm, seg = c.p, c.params, c.seg
    if p.get("_seg") is not seg:
        p["_seg"], p["_cond"] = seg, conditions(prm, seg)
    cond = p["_cond"]
    x = c.level
    state = c.state
    if state in ("running", "reduced_rate"):
        warm = 1.0
    elif state == "startup":
        warm = min(1.0, 0.3 + c.age_s / ((seg.end - c.since) / US * 0.6 + 1.0))
    elif state == "idle":
        warm = 0.85
    else:
        warm = 0.05 + 0.95 * 2.718281828 ** (-c.age_s / (8 * 3600.0))
    firing = state != "shutdown"
    pv = {
        "heater_outlet_temp": 25.0 + (cond["cot"] - 25.0) * warm + 0.6 * c.n(1),
        "column_top_temp": 25.0 + (prm["top"] + 6.0 * (x - 0.95) + 0.3 * (cond["cot"] - prm["cot"]) - 25.0) * warm
        + 0.4 * c.n(2),
        "column_top_press": max(0.0, (prm["press"] + 0.3 * (x - 0.95)) * warm + 0.015 * c.n(3)),
        "reflux_drum_level": 50.0 + 6.0 * c.drift(4, 6.0) + 1.2 * c.n(4),
        "heater_o2_pct": prm["o2"] * (1.0 + 0.05 * c.n(5)) if firing else 20.9,
        "stack_temp": 25.0 + (cond["stack"] * (0.6 + 0.4 * x) - 25.0) * warm + 1.0 * c.n(6),
    }
    pv["column_bottom_temp"] = pv["heater_outlet_temp"] - (12.0 + 3.0 * x) * warm + 0.4 * c.n(7)
    for sec in (c.sec, c.m.timeline.section(c.sec.k - 1)):
        for b in sec.log.extra.get("bumps", ()):
            if b.start <= c.t < b.end:
                _bump(pv, b, c.t, prm["limits"][b.tag][b.limit])
    p.update(pv)


# How far past its limit an excursion overshoots, per unit of the alarm's overshoot fraction.
_SPAN = MappingProxyType({"heater_outlet_temp": 20.0, "column_top_temp": 10.0, "column_top_press": 0.4,
                          "reflux_drum_level": 15.0, "heater_o2_pct": 1.5, "stack_temp": 30.0})


def _bump(pv: dict[str, float], b: petro_alarms.Bump, t: int, limit: float) -> None:
    if t < b.active:
        shape = (t - b.start) / (b.active - b.start)
    elif t < b.cleared:
        shape = 1.0
    else:
        shape = (b.end - t) / (b.end - b.cleared)
    target = limit + b.direction * b.overshoot * _SPAN[b.tag]
    pv[b.tag] += shape * (target - pv[b.tag])


TOTAL_SPECS = tuple(Total(name, partial(rate, name)) for name in TOTALS)
