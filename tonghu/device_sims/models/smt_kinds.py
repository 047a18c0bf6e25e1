"""Electronics: tag tables and kinds of the SMT line's assets (line, printer, pick-and-place, reflow, AOI).

Counters: every asset carries count_total/good/scrap of the boards it handled. Only the ``line`` asset's
counters are the line's output (``attrs.line_output``); station energy meters are sub-meters of the line
meter (``attrs.submeter_of``), so roll-ups must not add them to it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from types import MappingProxyType
from typing import Any

from tonghu.device_sims.models import smt
from tonghu.device_sims.models.common import energy_tags, product_tags, state_tags
from tonghu.device_sims.models.core import (
    DataType,
    MachineKind,
    Segment,
    TagSpec,
    TimeClass,
    Total,
)
from tonghu.device_sims.models.machine import Ctx, Machine

INT, FLOAT, STRING = DataType.INT, DataType.FLOAT, DataType.STRING
Cols = Mapping[str, Any]

# Electrical load (kW) per station: producing, waiting (idle, starved, blocked, setup, down), maintenance.
_LOAD = MappingProxyType({"printer": (1.8, 1.0, 0.1), "pnp": (4.2, 1.6, 0.1), "aoi": (1.5, 1.2, 0.1)})
_OVEN_HOLD_KW = 11.0          # insulation and exhaust losses at a ~200 °C mean setpoint
_OVEN_FANS_KW = 3.0
_BOARD_KWH = 0.018            # ≈ 0.25 kg board × 1 kJ/(kg·K) × 220 K, plus components
_LINE_AUX_KW = 1.2            # conveyors, loader, unloader, lighting


def _station_kw(station: str, m: Machine, seg: Segment) -> float:
    tl = m.timeline
    tclass = smt.station_view(station, tl.reasons[seg.r])[3]
    ef = m.profile.energy_factor
    if station == "reflow":
        hold = (_OVEN_HOLD_KW + _OVEN_FANS_KW) * ef
        if tclass is TimeClass.PLANNED_DOWN:
            return 0.25 * hold  # off, then the reheat at the end of the window
        if tclass is TimeClass.PRODUCTION and seg.l0 > 0.0:
            boards_h = 3600.0 * seg.l0 / tl.products[seg.prod].ideal_ct_s
            return hold + boards_h * _BOARD_KWH
        return hold
    run, wait, off = _LOAD[station]
    if tclass is TimeClass.PLANNED_DOWN:
        return off
    if tclass is TimeClass.PRODUCTION and seg.l0 > 0.0:
        return run * (0.6 + 0.4 * seg.l0) * ef  # motion power follows the line speed
    return wait * ef


def _power(station: str, m: Machine, seg: Segment) -> tuple[float, float, float]:
    if station == "line":
        return sum(_station_kw(s, m, seg) for s in smt.STATIONS) + _LINE_AUX_KW, 0.0, 0.0
    return _station_kw(station, m, seg), 0.0, 0.0


def _counts(total: Callable[[Cols], float], scrap: Callable[[Cols], float], what: str,
            **attrs: Any) -> tuple[TagSpec, ...]:
    return (
        TagSpec("count_total", INT, lambda c: int(total(c.c)), "count", "count_total", 0, None,
                f"Boards {what} (good + scrap), reset weekly", attrs=attrs),
        TagSpec("count_good", INT, lambda c: int(total(c.c) - scrap(c.c)), "count", "count_good", 0, None,
                f"Boards {what} and passed on good, reset weekly", attrs=attrs),
        TagSpec("count_scrap", INT, lambda c: int(scrap(c.c)), "count", "count_scrap", 0, None,
                f"Boards {what} and scrapped, reset weekly", attrs=attrs),
    )


def _col(name: str, role: str, description: str, **attrs: Any) -> TagSpec:
    return TagSpec(name, INT, lambda c: int(c.c[name]), "count", role, 0, None, description, attrs=attrs)


def _boards_in(c: Cols) -> float:
    return c["boards"] - c["misprints"]


def _station_common(station: str, orders: bool = False) -> tuple[TagSpec, ...]:
    sub = {} if station == "line" else {"submeter_of": "line"}
    return (
        *state_tags(orders),
        *product_tags(lambda c: c.product.attrs["ct"][station] if station != "line" else c.product.ideal_ct_s),
        *energy_tags(40.0 if station in ("reflow", "line") else 10.0, **sub),
    )


def _nothing(c: Ctx) -> None:
    return None


def _printer_physics(c: Ctx) -> None:
    c.p["producing"] = c.producing()


def _oven_physics(c: Ctx) -> None:
    temps, speed, peak, tal = smt.oven(c.m.timeline, c.seg, c.t, c.since)
    p = c.p
    p["temps"], p["speed"], p["peak"], p["tal"] = temps, speed, peak, tal
    if c.tclass is TimeClass.PLANNED_DOWN:
        p["o2"] = 209000.0  # nitrogen off: air
    else:
        p["o2"] = c.params["o2_ppm"] * (1.0 + 0.25 * c.drift(5, 8.0)) * (1.0 + 0.02 * c.n(5))


def _zone(i: int) -> TagSpec:
    return TagSpec(f"zone{i + 1}_temp", FLOAT, lambda c: c.p["temps"][i] + 0.4 * c.n(10 + i), "degC", "temperature",
                   0.0, 320.0, f"Reflow zone {i + 1} air temperature", deadband=1.0, digits=1)


LINE_TAGS = (
    *_station_common("line", orders=True),
    *_counts(lambda c: c["boards"], lambda c: c["misprints"] + c["aoi_scrap"], "completed by the line",
             line_output=True),
    TagSpec("boards_per_hour", FLOAT,
            lambda c: 3600.0 * c.seg.l0 / c.product.ideal_ct_s if c.producing() else 0.0, "1/h", "rate",
            0.0, 1000.0, "Current line rate", deadband=2.0, digits=1),
    TagSpec("opportunities", INT, lambda c: c.product.attrs["opportunities"], "count", "opportunities", 0, 10000,
            "Defect opportunities (solder joints) per board of the current product"),
)

PRINTER_TAGS = (
    *_station_common("printer"),
    *_counts(lambda c: c["boards"], lambda c: c["misprints"], "printed"),
    TagSpec("stencil_id", STRING, lambda c: c.product.attrs["stencil"], "", "tool_id", description="Stencil"),
    TagSpec("print_speed", FLOAT, lambda c: float(c.product.attrs["print_speed"]) if c.p["producing"] else 0.0,
            "mm/s", "speed", 0.0, 200.0, "Squeegee speed", digits=0),
    TagSpec("squeegee_force", FLOAT, lambda c: c.product.attrs["squeegee_n"] + 0.8 * c.n(20), "N", "force",
            0.0, 200.0, "Squeegee force", deadband=2.0, digits=1),
    TagSpec("prints_since_clean", INT, lambda c: int(c.c["since_wipe"]), "count", "", 0, 20,
            "Prints since the last under-stencil wipe"),
    TagSpec("paste_volume", FLOAT, lambda c: c.c["paste_volume"] or 100.0, "%", "process_value", 40.0, 160.0,
            "Solder-paste volume of the last print (SPI, % of aperture)", deadband=2.0, digits=1,
            attrs={"lo_limit": 78.0, "hi_limit": 122.0}),
)

PNP_TAGS = (
    *_station_common("pnp"),
    *_counts(_boards_in, lambda c: 0.0, "populated"),
    _col("placements", "placements", "Components placed, reset weekly"),
    _col("placement_errors", "placement_errors", "Components not placed after pick retries, reset weekly"),
    _col("mispicks", "mispicks_total", "Pick failures (all feeders), reset weekly"),
    *(_col(f"mispicks_{f}", "mispicks", f"Pick failures at feeder slot {f.upper()}", feeder_slot=f.upper())
      for f in smt.FEEDERS),
    *(_col(f"mispicks_{n}", "mispicks", f"Pick failures on nozzle {n.upper()}", nozzle=n.upper())
      for n in smt.NOZZLES),
    TagSpec("cph", FLOAT, lambda c: 3600.0 * c.seg.l0 * c.product.attrs["placements"] / c.product.ideal_ct_s
            if c.producing() else 0.0, "1/h", "placement_rate", 0.0, 150000.0, "Placement rate",
            deadband=200.0, digits=0),
    TagSpec("rated_cph", FLOAT, lambda c: c.params["cph"], "1/h", "rated_placement_rate", 0.0, 150000.0,
            "Rated placement rate (IPC-9850)", digits=0),
)

REFLOW_TAGS = (
    *_station_common("reflow"),
    *_counts(_boards_in, lambda c: 0.0, "soldered"),
    *(_zone(i) for i in range(len(smt.BASE_SETPOINTS))),
    TagSpec("conveyor_speed", FLOAT, lambda c: c.p["speed"] * 100.0, "cm/min", "speed", 0.0, 200.0,
            "Conveyor speed", deadband=0.5, digits=1),
    TagSpec("o2_ppm", FLOAT, lambda c: c.p["o2"], "ppm", "process_value", 0.0, 210000.0,
            "Residual oxygen in the nitrogen atmosphere", deadband=40.0, digits=0, attrs={"hi_limit": 1500.0}),
    TagSpec("peak_temp", FLOAT, lambda c: c.p["peak"] + 0.3 * c.n(30), "degC", "process_value", 0.0, 300.0,
            "Predicted board peak temperature", deadband=0.5, digits=1, attrs={"lo_limit": 235.0, "hi_limit": 250.0}),
    TagSpec("time_above_liquidus", FLOAT, lambda c: c.p["tal"], "s", "process_value", 0.0, 200.0,
            "Predicted time above 217 °C (SAC305 liquidus)", deadband=1.0, digits=1,
            attrs={"lo_limit": 45.0, "hi_limit": 90.0}),
)

AOI_TAGS = (
    *_station_common("aoi"),
    *_counts(lambda c: c["aoi_inspected"], lambda c: c["aoi_scrap"], "inspected"),
    _col("aoi_inspected", "aoi_inspected", "Boards inspected, reset weekly"),
    _col("aoi_passed", "aoi_passed_first", "Boards passed at first inspection (no call), reset weekly"),
    _col("aoi_defects", "aoi_defects", "Defects confirmed at verification, reset weekly"),
    _col("aoi_false_calls", "aoi_false_calls", "Calls not confirmed at verification, reset weekly"),
    *(_col(f"aoi_defects_{t}", "aoi_defects_by_type", f"Confirmed {t} defects", defect_type=t)
      for t in smt.DEFECT_TYPES),
    TagSpec("aoi_last_defect", STRING, lambda c: c.m.last_item("aoi_last_defect", c.t, ""), "", "aoi_defect_detail",
            description="Defects of the last failed board: designator:type;…", exact=True, periodic=False),
    TagSpec("opportunities", INT, lambda c: c.product.attrs["opportunities"], "count", "opportunities", 0, 10000,
            "Defect opportunities (solder joints) per board"),
)


def _kind(station: str, description: str, tags: tuple[TagSpec, ...], physics: Callable[[Ctx], None],
          counters: tuple[str, ...], lasts: tuple[str, ...] = ()) -> MachineKind:
    return MachineKind(
        name=f"smt_{station}", sector="electronics", description=description, tags=tags, states=smt.STATES,
        catalogue=smt.catalogue, params=smt.params, physics=physics, parts=smt.parts,
        totals=(Total("energy_kwh", partial(_power, station)),), counters=counters, lasts=lasts,
        view=partial(smt.station_view, station), orders=station == "line")


LINE = _kind("line", "SMT line (line controller view)", LINE_TAGS, _nothing, ("boards", "misprints", "aoi_scrap"))
PRINTER = _kind("printer", "Stencil printer", PRINTER_TAGS, _printer_physics, ("boards", "misprints"),
                ("paste_volume", "since_wipe"))
PNP = _kind("pnp", "Pick-and-place machine", PNP_TAGS, _nothing,
            ("boards", "misprints", "placements", "placement_errors", "mispicks",
             *(f"mispicks_{f}" for f in smt.FEEDERS), *(f"mispicks_{n}" for n in smt.NOZZLES)))
REFLOW = _kind("reflow", "Convection reflow oven, 8 heated zones, nitrogen", REFLOW_TAGS, _oven_physics,
               ("boards", "misprints"))
AOI = _kind("aoi", "Automated optical inspection", AOI_TAGS, _nothing,
            ("aoi_inspected", "aoi_passed", "aoi_defects", "aoi_false_calls", "aoi_scrap",
             *(f"aoi_defects_{t}" for t in smt.DEFECT_TYPES)))
# Line order; the fleet builds one machine per kind on a shared timeline.
KINDS = MappingProxyType({"line": LINE, "printer": PRINTER, "pnp": PNP, "reflow": REFLOW, "aoi": AOI})
