"""What dashboards draw besides KPIs: state timelines, stop Paretos, tag trends and data quality."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from tonghu.platform.kpi.facts import facts, raw_calls, split_windows
from tonghu.platform.kpi.scope import Scope, ScopeError, assets
from tonghu.platform.rollups import watermark

MAX_SPANS = 50_000


@dataclass(frozen=True, slots=True)
class StateSpan:
    asset_id: int
    start: datetime
    end: datetime
    state: str
    code: str
    time_class: str | None
    failure: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def state_timeline(conn: psycopg.Connection, asset_id: int, start: datetime, end: datetime) -> list[StateSpan]:
    """The asset's states over [start, end), consecutive reports of the same state and code merged."""
    rows = conn.execute(
        "SELECT asset_id, t_from, t_to, state, code, time_class::text, failure FROM asset_state_intervals("
        "ARRAY[%s]::int[], %s, %s) ORDER BY t_from LIMIT %s", (asset_id, start, end, MAX_SPANS + 1)).fetchall()
    if len(rows) > MAX_SPANS:
        raise ScopeError(f"more than {MAX_SPANS} state changes in the range; choose a shorter range")
    out: list[StateSpan] = []
    for r in rows:
        span = StateSpan(*r)
        last = out[-1] if out else None
        if last and last.end == span.start and (last.state, last.code) == (span.state, span.code):
            out[-1] = StateSpan(last.asset_id, last.start, span.end, last.state, last.code, last.time_class,
                                last.failure)
        else:
            out.append(span)
    return out


def stop_pareto(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime,
                classes: tuple[str, ...] = ("unplanned_down", "planned_down", "setup")) -> list[dict[str, Any]]:
    """Lost time by reason code (seconds and number of stops), largest first, over every asset of the scope.

    Whole hours before the watermark come from the hourly stop rollup, the rest from raw states through the same
    definition (``asset_stops``); a stop counts where its report first appears inside the range."""
    ids = [a.id for a in assets(conn, scope)]
    rolled, raw = split_windows([(start, end)], watermark(conn, "stops_1h") or datetime.min.replace(tzinfo=UTC))
    totals: dict[tuple[str, str | None], list[Any]] = {}

    def add(rows: list[tuple[Any, ...]]) -> None:
        for code, state, tclass, sec, n in rows:
            t = totals.setdefault((code, tclass), [state, 0.0, 0])
            t[0], t[1], t[2] = min(t[0], state), t[1] + sec, t[2] + n

    for a, b, _ in rolled:
        add(conn.execute("SELECT code, min(state), time_class::text, sum(seconds), sum(episodes)::int "
                         "FROM rollup_stops_1h WHERE asset_id = ANY (%s) AND bucket >= %s AND bucket < %s "
                         "AND time_class::text = ANY (%s) GROUP BY code, time_class",
                         (ids, a, b, list(classes))).fetchall())
    for a, b, _, width in raw_calls(raw):
        add(conn.execute("SELECT code, min(state), time_class::text, sum(seconds), sum(episodes)::int "
                         "FROM asset_stops(%s, %s, %s, %s) WHERE time_class::text = ANY (%s) GROUP BY code, time_class",
                         (ids, a, b, width, list(classes))).fetchall())
    texts = dict(conn.execute("SELECT DISTINCT ON (code) code, text FROM state_reasons WHERE asset_id = ANY (%s) "
                              "ORDER BY code, valid_from DESC", (ids,)).fetchall())
    out = [{"code": c, "state": st, "time_class": tc, "seconds": sec, "stops": n, "text": texts.get(c, "")}
           for (c, tc), (st, sec, n) in totals.items()]
    return sorted(out, key=lambda r: (-r["seconds"], r["code"]))


