"""Electronics: the SMT line model shared by its stations (printer → pick-and-place → reflow → AOI).

The stations of a line share one timeline and one board flow: a stop at any station stops the line, the
stations upstream of it are blocked and those downstream starved (tightly coupled conveyor line, no buffers;
each board passes every station at its completion instant). Per board: the printer's paste volume sags with
prints since the last stencil wipe and a gross misprint is scrapped; pick failures come per feeder slot and
nozzle (nozzle wear rises between weekly cleanings) and a few end as components not placed; the reflow oven's
predicted peak temperature and time above liquidus follow a first-order thermal model of the board; AOI finds
solder defects whose rate rises with paste-volume error, with peak temperature outside 236–249 °C and with
oxygen; false calls come on top; a confirmed defective board is reworked or scrapped.

Reflow: SAC305 solder melts at 217–220 °C (IPC/JEDEC J-STD-020 takes 217 °C as the lead-free liquidus); the
target time above liquidus (45–90 s) and peak (235–250 °C) are those of typical solder-paste datasheets. Each
product's recipe (zone setpoints, conveyor speed) is solved for a 243 °C peak. Zone length 0.36 m × 8 heated
zones + 2 cooling zones; board thermal time constants 30–90 s grow with component count.
"""

from __future__ import annotations

import math
from itertools import accumulate
from types import MappingProxyType
from typing import Any

from tonghu.device_sims.models.common import (
    DOWN,
    IDLE,
    IDLE_NO_ORDER,
    PM_WEEKLY,
    RUN,
    SETUP_ORDER,
    discrete_episodes,
    setup_dist,
    speed_level,
)
from tonghu.device_sims.models.core import (
    Product,
    Reason,
    Segment,
    StateMachineSpec,
    TimeClass,
    View,
)
from tonghu.device_sims.models.partlog import PartLog, produce
from tonghu.device_sims.models.profile import Profile
from tonghu.device_sims.models.rng import Draws, cumulative, derive, mix64, normal, smooth
from tonghu.device_sims.models.timeline import Timeline

STATIONS = ("printer", "pnp", "reflow", "aoi")
FEEDERS = tuple(f"f{i:02d}" for i in range(1, 21))
NOZZLES = tuple(f"n{i}" for i in range(1, 7))
DEFECT_TYPES = ("bridge", "insufficient", "missing", "tombstone", "shifted", "polarity")
LIQUIDUS_C = 217.0
ZONE_M = 0.36
BASE_SETPOINTS = (150.0, 165.0, 175.0, 185.0, 200.0, 230.0, 250.0, 262.0)
COOLING = (120.0, 60.0)
PEAK_TARGET = 243.0

REASONS = (
    RUN,
    Reason("SETUP-PRODUCT", "setup", TimeClass.SETUP, "Changeover: stencil, feeder carts, reflow profile"),
    SETUP_ORDER,
    Reason("BRK-PRN-TRANSPORT", "down", DOWN, "Printer board transport fault", 1.0, 0.8, "printer"),
    Reason("BRK-PRN-VISION", "down", DOWN, "Printer fiducial camera fault", 0.7, 1.0, "printer"),
    Reason("BRK-PNP-HEAD", "down", DOWN, "Placement head servo alarm", 1.5, 1.4, "pnp"),
    Reason("BRK-PNP-VACUUM", "down", DOWN, "Vacuum generator fault", 1.0, 0.8, "pnp"),
    Reason("BRK-PNP-FEEDER-BANK", "down", DOWN, "Feeder bank communication fault", 1.0, 0.6, "pnp"),
    Reason("BRK-OVEN-HEATER", "down", DOWN, "Reflow heater or SSR failure", 0.8, 1.6, "reflow"),
    Reason("BRK-OVEN-CONVEYOR", "down", DOWN, "Reflow conveyor chain or rail-width fault", 0.7, 1.2, "reflow"),
    Reason("BRK-AOI-CAMERA", "down", DOWN, "AOI camera or lighting fault", 0.6, 0.9, "aoi"),
    Reason("MS-FEEDER-JAM", "down", DOWN, "Feeder tape or cover jam", 4.0, 1.0, "pnp"),
    Reason("MS-FEEDER-EMPTY", "down", DOWN, "Reel empty, splice", 4.0, 1.4, "pnp"),
    Reason("MS-NOZZLE-CLOG", "down", DOWN, "Nozzle clogged, swapped", 1.0, 0.8, "pnp"),
    Reason("MS-PRN-PASTE-LOW", "down", DOWN, "Solder paste replenished", 2.0, 0.9, "printer"),
    Reason("MS-PRN-CLEAN", "down", DOWN, "Manual stencil clean", 1.5, 1.2, "printer"),
    Reason("MS-BOARD-JAM", "down", DOWN, "Board jammed at oven entrance", 1.0, 0.8, "reflow"),
    Reason("MS-AOI-VERIFY", "down", DOWN, "AOI verification backlog", 2.0, 1.0, "aoi"),
    PM_WEEKLY,
    IDLE_NO_ORDER,
)
STARVED = Reason("STARVED-UPSTREAM", "starved", IDLE, "Starved: a station upstream is stopped")
BLOCKED = Reason("BLOCKED-DOWNSTREAM", "blocked", IDLE, "Blocked: a station downstream is stopped")

