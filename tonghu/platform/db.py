"""Database connections and TimescaleDB feature detection."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/tonghu"


def dsn_from_env() -> str:
    return os.environ.get("TONGHU_DATABASE_URL", DEFAULT_DSN)


def connect(dsn: str, *, autocommit: bool = False, application_name: str = "tonghu") -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=autocommit, application_name=application_name, connect_timeout=10)


@dataclass(frozen=True, slots=True)
class Timescale:
    version: str
    license: str

    @property
    def community(self) -> bool:
        """Continuous aggregates, compression and job policies exist only in the Community (timescale) license."""
        return self.license == "timescale"


def timescale(conn: psycopg.Connection) -> Timescale | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    if row is None:
        return None
    lic = conn.execute("SELECT current_setting('timescaledb.license', true)").fetchone()
    return Timescale(version=row[0], license=(lic[0] if lic and lic[0] else "apache"))
