"""Equipment manufacturing: a semi-automatic assembly station with nutrunners.

Cycle times vary from unit to unit (the operator; lognormal with the profile's ``manual_cv``); the station is
starved when upstream parts do not arrive and blocked when the outfeed is full (time class idle: the station is
ready, its neighbours are not). Every screw is tightened to a target torque; a tightening outside ±7 % of
target (a typical tolerance window of a torque-controlled joint) is NOK and retried, and a unit whose retry fails
too is scrapped.
"""

from __future__ import annotations

from typing import Any

from tonghu.device_sims.models.common import (
    DOWN,
    IDLE,
    IDLE_NO_ORDER,
    PLANNED,
    PM_WEEKLY,
    RUN,
    SETUP,
    SETUP_ORDER,
    SETUP_PRODUCT,
    count_tags,
    counter,
    discrete_episodes,
    energy_tags,
    product_tags,
    setup_dist,
    speed_level,
    state_tags,
)
from tonghu.device_sims.models.core import (
    DataType,
    Dist,
    Episode,
    MachineKind,
    Product,
    Reason,
    Segment,
    StateMachineSpec,
    TagSpec,
    TimeClass,
    Total,
)
from tonghu.device_sims.models.machine import Ctx, Machine
from tonghu.device_sims.models.partlog import PartLog, produce
from tonghu.device_sims.models.profile import Profile
from tonghu.device_sims.models.rng import Draws, derive
from tonghu.device_sims.models.timeline import Timeline

STARVED = Reason("STARVED-UPSTREAM", "starved", IDLE, "Starved: no parts from upstream")
BLOCKED = Reason("BLOCKED-DOWNSTREAM", "blocked", IDLE, "Blocked: outfeed full")
REASONS = (
    RUN, SETUP_PRODUCT, SETUP_ORDER,
    Reason("BRK-NUTRUNNER", "down", DOWN, "Nutrunner spindle or controller fault", 2.0, 0.8),
    Reason("BRK-PRESS", "down", DOWN, "Press-fit unit fault", 1.0, 1.3),
    Reason("BRK-VISION", "down", DOWN, "Poka-yoke camera fault", 1.0, 0.7),
    Reason("BRK-CONVEYOR", "down", DOWN, "Pallet conveyor fault", 1.0, 1.2),
    Reason("MS-PART-MISLOAD", "down", DOWN, "Part misloaded, corrected", 3.0, 1.0),
    Reason("MS-TORQUE-RETRY", "down", DOWN, "Torque NOK, joint reworked", 2.0, 1.2),
    Reason("MS-LABEL-PRINTER", "down", DOWN, "Label printer out of labels", 1.0, 1.5),
    Reason("MS-SCANNER", "down", DOWN, "Barcode not read, scanned by hand", 2.0, 0.5),
    STARVED, BLOCKED, PM_WEEKLY, IDLE_NO_ORDER,
)


def _waits() -> tuple[Episode, ...]:
    return (
        Episode("starved", (STARVED.code,), lambda p: Dist("exponential", 240.0, lo_s=5.0),
                lambda p: p.x("starved_per_h")),
        Episode("blocked", (BLOCKED.code,), lambda p: Dist("exponential", 150.0, lo_s=5.0),
                lambda p: p.x("blocked_per_h")),
    )


STATES = StateMachineSpec(
    reasons=REASONS, run=RUN.code, run_level=speed_level,
    episodes=(*discrete_episodes([r.code for r in REASONS if r.code.startswith("BRK-")],
                                 [r.code for r in REASONS if r.code.startswith("MS-")]), *_waits()),
    changeover=SETUP_PRODUCT.code, order_change=SETUP_ORDER.code, setup_duration=setup_dist, pm=PM_WEEKLY.code)

TORQUE_WINDOW = 0.07


def params(d: Draws, p: Profile) -> dict[str, Any]:
    return {"base_kw": d.uniform(1.0, 2.2), "tool_kw": d.uniform(0.4, 1.0), "manual_cv": p.x("manual_cv"),
            "torque_sigma": 0.022 * p.quality_sigma}


