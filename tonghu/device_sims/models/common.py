"""Building blocks every sector uses: the standard tags of ARCHITECTURE.md's semantic roles and the stop
episodes of discrete manufacturing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tonghu.device_sims.models.core import (
    DataType,
    Dist,
    Episode,
    Reason,
    TagSpec,
    TimeClass,
)
from tonghu.device_sims.models.machine import Ctx
from tonghu.device_sims.models.profile import Profile
from tonghu.device_sims.models.rng import Draws

PROD, SETUP, DOWN = TimeClass.PRODUCTION, TimeClass.SETUP, TimeClass.UNPLANNED_DOWN
PLANNED, IDLE = TimeClass.PLANNED_DOWN, TimeClass.IDLE

# Codes every discrete kind shares (sector tables add their BRK-/MS- codes).
RUN = Reason("RUN-PRODUCTION", "running", PROD, "Producing")
SETUP_PRODUCT = Reason("SETUP-PRODUCT", "setup", SETUP, "Changeover to another product")
SETUP_ORDER = Reason("SETUP-ORDER", "setup", SETUP, "New order of the same product: verification, first article",
                     scale=0.35)
PM_WEEKLY = Reason("PM-WEEKLY", "planned_down", PLANNED, "Weekly preventive maintenance")
IDLE_NO_ORDER = Reason("IDLE-NO-ORDER", "idle", IDLE, "No released order")


def counter(name: str, role: str, description: str, col: str | None = None, **attrs: Any) -> TagSpec:
    """A reset-safe unit counter read from the part-log column ``col`` (default: the tag name)."""
    key = col or name
    return TagSpec(name, DataType.INT, lambda c: int(c.c[key]), "count", role, 0, None, description, attrs=attrs)


def total(name: str, unit: str, role: str, description: str, digits: int = 3, min_interval_s: float = 300.0,
          **attrs: Any) -> TagSpec:
    """A monotonic totaliser (reset weekly) integrated exactly from the timeline, reported at most every
    ``min_interval_s`` when throttled."""
    return TagSpec(name, DataType.FLOAT, lambda c: c.c[name], unit, role, 0.0, None, description,
                   min_interval_s=min_interval_s, digits=digits, attrs=attrs)


def state_tags(orders: bool = True) -> tuple[TagSpec, ...]:
    tags = [
        TagSpec("state", DataType.STATE, lambda c: c.state, "", "state", description="Machine state",
                exact=True),
        TagSpec("reason", DataType.STRING, lambda c: c.code, "", "reason",
                description="Reason code of the current state", exact=True),
    ]
    if orders:
        tags.append(TagSpec("order", DataType.STRING, lambda c: c.m.order_at(c.t), "", "order",
                            description="Current production order (events at each order start)", exact=True))
    return tuple(tags)


def product_tags(ideal: Callable[[Ctx], float] | None = None) -> tuple[TagSpec, ...]:
    return (
        TagSpec("product", DataType.STRING, lambda c: c.product.code, "", "product", description="Product running"),
        TagSpec("ideal_cycle_time", DataType.FLOAT, ideal or (lambda c: c.product.ideal_ct_s), "s",
                "ideal_cycle_time", 0.0, 7200.0, "Ideal cycle time per unit of the current product", digits=2),
    )


def count_tags(prefix_description: str = "Units") -> tuple[TagSpec, ...]:
    return (
        counter("count_total", "count_total", f"{prefix_description} produced (good + scrap), reset weekly"),
        counter("count_good", "count_good", f"{prefix_description} good, reset weekly"),
        counter("count_scrap", "count_scrap", f"{prefix_description} scrapped, reset weekly"),
    )


def energy_tags(power_hi: float, **attrs: Any) -> tuple[TagSpec, ...]:
    return (
        total("energy_kwh", "kWh", "energy_kwh", "Electrical energy, reset weekly with the PLC counters",
              **attrs),
        TagSpec("power_kw", DataType.FLOAT, lambda c: max(0.0, c.r["energy_kwh"] * (1.0 + 0.01 * c.n(99))),
                "kW", "power", 0.0, power_hi, "Active power", deadband=0.02 * power_hi, digits=2),
    )


def speed_level(p: Profile, d: Draws) -> float:
    """Speed factor of one production run: the profile's mean speed with run-to-run variation."""
    return min(1.04, max(0.55, p.speed_factor + p.speed_sd * d.normal()))


def breakdown_dist(p: Profile) -> Dist:
    return Dist("lognormal", p.mttr_min * 60.0, p.repair_cv, lo_s=60.0)


def microstop_dist(p: Profile) -> Dist:
    return Dist("exponential", p.microstop_mean_s)


def idle_dist(p: Profile) -> Dist:
    return Dist("exponential", p.idle_mean_min * 60.0, lo_s=60.0)


def setup_dist(p: Profile) -> Dist:
    return Dist("lognormal", p.setup_mean_min * 60.0, p.setup_cv, lo_s=120.0)


def discrete_episodes(breakdowns: Sequence[str], microstops: Sequence[str]) -> tuple[Episode, ...]:
    """Breakdowns (lognormal repairs), micro-stops (exponential) and no-order idling, with profile rates."""
    return (
        Episode("breakdown", tuple(breakdowns), breakdown_dist, lambda p: 1.0 / p.mtbf_h),
        Episode("microstop", tuple(microstops), microstop_dist, lambda p: p.microstop_per_h),
        Episode("idle", (IDLE_NO_ORDER.code,), idle_dist, lambda p: p.idle_per_day / 24.0, interruptible=True),
    )
