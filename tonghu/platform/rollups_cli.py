"""``tonghu platform rollups run|rebuild|status``: the rollup scheduler and its maintenance commands."""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from typing import Any

import click

from tonghu.platform.kpi.cli import parse_time

DSN = click.option("--database-url", envvar="TONGHU_DATABASE_URL",
                   default="postgresql://postgres@127.0.0.1:5432/tonghu", show_default=True)


def _hours(value: float | None) -> timedelta | None:
    return timedelta(hours=value) if value is not None else None


@click.group()
def rollups() -> None:
    """Rollups per tag (minute, hour) and per asset (hour), maintained incrementally with a watermark."""


@rollups.command("run")
@DSN
@click.option("--interval", default=60.0, show_default=True, help="Seconds between passes.")
@click.option("--once", is_flag=True, help="One pass, then exit (prints what it did).")
@click.option("--late-window-hours", default=6.0, show_default=True,
              help="Recompute this far behind the watermark each pass, for samples that arrive late.")
@click.option("--raw-retention-days", type=float, help="Drop raw chunks older than this (rollups stay).")
@click.option("--minute-retention-days", type=float, help="Drop minute-rollup chunks older than this.")
def run(database_url: str, interval: float, once: bool, late_window_hours: float, raw_retention_days: float | None,
        minute_retention_days: float | None) -> None:
    """Keep the rollups up to date and apply retention."""
    from tonghu.platform import rollups as r
    from tonghu.platform.db import connect

    policy = r.Policy(late_window=timedelta(hours=late_window_hours),
                      raw_retention=_hours(raw_retention_days * 24 if raw_retention_days else None),
                      minute_retention=_hours(minute_retention_days * 24 if minute_retention_days else None))
    if once:
        with connect(database_url, autocommit=True) as conn:
            res = r.refresh(conn, policy)
        click.echo(json.dumps({"rows": res.rows, "seconds": round(res.seconds, 3),
                               "dropped_chunks": res.dropped_chunks,
                               "ranges": {k: [a.isoformat(), b.isoformat()] for k, (a, b) in res.ranges.items()}}))
        return
    stopping: list[Any] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    r.run_forever(database_url, policy, interval, stop=lambda: bool(stopping))


@rollups.command("rebuild")
@DSN
@click.option("--from", "start", required=True, help="ISO 8601 or relative (-30d).")
@click.option("--to", "end", default="now", show_default=True)
@click.option("--only", multiple=True, help="Rollup name (tag_1m, tag_1h, asset_1h); default all.")
def rebuild(database_url: str, start: str, end: str, only: tuple[str, ...]) -> None:
    """Recompute a range (after a backfill, or corrections older than the late window)."""
    from tonghu.platform import rollups as r
    from tonghu.platform.db import connect

    with connect(database_url, autocommit=True) as conn:
        try:
            rows = r.rebuild(conn, parse_time(start), parse_time(end), list(only) or None)
        except ValueError as err:
            raise click.ClickException(str(err)) from err
    click.echo(json.dumps({"rows": rows}))


@rollups.command("status")
@DSN
def status(database_url: str) -> None:
    """Each rollup's watermark."""
    from tonghu.platform import rollups as r
    from tonghu.platform.db import connect

    with connect(database_url, autocommit=True) as conn:
        click.echo(json.dumps({k: v.isoformat() for k, v in r.watermarks(conn).items()}))
