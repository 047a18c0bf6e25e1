"""``tonghu kpi NAME --scope LEVEL REF --from … --to …``: any KPI of the engine as JSON.

Imports of the engine (psycopg, numpy) happen when the command runs, so ``tonghu --help`` works on an edge
install without them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import psycopg

    from tonghu.platform.kpi import scope as sc

BUCKETS = ("hour", "day", "week", "month")
LEVELS = ("asset", "line", "site", "company")
NAMES = ("oee", "facts", "electronics", "petrochemical", "equipment", "alarms", "spc", "stops", "data-quality")

_RELATIVE = re.compile(r"^-(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """ISO 8601 (a naive time is UTC), 'now', or relative to now: '-15m', '-24h', '-7d', '-4w'."""
    now = now or datetime.now(UTC)
    if text == "now":
        return now
    if m := _RELATIVE.match(text):
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        t = datetime.fromisoformat(text)
    except ValueError as err:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time, 'now' or a relative time like -7d") from err
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _json(x: Any) -> Any:
    if isinstance(x, datetime | date):
        return x.isoformat()
    if hasattr(x, "to_dict"):
        return x.to_dict()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def _core(conn: psycopg.Connection, s: sc.Scope, a: datetime, b: datetime, bucket: str | None, by: str | None,
          *_: Any) -> list[dict[str, Any]]:
    from tonghu.platform.kpi.core import core
    from tonghu.platform.kpi.facts import facts

    has_rework = bool(conn.execute("SELECT 1 FROM tags WHERE role = 'count_rework' LIMIT 1").fetchone())
    return [{"start": r.start, "end": r.end, "level": r.level, "id": r.group_id, "name": r.group_name,
             **core(r.facts, has_rework=has_rework, asset_level=r.level == "asset").to_dict()}
            for r in facts(conn, s, a, b, bucket=bucket, by=by)]  # type: ignore[arg-type]


def _facts(conn: psycopg.Connection, s: sc.Scope, a: datetime, b: datetime, bucket: str | None, by: str | None,
           *_: Any) -> list[dict[str, Any]]:
    from tonghu.platform.kpi.facts import facts

    return [{"start": r.start, "end": r.end, "level": r.level, "id": r.group_id, "name": r.group_name,
             **r.facts.to_dict()} for r in facts(conn, s, a, b, bucket=bucket, by=by)]  # type: ignore[arg-type]


def _alarms(conn: psycopg.Connection, s: sc.Scope, a: datetime, b: datetime, *_: Any) -> dict[str, Any]:
    from tonghu.platform.kpi import scope as sc
    from tonghu.platform.kpi.alarms import load_alarm_journals

    company = sc.scope_company(conn, s)
    if company is None:
        raise sc.ScopeError(f"{s.level} {s.id} is not registered")
    members = [x.id for x in sc.assets(conn, s)]
    ids = [r[0] for r in conn.execute(
        "SELECT DISTINCT asset_id FROM tags WHERE asset_id = ANY (%s) AND role = 'alarms'", (members,)).fetchall()]
    return {j.asset: j.kpis().to_dict() for j in load_alarm_journals(conn, company, ids, a, b).values()}


def _spc(conn: psycopg.Connection, s: sc.Scope, a: datetime, b: datetime, _bucket: Any, _by: Any,
         tag_id: int | None) -> Any:
    from tonghu.platform.kpi import scope as sc
    from tonghu.platform.kpi.spc import load_spc

    if tag_id is None:
        raise click.UsageError("spc needs --tag ID")
    company = sc.scope_company(conn, s)
    if company is None:
        raise sc.ScopeError(f"{s.level} {s.id} is not registered")
    return load_spc(conn, company, tag_id, a, b, max_points=500)


def kpis() -> dict[str, Callable[..., Any]]:
    from tonghu.platform.kpi.electronics import electronics
    from tonghu.platform.kpi.equipment import equipment
    from tonghu.platform.kpi.petro import petrochemical
    from tonghu.platform.kpi.timeline import data_quality, stop_pareto

    return {
        "oee": _core, "facts": _facts, "alarms": _alarms, "spc": _spc,
        "electronics": lambda c, s, a, b, *_: electronics(c, s, a, b),
        "petrochemical": lambda c, s, a, b, *_: petrochemical(c, s, a, b),
        "equipment": lambda c, s, a, b, *_: equipment(c, s, a, b),
        "stops": lambda c, s, a, b, *_: stop_pareto(c, s, a, b),
        "data-quality": lambda c, s, a, b, *_: data_quality(c, s, a, b),
    }


@click.command("kpi")
@click.argument("name", type=click.Choice(NAMES))
@click.option("--scope", "scope_", nargs=2, required=True, metavar="LEVEL REF",
              help="asset|line|site|company and an id or a code path (acme/plant1/smt/l1).")
@click.option("--from", "start", default="-7d", show_default=True, help="ISO 8601, 'now' or relative (-24h).")
@click.option("--to", "end", default="now", show_default=True)
@click.option("--bucket", type=click.Choice(BUCKETS), help="Split the range (oee, facts).")
@click.option("--by", type=click.Choice(LEVELS), help="Group by a level below the scope (oee, facts).")
@click.option("--tag", "tag_id", type=int, help="Tag id (spc).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default).")
@click.option("--database-url", envvar="TONGHU_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/tonghu",
              show_default=True)
def kpi(name: str, scope_: tuple[str, str], start: str, end: str, bucket: str | None, by: str | None,
        tag_id: int | None, as_json: bool, database_url: str) -> None:
    """Compute a KPI of a scope over a range (ISO 22400-2 core figures, sector packs, alarms, SPC, stops,
    data quality)."""
    from tonghu.platform.db import connect
    from tonghu.platform.kpi import scope as sc

    now = datetime.now(UTC)
    a, b = parse_time(start, now), parse_time(end, now)
    with connect(database_url, autocommit=True) as conn:
        s = sc.resolve(conn, *scope_)
        result = kpis()[name](conn, s, a, b, bucket, by, tag_id)
    click.echo(json.dumps(result, default=_json, indent=None if as_json else 2))


@click.group("benchmarks")
def benchmarks() -> None:
    """Anonymised sector benchmarks (released through disclosure control) and companies' opt-in."""


