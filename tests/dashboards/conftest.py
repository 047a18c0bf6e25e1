"""Dashboards fixtures: two tenants with edges fed through the real ingester and broker, users of every role,
the app in-process (for request-context unit tests) and `tonghu dashboards serve` as a real server process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant, ingest_config, make_tenant, unique
from tests.helpers.broker import free_port

PASSWORD = "correct horse battery"
# Cheap scrypt for test users: the cost parameter is stored in the hash, and the first login rehashes with the
# production parameters, which the login tests also exercise.
TEST_SCRYPT_N = 1024


@dataclass(frozen=True)
class World:
    a: Tenant                 # electronics company with two sites (site_id, site2_id) and edges on both
    a_site2_id: int
    a_edge2_id: int
    a_line_id: int            # a line and asset of company A, for scope checks
    a_asset_id: int
    b: Tenant                 # another company (equipment sector): its ids must never leak to A's users
    b_line_id: int
    b_asset_id: int
    users: dict[str, str]     # role key → user name: admin, pm_a, eng_a, eng_a_site2, pm_b, analyst
    secret_reason: str        # dead-letter detail text that exists only in company B's data


def _status(edge: str, state: str, **health: Any) -> bytes:
    import msgpack

    return msgpack.packb({"v": 1, "edge": edge, "state": state, "ts": time.time_ns() // 1000, **health},
                         use_bin_type=True)


def _health(sources: dict[str, float]) -> dict[str, Any]:
    now_us = time.time_ns() // 1000
    return {"samples_in": 5000, "buffered_samples": 1200, "buffered_bytes": 96_000, "oldest_age_s": 42.5,
            "acked_batches": 17, "resent_batches": 1, "dropped": {"oldest": 3, "ingress_full": 0},
            "sources": {name: {"connected": age < 60, "since_us": now_us - 3_600_000_000, "outages": 1,
                               "samples": 2500, "last_value_us": now_us - int(age * 1e6)}
                        for name, age in sources.items()}}


def _feed(database_url: str, world_tenants: list[tuple[Tenant, str, bytes, str]]) -> None:
    """Publish each edge's status and one batch with an unregistered tag (→ an `unknown_tag` dead letter)
    through the real broker into a real ingester, and wait until both are stored."""
    import psycopg

    from tests.helpers.edge import TestEdge
    from tonghu.common import topics
    from tonghu.common.sample import Sample
    from tonghu.platform.ingest.service import IngestService

    prefix = unique("dash-")
    svc = IngestService(ingest_config(database_url, prefix))  # type: ignore[arg-type]
    svc.start()
    edges = []
    try:
        deadline = time.monotonic() + 10
        while svc.metrics.mqtt_connected._value.get() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        for tenant, edge_code, status, bad_key in world_tenants:
            edge = TestEdge(MQTT_HOST, MQTT_PORT, prefix, tenant.company, tenant.site, edge_code)
            edges.append(edge)
            edge.send_raw(topics.Kind.STATUS, status)
            edge.send_data([Sample(bad_key, time.time_ns() // 1000 - 1_000_000, 1.0)])
        for edge in edges:
            assert edge.wait_all_acked(30, resend_every=2.0), "ingester did not ack the test batches"
        with psycopg.connect(database_url) as conn:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                waiting = conn.execute(
                    "SELECT count(*) FROM edge_identities i JOIN edges e ON e.id = i.edge_id "
                    "WHERE i.company = ANY(%s) AND e.status = 'unknown'",
                    ([t.company for t, *_ in world_tenants],)).fetchone()[0]
                if waiting <= 1:  # one edge of A is left silent on purpose
                    break
                time.sleep(0.1)
    finally:
        for edge in edges:
            edge.close()
        svc.stop()


@pytest.fixture(scope="session")
def world(database_url: str) -> World:
    import psycopg

    from tonghu.platform import registry, users

    with psycopg.connect(database_url, autocommit=True) as conn:
        a, b = make_tenant(conn, "electronics"), make_tenant(conn, "equipment")
        site2 = unique("site")
        a_site2_id = registry.add_site(conn, a.company, site2, f"Site {site2}")
        a_edge2_id = registry.add_edge(conn, a.company, site2, unique("edge"))
        silent_id = registry.add_edge(conn, a.company, a.site, unique("silent"))  # never reports: an empty state
        assert silent_id
        ids = {}
        for t in (a, b):
            area = conn.execute("INSERT INTO areas (site_id, code, name) VALUES (%s, 'smt', 'SMT') RETURNING id",
                                (t.site_id,)).fetchone()[0]
            line = conn.execute("INSERT INTO lines (area_id, code, name) VALUES (%s, 'l1', 'Line 1') RETURNING id",
                                (area,)).fetchone()[0]
            asset = conn.execute("INSERT INTO assets (line_id, code, name) VALUES (%s, 'm1', 'Mounter 1') "
                                 "RETURNING id", (line,)).fetchone()[0]
            ids[t.company] = (line, asset)
        names = {k: unique(f"{k}-") for k in ("admin", "pm_a", "eng_a", "eng_a_site2", "pm_b", "analyst")}
        specs = {"admin": ("admin", {}), "pm_a": ("plant_manager", {"company": a.company}),
                 "eng_a": ("engineer", {"company": a.company}),
                 "eng_a_site2": ("engineer", {"company": a.company, "site": site2}),
                 "pm_b": ("plant_manager", {"company": b.company}),
                 "analyst": ("association_analyst", {"sector": "electronics"})}
        for key, (role, scope) in specs.items():
            users.add_user(conn, names[key], PASSWORD, role, display_name=f"Test {key}", scrypt_n=TEST_SCRYPT_N,
                           **scope)
        edge2 = conn.execute("SELECT code FROM edges WHERE id = %s", (a_edge2_id,)).fetchone()[0]
    secret = unique("secret-of-b-")
    a2 = Tenant(a.company, site2, edge2, a.company_id, a_site2_id, a_edge2_id)
    _feed(database_url, [
        (a, a.edge, _status(a.edge, "online", **_health({"opcua-smt": 2.0, "mqtt-aoi": 400.0})), "x/y/z/unknown_a"),
        (a2, edge2, _status(edge2, "offline"), "x/y/z/unknown_a2"),
        (b, b.edge, _status(b.edge, "online", **_health({f"opcua-{secret}": 1.0})), f"x/y/z/{secret}"),
    ])
    return World(a, a_site2_id, a_edge2_id, *ids[a.company], b, *ids[b.company], names, secret)


# ---------------------------------------------------------------------------------------------- the app


@pytest.fixture(scope="session")
def dash_app(database_url: str) -> Any:
    """The app in this process, for tests that need a Flask request context or the test client (one per process:
    Dash's page and callback registries are global)."""
    from tonghu.dashboards.app import create_app
    from tonghu.dashboards.settings import DashboardSettings

    return create_app(DashboardSettings(database_url=database_url, secret_key="k" * 64, cookie_secure="auto",
                                       login_max_failures=3))


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@pytest.fixture(scope="session")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`tonghu dashboards serve` (waitress) as its own process on a free port."""
    import requests

    work = tmp_path_factory.mktemp("dashboards")
    port = free_port()
    log = work / "server.log"
    env = {**os.environ, "TONGHU_DASHBOARDS_SECRET_KEY": ""}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # The command group itself (its registration in `tonghu` is covered by the users CLI test).
            [sys.executable, "-c", "from tonghu.dashboards.cli import dashboards; dashboards()",
             "serve", "--dsn", database_url, "--port", str(port),
             "--threads", "6", "--cookie-secure", "never", "--secret-key-file", str(work / "key" / "secret")],
            stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/login", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dashboards server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield LiveServer(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def login(base_url: str, username: str, password: str = PASSWORD) -> Any:
    """A requests session signed in through the real login form (CSRF token included)."""
    import requests

    s = requests.Session()
    page = s.get(f"{base_url}/login", timeout=10)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    r = s.post(f"{base_url}/login", data={"username": username, "password": password, "csrf": csrf.group(1)},
               allow_redirects=False, timeout=30)
    assert r.status_code == 302, (r.status_code, r.text[:300])
    return s


def audit_rows(conn: Any, actor: str, action: str, after_id: int = 0) -> list[dict[str, Any]]:
    return [r[0] for r in conn.execute("SELECT detail FROM audit_log WHERE actor = %s AND action = %s AND id > %s "
                                       "ORDER BY id", (actor, action, after_id))]


def last_audit_id(conn: Any) -> int:
    return int(conn.execute("SELECT coalesce(max(id), 0) FROM audit_log").fetchone()[0])
