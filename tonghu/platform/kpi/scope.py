"""Scopes: which assets a KPI covers, and who owns them.

A scope is one registry object (asset, line, site or company) by id. Quantities roll up from assets to lines,
sites and companies by summing times and quantities. Within a line, the assets whose counters are marked as the
line's output (``attrs.line_output`` on a tag, as an SMT line's own counters are) stand for the line, so a board is
not counted once per station; a line without such assets is a set of parallel work units (a CNC cell), and all
of them count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import psycopg

from tonghu.common.errors import TonghuError

Level = Literal["asset", "line", "site", "company"]
LEVELS: tuple[str, ...] = get_args(Level)


class ScopeError(TonghuError):
    """An unknown or malformed scope."""


@dataclass(frozen=True, slots=True)
class Scope:
    level: Level
    id: int

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ScopeError(f"scope level {self.level!r} must be one of {', '.join(LEVELS)}")
        if not isinstance(self.id, int) or isinstance(self.id, bool) or self.id <= 0:
            raise ScopeError(f"scope id must be a positive integer (got {self.id!r})")


@dataclass(frozen=True, slots=True)
class Asset:
    id: int
    code: str
    path: str        # area/line/asset
    line_id: int
    site_id: int
    company_id: int
    output: bool     # stands for its line in line, site and company figures
    kind: str


_ASSETS = """
    SELECT a.id, a.code, ar.code || '/' || l.code || '/' || a.code, l.id, s.id, s.company_id,
           coalesce(bool_or((t.attrs ->> 'line_output')::boolean), false),
           coalesce(max(t.attrs ->> 'kind'), a.asset_type)
    FROM assets a JOIN lines l ON l.id = a.line_id JOIN areas ar ON ar.id = l.area_id
    JOIN sites s ON s.id = ar.site_id LEFT JOIN tags t ON t.asset_id = a.id
    WHERE {where}
    GROUP BY a.id, a.code, ar.code, l.code, l.id, s.id, s.company_id
    ORDER BY 3
