"""A tiny plant written straight into the test database: assets with tags, samples at given times, reason maps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tonghu.common.uplink import TagMeta
from tonghu.platform import reasons, registry

DAY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, long past: now() never cuts these ranges
BAD = -2147483648  # OPC UA Bad (0x80000000) as a signed int4


def at(hhmm: str, day: datetime = DAY) -> datetime:
    h, m = hhmm.split(":")
    return day + timedelta(hours=int(h), minutes=int(m))


STANDARD_REASONS = [
    {"code": "RUN", "state": "running", "time_class": "production"},
    {"code": "SETUP-PRODUCT", "state": "setup", "time_class": "setup"},
    {"code": "BRK-SPINDLE", "state": "down", "time_class": "unplanned_down", "failure": True},
    {"code": "MS-JAM", "state": "down", "time_class": "unplanned_down"},
    {"code": "PM", "state": "planned_down", "time_class": "planned_down"},
    {"code": "IDLE-NO-ORDER", "state": "idle", "time_class": "idle"},
]


@dataclass
class Plant:
    conn: Any
    company: str
    site: str
    site_id: int
    company_id: int
    tags: dict[str, int] = field(default_factory=dict)  # key → id

    def asset(self, path: str, numeric: dict[str, str | tuple[str, dict[str, Any]]],
              text_roles: tuple[str, ...] = ("state", "reason"), reason_map: list[dict[str, Any]] | None = None
              ) -> int:
        """Register an asset: ``numeric`` maps tag name → role or (role, attrs); state/reason text tags named
        after their role."""
        metas = [TagMeta(f"{path}/{r}", "string", role=r) for r in text_roles]
        for name, spec in numeric.items():
            role, attrs = (spec, {}) if isinstance(spec, str) else spec
            metas.append(TagMeta(f"{path}/{name}", "float", role=role, attrs=attrs))
        ids, refused = registry.upsert_tags(self.conn, self.site_id, metas)
        assert not refused, refused
        self.tags.update({k: v[0] for k, v in ids.items()})
        asset_id = reasons.asset_id(self.conn, self.site_id, path)
        reasons.set_reasons(self.conn, asset_id, reason_map if reason_map is not None else STANDARD_REASONS)
        return asset_id

    def num(self, key: str, points: list[tuple[datetime, float] | tuple[datetime, float, int]]) -> None:
        tag = self.tags[key]
        self.conn.cursor().executemany(
            "INSERT INTO samples_num (tag_id, time, value, status) VALUES (%s, %s, %s, %s)",
            [(tag, p[0], p[1], p[2] if len(p) > 2 else 0) for p in points])

    def states(self, path: str, points: list[tuple[datetime, str, str]]) -> None:
        """(time, state, reason code) reports: the state and reason tags at the same instant, as devices send."""
        rows = []
        for t, state, code in points:
            rows += [(self.tags[f"{path}/state"], t, state), (self.tags[f"{path}/reason"], t, code)]
        self.conn.cursor().executemany(
            "INSERT INTO samples_text (tag_id, time, value, status) VALUES (%s, %s, %s, 0)", rows)

    def line_of(self, asset_id: int) -> int:
        return int(self.conn.execute("SELECT line_id FROM assets WHERE id = %s", (asset_id,)).fetchone()[0])


def make_plant(conn: Any, sector: str, make_tenant: Any) -> Plant:
    t = make_tenant(conn, sector)
    return Plant(conn, t.company, t.site, t.site_id, t.company_id)
