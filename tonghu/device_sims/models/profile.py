"""Per-company performance profiles, drawn deterministically so that companies in one sector really differ.

A company has a latent "operational excellence" score z ~ N(0, 1). Every parameter moves with z (good plants
have fewer breakdowns, faster repairs, shorter setups, less scrap, lower energy intensity) plus its own
idiosyncratic term, so a company can be excellent at maintenance and mediocre at energy. Medians and spreads
are plausible orders of magnitude for each sector, not data from any real plant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Any

from tonghu.device_sims.models.rng import Draws, derive

SECTORS = ("electronics", "petrochemical", "equipment")


@dataclass(frozen=True)
class Profile:
    """Performance parameters of one company (or one machine after :meth:`jitter`).

    Times: ``mtbf_h`` is production time between breakdowns (trips for process units); ``mttr_min`` the mean
    repair (shutdown) time with coefficient of variation ``repair_cv``; micro-stops come at ``microstop_per_h``
    per production hour and last ``microstop_mean_s`` on average (exponential). ``speed_factor`` is the mean
    actual/ideal rate while producing (throughput fraction of design for process units). ``scrap_rate`` is the
    base scrap fraction (off-spec fraction for process units). ``energy_factor`` scales the kind's reference
    energy intensity; ``drift_per_day`` scales degradation (tool wear, heater fouling, nozzle wear);
    ``quality_sigma`` scales process spread (so Cp/Cpk and defect rates). ``z`` is the latent excellence score.
    """

    z: float
    mtbf_h: float
    mttr_min: float
    repair_cv: float
    microstop_per_h: float
    microstop_mean_s: float
    setup_mean_min: float
    setup_cv: float
    changeovers_per_day: float
    idle_per_day: float
    idle_mean_min: float
    pm_hours: float
    speed_factor: float
    speed_sd: float
    scrap_rate: float
    energy_factor: float
    drift_per_day: float
    quality_sigma: float
    extra: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def x(self, name: str) -> float:
        """A sector-specific parameter (see ``SECTOR_EXTRAS``)."""
        return self.extra[name]

    def jitter(self, seed: int, amount: float = 0.08) -> Profile:
        """The same company profile with small per-machine differences (age, condition), deterministic in seed."""
        d = Draws(derive(seed, "jitter"))
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("z", "extra", "speed_factor", "speed_sd", "repair_cv", "setup_cv", "pm_hours"):
                continue
            changes[f.name] = getattr(self, f.name) * math.exp(amount * d.normal())
        changes["speed_factor"] = min(0.995, self.speed_factor * math.exp(amount * 0.25 * d.normal()))
        extra = {k: v * math.exp(amount * d.normal()) for k, v in sorted(self.extra.items())}
        return replace(self, extra=MappingProxyType(extra), **changes)


# name: (median, log-spread, +1 when higher is better / -1 when lower is better / 0 unrelated, lo, hi)
_Spec = tuple[float, float, int, float, float]


def _frozen(table: dict[str, dict[str, _Spec]]) -> Mapping[str, Mapping[str, _Spec]]:
    return MappingProxyType({k: MappingProxyType(v) for k, v in table.items()})


_COMMON: Mapping[str, Mapping[str, _Spec]] = _frozen({
    "electronics": {
        "mtbf_h": (30.0, 0.45, +1, 8.0, 150.0),
        "mttr_min": (45.0, 0.35, -1, 15.0, 180.0),
        "repair_cv": (0.9, 0.0, 0, 0.9, 0.9),
        "microstop_per_h": (1.6, 0.45, -1, 0.3, 6.0),
        "microstop_mean_s": (80.0, 0.3, -1, 30.0, 240.0),
        "setup_mean_min": (35.0, 0.35, -1, 12.0, 90.0),
        "setup_cv": (0.45, 0.0, 0, 0.45, 0.45),
        "changeovers_per_day": (3.0, 0.35, 0, 1.2, 8.0),
        "idle_per_day": (0.6, 0.5, -1, 0.05, 3.0),
        "idle_mean_min": (60.0, 0.4, -1, 15.0, 240.0),
        "pm_hours": (3.0, 0.2, 0, 1.5, 6.0),
        "speed_factor": (0.90, 0.04, +1, 0.75, 0.98),
        "speed_sd": (0.025, 0.0, 0, 0.025, 0.025),
        "scrap_rate": (0.004, 0.5, -1, 0.0005, 0.03),
        "energy_factor": (1.0, 0.14, -1, 0.7, 1.45),
        "drift_per_day": (1.0, 0.35, -1, 0.3, 3.0),
        "quality_sigma": (1.0, 0.25, -1, 0.5, 2.0),
    },
    "equipment": {
        "mtbf_h": (60.0, 0.45, +1, 15.0, 300.0),
        "mttr_min": (90.0, 0.35, -1, 30.0, 360.0),
        "repair_cv": (1.0, 0.0, 0, 1.0, 1.0),
        "microstop_per_h": (0.8, 0.45, -1, 0.1, 4.0),
        "microstop_mean_s": (120.0, 0.3, -1, 30.0, 300.0),
        "setup_mean_min": (55.0, 0.35, -1, 15.0, 180.0),
        "setup_cv": (0.5, 0.0, 0, 0.5, 0.5),
        "changeovers_per_day": (1.5, 0.35, 0, 0.5, 5.0),
        "idle_per_day": (0.5, 0.5, -1, 0.05, 3.0),
        "idle_mean_min": (75.0, 0.4, -1, 15.0, 300.0),
        "pm_hours": (2.5, 0.2, 0, 1.0, 6.0),
        "speed_factor": (0.88, 0.05, +1, 0.70, 0.98),
        "speed_sd": (0.03, 0.0, 0, 0.03, 0.03),
        "scrap_rate": (0.012, 0.5, -1, 0.002, 0.06),
        "energy_factor": (1.0, 0.14, -1, 0.7, 1.45),
        "drift_per_day": (1.0, 0.35, -1, 0.3, 3.0),
        "quality_sigma": (1.0, 0.25, -1, 0.5, 2.0),
    },
    "petrochemical": {
        "mtbf_h": (3000.0, 0.5, +1, 700.0, 15000.0),     # running time between trips
        "mttr_min": (1080.0, 0.3, -1, 480.0, 2880.0),    # shutdown after a trip
        "repair_cv": (0.5, 0.0, 0, 0.5, 0.5),
        "microstop_per_h": (0.0, 0.0, 0, 0.0, 0.0),
        "microstop_mean_s": (60.0, 0.0, 0, 60.0, 60.0),
        "setup_mean_min": (840.0, 0.25, -1, 360.0, 1800.0),  # startup
        "setup_cv": (0.35, 0.0, 0, 0.35, 0.35),
        "changeovers_per_day": (0.0, 0.0, 0, 0.0, 0.0),
        "idle_per_day": (0.012, 0.5, -1, 0.002, 0.05),   # hot circulation without feed
        "idle_mean_min": (600.0, 0.4, -1, 120.0, 1800.0),
        "pm_hours": (96.0, 0.25, -1, 48.0, 144.0),      # planned shutdown
        "speed_factor": (0.94, 0.03, +1, 0.82, 0.99),
        "speed_sd": (0.02, 0.0, 0, 0.02, 0.02),
        "scrap_rate": (0.008, 0.5, -1, 0.001, 0.04),
        "energy_factor": (1.0, 0.12, -1, 0.75, 1.35),
        "drift_per_day": (1.0, 0.35, -1, 0.3, 3.0),
        "quality_sigma": (1.0, 0.25, -1, 0.5, 2.0),
    },
})

# Sector-specific parameters (same spec shape).
SECTOR_EXTRAS: Mapping[str, Mapping[str, _Spec]] = _frozen({
    "electronics": {
        "defect_ppm": (40.0, 0.5, -1, 8.0, 250.0),         # solder-joint defects per million opportunities
        "mispick_ppm": (250.0, 0.5, -1, 50.0, 1500.0),     # pick failures per million picks
        "false_call_rate": (0.08, 0.5, -1, 0.01, 0.5),     # AOI false calls per board
        "o2_ppm": (700.0, 0.4, -1, 200.0, 2500.0),        # reflow nitrogen atmosphere
        "rework_scrap": (0.1, 0.4, -1, 0.02, 0.35),       # share of defective boards scrapped after review
    },
    "equipment": {
        "tool_life_min": (90.0, 0.3, +1, 30.0, 240.0),    # cutting minutes per tool edge
        "wear_scrap": (6.0, 0.35, -1, 2.0, 15.0),         # scrap multiplier at end of tool life
        "manual_cv": (0.2, 0.3, -1, 0.08, 0.4),           # operator cycle-time variation at assembly
        "starved_per_h": (0.5, 0.45, -1, 0.05, 2.5),      # upstream shortages at assembly
        "blocked_per_h": (0.3, 0.45, -1, 0.05, 2.0),      # downstream congestion at assembly
    },
    "petrochemical": {
        "rr_per_30d": (2.0, 0.5, -1, 0.3, 8.0),           # reduced-rate episodes per 30 days
        "rr_mean_h": (20.0, 0.35, -1, 4.0, 72.0),
        "alarms_per_day": (8.0, 0.6, -1, 1.0, 60.0),      # standing process alarms (EEMUA 191 target < 144/day)
        "chatter_per_week": (0.6, 0.6, -1, 0.05, 4.0),
        "o2_pct": (3.0, 0.2, -1, 1.8, 5.5),               # heater excess O2
        "sd_interval_days": (180.0, 0.2, +1, 90.0, 400.0),
    },
})


def draw_profile(sector: str, seed: int, z: float | None = None) -> Profile:
    """The profile of one company of ``sector``; the same seed always gives the same profile."""
    if sector not in _COMMON:
        raise ValueError(f"sector {sector!r} must be one of {', '.join(SECTORS)}")
    d = Draws(derive(seed, "profile", sector))
    latent = d.normal() if z is None else z

    def value(spec: _Spec) -> float:
        median, spread, better, lo, hi = spec
        # 0.75 shared + 0.66 own keeps each parameter's total spread near `spread` (0.75² + 0.66² ≈ 1).
        own = d.normal()
        v = median * math.exp(spread * (0.75 * better * latent + 0.66 * own))
        return min(hi, max(lo, v))

    common = {name: value(spec) for name, spec in _COMMON[sector].items()}
    extra = {name: value(spec) for name, spec in SECTOR_EXTRAS[sector].items()}
    return Profile(z=latent, extra=MappingProxyType(extra), **common)
