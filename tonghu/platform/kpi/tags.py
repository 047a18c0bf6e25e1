"""Per-tag statistics over windows (count, min, max, mean, last, counter increase), from the hourly tag rollup
for whole hours before its watermark and from raw rows elsewhere — the same ``tag_agg`` definition either way."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from tonghu.platform.kpi.facts import raw_calls, split_windows, window_of
from tonghu.platform.kpi.scope import Scope, assets
from tonghu.platform.rollups import watermark


@dataclass(slots=True)
class TagStats:
    n: int = 0
    vmin: float | None = None
    vmax: float | None = None
    vsum: float = 0.0
    vlast: float | None = None
    last_time: datetime | None = None
    delta: float = 0.0
    resets: int = 0

    @property
    def mean(self) -> float | None:
        return self.vsum / self.n if self.n else None

    def add(self, n: int, vmin: float | None, vmax: float | None, vsum: float | None, vlast: float | None,
            last_time: datetime | None, delta: float | None, resets: int | None) -> None:
        if not n:
            return
        self.n += n
        self.vmin = vmin if self.vmin is None or (vmin is not None and vmin < self.vmin) else self.vmin
        self.vmax = vmax if self.vmax is None or (vmax is not None and vmax > self.vmax) else self.vmax
        self.vsum += vsum or 0.0
        if last_time is not None and (self.last_time is None or last_time >= self.last_time):
            self.vlast, self.last_time = vlast, last_time
        self.delta += delta or 0.0
        self.resets += resets or 0


@dataclass(frozen=True, slots=True)
class TagInfo:
    id: int
    asset_id: int
    name: str
    role: str
    unit: str
    attrs: dict[str, Any]


def stats(conn: psycopg.Connection, tag_ids: Sequence[int], wins: Sequence[tuple[datetime, datetime]]
          ) -> dict[tuple[int, int], TagStats]:
    """Statistics of each (tag, window index)."""
    out: dict[tuple[int, int], TagStats] = defaultdict(TagStats)
    ids = list(tag_ids)
    if not ids:
        return out
    rolled, raw = split_windows(wins, watermark(conn, "tag_1h") or datetime.min.replace(tzinfo=UTC))
    if rolled:
        cur = conn.execute(
            "SELECT w.i, r.tag_id, sum(r.n)::int, min(r.vmin), max(r.vmax), sum(r.vsum), "
            "last(r.vlast, r.last_time), max(r.last_time), sum(r.delta), sum(r.resets)::int "
            "FROM unnest(%s::timestamptz[], %s::timestamptz[], %s::int[]) WITH ORDINALITY w(a, b, i, k) "
            "JOIN rollup_tag_1h r ON w.k = width_bucket(r.bucket, %s::timestamptz[]) AND r.bucket < w.b "
            "WHERE r.tag_id = ANY (%s) AND r.bucket >= %s AND r.bucket < %s GROUP BY 1, 2",
            # Spans are sorted and disjoint: width_bucket finds a row's span by its start, so the join is an
            # equality (a hash join) instead of a range test of every row against every span.
            ([r[0] for r in rolled], [r[1] for r in rolled], [r[2] for r in rolled], [r[0] for r in rolled], ids,
             rolled[0][0], max(r[1] for r in rolled)))
        for i, tag, *vals in cur.fetchall():
            out[(tag, i)].add(*vals)
    for a, b, i, width in raw_calls(raw):
        cur = conn.execute("SELECT bucket, tag_id, n, vmin, vmax, vsum, vlast, last_time, delta, resets "
                           "FROM tag_agg(%s, %s, %s, %s)", (ids, a, b, width))
        for bucket, tag, *vals in cur.fetchall():
            out[(tag, i if i >= 0 else window_of(wins, bucket))].add(*vals)
    return out


def tags_of(conn: psycopg.Connection, scope: Scope, roles: Sequence[str], *, outputs_only: bool = False
            ) -> list[TagInfo]:
    """Numeric tags with the given roles below the scope (optionally only on line-output assets)."""
    members = {a.id: a for a in assets(conn, scope)}
    if outputs_only and scope.level != "asset":
        members = {k: a for k, a in members.items() if a.output}
    if not members:
        return []
    rows = conn.execute(
        "SELECT id, asset_id, name, role, unit, attrs FROM tags WHERE asset_id = ANY (%s) AND role = ANY (%s) "
        "AND data_type IN ('float', 'int', 'bool') ORDER BY asset_id, name", (list(members), list(roles))).fetchall()
    return [TagInfo(*r) for r in rows]


def by_role(conn: psycopg.Connection, scope: Scope, start: datetime, end: datetime, roles: Sequence[str], *,
            outputs_only: bool = False) -> list[tuple[TagInfo, TagStats]]:
    """Every tag of the roles with its statistics over [start, end)."""
    infos = tags_of(conn, scope, roles, outputs_only=outputs_only)
    got = stats(conn, [t.id for t in infos], [(start, end)])
    return [(t, got[(t.id, 0)]) for t in infos]


def total(rows: Sequence[tuple[TagInfo, TagStats]], role: str) -> float:
    """Summed counter increase of one role."""
    return sum(s.delta for t, s in rows if t.role == role)
