"""The checker: what reached TimescaleDB, per tag, against what the generators produced and the agent counted.

A sequence tag must hold the values 0 … generated-1, each exactly once. Per tag the checker reports rows stored,
``duplicated`` (rows beyond one per value: the store is unique on (tag, time), so a duplicate is a second row
under another timestamp), ``missing`` (values never stored, with their ranges as ``gaps``) and ``unexpected``
(values no generator produced). The agent's own accounting comes from its buffer file (persistent, survives a
kill -9) and its Prometheus metrics (which add the in-memory ingress drops), so a scenario can assert
``missing == dropped_counted`` and ``duplicated == 0``.
"""

from __future__ import annotations

import sqlite3
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from tonghu.edge_agent.buffer_model import DropReason

MAX_GAPS = 5  # ranges listed per tag; the counts are always complete
MAX_GAP_TAGS = 20  # tags whose gaps are listed


@dataclass(frozen=True)
class Gap:
    first: int  # first missing value
    last: int  # last missing value
    after_us: int | None  # source time of the stored value just before the gap (None: the gap starts at 0)
    before_us: int | None  # source time of the stored value just after it (None: the gap runs to the end)


@dataclass
class TagCheck:
    key: str
    generated: int
    stored: int = 0  # rows
    distinct: int = 0  # distinct expected values among them
    unexpected: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @property
    def duplicated(self) -> int:
        return self.stored - self.distinct - self.unexpected

    @property
    def missing(self) -> int:
        return self.generated - self.distinct


@dataclass(frozen=True)
class AgentCounts:
    """The agent's accounting: every sample offered to it ends acked, buffered, in flight, dropped or rejected."""

    samples_in: int
    acked: int
    buffered: int
    in_flight: int
    rejected: int
    dropped: dict[str, int]
    resent_batches: int = 0  # sends of a batch after its first: what the platform failed to acknowledge in time

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @classmethod
    def from_buffer(cls, path: Path, ingress_dropped: int = 0) -> AgentCounts:
        """From the buffer file, read-only (the agent may be running, its disk may be full): the counters persist
        across restarts and a kill -9, unlike the process's metrics. Same queries as ``Buffer.stats``."""
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            db.execute("BEGIN")  # one read transaction, so that the numbers agree with each other
            c = dict(db.execute("SELECT name, value FROM counter").fetchall())
            in_flight = int(db.execute("SELECT total(n) FROM batch").fetchone()[0])
            db.execute("COMMIT")
        finally:
            db.close()
        dropped = {str(r): c[f"dropped_{r}"] for r in DropReason}
        dropped["ingress_full"] = ingress_dropped
        return cls(c["samples_in"], c["samples_acked"], c["samples_buffered"], in_flight, c["rejected"], dropped,
                   c["resent_batches"])

    @staticmethod
    def ingress_dropped(url: str) -> int:
        return int(scrape(url).get('tonghu_edge_samples_dropped_total{reason="ingress_full"}', 0))


def scrape(url: str, timeout: float = 5.0) -> dict[str, float]:
    """One scrape of a Prometheus endpoint, as {'name{label="v"}': value}."""
    text = urllib.request.urlopen(url, timeout=timeout).read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


@dataclass
class Report:
    tags: list[TagCheck]
    agent: AgentCounts | None = None
    site_rows: int = 0  # every sample row of the site, the agent's own state tags included
    extra: dict[str, Any] = field(default_factory=dict)

    def total(self, what: str) -> int:
        return sum(getattr(t, what) for t in self.tags)

    @property
    def dropped_counted(self) -> int:
        return self.agent.dropped_total if self.agent else 0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {w: self.total(w) for w in ("generated", "stored", "duplicated", "missing",
                                                          "unexpected")}
        out.update(tags=len(self.tags), dropped_counted=self.dropped_counted, site_rows=self.site_rows)
        if self.agent is not None:
            out["agent"] = asdict(self.agent)
        bad = [t for t in self.tags if t.missing or t.duplicated or t.unexpected]
        out["bad_tags"] = [{"key": t.key, "generated": t.generated, "stored": t.stored, "missing": t.missing,
                            "duplicated": t.duplicated, "unexpected": t.unexpected,
                            "gaps": [asdict(g) for g in t.gaps]} for t in bad[:10]]
        out.update(self.extra)
        return out


