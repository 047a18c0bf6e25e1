"""A deterministic fleet: companies of the three sectors with their sites, lines and machines.

Companies take turns across sectors (electronics, petrochemical, equipment), so the default of 18 gives six per
sector, enough for benchmark cells to pass a five-company disclosure threshold. Within a sector, companies'
latent excellence scores are spread over the quantiles of N(0, 1) in a seeded order, so every fleet has clearly
better and clearly worse plants; individual machines then differ a little from their company (age, condition).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist
from types import MappingProxyType

from tonghu.device_sims.models import assembly, cnc, petro_kind, smt, smt_kinds
from tonghu.device_sims.models.core import Position
from tonghu.device_sims.models.machine import Machine
from tonghu.device_sims.models.profile import SECTORS, Profile, draw_profile
from tonghu.device_sims.models.rng import Draws, derive
from tonghu.device_sims.models.timeline import Timeline

_NAMES = ("Hengda", "Jinlong", "Ruixin", "Tianhe", "Huamei", "Baosheng", "Dongfang", "Kaiyuan", "Minghua", "Xinyu",
          "Zhongke", "Lianhe", "Aurora", "Nordwerk", "Rheintal", "Baltica", "Cascade", "Meridian", "Sierra", "Vostok",
          "Helix", "Orion", "Tamar", "Kestrel")
_SUFFIX = MappingProxyType({"electronics": ("Electronics", "elec"), "petrochemical": ("Petrochemical", "petro"),
                            "equipment": ("Precision Machinery", "mach")})
_SITES = MappingProxyType({
    "electronics": (("suzhou", "Suzhou", "Asia/Shanghai"), ("shenzhen", "Shenzhen", "Asia/Shanghai"),
                    ("penang", "Penang", "Asia/Kuala_Lumpur"), ("guadalajara", "Guadalajara", "America/Mexico_City"),
                    ("brno", "Brno", "Europe/Prague")),
    "petrochemical": (("ningbo", "Ningbo", "Asia/Shanghai"), ("rotterdam", "Rotterdam", "Europe/Amsterdam"),
                      ("jubail", "Jubail", "Asia/Riyadh"), ("houston", "Houston", "America/Chicago")),
    "equipment": (("stuttgart", "Stuttgart", "Europe/Berlin"), ("pune", "Pune", "Asia/Kolkata"),
                  ("changzhou", "Changzhou", "Asia/Shanghai"), ("monterrey", "Monterrey", "America/Monterrey"),
                  ("gdansk", "Gdansk", "Europe/Warsaw")),
})


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    timezone: str
    edge: str
    machines: tuple[Machine, ...]


@dataclass(frozen=True)
class Company:
    code: str
    name: str
    sector: str
    profile: Profile
    sites: tuple[Site, ...]


@dataclass(frozen=True)
class Fleet:
    seed: int
    companies: tuple[Company, ...]

    def machines(self) -> Iterator[tuple[Company, Site, Machine]]:
        for company in self.companies:
            for site in company.sites:
                for m in site.machines:
                    yield company, site, m

    def sector(self, sector: str) -> tuple[Company, ...]:
        return tuple(c for c in self.companies if c.sector == sector)


def fleet(companies: int = 18, seed: int = 0) -> Fleet:
    """``companies`` companies (taking turns across the three sectors), all derived from ``seed``."""
    if companies < 1:
        raise ValueError("a fleet needs at least one company")
    per_sector = {s: (companies - i + len(SECTORS) - 1) // len(SECTORS) for i, s in enumerate(SECTORS)}
    order = {s: _permutation(n, derive(seed, "order", s)) for s, n in per_sector.items()}
    brands = _permutation(len(_NAMES), derive(seed, "brands"))
    seen = dict.fromkeys(SECTORS, 0)
    out = []
    for i in range(companies):
        sector = SECTORS[i % len(SECTORS)]
        j = seen[sector]
        seen[sector] += 1
        z = NormalDist().inv_cdf((order[sector][j] + 0.5) / per_sector[sector])
        out.append(_company(seed, i, sector, z, _NAMES[brands[i % len(_NAMES)]]))
    return Fleet(seed, tuple(out))


def _permutation(n: int, key: int) -> list[int]:
    d, out = Draws(key), list(range(n))
    for i in range(n - 1, 0, -1):
        j = d.index(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def _company(seed: int, i: int, sector: str, z: float, brand: str) -> Company:
    d = Draws(derive(seed, "company", i))
    label, short = _SUFFIX[sector]
    code = f"{brand.lower()}-{short}-{i + 1:02d}"
    profile = draw_profile(sector, derive(seed, "profile", code), z=z)
    cities = list(_SITES[sector])
    sites = []
    for _ in range(1 if sector == "petrochemical" else 1 + d.index(2)):
        city_code, city, tz = cities.pop(d.index(len(cities)))
        key = derive(seed, code, city_code)
        sites.append(Site(city_code, f"{brand} {city}", tz, "gw-01", tuple(_machines(sector, profile, key, d))))
    return Company(code, f"{brand} {label}", sector, profile, tuple(sites))


def _machines(sector: str, profile: Profile, key: int, d: Draws) -> Iterator[Machine]:
    if sector == "electronics":
        for n in range(1, 2 + d.index(2)):
            line = f"l{n}"
            line_seed = derive(key, "smt", line)
            line_profile = profile.jitter(line_seed)
            tl = Timeline(smt.STATES, line_profile, line_seed, catalogue=smt.catalogue, params=smt.params,
                          parts=smt.parts)
            for station, kind in smt_kinds.KINDS.items():
                yield Machine(kind, Position("smt", line, station), line_profile, derive(line_seed, station), tl)
    elif sector == "equipment":
        for n in range(1, 4 + d.index(4)):
            seed = derive(key, "cnc", n)
            yield Machine(cnc.KIND, Position("machining", "cell1", f"cnc{n:02d}"), profile.jitter(seed), seed)
        for n in range(1, 2 + d.index(2)):
            seed = derive(key, "assembly", n)
            yield Machine(assembly.KIND, Position("assembly", "asm1", f"st{n:02d}"), profile.jitter(seed), seed)
    else:
        for n in range(1, 2 + d.index(2)):
            seed = derive(key, "cdu", n)
            yield Machine(petro_kind.KIND, Position("crude", f"cdu{n}", "unit"), profile.jitter(seed), seed)
