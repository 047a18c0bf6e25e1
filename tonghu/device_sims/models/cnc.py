"""Equipment manufacturing: a CNC machining centre.

Physics: spindle load grows with feed (roughly with feed^0.8, as cutting force does with chip thickness) and
with flank wear of the active tool (up to +35..55 % at end of life); power is base load (hydraulics, coolant,
chip conveyor, control) plus cutting power in proportion to load; scrap rises steeply with wear (the cube of the
share of tool life used), so worn tool → higher spindle load → more scrap → more energy per good part. Tool life
management swaps in a sister tool at 85–100 % of the nominal life (no stop: the changer takes seconds), so wear
is a saw-tooth over cutting time. Mode and execution use the MTConnect vocabulary (ANSI/MTC1.4: ControllerMode
AUTOMATIC, MANUAL_DATA_INPUT, MANUAL; Execution ACTIVE, READY, STOPPED, FEED_HOLD, INTERRUPTED). Alarm ids are
vendor-neutral inventions.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from tonghu.device_sims.models.common import (
    DOWN,
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
    US,
    DataType,
    Item,
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
from tonghu.device_sims.models.rng import Draws, derive, mix64, unit
from tonghu.device_sims.models.timeline import Section, Timeline

REASONS = (
    RUN,
    SETUP_PRODUCT,
    SETUP_ORDER,
    Reason("BRK-SPINDLE", "down", DOWN, "Spindle drive or bearing failure", 1.0, 2.2),
    Reason("BRK-ATC", "down", DOWN, "Automatic tool changer fault", 2.0, 0.8),
    Reason("BRK-AXIS-SERVO", "down", DOWN, "Axis servo alarm", 1.5, 1.2),
    Reason("BRK-COOLANT", "down", DOWN, "Coolant pump or filter failure", 1.5, 0.6),
    Reason("BRK-HYDRAULIC", "down", DOWN, "Hydraulic clamping pressure lost", 1.0, 1.0),
    Reason("BRK-CONTROL", "down", DOWN, "NC or PLC fault", 0.7, 0.8),
    Reason("MS-CHIP-JAM", "down", DOWN, "Chip conveyor jam cleared", 3.0, 1.0),
    Reason("MS-TOOL-BREAK", "down", DOWN, "Broken tool detected and replaced", 1.0, 2.0),
    Reason("MS-DOOR-INTERLOCK", "down", DOWN, "Door opened in automatic mode", 2.0, 0.5),
    Reason("MS-PROBE-RETRY", "down", DOWN, "In-process probing failed, retried", 1.5, 0.7),
    Reason("MS-OPERATOR-LOAD", "down", DOWN, "Waiting for the operator to load a blank", 3.0, 1.3),
    PM_WEEKLY,
    IDLE_NO_ORDER,
)
# Reason code → (alarm id, alarm text) raised for the duration of the stop.
ALARMS = MappingProxyType({
    "BRK-SPINDLE": ("SP-9031", "Spindle amplifier overload"),
    "BRK-ATC": ("ATC-1101", "Tool changer arm position error"),
    "BRK-AXIS-SERVO": ("SV-0411", "Excess position deviation, X axis"),
    "BRK-COOLANT": ("PLC-2204", "Coolant pressure low"),
    "BRK-HYDRAULIC": ("PLC-2310", "Clamping pressure low"),
    "BRK-CONTROL": ("SYS-0900", "Control system error"),
    "MS-CHIP-JAM": ("PLC-2401", "Chip conveyor overload"),
    "MS-TOOL-BREAK": ("TLM-0501", "Tool breakage detected"),
    "MS-DOOR-INTERLOCK": ("PLC-2002", "Door open in automatic mode"),
    "MS-PROBE-RETRY": ("PRB-0301", "Probe: no contact"),
})
TOOL_WARNING = ("TLM-0100", "Tool life 90 % reached")
# (material, relative specific cutting force)
MATERIALS = (("42CrMo4", 1.0), ("S355", 0.85), ("AlSi10Mg", 0.45), ("X5CrNi18-10", 1.25))
SCRAP_CAUSES = ("scrap_wear", "scrap_setup", "scrap_material")


def _override(p: Profile, d: Draws) -> float:
    # Operators set the feed override knob in 5 % steps.
    return round(speed_level(p, d) * 20.0) / 20.0


STATES = StateMachineSpec(
    reasons=REASONS, run=RUN.code, run_level=_override,
    episodes=discrete_episodes([r.code for r in REASONS if r.code.startswith("BRK-")],
                               [r.code for r in REASONS if r.code.startswith("MS-")]),
    changeover=SETUP_PRODUCT.code, order_change=SETUP_ORDER.code, setup_duration=setup_dist, pm=PM_WEEKLY.code)


def params(d: Draws, p: Profile) -> dict[str, Any]:
    return {"rated_kw": d.uniform(11.0, 30.0), "base_kw": d.uniform(2.5, 5.0),
            "max_rpm": (8000, 12000, 15000)[d.index(3)], "wear_load": d.uniform(0.35, 0.55),
            "tool_life_s": p.x("tool_life_min") * 60.0, "wear_scrap": p.x("wear_scrap")}


def catalogue(d: Draws, prm: Any) -> tuple[Product, ...]:
    out = []
    for i in range(2 + d.index(4)):
        material, kc = MATERIALS[d.index(len(MATERIALS))]
        rpm_share = d.uniform(0.55, 0.95) if kc < 0.6 else d.uniform(0.25, 0.6)
        attrs = {"program": f"O{1000 + d.index(8000)}", "rpm": round(prm["max_rpm"] * rpm_share / 100) * 100,
                 "load": min(70.0, max(18.0, d.uniform(30.0, 55.0) * kc)), "cut_frac": d.uniform(0.6, 0.85),
                 "tool": 1 + d.index(30), "material": material}
        ct = round(min(1800.0, max(60.0, d.lognormal(300.0, 0.6))), 1)
        out.append(Product(f"P{1000 + d.index(9000)}-{chr(65 + i)}", f"{material} housing {chr(65 + i)}", ct, attrs))
    return tuple(out)


def parts(tl: Timeline, k: int, segs: list[Segment]) -> tuple[list[Segment], PartLog]:
    """Split production at tool changes (aux = share of nominal tool life used), then make parts."""
    d = Draws(derive(tl.seed, "parts", k))
    prm, prof = tl.params, tl.profile
    nominal = prm["tool_life_s"]
    out: list[Segment] = []
    log = PartLog(cols={n: [0] for n in ("count_total", "count_good", "count_scrap", *SCRAP_CAUSES)},
                  lasts={"cycle_time": []})
    used, limit, sister, warned = 0.0, nominal * d.uniform(0.85, 1.0), 1 + mix64(tl.seed + k) % 3, False

    def change(t: int, prod: int) -> None:
        nonlocal used, limit, sister, warned
        if warned:
            log.items.append((t | 1, "alarms", "cleared", "alarm", *TOOL_WARNING))
        used, limit, warned = 0.0, nominal * d.uniform(0.85, 1.0), False
        sister = sister % 3 + 1
        log.items.append((t | 1, "tool_id", f"T{tl.products[prod].attrs['tool']:02d}.{sister}", "", "", ""))

    for s in segs:
        if tl.reasons[s.r].tclass is TimeClass.SETUP:
            change(s.start, s.prod)
        if s.r not in tl.production or s.l0 <= 0.0:
            out.append(Segment(s.start, s.end, s.r, s.prod, s.l0, s.l1, used / nominal))
            continue
        rate = s.l0 * tl.products[s.prod].attrs["cut_frac"]  # cutting seconds per second: wear grows with feed
        t = s.start
        while t < s.end:
            t_change = max(t + 1, t + int((limit - used) / rate * US))
            end = min(t_change, s.end)
            u1 = used + (end - t) / US * rate
            seg = Segment(t, end, s.r, s.prod, s.l0, s.l1, used / nominal, u1 / nominal)
            out.append(seg)
            if not warned and seg.a1 >= 0.9 > seg.a0:
                warned = True
                tw = t + int((0.9 - seg.a0) / (seg.a1 - seg.a0) * (end - t))
                log.items.append((tw | 1, "alarms", "active", "alarm", *TOOL_WARNING))
            used, t = u1, end
            if t_change <= s.end:
                change(t_change, s.prod)
    first_after = {i for i, s in enumerate(out) if tl.reasons[s.r].tclass is TimeClass.SETUP}
    cols, cycle = log.cols, log.lasts["cycle_time"]
    ws, base = prm["wear_scrap"], prof.scrap_rate
    setup_pending = False
    last_seg = -1
    for t, i, work in produce(tl, out, lambda prod: tl.products[prod].ideal_ct_s * (1.0 + 0.004 * d.normal())):
        if any(j in first_after for j in range(last_seg + 1, i)):
            setup_pending = True
        last_seg = i
        seg = out[i]
        wear = seg.aux(t)
        p_setup = 0.3 if setup_pending else 0.0
        p_wear = base * 0.5 * (1.0 + ws * wear ** 3)
        u = d.u()
        cause = (1 if u < p_setup else 0 if u < p_setup + p_wear else 2 if u < p_setup + p_wear + base * 0.15
                 else -1)
        setup_pending = False
        log.times.append(t)
        cols["count_total"].append(cols["count_total"][-1] + 1)
        cols["count_good"].append(cols["count_good"][-1] + (cause < 0))
        cols["count_scrap"].append(cols["count_scrap"][-1] + (cause >= 0))
        for j, name in enumerate(SCRAP_CAUSES):
            cols[name].append(cols[name][-1] + (cause == j))
        cycle.append(round(work / seg.l0, 1))
    return out, log


def _mode(c: Ctx) -> tuple[str, str]:
    code, tc = c.code, c.tclass
    if tc is TimeClass.PRODUCTION:
        return "AUTOMATIC", "ACTIVE"
    if code.startswith("MS-"):
        return "AUTOMATIC", "FEED_HOLD" if code == "MS-OPERATOR-LOAD" else "INTERRUPTED"
    if tc is SETUP:
        return "MANUAL_DATA_INPUT", "READY"
    if tc is TimeClass.IDLE:
        return "AUTOMATIC", "READY"
    return "MANUAL", "STOPPED"


def physics(c: Ctx) -> None:
    p, a, prm = c.p, c.product.attrs, c.params
    producing = c.producing()
    cutting = producing and unit(mix64(c.m.key ^ c.t)) < a["cut_frac"]
    wear = c.aux
    if cutting:
        load = a["load"] * c.seg.l0 ** 0.8 * (1.0 + prm["wear_load"] * wear)
        p["load"] = load * (1.0 + 0.03 * c.n(1))
        p["rpm"] = a["rpm"] * (1.0 + 0.002 * c.n(2))
    else:
        p["load"] = 3.0 + 1.0 * abs(c.n(1)) if producing else 0.0
        p["rpm"] = 0.0
    p["mode"], p["execution"] = _mode(c)
    p["wear"] = wear


def power(m: Machine, seg: Segment) -> tuple[float, float, float]:
    prm = m.params
    base = prm["base_kw"] * m.profile.energy_factor
    if seg.r in m.timeline.production and seg.l0 > 0.0:
        a = m.timeline.products[seg.prod].attrs
        cut = prm["rated_kw"] * a["load"] / 100.0 * seg.l0 ** 0.8 * a["cut_frac"]
        return base + cut, 0.0, cut * prm["wear_load"]
    tc = m.timeline.reasons[seg.r].tclass
    # Standby levels: setup keeps hydraulics and control on; planned maintenance is mostly powered off.
    factor = {SETUP: 0.8, DOWN: 0.6, PLANNED: 0.15}.get(tc, 0.55)
    return base * factor, 0.0, 0.0


def alarms(m: Machine, sec: Section) -> list[Item]:
    out: list[Item] = []
    for s in sec.segs:
        alarm = ALARMS.get(m.timeline.reasons[s.r].code)
        if alarm is not None:
            out.append((s.start, "alarms", "active", "alarm", *alarm))
            out.append((s.end, "alarms", "cleared", "alarm", *alarm))
    return out


def _tool_now(c: Ctx) -> str:
    return str(c.m.last_item("tool_id", c.t, f"T{c.product.attrs['tool']:02d}.1"))


TAGS: tuple[TagSpec, ...] = (
    *state_tags(),
    TagSpec("alarms", DataType.STRING, lambda c: "", "", "alarms", description="CNC alarm journal (events)",
            exact=True, periodic=False),
    TagSpec("mode", DataType.STRING, lambda c: c.p["mode"], "", "mode", description="Controller mode (MTConnect)"),
    TagSpec("execution", DataType.STRING, lambda c: c.p["execution"], "", "execution",
            description="Program execution state (MTConnect Execution)"),
    TagSpec("program", DataType.STRING, lambda c: c.product.attrs["program"], "", "program",
            description="Active NC program"),
    *product_tags(),
    *count_tags("Parts"),
    *(counter(n, "count_scrap_cause", f"Parts scrapped, cause {n[6:]}", cause=n[6:]) for n in SCRAP_CAUSES),
    TagSpec("cycle_time", DataType.FLOAT, lambda c: c.c["cycle_time"], "s", "cycle_time", 0.0, 7200.0,
            "Cycle time of the last part", digits=1),
    TagSpec("spindle_speed", DataType.FLOAT, lambda c: c.p["rpm"], "rpm", "spindle_speed", 0.0, 16000.0,
            "Spindle speed", deadband=20.0, digits=0),
    TagSpec("spindle_load", DataType.FLOAT, lambda c: c.p["load"], "%", "spindle_load", 0.0, 150.0,
            "Spindle load (% of rated torque)", deadband=2.0, digits=1),
    TagSpec("feed_override", DataType.INT, lambda c: round(c.seg.l0 * 100) if c.producing() else 100, "%",
            "feed_override", 0, 150, "Feed override"),
    TagSpec("tool_id", DataType.STRING, _tool_now, "", "tool_id", description="Active tool (number.sister)",
            exact=True),
    TagSpec("tool_life_used", DataType.FLOAT, lambda c: c.p["wear"] * 100.0, "%", "tool_life_used", 0.0, 100.0,
            "Share of the nominal tool life used", deadband=1.0, digits=1),
    TagSpec("coolant_temp", DataType.FLOAT,
            lambda c: 21.0 + 0.08 * c.p["load"] + 2.0 * c.drift(3, 12.0) + 0.2 * c.n(3), "degC", "temperature",
            10.0, 45.0, "Coolant temperature", deadband=0.5, digits=1),
    *energy_tags(80.0),
)

KIND = MachineKind(
    name="cnc", sector="equipment", description="CNC machining centre", tags=TAGS, states=STATES,
    catalogue=catalogue, params=params, physics=physics, parts=parts,
    totals=(Total("energy_kwh", power),), counters=("count_total", "count_good", "count_scrap", *SCRAP_CAUSES),
    lasts=("cycle_time",), exact=alarms, orders=True)