STATES = StateMachineSpec(
    reasons=REASONS, run=RUN.code, run_level=speed_level,
    episodes=discrete_episodes([r.code for r in REASONS if r.code.startswith("BRK-")],
                               [r.code for r in REASONS if r.code.startswith("MS-")]),
    changeover="SETUP-PRODUCT", order_change=SETUP_ORDER.code, setup_duration=setup_dist, pm=PM_WEEKLY.code)


def station_view(station: str, r: Reason) -> View:
    """A line reason as one station sees it; the line itself (station "line") sees every reason as is."""
    if station != "line" and r.station and r.station != station:
        up = STATIONS.index(station) < STATIONS.index(r.station)
        other = BLOCKED if up else STARVED
        return (other.state, other.code, f"{other.text} ({r.code})", other.tclass)
    return (r.state, r.code, r.text, r.tclass)


# ---------------------------------------------------------------------------------------------- reflow physics


def board_profile(setpoints: tuple[float, ...] | list[float], speed_m_min: float, tau_s: float) -> tuple[float, float]:
    """(peak °C, seconds above liquidus) of a board with thermal time constant tau passing the oven."""
    dwell = ZONE_M / max(speed_m_min, 0.05) * 60.0
    t_board, peak, above = 25.0, 25.0, 0.0
    for i, s in enumerate((*setpoints, *COOLING)):
        tau = tau_s if i < len(setpoints) else tau_s * 0.8
        t0 = t_board
        t1 = s + (t0 - s) * math.exp(-dwell / tau)
        if t0 >= LIQUIDUS_C and t1 >= LIQUIDUS_C:
            above += dwell
        elif (t0 < LIQUIDUS_C <= t1) or (t1 < LIQUIDUS_C <= t0):
            cross = -tau * math.log((LIQUIDUS_C - s) / (t0 - s))
            above += dwell - cross if t1 >= LIQUIDUS_C else cross
        t_board = t1
        peak = max(peak, t1)
    return peak, above


def _recipe_speed(setpoints: list[float], tau: float) -> float:
    lo, hi = 0.3, 2.0
    for _ in range(40):
        mid = (lo + hi) / 2.0
        if board_profile(setpoints, mid, tau)[0] > PEAK_TARGET:
            lo = mid
        else:
            hi = mid
    return round(lo, 3)


def oven(tl: Timeline, seg: Segment, t: int, since: int) -> tuple[list[float], float, float, float]:
    """(zone temperatures, conveyor speed m/min, predicted peak, time above liquidus) at t."""
    prm, prod = tl.params, tl.products[seg.prod].attrs
    drift = prm["oven_drift_c"]
    temps = [sp + drift * smooth(prm["oven_key"] + i, t / 1e6, 36 * 3600.0) for i, sp in enumerate(prod["setpoints"])]
    reason = tl.reasons[seg.r]
    if reason.tclass is TimeClass.PLANNED_DOWN:
        # Oven off for maintenance: cools with a 40 min time constant, then reheats over the last 35 min.
        reheat = seg.end - 35 * 60_000_000
        cooled = math.exp(-(min(t, reheat) - since) / 60e6 / 40.0)
        frac = cooled if t < reheat else cooled + (1.0 - cooled) * (t - reheat) / (seg.end - reheat)
        temps = [25.0 + (x - 25.0) * frac for x in temps]
        return temps, 0.0, *board_profile(temps, 0.5, prod["tau"])
    if reason.code == "BRK-OVEN-HEATER":
        temps[5] = 25.0 + (temps[5] - 25.0) * max(0.45, math.exp(-(t - since) / 60e6 / 30.0))
    speed = prod["speed"] * (1.0 + 0.03 * normal(mix64(prm["oven_key"] ^ seg.start)))
    return temps, speed, *board_profile(temps, speed, prod["tau"])


