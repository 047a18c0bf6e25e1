"""Queries behind the edge fleet and data quality page, and the registry tree a user may browse.

Every function takes the tenant boundary (``company_id``, ``site_id``; None means "not restricted", which only
an admin has) and restricts its SQL to it, so a caller that forgot to authorise still cannot read another
company's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

LEVELS = ("company", "site", "line", "asset")
# An edge publishes its status every 30 s by default (edge_agent status_interval); three missed ones mean the
# edge is probably gone without its Will reaching the broker.
STALE_AFTER = timedelta(seconds=90)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    connected: bool | None
    last_value_age_s: float | None
    outages: int | None
    samples: int | None


@dataclass(frozen=True, slots=True)
class EdgeHealth:
    edge_id: int
    company: str
    site: str
    edge: str
    enabled: bool
    status: str                      # online | offline | unknown (never reported) | stale (online, silent)
    status_at: datetime | None
    last_batch_at: datetime | None
    buffered_samples: int | None
    buffered_bytes: int | None
    buffer_fill: float | None        # 0..1 when the edge reports its buffer capacity
    oldest_age_s: float | None
    dropped: dict[str, int] = field(default_factory=dict)
    sources: tuple[SourceHealth, ...] = ()


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    v = _num(value)
    return int(v) if v is not None else None


def edge_health(row: dict[str, Any], now: datetime) -> EdgeHealth:
    """Interpret one edge row and its status_detail (the edge's retained status message, see edge_agent/agent.py:
    buffered_samples, buffered_bytes, oldest_age_s, dropped{reason: n}, sources{name: {connected, last_value_us,
    outages, samples}}). Missing or malformed fields become None rather than errors: the payload is the edge's."""
    detail = row["status_detail"] if isinstance(row["status_detail"], dict) else {}
    status = row["status"]
    if status == "online" and row["status_at"] is not None and now - row["status_at"] > STALE_AFTER:
        status = "stale"
    sources = []
    raw_sources = detail.get("sources")
    for name, src in sorted(raw_sources.items() if isinstance(raw_sources, dict) else []):
        src = src if isinstance(src, dict) else {}
        last_us = _num(src.get("last_value_us"))
        age = max(0.0, now.timestamp() - last_us / 1e6) if last_us else None
        connected = src.get("connected") if isinstance(src.get("connected"), bool) else None
        sources.append(SourceHealth(str(name), connected, age, _int(src.get("outages")), _int(src.get("samples"))))
    buffered_bytes = _int(detail.get("buffered_bytes"))
    capacity = _num(detail.get("buffer_max_bytes"))
    fill = buffered_bytes / capacity if buffered_bytes is not None and capacity else None
    raw_dropped = detail.get("dropped")
    dropped = {str(k): int(v) for k, v in (raw_dropped.items() if isinstance(raw_dropped, dict) else [])
               if _int(v) is not None and v}
    return EdgeHealth(row["edge_id"], row["company"], row["site"], row["edge"], row["enabled"], status,
                      row["status_at"], row["last_batch_at"], _int(detail.get("buffered_samples")), buffered_bytes,
                      fill, _num(detail.get("oldest_age_s")), dropped, tuple(sources))


def _boundary(company_id: int | None, site_id: int | None, company_col: str, site_col: str) -> tuple[str, list[Any]]:
    clauses, params = [], []
    if company_id is not None:
        clauses.append(f"{company_col} = %s")
        params.append(company_id)
    if site_id is not None:
        clauses.append(f"{site_col} = %s")
        params.append(site_id)
    return (" AND ".join(clauses) or "true"), params


def edges(conn: psycopg.Connection, company_id: int | None, site_id: int | None) -> list[EdgeHealth]:
    where, params = _boundary(company_id, site_id, "i.company_id", "i.site_id")
    cur = conn.execute(
        "SELECT i.edge_id, i.company, i.site, i.edge, i.enabled, e.status, e.status_at, e.status_detail, "
        "       b.committed_at AS last_batch_at, now() AS now "
        "FROM edge_identities i JOIN edges e ON e.id = i.edge_id "
        # The newest seq through the primary key: cheap however many batches the edge has sent.
        "LEFT JOIN LATERAL (SELECT committed_at FROM ingest_batches ib WHERE ib.edge_id = i.edge_id "
        "                   ORDER BY seq DESC LIMIT 1) b ON true "
        f"WHERE {where} ORDER BY i.company, i.site, i.edge", params)
    names = [d.name for d in cur.description or ()]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return [edge_health(r, r["now"]) for r in rows]


