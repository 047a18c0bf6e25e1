"""Reason-code maps: which ISO 22400-2 time element each state report of an asset belongs to.

Maps are versioned per asset: ``set_reasons(…, valid_from=t)`` adds a version that applies to states reported
from ``t`` on, so re-classifying a code (a micro-stop that turns out to be a failure mode) never rewrites the
history computed before it. A map file (YAML) lists rows ``{code, time_class, state, failure, text}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tonghu.common.errors import ConfigError

TIME_CLASSES = ("production", "setup", "unplanned_down", "planned_down", "idle")
NEG_INFINITY = "-infinity"


def check_rows(rows: Iterable[Mapping[str, Any]], where: str = "reasons") -> list[dict[str, Any]]:
    """Validate reason rows; every error names the row and the field."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ConfigError(f"{where}[{i}] must be a mapping with code and time_class")
        code, tclass = row.get("code"), row.get("time_class")
        if not isinstance(code, str) or not code or len(code) > 128:
            raise ConfigError(f"{where}[{i}].code must be a non-empty string of at most 128 characters")
        if tclass not in TIME_CLASSES:
            raise ConfigError(f"{where}[{i}].time_class must be one of {', '.join(TIME_CLASSES)} (got {tclass!r})")
        failure = row.get("failure", False)
        if not isinstance(failure, bool):
            raise ConfigError(f"{where}[{i}].failure must be true or false")
        if failure and tclass != "unplanned_down":
            raise ConfigError(f"{where}[{i}]: only unplanned_down codes can be failures (code {code!r})")
        out.append({"code": code, "time_class": tclass, "failure": failure,
                    "state": str(row.get("state", "")), "text": str(row.get("text", ""))})
    return out


def load_file(path: Path) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: {err}") from err
    rows = data.get("reasons") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise ConfigError(f"{path}: expected a list of reasons (or a mapping with a 'reasons' list)")
    return check_rows(rows, f"{path}: reasons")


def set_reasons(conn: psycopg.Connection, asset_id: int, rows: Iterable[Mapping[str, Any]],
                valid_from: datetime | None = None) -> int:
    """Add (or replace, for the same valid_from) the map version of one asset; returns the rows written."""
    checked = check_rows(rows)
    when: datetime | str = valid_from if valid_from is not None else NEG_INFINITY
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO state_reasons (asset_id, code, valid_from, state, time_class, failure, text) "
            "VALUES (%s, %s, %s, %s, %s::time_class, %s, %s) ON CONFLICT (asset_id, code, valid_from) "
            "DO UPDATE SET state = EXCLUDED.state, time_class = EXCLUDED.time_class, failure = EXCLUDED.failure, "
            "text = EXCLUDED.text",
            [(asset_id, r["code"], when, r["state"], r["time_class"], r["failure"], r["text"]) for r in checked])
    return len(checked)


def asset_id(conn: psycopg.Connection, site_id: int, asset_path: str) -> int:
    """The id of ``area/line/asset`` at a site."""
    parts = asset_path.split("/")
    if len(parts) != 3:
        raise ConfigError(f"asset {asset_path!r} must be area/line/asset")
    row = conn.execute(
        "SELECT a.id FROM assets a JOIN lines l ON l.id = a.line_id JOIN areas ar ON ar.id = l.area_id "
        "WHERE ar.site_id = %s AND ar.code = %s AND l.code = %s AND a.code = %s", (site_id, *parts)).fetchone()
    if row is None:
        raise ConfigError(f"asset {asset_path!r} is not registered at site {site_id}")
    return int(row[0])


def current(conn: psycopg.Connection, asset: int, at: datetime | None = None) -> list[dict[str, Any]]:
    """The map in force at ``at`` (default: now)."""
    cur = conn.execute(
        "SELECT DISTINCT ON (code) code, time_class::text, failure, state, text, valid_from FROM state_reasons "
        "WHERE asset_id = %s AND valid_from <= coalesce(%s, now()) ORDER BY code, valid_from DESC", (asset, at))
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