def catalogue(d: Draws, prm: Any) -> tuple[Product, ...]:
    out = []
    for i in range(2 + d.index(3)):
        screws = 4 + d.index(9)
        ct = round(min(240.0, max(40.0, 25.0 + screws * d.uniform(5.0, 9.0))), 1)
        out.append(Product(f"ASM-{100 + d.index(900)}{chr(65 + i)}", f"Gearbox variant {chr(65 + i)}", ct,
                           {"screws": screws, "torque": round(d.uniform(8.0, 45.0), 1)}))
    return tuple(out)


def parts(tl: Timeline, k: int, segs: list[Segment]) -> tuple[list[Segment], PartLog]:
    d = Draws(derive(tl.seed, "parts", k))
    prm, base = tl.params, tl.profile.scrap_rate
    log = PartLog(cols={n: [0] for n in ("count_total", "count_good", "count_scrap", "torque_nok")},
                  lasts={"cycle_time": [], "torque": []})
    cols = log.cols
    sigma = prm["torque_sigma"]
    for t, i, work in produce(tl, segs, lambda prod: tl.products[prod].ideal_ct_s * d.lognormal(1.0, prm["manual_cv"])):
        product = tl.products[segs[i].prod]
        nok, torque = 0, product.attrs["torque"]
        for _ in range(product.attrs["screws"]):
            dev = sigma * d.normal()
            torque = product.attrs["torque"] * (1.0 + dev)
            if abs(dev) > TORQUE_WINDOW:
                nok += 1
        # A NOK joint is retried; a retry fails again in a third of cases, and then the unit is scrapped.
        scrap = (nok and d.chance(1 / 3)) or d.chance(base * 0.5)
        log.times.append(t)
        cols["count_total"].append(cols["count_total"][-1] + 1)
        cols["count_good"].append(cols["count_good"][-1] + (not scrap))
        cols["count_scrap"].append(cols["count_scrap"][-1] + bool(scrap))
        cols["torque_nok"].append(cols["torque_nok"][-1] + nok)
        log.lasts["cycle_time"].append(round(work / segs[i].l0, 1))
        log.lasts["torque"].append(round(torque, 2))
    return segs, log


def physics(c: Ctx) -> None:
    c.p["starved"] = c.state == "starved"
    c.p["blocked"] = c.state == "blocked"


def power(m: Machine, seg: Segment) -> tuple[float, float, float]:
    prm = m.params
    base = prm["base_kw"] * m.profile.energy_factor
    tc = m.timeline.reasons[seg.r].tclass
    if tc is TimeClass.PRODUCTION:
        return base, prm["tool_kw"], 0.0
    return base * {SETUP: 0.8, DOWN: 0.8, PLANNED: 0.1}.get(tc, 0.7), 0.0, 0.0


TAGS: tuple[TagSpec, ...] = (
    *state_tags(),
    *product_tags(),
    *count_tags("Assemblies"),
    TagSpec("cycle_time", DataType.FLOAT, lambda c: c.c["cycle_time"], "s", "cycle_time", 0.0, 3600.0,
            "Cycle time of the last assembly", digits=1),
    TagSpec("torque_nm", DataType.FLOAT, lambda c: c.c["torque"], "N.m", "torque", 0.0, 60.0,
            "Final torque of the last tightening", digits=2),
    counter("torque_nok", "torque_nok", "Tightenings outside the torque window, reset weekly"),
    TagSpec("starved", DataType.BOOL, lambda c: c.p["starved"], "", "starved", description="Waiting for parts"),
    TagSpec("blocked", DataType.BOOL, lambda c: c.p["blocked"], "", "blocked", description="Outfeed full"),
    *energy_tags(6.0),
)

KIND = MachineKind(
    name="assembly", sector="equipment", description="Semi-automatic assembly station", tags=TAGS, states=STATES,
    catalogue=catalogue, params=params, physics=physics, parts=parts, totals=(Total("energy_kwh", power),),
    counters=("count_total", "count_good", "count_scrap", "torque_nok"), lasts=("cycle_time", "torque"),
    orders=True)
