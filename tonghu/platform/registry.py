"""Registry operations: companies, sites, edges and the tags that edges declare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tonghu.common.errors import PayloadError
from tonghu.common.tagkey import parse_key
from tonghu.common.topics import check_code
from tonghu.common.uplink import TagMeta

SECTORS = ("electronics", "petrochemical", "equipment")
TAG_TYPES = ("float", "int", "bool", "string", "state")
TEXT_TYPES = frozenset({"string", "state"})


class RegistryError(ValueError):
    """A registry change refused: unknown parent, duplicate code, invalid value."""


@dataclass(frozen=True, slots=True)
class EdgeIdentity:
    edge_id: int
    site_id: int
    company_id: int
    enabled: bool


def add_company(conn: psycopg.Connection, code: str, name: str, sector: str) -> int:
    check_code(code, "company code")
    if sector not in SECTORS:
        raise RegistryError(f"sector {sector!r} must be one of {', '.join(SECTORS)}")
    row = conn.execute(
        "INSERT INTO companies (code, name, sector) VALUES (%s, %s, %s) "
        "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name RETURNING id, sector::text",
        (code, name, sector)).fetchone()
    assert row is not None
    if row[1] != sector:
        raise RegistryError(f"company {code!r} exists with sector {row[1]!r}, not {sector!r}")
    return int(row[0])


def add_site(conn: psycopg.Connection, company: str, code: str, name: str, timezone: str = "UTC") -> int:
    check_code(code, "site code")
    row = conn.execute(
        "INSERT INTO sites (company_id, code, name, timezone) "
        "SELECT id, %s, %s, %s FROM companies WHERE code = %s "
        "ON CONFLICT (company_id, code) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone "
        "RETURNING id", (code, name, timezone, company)).fetchone()
    if row is None:
        raise RegistryError(f"company {company!r} is not registered")
    return int(row[0])


def add_edge(conn: psycopg.Connection, company: str, site: str, code: str, name: str = "") -> int:
    check_code(code, "edge code")
    row = conn.execute(
        "INSERT INTO edges (site_id, code, name) "
        "SELECT s.id, %s, %s FROM sites s JOIN companies c ON c.id = s.company_id "
        "WHERE c.code = %s AND s.code = %s "
        "ON CONFLICT (site_id, code) DO UPDATE SET name = EXCLUDED.name, enabled = true RETURNING id",
        (code, name, company, site)).fetchone()
    if row is None:
        raise RegistryError(f"site {company}/{site} is not registered")
    return int(row[0])


def set_edge_enabled(conn: psycopg.Connection, company: str, site: str, code: str, enabled: bool) -> None:
    cur = conn.execute(
        "UPDATE edges e SET enabled = %s FROM edge_identities i "
        "WHERE i.edge_id = e.id AND i.company = %s AND i.site = %s AND i.edge = %s",
        (enabled, company, site, code))
    if cur.rowcount != 1:
        raise RegistryError(f"edge {company}/{site}/{code} is not registered")


def edge_identity(conn: psycopg.Connection, company: str, site: str, edge: str) -> EdgeIdentity | None:
    row = conn.execute(
        "SELECT edge_id, site_id, company_id, enabled FROM edge_identities "
        "WHERE company = %s AND site = %s AND edge = %s", (company, site, edge)).fetchone()
    return EdgeIdentity(*row) if row else None


def list_edges(conn: psycopg.Connection) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT i.company, i.site, i.edge, i.enabled, e.status, e.status_at "
        "FROM edge_identities i JOIN edges e ON e.id = i.edge_id ORDER BY 1, 2, 3")
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def upsert_tags(conn: psycopg.Connection, site_id: int,
                tags: list[TagMeta]) -> tuple[dict[str, tuple[int, str]], list[tuple[TagMeta, str]]]:
    """Create or update tags (and their area/line/asset) from an edge's metadata.

    Returns (key → (tag id, data type), [(refused tag, why)]). A tag's data type may not move between
    numeric and text, because its history lives in a different table.
    """
    done: dict[str, tuple[int, str]] = {}
    refused: list[tuple[TagMeta, str]] = []
    for tag in tags:
        try:
            key = parse_key(tag.key)
        except PayloadError as err:
            refused.append((tag, err.detail))
            continue
        if tag.data_type not in TAG_TYPES:
            refused.append((tag, f"data type {tag.data_type!r} must be one of {', '.join(TAG_TYPES)}"))
            continue
        asset_id = _asset(conn, site_id, key.area, key.line, key.asset)
        row = conn.execute(
            "INSERT INTO tags AS t (site_id, asset_id, key, name, data_type, unit, role, description, attrs) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (site_id, key) DO UPDATE SET unit = EXCLUDED.unit, role = EXCLUDED.role, "
            "  description = EXCLUDED.description, attrs = EXCLUDED.attrs, updated_at = now(), "
            "  data_type = CASE WHEN (t.data_type::text IN ('string', 'state')) "
            "                     = (EXCLUDED.data_type::text IN ('string', 'state')) "
            "                   THEN EXCLUDED.data_type ELSE t.data_type END "
            "RETURNING id, data_type::text",
            (site_id, asset_id, tag.key, key.name, tag.data_type, tag.unit, tag.role, tag.description,
             Jsonb(tag.attrs))).fetchone()
        assert row is not None
        if (row[1] in TEXT_TYPES) != (tag.data_type in TEXT_TYPES):
            refused.append((tag, f"registered as {row[1]!r}; it cannot become {tag.data_type!r}"))
        done[tag.key] = (int(row[0]), row[1])
    return done, refused


def _asset(conn: psycopg.Connection, site_id: int, area: str, line: str, asset: str) -> int:
    # DO UPDATE (a no-op write) rather than DO NOTHING so that RETURNING yields the existing row's id.
    area_id = conn.execute(
        "INSERT INTO areas (site_id, code, name) VALUES (%s, %s, %s) "
        "ON CONFLICT (site_id, code) DO UPDATE SET code = EXCLUDED.code RETURNING id",
        (site_id, area, area)).fetchone()[0]  # type: ignore[index]
    line_id = conn.execute(
        "INSERT INTO lines (area_id, code, name) VALUES (%s, %s, %s) "
        "ON CONFLICT (area_id, code) DO UPDATE SET code = EXCLUDED.code RETURNING id",
        (area_id, line, line)).fetchone()[0]  # type: ignore[index]
    return int(conn.execute(
        "INSERT INTO assets (line_id, code, name) VALUES (%s, %s, %s) "
        "ON CONFLICT (line_id, code) DO UPDATE SET code = EXCLUDED.code RETURNING id",
        (line_id, asset, asset)).fetchone()[0])  # type: ignore[index]


def lookup_tags(conn: psycopg.Connection, site_id: int, keys: list[str]) -> dict[str, tuple[int, str]]:
    rows = conn.execute("SELECT key, id, data_type::text FROM tags WHERE site_id = %s AND key = ANY(%s)",
                        (site_id, keys)).fetchall()
    return {k: (int(i), t) for k, i, t in rows}
