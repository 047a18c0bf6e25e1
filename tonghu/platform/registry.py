"""Registry operations: companies, sites, edges and the tags that edges declare."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tonghu.common.errors import PayloadError
from tonghu.common.tagkey import TagKey, parse_key
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


def audit(conn: psycopg.Connection, actor: str, action: str, detail: dict[str, Any]) -> None:
    """Record a change in ``audit_log``; ``detail`` must never hold a secret."""
    conn.execute("INSERT INTO audit_log (actor, action, detail) VALUES (%s, %s, %s)", (actor, action, Jsonb(detail)))


def upsert_tags(conn: psycopg.Connection, site_id: int,
                tags: list[TagMeta]) -> tuple[dict[str, tuple[int, str]], list[tuple[TagMeta, str]]]:
    """Create or update tags (and their area/line/asset) from an edge's metadata, set-based.

    Returns (key → (tag id, data type), [(refused tag, why)]). A tag's data type may not move between
    numeric and text, because its history lives in a different table. An edge resends its whole tag list
    after every restart, so unchanged tags are not rewritten.
    """
    refused: list[tuple[TagMeta, str]] = []
    valid: dict[str, tuple[TagMeta, TagKey]] = {}
    for tag in tags:
        try:
            key = parse_key(tag.key)
        except PayloadError as err:
            refused.append((tag, err.detail))
            continue
        if tag.data_type not in TAG_TYPES:
            refused.append((tag, f"data type {tag.data_type!r} must be one of {', '.join(TAG_TYPES)}"))
            continue
        valid[tag.key] = (tag, key)  # a key listed twice: the last one wins
    if not valid:
        return {}, refused
    metas = [t for t, _ in valid.values()]
    paths = [k for _, k in valid.values()]
    areas, lines, assets = [k.area for k in paths], [k.line for k in paths], [k.asset for k in paths]
    conn.execute("INSERT INTO areas (site_id, code, name) SELECT DISTINCT %s, a, a FROM unnest(%s::text[]) a "
                 "ON CONFLICT DO NOTHING", (site_id, areas))
    conn.execute(
        "INSERT INTO lines (area_id, code, name) SELECT DISTINCT ar.id, x.line, x.line "
        "FROM unnest(%s::text[], %s::text[]) x(area, line) JOIN areas ar ON ar.site_id = %s AND ar.code = x.area "
        "ON CONFLICT DO NOTHING", (areas, lines, site_id))
    conn.execute(
        "INSERT INTO assets (line_id, code, name) SELECT DISTINCT l.id, x.asset, x.asset "
        "FROM unnest(%s::text[], %s::text[], %s::text[]) x(area, line, asset) "
        "JOIN areas ar ON ar.site_id = %s AND ar.code = x.area JOIN lines l ON l.area_id = ar.id AND l.code = x.line "
        "ON CONFLICT DO NOTHING", (areas, lines, assets, site_id))
    conn.execute(
        "INSERT INTO tags AS t (site_id, asset_id, key, name, data_type, unit, role, description, attrs) "
        "SELECT %s, s.id, x.key, x.name, x.data_type::tag_type, x.unit, x.role, x.description, x.attrs "
        "FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
        "            %s::text[], %s::text[], %s::jsonb[]) "
        "  AS x(area, line, asset, key, name, data_type, unit, role, description, attrs) "
        "JOIN areas ar ON ar.site_id = %s AND ar.code = x.area JOIN lines l ON l.area_id = ar.id AND l.code = x.line "
        "JOIN assets s ON s.line_id = l.id AND s.code = x.asset "
        # What the edge leaves empty keeps the registered value, and attributes merge (the edge's keys win), so
        # annotations made on the platform (a role, attrs.line_output, attrs.submeter_of) survive edge restarts.
        "ON CONFLICT (site_id, key) DO UPDATE SET unit = coalesce(nullif(EXCLUDED.unit, ''), t.unit), "
        "  role = coalesce(nullif(EXCLUDED.role, ''), t.role), "
        "  description = coalesce(nullif(EXCLUDED.description, ''), t.description), "
        "  attrs = t.attrs || EXCLUDED.attrs, updated_at = now(), "
        "  data_type = CASE WHEN (t.data_type::text IN ('string', 'state')) "
        "                     = (EXCLUDED.data_type::text IN ('string', 'state')) "
        "                   THEN EXCLUDED.data_type ELSE t.data_type END "
        "WHERE (t.unit, t.role, t.description, t.attrs, t.data_type) IS DISTINCT FROM "
        "  (coalesce(nullif(EXCLUDED.unit, ''), t.unit), coalesce(nullif(EXCLUDED.role, ''), t.role), "
        "   coalesce(nullif(EXCLUDED.description, ''), t.description), t.attrs || EXCLUDED.attrs, EXCLUDED.data_type)",
        (site_id, areas, lines, assets, list(valid), [k.name for k in paths], [t.data_type for t in metas],
         [t.unit for t in metas], [t.role for t in metas], [t.description for t in metas],
         [Jsonb(t.attrs) for t in metas], site_id))
    done = lookup_tags(conn, site_id, list(valid))
    for tag_key, (tag, _) in valid.items():
        registered = done[tag_key][1]
        if (registered in TEXT_TYPES) != (tag.data_type in TEXT_TYPES):
            refused.append((tag, f"registered as {registered!r}; it cannot become {tag.data_type!r}"))
    return done, refused


def lookup_tags(conn: psycopg.Connection, site_id: int, keys: list[str]) -> dict[str, tuple[int, str]]:
    rows = conn.execute("SELECT key, id, data_type::text FROM tags WHERE site_id = %s AND key = ANY(%s)",
                        (site_id, keys)).fetchall()
    return {k: (int(i), t) for k, i, t in rows}