# ---------------------------------------------------------------------------------------------- line data


def params(d: Draws, p: Profile) -> dict[str, Any]:
    return {
        "cph": d.uniform(60000.0, 120000.0),         # IPC-9850 rated placements per hour (modular platform)
        "wipe_every": 4 + d.index(9),                # prints between automatic under-stencil wipes
        "paste_sag": d.uniform(0.6, 1.6),            # paste volume lost per print since wipe (%)
        "paste_sigma": 4.0 * p.quality_sigma,
        "feeder_w": cumulative([d.lognormal(1.0, 1.5) for _ in FEEDERS]),
        "nozzle_w": cumulative([d.lognormal(1.0, 0.8) for _ in NOZZLES]),
        "not_placed": d.uniform(0.06, 0.18),         # share of pick failures that end as a missing component
        "oven_drift_c": 2.5 * p.drift_per_day,
        "oven_key": derive(d.index(1 << 30), "oven"),
        "o2_ppm": p.x("o2_ppm"),
        "defect_ppm": p.x("defect_ppm"), "mispick_ppm": p.x("mispick_ppm"),
        "false_calls": p.x("false_call_rate"), "rework_scrap": p.x("rework_scrap"),
        "nozzle_wear": 0.6 * p.drift_per_day,        # extra pick failures per week since nozzle cleaning
        "misprint": 0.0008 * p.quality_sigma,
    }


_MIX = (("R", 0.40), ("C", 0.40), ("U", 0.06), ("D", 0.05), ("Q", 0.04), ("L", 0.03), ("J", 0.02))


def catalogue(d: Draws, prm: Any) -> tuple[Product, ...]:
    out = []
    for i in range(3 + d.index(4)):
        placements = round(min(1400.0, max(120.0, d.lognormal(520.0, 0.55))))
        tau = min(90.0, max(30.0, 25.0 + placements * 0.04 + d.uniform(0.0, 20.0)))
        setpoints = [round(s + (tau - 45.0) * 0.4, 1) for s in BASE_SETPOINTS]
        speed = _recipe_speed(setpoints, tau)
        length = d.uniform(0.12, 0.33)
        ct = {"printer": round(d.uniform(12.0, 20.0), 1),
              "pnp": round(placements / (0.55 * prm["cph"] / 3600.0) + 4.0, 1),
              "reflow": round((length + 0.1) / speed * 60.0, 1),
              "aoi": round(6.0 + 0.012 * placements, 1)}
        designators = {k: max(1, round(placements * w)) for k, w in _MIX}
        attrs = {"placements": placements, "opportunities": round(2.8 * placements), "tau": tau,
                 "setpoints": tuple(setpoints), "speed": speed, "ct": ct, "designators": designators,
                 "stencil": f"STN-{1000 + d.index(9000)}", "print_speed": round(d.uniform(30.0, 80.0)),
                 "squeegee_n": round(d.uniform(50.0, 110.0))}
        code = f"PCB-{1000 + d.index(9000)}{chr(65 + i)}"
        out.append(Product(code, f"Controller board {code[4:]}", max(ct.values()), attrs))
    return tuple(out)


COLS = ("boards", "misprints", "placements", "placement_errors", "mispicks",
        *(f"mispicks_{f}" for f in FEEDERS), *(f"mispicks_{n}" for n in NOZZLES),
        "aoi_inspected", "aoi_passed", "aoi_defects", "aoi_false_calls", "aoi_scrap",
        *(f"aoi_defects_{t}" for t in DEFECT_TYPES))
_TYPE_WEIGHTS = MappingProxyType({"bridge": 1.0, "insufficient": 1.5, "tombstone": 0.6, "shifted": 0.8,
                                 "polarity": 0.2})
# Designator prefixes where each defect type shows (bridges on fine-pitch ICs and connectors, tombstones on chips).
_TYPE_PREFIX = MappingProxyType({"bridge": "UJ", "insufficient": "RCUD", "missing": "RC", "tombstone": "RC",
                                 "shifted": "RCQL", "polarity": "DUC"})


