"""What the dashboards offer to pick from: the numeric tags of a scope, the alarm consoles of a scope, a company's
sector. Lookups only, no figures: the figures come from the other modules of this package.

Each function takes a ``Scope`` the caller has already authorised and reads nothing outside it, so an id picked in
a browser can be checked by membership (``tag_id in {t.id for t in numeric_tags(conn, scope)}``).
"""

from __future__ import annotations

import psycopg

from tonghu.platform.kpi.scope import Scope, assets
from tonghu.platform.kpi.tags import TagInfo

MAX_TAGS = 2000  # a pick list longer than this is no use to anyone; the scope should be narrowed instead


def numeric_tags(conn: psycopg.Connection, scope: Scope, limit: int = MAX_TAGS) -> list[TagInfo]:
    """Every numeric tag (float, int, bool) of the assets below the scope, whatever its role, by asset and name."""
    ids = [a.id for a in assets(conn, scope)]
    if not ids:
        return []
    rows = conn.execute(
        "SELECT id, asset_id, name, role, unit, attrs FROM tags WHERE asset_id = ANY (%s) "
        "AND data_type IN ('float', 'int', 'bool') ORDER BY asset_id, name LIMIT %s", (ids, limit)).fetchall()
    return [TagInfo(*r) for r in rows]


def alarm_consoles(conn: psycopg.Connection, scope: Scope) -> list[int]:
    """Ids of the assets below the scope that keep an alarm journal (a tag with role 'alarms')."""
    ids = [a.id for a in assets(conn, scope)]
    if not ids:
        return []
    return [int(r[0]) for r in conn.execute(
        "SELECT DISTINCT asset_id FROM tags WHERE asset_id = ANY (%s) AND role = 'alarms' ORDER BY 1",
        (ids,)).fetchall()]


def company_sector(conn: psycopg.Connection, company_id: int) -> str | None:
    """The company's sector (electronics, petrochemical, equipment), or None when it is not registered."""
    row = conn.execute("SELECT sector::text FROM companies WHERE id = %s", (company_id,)).fetchone()
    return str(row[0]) if row else None