"""
_WHERE = {"asset": "a.id = %s", "line": "l.id = %s", "site": "s.id = %s", "company": "s.company_id = %s"}


def assets(conn: psycopg.Connection, scope: Scope) -> list[Asset]:
    """Every asset below the scope, with the line-output flag settled per line."""
    rows = conn.execute(_ASSETS.format(where=_WHERE[scope.level]), (scope.id,)).fetchall()  # type: ignore[arg-type]
    if not rows:
        if scope_company(conn, scope) is None:
            raise ScopeError(f"{scope.level} {scope.id} is not registered")
        return []
    lines_with_output = {r[3] for r in rows if r[6]}
    if scope.level == "asset":
        # A lone asset stands for itself; whether it is its line's output matters only above it.
        lines_with_output = {r[3] for r in conn.execute(
            _ASSETS.format(where="l.id = %s"), (rows[0][3],)).fetchall() if r[6]}  # type: ignore[arg-type]
    return [Asset(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]) or r[3] not in lines_with_output, r[7] or "")
            for r in rows]


_OWNER = {
    "asset": "SELECT s.company_id FROM assets a JOIN lines l ON l.id = a.line_id JOIN areas ar ON ar.id = l.area_id "
             "JOIN sites s ON s.id = ar.site_id WHERE a.id = %s",
    "line": "SELECT s.company_id FROM lines l JOIN areas ar ON ar.id = l.area_id JOIN sites s ON s.id = ar.site_id "
            "WHERE l.id = %s",
    "site": "SELECT company_id FROM sites WHERE id = %s",
    "company": "SELECT id FROM companies WHERE id = %s",
}
_SITE = {
    "asset": "SELECT ar.site_id FROM assets a JOIN lines l ON l.id = a.line_id JOIN areas ar ON ar.id = l.area_id "
             "WHERE a.id = %s",
    "line": "SELECT ar.site_id FROM lines l JOIN areas ar ON ar.id = l.area_id WHERE l.id = %s",
    "site": "SELECT id FROM sites WHERE id = %s",
}


def scope_company(conn: psycopg.Connection, scope: Scope) -> int | None:
    """The company that owns the scope (for authorisation), or None when it does not exist."""
    row = conn.execute(_OWNER[scope.level], (scope.id,)).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else None


def scope_site(conn: psycopg.Connection, scope: Scope) -> int | None:
    """The site the scope lies in, or None for a company (which may span sites)."""
    if scope.level == "company":
        return None
    row = conn.execute(_SITE[scope.level], (scope.id,)).fetchone()  # type: ignore[arg-type]
    return int(row[0]) if row else None


def timezone(conn: psycopg.Connection, scope: Scope) -> str:
    """The time zone calendar buckets follow: the site's, or for a company its first site's."""
    if scope.level == "company":
        row = conn.execute("SELECT timezone FROM sites WHERE company_id = %s ORDER BY id LIMIT 1",
                           (scope.id,)).fetchone()
    else:
        row = conn.execute("SELECT timezone FROM sites WHERE id = %s", (scope_site(conn, scope),)).fetchone()
    return str(row[0]) if row else "UTC"


_NAMES = {"asset": "SELECT a.id, ar.code || '/' || l.code || '/' || a.code FROM assets a "
                   "JOIN lines l ON l.id = a.line_id JOIN areas ar ON ar.id = l.area_id WHERE a.id = ANY (%s)",
          "line": "SELECT l.id, ar.code || '/' || l.code FROM lines l JOIN areas ar ON ar.id = l.area_id "
                  "WHERE l.id = ANY (%s)",
          "site": "SELECT id, name FROM sites WHERE id = ANY (%s)",
          "company": "SELECT id, name FROM companies WHERE id = ANY (%s)"}


def names(conn: psycopg.Connection, level: str, ids: list[int]) -> dict[int, str]:
    """Display names of several objects of one level, in one query (missing ones: "<level> <id>")."""
    found = dict(conn.execute(_NAMES[level], (list(ids),)).fetchall()) if ids else {}  # type: ignore[arg-type]
    return {i: str(found.get(i, f"{level} {i}")) for i in ids}


def name(conn: psycopg.Connection, level: str, id_: int) -> str:
    return names(conn, level, [id_])[id_]


def resolve(conn: psycopg.Connection, level: str, ref: str) -> Scope:
    """A scope from the command line: an id, or a code path (company, company/site, company/site/area/line,
    company/site/area/line/asset)."""
    if level not in LEVELS:
        raise ScopeError(f"scope level {level!r} must be one of {', '.join(LEVELS)}")
    if ref.isdigit():
        return Scope(level, int(ref))  # type: ignore[arg-type]
    parts = ref.split("/")
    want = {"company": 1, "site": 2, "line": 4, "asset": 5}[level]
    if len(parts) != want:
        raise ScopeError(f"a {level} is named by {want} '/'-separated codes (got {ref!r})")
    sql = {"company": "SELECT c.id FROM companies c WHERE c.code = %s",
           "site": "SELECT s.id FROM sites s JOIN companies c ON c.id = s.company_id WHERE c.code = %s AND s.code = %s",
           "line": "SELECT l.id FROM lines l JOIN areas ar ON ar.id = l.area_id JOIN sites s ON s.id = ar.site_id "
                   "JOIN companies c ON c.id = s.company_id WHERE c.code = %s AND s.code = %s AND ar.code = %s "
                   "AND l.code = %s",
           "asset": "SELECT a.id FROM assets a JOIN lines l ON l.id = a.line_id JOIN areas ar ON ar.id = l.area_id "
                    "JOIN sites s ON s.id = ar.site_id JOIN companies c ON c.id = s.company_id WHERE c.code = %s "
                    "AND s.code = %s AND ar.code = %s AND l.code = %s AND a.code = %s"}[level]
    row = conn.execute(sql, parts).fetchone()  # type: ignore[arg-type]
    if row is None:
        raise ScopeError(f"{level} {ref!r} is not registered")
    return Scope(level, int(row[0]))  # type: ignore[arg-type]