def parts(tl: Timeline, k: int, segs: list[Segment]) -> tuple[list[Segment], PartLog]:
    d = Draws(derive(tl.seed, "parts", k))
    prm = tl.params
    units = produce(tl, segs, lambda prod: tl.products[prod].ideal_ct_s)
    n = len(units)
    # Increments per board, summed into cumulative columns at the end (most are zero for most boards).
    inc = {name: [0] * n for name in COLS}
    volumes: list[float] = []
    wipes: list[int] = []
    log = PartLog(times=[t for t, _i, _w in units], lasts={"paste_volume": volumes, "since_wipe": wipes})
    since_wipe, oven_key, peak = 0, None, PEAK_TARGET
    week = 7 * 86400e6
    boards, misprints = inc["boards"], inc["misprints"]
    for j, (t, i, _work) in enumerate(units):
        seg = segs[i]
        a = tl.products[seg.prod].attrs
        boards[j] = 1
        since_wipe = since_wipe % prm["wipe_every"] + 1
        volume = 100.0 + 3.0 - prm["paste_sag"] * since_wipe + prm["paste_sigma"] * d.normal()
        volumes.append(round(volume, 1))
        wipes.append(since_wipe)
        if abs(volume - 100.0) > 22.0 or d.chance(prm["misprint"]):
            misprints[j] = 1
            continue
        wear = 1.0 + prm["nozzle_wear"] * (t - tl.last_reset(t)) / week
        picks = d.poisson(a["placements"] * prm["mispick_ppm"] * 1e-6 * wear)
        missing = 0
        for _ in range(picks):
            inc[f"mispicks_{FEEDERS[d.pick(prm['feeder_w'])]}"][j] += 1
            inc[f"mispicks_{NOZZLES[d.pick(prm['nozzle_w'])]}"][j] += 1
            missing += d.chance(prm["not_placed"])
        inc["mispicks"][j], inc["placement_errors"][j] = picks, missing
        inc["placements"][j] = a["placements"] - missing
        # The oven drifts over hours: one thermal profile per segment and quarter hour is enough.
        key = (i, t // 900_000_000)
        if key != oven_key:
            oven_key, peak = key, oven(tl, seg, t, seg.start)[2]
        factor = (1.0 + ((volume - 100.0) / 12.0) ** 2 + max(0.0, 236.0 - peak) / 2.0 + max(0.0, peak - 249.0) / 2.0
                  + prm["o2_ppm"] / 3000.0)
        found = [("missing", m) for m in range(missing) if d.chance(0.97)]
        for _ in range(d.poisson(a["opportunities"] * prm["defect_ppm"] * 1e-6 * factor)):
            kind = _defect_type(d, volume, peak)
            if d.chance(0.95):
                found.append((kind, 0))
        calls = d.poisson(prm["false_calls"])
        inc["aoi_inspected"][j] = 1
        inc["aoi_defects"][j], inc["aoi_false_calls"][j] = len(found), calls
        inc["aoi_passed"][j] = int(not found and not calls)
        for kind, _m in found:
            inc[f"aoi_defects_{kind}"][j] += 1
        if found:
            inc["aoi_scrap"][j] = int(d.chance(prm["rework_scrap"]))
            detail = ";".join(f"{_designator(d, a['designators'], kind)}:{kind}" for kind, _m in found)
            log.items.append((t, "aoi_last_defect", detail, "", "", ""))
    log.cols = {name: [0, *accumulate(col)] for name, col in inc.items()}
    return segs, log


def _defect_type(d: Draws, volume: float, peak: float) -> str:
    w = dict(_TYPE_WEIGHTS)
    w["bridge"] *= 1.0 + max(0.0, volume - 100.0) / 6.0
    w["insufficient"] *= 1.0 + max(0.0, 100.0 - volume) / 6.0 + max(0.0, 236.0 - peak) / 2.0
    w["tombstone"] *= 1.0 + max(0.0, peak - 249.0) / 2.0
    names = list(w)
    return names[d.pick(cumulative(w.values()))]


def _designator(d: Draws, counts: dict[str, int], kind: str) -> str:
    prefix = _TYPE_PREFIX[kind][d.index(len(_TYPE_PREFIX[kind]))]
    return f"{prefix}{1 + d.index(counts.get(prefix, 1))}"
