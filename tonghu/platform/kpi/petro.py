"""Petrochemical KPIs of process units: throughput, product yields and the mass balance, specific energy
consumption in primary energy, CO2 and flaring intensity. All from totaliser increases over the range."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import psycopg

from tonghu.platform.kpi.core import ratio
from tonghu.platform.kpi.scope import Scope
from tonghu.platform.kpi.tags import by_role, total

# Primary energy factors, documented in docs/KPI.md:
# - steam: specific enthalpy of saturated steam at 10 bar(a), 2.778 GJ/t (IAPWS-IF97 steam tables), raised in a
#   boiler of 90 % efficiency → 3.087 GJ of fuel per tonne of steam;
# - electricity: the EU default primary energy factor 2.1 (Directive (EU) 2018/2002 amending 2012/27/EU,
#   Annex IV), 1 kWh = 0.0036 GJ.
STEAM_GJ_PER_T = 2.778 / 0.90
POWER_GJ_PER_KWH = 0.0036 * 2.1
ROLES = ("feed_t", "product_t", "fuel_gj", "steam_t", "power_kwh", "flare_t", "co2_t")


def petrochemical(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime,
                  now: datetime | None = None) -> dict[str, Any]:
    rows = by_role(conn, scope, start, end, ROLES)
    feed = total(rows, "feed_t")
    products: dict[str, float] = defaultdict(float)
    for t, s in rows:
        if t.role == "product_t":
            products[str(t.attrs.get("product", t.name))] += s.delta
    made = sum(products.values())
    flare, co2 = total(rows, "flare_t"), total(rows, "co2_t")
    fuel, steam, power = total(rows, "fuel_gj"), total(rows, "steam_t"), total(rows, "power_kwh")
    primary = fuel + steam * STEAM_GJ_PER_T + power * POWER_GJ_PER_KWH
    hours = max(0.0, (min(end, now or datetime.now(UTC)) - start).total_seconds()) / 3600.0
    flaring = ratio(flare * 1000.0, feed)
    return {
        "throughput_t_per_h": ratio(feed, hours),
        "feed_t": feed, "products_t": dict(sorted(products.items())), "products_total_t": made,
        "yields": {p: ratio(v, feed) for p, v in sorted(products.items())},
        # Mass balance feed = products + flare + unaccounted loss.
        "loss_ratio": ratio(feed - made, feed),
        "closure_error": ratio(made + flare - feed, feed),
        "primary_energy_gj": primary, "fuel_gj": fuel, "steam_t": steam, "power_kwh": power,
        "sec_gj_per_t": ratio(primary, made),
        "co2_t": co2, "co2_intensity_t_per_t": ratio(co2, made),
        "flare_t": flare, "flaring_kg_per_t_feed": flaring,
    }