def tag_ids(conn: psycopg.Connection, site_id: int, keys: Iterable[str]) -> dict[str, int]:
    rows = conn.execute("SELECT key, id FROM tags WHERE site_id = %s AND key = ANY(%s)", (site_id, list(keys)))
    return dict(rows.fetchall())


def check(conn: psycopg.Connection, site_id: int, generated: Mapping[str, int], *,
          agent: AgentCounts | None = None) -> Report:
    """Compare the stored sequence tags of a site with ``generated`` (tag key → values 0 … n-1 produced)."""
    ids = tag_ids(conn, site_id, generated)
    checks = {k: TagCheck(k, n) for k, n in generated.items()}
    known = [k for k in generated if k in ids]
    rows = conn.execute(
        """WITH exp(tag_id, gen) AS (SELECT * FROM unnest(%s::int[], %s::bigint[]))
           SELECT e.tag_id, count(s.tag_id),
                  count(DISTINCT s.value) FILTER (WHERE s.value >= 0 AND s.value < e.gen AND s.value = trunc(s.value)),
                  count(s.tag_id) FILTER (WHERE s.value IS NULL OR s.value < 0 OR s.value >= e.gen
                                          OR s.value <> trunc(s.value))
           FROM exp e LEFT JOIN samples_num s ON s.tag_id = e.tag_id GROUP BY e.tag_id""",
        ([ids[k] for k in known], [generated[k] for k in known])).fetchall()
    by_id = {ids[k]: checks[k] for k in known}
    for tag_id, stored, distinct, unexpected in rows:
        c = by_id[tag_id]
        c.stored, c.distinct, c.unexpected = int(stored), int(distinct), int(unexpected)
    for c in [c for c in checks.values() if c.missing and c.key in ids][:MAX_GAP_TAGS]:
        c.gaps = gaps(conn, ids[c.key], c.generated)
    site_rows = conn.execute(
        "SELECT (SELECT count(*) FROM samples_num s JOIN tags t ON t.id = s.tag_id WHERE t.site_id = %(s)s)"
        "     + (SELECT count(*) FROM samples_text s JOIN tags t ON t.id = s.tag_id WHERE t.site_id = %(s)s)",
        {"s": site_id}).fetchone()
    return Report(list(checks.values()), agent, int(site_rows[0]) if site_rows else 0)


def gaps(conn: psycopg.Connection, tag_id: int, generated: int) -> list[Gap]:
    """The first MAX_GAPS ranges of values in 0 … generated-1 that one tag never stored."""
    found = conn.execute(
        """SELECT prev, value, prev_us, us FROM (
               SELECT value, (extract(epoch FROM time) * 1e6)::bigint AS us,
                      lag(value) OVER w AS prev, (extract(epoch FROM lag(time) OVER w) * 1e6)::bigint AS prev_us
               FROM (SELECT DISTINCT ON (value) value, time FROM samples_num
                     WHERE tag_id = %s AND value >= 0 AND value < %s ORDER BY value, time) v
               WINDOW w AS (ORDER BY value)) x
           WHERE prev IS NULL AND value > 0 OR value - prev > 1 ORDER BY value LIMIT %s""",
        (tag_id, generated, MAX_GAPS + 1)).fetchall()
    out = [Gap(0 if prev is None else int(prev) + 1, int(value) - 1, prev_us, us) for prev, value, prev_us, us in found]
    last = conn.execute("SELECT max(value), (extract(epoch FROM max(time)) * 1e6)::bigint FROM samples_num "
                        "WHERE tag_id = %s AND value >= 0 AND value < %s", (tag_id, generated)).fetchone()
    top = -1 if last is None or last[0] is None else int(last[0])
    if top < generated - 1:
        out.append(Gap(top + 1, generated - 1, last[1] if last else None, None))
    return out[:MAX_GAPS]