@benchmarks.command("show")
@click.argument("sector", type=click.Choice(("electronics", "petrochemical", "equipment")))
@click.argument("metric")
@click.option("--period", type=click.Choice(("week", "month")), default="month", show_default=True)
@click.option("--day", default=None, help="A day inside the period (ISO date; default: today, UTC).")
@click.option("--as-company", "viewer", default=None, help="Show this member company's own position (code).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the default).")
@click.option("--database-url", envvar="TONGHU_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/tonghu",
              show_default=True)
def benchmarks_show(sector: str, metric: str, period: str, day: str | None, viewer: str | None, as_json: bool,
                    database_url: str) -> None:
    """The released cells of METRIC for SECTOR: N, quartiles, the sector aggregate, suppressions."""
    from tonghu.platform.db import connect
    from tonghu.platform.kpi import scope as sc
    from tonghu.platform.kpi.benchmark import sector_benchmark

    when = date.fromisoformat(day) if day else datetime.now(UTC).date()
    with connect(database_url, autocommit=True) as conn:
        viewer_id = sc.resolve(conn, "company", viewer).id if viewer else None
        result = sector_benchmark(conn, sector, metric, period, when, viewer_id)
    click.echo(json.dumps(result.to_dict(), indent=None if as_json else 2))


@benchmarks.command("share")
@click.argument("company")
@click.argument("choice", type=click.Choice(("on", "off")))
@click.option("--actor", default="cli", show_default=True, help="Who decided (written to the audit log).")
@click.option("--database-url", envvar="TONGHU_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/tonghu",
              show_default=True)
def benchmarks_share(company: str, choice: str, actor: str, database_url: str) -> None:
    """Opt COMPANY (code or id) in or out of sector benchmarks."""
    from tonghu.platform.db import connect
    from tonghu.platform.kpi import scope as sc
    from tonghu.platform.kpi.benchmark import set_sharing

    with connect(database_url, autocommit=True) as conn:
        set_sharing(conn, sc.resolve(conn, "company", company).id, choice == "on", actor)
    click.echo(f"{company}: benchmark sharing {choice}")
