"""Shared fixtures: a throwaway TimescaleDB database per run, a topic prefix per test, tenants, ingesters.

Everything talks to the real services (PostgreSQL + TimescaleDB at TONGHU_TEST_ADMIN_DSN, Mosquitto at
TONGHU_TEST_MQTT_HOST:PORT); `make test` starts them when they are not answering.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

ADMIN_DSN = os.environ.get("TONGHU_TEST_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
MQTT_HOST = os.environ.get("TONGHU_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("TONGHU_TEST_MQTT_PORT", "1883"))


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A database created (and migrated) for this test run only, dropped at the end."""
    psycopg = pytest.importorskip("psycopg")
    from psycopg.conninfo import make_conninfo

    from tonghu.platform import migrate

    name = unique("tonghu_test_")
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(ADMIN_DSN, dbname=name)
    try:
        with psycopg.connect(dsn) as conn:
            migrate.migrate(conn)
        yield dsn
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(database_url: str) -> Iterator[object]:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def topic_prefix() -> str:
    return unique("test-")


@dataclass(frozen=True)
class Tenant:
    company: str
    site: str
    edge: str
    company_id: int
    site_id: int
    edge_id: int


def make_tenant(conn: object, sector: str = "electronics") -> Tenant:
    from tonghu.platform import registry

    company, site, edge = unique("co"), unique("site"), unique("edge")
    cid = registry.add_company(conn, company, f"Company {company}", sector)  # type: ignore[arg-type]
    sid = registry.add_site(conn, company, site, f"Site {site}")  # type: ignore[arg-type]
    eid = registry.add_edge(conn, company, site, edge)  # type: ignore[arg-type]
    return Tenant(company, site, edge, cid, sid, eid)


@pytest.fixture
def tenant(db: object) -> Tenant:
    return make_tenant(db)


# ---------------------------------------------------------------------------------------- ingest


def ingest_config(database_url: str, prefix: str, **extra: object) -> object:
    from tonghu.platform.ingest.config import IngestConfig

    return IngestConfig.model_validate({
        "database_url": database_url, "topic_prefix": prefix,
        "broker": {"host": MQTT_HOST, "port": MQTT_PORT, "client_id": unique("ingest-")},
        **extra,
    })


@pytest.fixture
def start_ingester(database_url: str, topic_prefix: str) -> Iterator[Callable[..., object]]:
    """Starts in-process ingest services on this test's topic prefix; stops them afterwards."""
    from tonghu.platform.ingest.service import IngestService

    started: list[IngestService] = []

    def start(**extra: object) -> IngestService:
        svc = IngestService(ingest_config(database_url, topic_prefix, **extra))  # type: ignore[arg-type]
        svc.start()
        deadline = time.monotonic() + 10
        while svc.metrics.mqtt_connected._value.get() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # let the SUBACK arrive before tests publish
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture
def ingester(start_ingester: Callable[..., object]) -> object:
    return start_ingester()
