"""ISO 22400-2:2014 KPIs from summed facts (the comments name each KPI as the standard does).

Time elements of ISO 22400-2: APT actual production time, ASUT actual unit setup time, ADET actual unit down
time (unplanned), PDOT planned down time. Time without orders (idle, starved, blocked) is not planned busy time, so
the planned busy time is PBT = APT + ASUT + ADET. Every ratio is None when its denominator is zero, never 0 or
NaN: "no production" is not "zero performance".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tonghu.platform.kpi.facts import Facts


def ratio(num: float, den: float) -> float | None:
    return num / den if den > 0 else None


@dataclass(frozen=True, slots=True)
class CoreKpis:
    availability: float | None            # APT / PBT (ISO 22400-2 availability)
    effectiveness: float | None           # Σ(PRI × PQ) / APT, PRI = planned run time per item
    quality: float | None                 # GQ / PQ (quality ratio)
    oee: float | None                     # availability × effectiveness × quality ratio (OEE index)
    technical_efficiency: float | None    # APT / (APT + ADET)
    setup_ratio: float | None             # ASUT / APT (setup rate)
    throughput_per_h: float | None        # PQ / PBT, PBT standing in for the order execution time
    scrap_ratio: float | None             # SQ / PQ
    rework_ratio: float | None            # RQ / PQ, None without a rework counter
    mtbf_s: float | None                  # APT / FE, mean operating time between failures
    mttr_s: float | None                  # Σ TTR / FE, mean time to restore
    energy_per_good_kwh: float | None     # energy / GQ (the asset's meters; above it, main meters only)
    pbt_s: float
    apt_s: float
    produced: float
    good: float

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)


def core(f: Facts, *, has_rework: bool = False, asset_level: bool = False) -> CoreKpis:
    """KPIs of one set of summed facts (one asset, or a line/site/company summed over its output assets)."""
    pbt = f.production_s + f.setup_s + f.unplanned_down_s
    a = ratio(f.production_s, pbt)
    e = ratio(f.ideal_s, f.production_s)
    q = ratio(f.good, f.produced)
    oee = a * e * q if a is not None and e is not None and q is not None else None
    energy = f.energy_kwh if asset_level else f.energy_main_kwh
    return CoreKpis(
        availability=a, effectiveness=e, quality=q, oee=oee,
        technical_efficiency=ratio(f.production_s, f.production_s + f.unplanned_down_s),
        setup_ratio=ratio(f.setup_s, f.production_s),
        throughput_per_h=ratio(f.produced * 3600.0, pbt),
        scrap_ratio=ratio(f.scrap, f.produced),
        rework_ratio=ratio(f.rework, f.produced) if has_rework else None,
        mtbf_s=ratio(f.production_s, f.failures),
        mttr_s=ratio(f.failure_down_s, f.failures),
        energy_per_good_kwh=ratio(energy, f.good),
        pbt_s=pbt, apt_s=f.production_s, produced=f.produced, good=f.good)
