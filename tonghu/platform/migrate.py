"""Versioned, idempotent schema migrations: plain SQL files applied once each, in order, under a lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from tonghu.common.errors import ConfigError

_NAME_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every process that migrates this database.
_LOCK_ID = 0x746F6E67


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("tonghu.platform.migrations").iterdir():
        m = _NAME_RE.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ConfigError(f"duplicate migration versions in tonghu/platform/migrations: {versions}")
    return found


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply every pending migration; returns those applied. Safe to run concurrently and repeatedly."""
    conn.autocommit = True
    applied_now = []
    # A session-level advisory lock serialises concurrent migrators without holding a transaction open.
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
    try:
        conn.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )""")
        done = {v: c for v, c in conn.execute("SELECT version, checksum FROM schema_migrations")}
        for mig in available():
            if mig.version in done:
                if done[mig.version] != mig.checksum:
                    raise ConfigError(
                        f"migration {mig.version:04d}_{mig.name}.sql changed after it was applied; "
                        "add a new migration instead of editing an applied one")
                continue
            with conn.transaction():
                conn.execute(mig.sql)  # type: ignore[arg-type]
                conn.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                             (mig.version, mig.name, mig.checksum))
            applied_now.append(mig)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


def ensure_database(admin_dsn: str, name: str) -> bool:
    """Create database ``name`` if missing (connecting with ``admin_dsn``); returns True when created."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True
