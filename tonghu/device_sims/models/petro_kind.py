"""Petrochemical: the tag table and kind of the crude distillation unit (model in :mod:`petro`)."""

from __future__ import annotations

from typing import Any

from tonghu.device_sims.models import petro
from tonghu.device_sims.models.common import state_tags
from tonghu.device_sims.models.common import total as _total
from tonghu.device_sims.models.core import DataType, MachineKind, TagSpec

FLOAT = DataType.FLOAT
NOTE = "totaliser reset weekly at the accounting cut-off"
# Totalisers of a process unit go to history every 15 minutes (each keyframe); hourly balances stay exact because
# keyframes fall on every hour.
TOTAL_GAP_S = 900.0


def _rate(name: str, total_name: str, unit: str, role: str, hi: float, description: str, deadband: float,
          k: int, **attrs: Any) -> TagSpec:
    return TagSpec(name, FLOAT, lambda c: max(0.0, c.r[total_name] * (1.0 + 0.004 * c.n(k))), unit, role, 0.0, hi,
                   description, deadband=deadband, digits=2, attrs=attrs)


def _pv(name: str, unit: str, lo: float, hi: float, description: str, deadband: float) -> TagSpec:
    return TagSpec(name, FLOAT, lambda c: c.p[name], unit, "process_value", lo, hi, description, deadband=deadband,
                   digits=2)


def total(name: str, unit: str, role: str, description: str, digits: int = 3, **attrs: Any) -> TagSpec:
    return _total(name, unit, role, description, digits, min_interval_s=TOTAL_GAP_S, **attrs)


def _lab(name: str, unit: str, nominal: float, description: str) -> TagSpec:
    return TagSpec(name, FLOAT, lambda c: c.m.last_item(name, c.t, nominal), unit, "lab_quality", 0.0, 500.0,
                   description, digits=1, exact=True, periodic=False)


TAGS = (
    *state_tags(orders=False),
    TagSpec("alarms", DataType.STRING, lambda c: "", "", "alarms", description="Alarm journal (events)",
            exact=True, periodic=False),
    _rate("feed_rate", "feed_t", "t/h", "feed_rate", 1200.0, "Crude feed flow", 12.0, 20),
    total("feed_t", "t", "feed_t", f"Crude feed, {NOTE}"),
    *(_rate(f"{n}_rate", f"{n}_t", "t/h", "product_rate", 1200.0, f"{n.capitalize()} product flow", db, 21 + i,
            product=n) for i, (n, db) in enumerate(zip(petro.PRODUCTS, (0.8, 4.0, 3.0, 5.0, 8.0), strict=True))),
    *(total(f"{n}_t", "t", "product_t", f"{n.capitalize()} product, {NOTE}", product=n) for n in petro.PRODUCTS),
    total("count_total", "t", "count_total", f"All products, {NOTE}"),
    total("count_good", "t", "count_good", f"On-spec products, {NOTE}"),
    total("count_scrap", "t", "count_scrap", f"Off-spec products sent to slop, {NOTE}"),
    TagSpec("ideal_rate", FLOAT, lambda c: c.product.attrs["ideal_rate"], "t/h", "ideal_rate", 0.0, 1200.0,
            "Design product rate", digits=1),
    _rate("fuel_rate", "fuel_gj", "GJ/h", "fuel_rate", 1500.0, "Heater fuel gas (lower heating value)", 6.0, 30),
    total("fuel_gj", "GJ", "fuel_gj", f"Heater fuel gas, {NOTE}"),
    _rate("steam_rate", "steam_t", "t/h", "steam_rate", 100.0, "Stripping and tracing steam", 0.5, 31),
    total("steam_t", "t", "steam_t", f"Steam, {NOTE}"),
    _rate("power_kw", "power_kwh", "kW", "power", 20000.0, "Electrical power", 80.0, 32),
    total("power_kwh", "kWh", "power_kwh", f"Electrical energy, {NOTE}", digits=1),
    _rate("flare_rate", "flare_t", "t/h", "flare_rate", 100.0, "Flare gas to the flare header", 0.05, 33),
    total("flare_t", "t", "flare_t", f"Flared gas, {NOTE}"),
    _rate("co2_rate", "co2_t", "t/h", "co2_rate", 250.0, "CO2 emitted (fuel and flare, scope 1)", 0.5, 34),
    total("co2_t", "t", "co2_t", f"CO2 emitted (fuel and flare, scope 1), {NOTE}",
          ef_fuel_t_per_gj=petro.EF_NATURAL_GAS_T_PER_GJ, ef_flare_t_per_t=petro.EF_FLARE_T_PER_T),
    _pv("heater_outlet_temp", "degC", 0.0, 450.0, "Heater coil outlet temperature", 3.0),
    _pv("column_top_temp", "degC", 0.0, 200.0, "Column top temperature", 2.0),
    _pv("column_top_press", "bar(g)", 0.0, 4.0, "Column top pressure", 0.08),
    _pv("column_bottom_temp", "degC", 0.0, 420.0, "Column bottom temperature", 3.5),
    _pv("reflux_drum_level", "%", 0.0, 100.0, "Reflux drum level", 5.0),
    _pv("heater_o2_pct", "%", 0.0, 21.0, "Heater flue-gas oxygen (dry)", 0.5),
    _pv("stack_temp", "degC", 0.0, 450.0, "Heater stack temperature", 5.0),
    _lab("lab_naphtha_fbp", "degC", 172.0, "Lab: heavy naphtha final boiling point (ASTM D86)"),
    _lab("lab_kero_flash", "degC", 45.0, "Lab: kerosene flash point"),
    _lab("lab_diesel_t95", "degC", 352.0, "Lab: diesel 95 % recovered temperature (ASTM D86)"),
)

KIND = MachineKind(
    name="cdu", sector="petrochemical", description="Atmospheric crude distillation unit", tags=TAGS,
    states=petro.STATES, catalogue=petro.catalogue, params=petro.params, physics=petro.physics, parts=petro.parts,
    totals=petro.TOTAL_SPECS, item_spill_s=4 * 86400)
