from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.conftest import ADMIN_DSN, unique
from tonghu.common.errors import ConfigError
from tonghu.platform import migrate


def test_migrations_are_idempotent_and_build_hypertables(db: psycopg.Connection) -> None:
    # The session fixture already migrated this database: a second and third run must apply nothing.
    assert migrate.migrate(db) == []
    assert migrate.migrate(db) == []
    versions = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert versions == [m.version for m in migrate.available()]
    hypertables = {r[0] for r in db.execute("SELECT hypertable_name FROM timescaledb_information.hypertables")}
    assert {"samples_num", "samples_text", "events"} <= hypertables
    # Counters must never be stored in float4.
    value_type = db.execute("SELECT data_type FROM information_schema.columns "
                            "WHERE table_name = 'samples_num' AND column_name = 'value'").fetchone()
    assert value_type == ("double precision",)


def test_edited_migration_is_refused(db: psycopg.Connection) -> None:
    db.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
    try:
        with pytest.raises(ConfigError, match="changed after it was applied"):
            migrate.migrate(db)
    finally:
        first = migrate.available()[0]
        db.execute("UPDATE schema_migrations SET checksum = %s WHERE version = 1", (first.checksum,))


def test_fresh_database_migrates_from_zero() -> None:
    name = unique("tonghu_mig_")
    assert migrate.ensure_database(ADMIN_DSN, name) is True
    assert migrate.ensure_database(ADMIN_DSN, name) is False
    try:
        with psycopg.connect(make_conninfo(ADMIN_DSN, dbname=name)) as conn:
            assert len(migrate.migrate(conn)) == len(migrate.available())
            assert migrate.migrate(conn) == []
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