def dead_letters(conn: psycopg.Connection, company_id: int | None, site_id: int | None, since: datetime,
                 limit: int = 200) -> list[dict[str, Any]]:
    """Newest dead letters first. Those with no known edge (unregistered senders) belong to no tenant: only an
    unrestricted caller sees them."""
    where, params = _boundary(company_id, site_id, "i.company_id", "i.site_id")
    join = "LEFT JOIN" if company_id is None and site_id is None else "JOIN"
    cur = conn.execute(
        "SELECT d.id, d.received_at, i.company, i.site, i.edge, d.topic, d.reason, d.detail, d.seq, "
        "       d.sample_count, length(d.payload) AS payload_bytes "
        f"FROM dead_letters d {join} edge_identities i ON i.edge_id = d.edge_id "
        f"WHERE d.received_at >= %s AND {where} ORDER BY d.received_at DESC, d.id DESC LIMIT %s",
        [since, *params, limit])
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def dead_letter_counts(conn: psycopg.Connection, company_id: int | None, site_id: int | None,
                       since: datetime) -> dict[str, int]:
    where, params = _boundary(company_id, site_id, "i.company_id", "i.site_id")
    join = "LEFT JOIN" if company_id is None and site_id is None else "JOIN"
    rows = conn.execute(
        f"SELECT d.reason, count(*) FROM dead_letters d {join} edge_identities i ON i.edge_id = d.edge_id "
        f"WHERE d.received_at >= %s AND {where} GROUP BY d.reason ORDER BY count(*) DESC, d.reason",
        [since, *params]).fetchall()
    return {r: int(n) for r, n in rows}


# ------------------------------------------------------------------------------------- registry tree


def owner(conn: psycopg.Connection, level: str, item_id: int) -> tuple[int, int | None] | None:
    """(company id, site id or None for a company) owning a company/site/line/asset, or None if it does not exist."""
    queries = {
        "company": "SELECT id, NULL::int FROM companies WHERE id = %s",
        "site": "SELECT company_id, id FROM sites WHERE id = %s",
        "line": "SELECT s.company_id, s.id FROM lines l JOIN areas a ON a.id = l.area_id "
                "JOIN sites s ON s.id = a.site_id WHERE l.id = %s",
        "asset": "SELECT s.company_id, s.id FROM assets x JOIN lines l ON l.id = x.line_id "
                 "JOIN areas a ON a.id = l.area_id JOIN sites s ON s.id = a.site_id WHERE x.id = %s",
    }
    if level not in queries:
        raise ValueError(f"scope level {level!r} must be one of {', '.join(LEVELS)}")
    row = conn.execute(queries[level], (item_id,)).fetchone()  # type: ignore[arg-type]
    return (int(row[0]), row[1]) if row else None


def companies(conn: psycopg.Connection, company_id: int | None) -> list[tuple[int, str]]:
    where, params = _boundary(company_id, None, "id", "")
    return [(int(i), n) for i, n in conn.execute(f"SELECT id, name FROM companies WHERE {where} ORDER BY name",
                                                 params)]


def sites(conn: psycopg.Connection, company_id: int, site_id: int | None) -> list[tuple[int, str]]:
    where, params = _boundary(company_id, site_id, "company_id", "id")
    return [(int(i), n) for i, n in conn.execute(f"SELECT id, name FROM sites WHERE {where} ORDER BY name", params)]


def lines(conn: psycopg.Connection, site_id: int) -> list[tuple[int, str]]:
    return [(int(i), f"{a} / {n}") for i, a, n in conn.execute(
        "SELECT l.id, a.name, l.name FROM lines l JOIN areas a ON a.id = l.area_id WHERE a.site_id = %s "
        "ORDER BY a.name, l.name", (site_id,))]


def assets(conn: psycopg.Connection, line_id: int) -> list[tuple[int, str]]:
    return [(int(i), n) for i, n in conn.execute("SELECT id, name FROM assets WHERE line_id = %s ORDER BY name",
                                                 (line_id,))]