def stop_durations(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime) -> list[float]:
    """Durations in seconds of each unplanned stop (for a histogram); periodic repeats of a stop's report do not
    split it."""
    ids = [a.id for a in assets(conn, scope)]
    return [r[0] for r in conn.execute(
        "WITH iv AS (SELECT *, (lag(code) OVER w IS DISTINCT FROM code OR lag(state) OVER w IS DISTINCT FROM state "
        "                       OR lag(t_to) OVER w <> t_from) AS starts_new "
        "            FROM asset_state_intervals(%s, %s, %s) WINDOW w AS (PARTITION BY asset_id ORDER BY t_from)), "
        "ep AS (SELECT *, sum(starts_new::int) OVER (PARTITION BY asset_id ORDER BY t_from) AS k FROM iv) "
        "SELECT extract(epoch FROM max(t_to) - min(t_from))::float8 FROM ep WHERE time_class = 'unplanned_down' "
        "GROUP BY asset_id, k ORDER BY min(t_from) LIMIT %s", (ids, start, end, MAX_SPANS)).fetchall()]


def trend(conn: psycopg.Connection, tag_id: int, start: datetime, end: datetime, max_points: int = 2000
          ) -> dict[str, Any]:
    """A numeric tag for a chart: raw samples when they fit in ``max_points``, else minute or hour rollups
    (min / max / mean per bucket) — whichever is the finest that fits. After a rollup's watermark the buckets
    come from raw rows through the same definition."""
    if max_points < 10:
        raise ScopeError("max_points must be at least 10")
    n = conn.execute("SELECT count(*) FROM samples_num WHERE tag_id = %s AND time >= %s AND time < %s",
                     (tag_id, start, end)).fetchone()
    if n is not None and n[0] <= max_points:
        rows = conn.execute("SELECT time, value, status FROM samples_num WHERE tag_id = %s AND time >= %s "
                            "AND time < %s ORDER BY time", (tag_id, start, end)).fetchall()
        return {"resolution": "raw", "time": [r[0] for r in rows], "value": [r[1] for r in rows],
                "good": [0 <= r[2] < 2**30 for r in rows]}
    span = end - start
    width, table, name = ((timedelta(minutes=1), "rollup_tag_1m", "tag_1m") if span / timedelta(minutes=1) <= max_points
                          else (timedelta(hours=1), "rollup_tag_1h", "tag_1h"))
    wm = min(max(watermark(conn, name) or start, start), end)
    rows = conn.execute(
        f"SELECT bucket, vmin, vmax, vsum / n FROM {table} WHERE tag_id = %s AND bucket >= %s AND bucket < %s "
        "UNION ALL SELECT bucket, vmin, vmax, vsum / n FROM tag_agg(ARRAY[%s]::int[], %s, %s, %s) ORDER BY 1",
        (tag_id, start, wm, tag_id, wm, end, width)).fetchall()
    return {"resolution": name.split("_")[1], "time": [r[0] for r in rows], "min": [r[1] for r in rows],
            "max": [r[2] for r in rows], "mean": [r[3] for r in rows]}


def data_quality(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime,
                 now: datetime | None = None) -> list[dict[str, Any]]:
    """Per asset: whole hours of the range with no numeric sample of any of its tags, and hours of unknown state."""
    now = now or datetime.now(UTC)
    stop = min(end, now)
    members = assets(conn, scope)
    per = {r.group_id: r.facts for r in facts(conn, scope, start, end, by="asset", now=now)}
    h0 = start.replace(minute=0, second=0, microsecond=0)
    h0 = h0 if h0 == start else h0 + timedelta(hours=1)
    hours = max(0, int((stop - h0).total_seconds() // 3600))
    h1 = h0 + timedelta(hours=hours)
    wm = min(max(watermark(conn, "tag_1h") or h0, h0), h1)
    have = dict(conn.execute(
        "SELECT t.asset_id, count(DISTINCT b) FROM tags t JOIN LATERAL ("
        "  SELECT r.bucket AS b FROM rollup_tag_1h r WHERE r.tag_id = t.id AND r.bucket >= %s AND r.bucket < %s "
        "  AND r.n > 0 UNION ALL SELECT DISTINCT time_bucket('1 hour', s.time) FROM samples_num s "
        "  WHERE s.tag_id = t.id AND s.time >= %s AND s.time < %s) x ON true "
        "WHERE t.asset_id = ANY (%s) GROUP BY 1", (h0, wm, wm, h1, [a.id for a in members])).fetchall())
    return [{"asset_id": a.id, "asset": a.path, "hours": hours, "hours_without_data": hours - have.get(a.id, 0),
             "unknown_state_hours": per[a.id].unknown_s / 3600.0 if a.id in per else None} for a in members]
