"""History for a simulated fleet, written straight into TimescaleDB through the platform's store path.

The companies, sites, edges, areas, lines, assets and tags are registered as an edge would (the same registry
functions the ingester uses); samples and events go through ``tonghu.platform.ingest.store`` — binary COPY into
staging, ``INSERT … ON CONFLICT DO NOTHING`` — one transaction per machine-day, so a rerun with the same seed adds
nothing and an interrupted run can simply be started again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import psycopg

from tonghu.device_sims.models import Fleet, Machine, fleet
from tonghu.device_sims.models.core import DAY_US, US
from tonghu.platform import reasons, registry
from tonghu.platform.ingest import store

TEXT_TYPES = frozenset({"string", "state"})


@dataclass(slots=True)
class Progress:
    machine_days: int = 0
    total_machine_days: int = 0
    samples: int = 0
    events: int = 0
    started: float = 0.0

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        done = self.machine_days / max(self.total_machine_days, 1)
        eta = elapsed / done - elapsed if done else 0.0
        return (f"backfill {done:6.1%}  {self.machine_days}/{self.total_machine_days} machine-days  "
                f"{self.samples / 1e6:7.2f} M samples  {self.samples / elapsed / 1e3:6.1f} k/s  "
                f"ETA {eta / 60:5.1f} min")


def register(conn: psycopg.Connection, fl: Fleet) -> dict[tuple[str, str], tuple[int, dict[str, tuple[int, str]]]]:
    """Registry rows for the whole fleet; returns (company, site) → (site id, tag key → (tag id, type))."""
    out = {}
    for company in fl.companies:
        registry.add_company(conn, company.code, company.name, company.sector)
        for site in company.sites:
            site_id = registry.add_site(conn, company.code, site.code, site.name, site.timezone)
            registry.add_edge(conn, company.code, site.code, site.edge, "simulated site gateway")
            tags = [t for m in site.machines for t in m.tags()]
            ids, refused = registry.upsert_tags(conn, site_id, tags)
            if refused:
                raise ValueError(f"simulated tags refused by the registry: {refused[:3]}")
            for m in site.machines:
                reasons.set_reasons(conn, reasons.asset_id(conn, site_id, m.asset_path), reason_rows(m))
            out[(company.code, site.code)] = (site_id, ids)
    return out


def reason_rows(m: Machine) -> list[dict[str, object]]:
    """The machine's reason table as a platform map. Micro-stops (MS-…) are unplanned down time but not failures,
    so MTBF and MTTR describe breakdowns and trips, as maintenance reads them."""
    return [{**r, "failure": r["time_class"] == "unplanned_down" and not r["code"].startswith("MS-")}
            for r in m.reason_table()]


def _write_day(conn: psycopg.Connection, m: Machine, ids: dict[str, tuple[int, str]], t0: int, t1: int,
               step_us: int) -> tuple[int, int]:
    run = m.run(t0, t1, step_us)
    prefix = m.asset_path + "/"
    tag_of = {name: ids[prefix + name] for name in {s[0] for s in run.samples} | {e[0] for e in run.events}}
    num = [s for s in run.samples if tag_of[s[0]][1] not in TEXT_TYPES]
    txt = [(tag_of[n][0], t, str(v), 0) for n, t, v in run.samples if tag_of[n][1] in TEXT_TYPES]
    evt = [(tag_of[n][0], t, kind, str(v), code, text, {}) for n, t, kind, v, code, text in run.events]
    with conn.transaction(), conn.cursor() as cur:
        store.numeric(cur, np.fromiter((tag_of[n][0] for n, _, _ in num), dtype=np.int32, count=len(num)),
                      np.fromiter((t for _, t, _ in num), dtype=np.int64, count=len(num)),
                      np.fromiter((float(v) for _, _, v in num), dtype=np.float64, count=len(num)),
                      np.zeros(len(num), dtype=np.int32))
        store.text(cur, txt)
        store.events(cur, evt)
    return len(run.samples), len(run.events)


def backfill(dsn: str, companies: int, days: int, seed: int = 0, end_us: int | None = None, step_s: int = 60,
             report: Callable[[Progress], None] | None = None) -> Progress:
    """Write ``days`` of history up to ``end_us`` (default: the last whole minute) for ``fleet(companies, seed)``."""
    fl = fleet(companies, seed)
    end = end_us if end_us is not None else time.time_ns() // 1000 // (60 * US) * (60 * US)
    start = end - days * DAY_US
    machines = list(fl.machines())
    progress = Progress(total_machine_days=len(machines) * days, started=time.monotonic())
    with psycopg.connect(dsn, autocommit=True) as conn:
        sites = register(conn, fl)
        conn.autocommit = False
        store.prepare(conn)
        conn.commit()
        for company, site, m in machines:
            _, ids = sites[(company.code, site.code)]
            for day in range(days):
                t0 = start + day * DAY_US
                n, e = _write_day(conn, m, ids, t0, t0 + DAY_US, step_s * US)
                progress.machine_days += 1
                progress.samples += n
                progress.events += e
                if report is not None:
                    report(progress)
    return progress


def print_progress(p: Progress) -> None:
    end = "\n" if p.machine_days == p.total_machine_days else ""
    sys.stderr.write("\r" + p.line() + end)
    sys.stderr.flush()
