"""``tonghu bench dashboards``: first render time of each page in headless Chromium against a seeded throwaway
database (edges with status details, dead letters), from navigation start until every graph has drawn and the
page's live callback has answered. Needs the dev extra (selenium) and Debian's chromium + chromium-driver."""

from __future__ import annotations

import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Resolves with ms since navigation start once every graph on the page has drawn and ``arguments[0]`` (the page's
# "updated" marker, filled by its live callback) has text. Polls once per animation frame.
WAIT_RENDERED = """
const [readySelector, done] = [arguments[0], arguments[arguments.length - 1]];
function ready() {
    const graphs = document.querySelectorAll('.dash-graph');
    const drawn = document.querySelectorAll('.dash-graph .js-plotly-plot .main-svg');
    const marker = document.querySelector(readySelector);
    return marker && marker.textContent.trim() !== '' && drawn.length >= graphs.length;
}
(function poll() { ready() ? done(performance.now()) : requestAnimationFrame(poll); })();
"""
# Server time of the page's callbacks as the browser saw them (request start → response end).
_CALLBACK_MS = """
return performance.getEntriesByType('resource').filter(e => e.name.includes('/_dash-update-component'))
    .map(e => e.duration);
"""
PAGES = (("home", "/", "#home-scope"), ("fleet", "/fleet", "#fleet-updated"))


def chromium(width: int = 1400, height: int = 1000) -> Any:
    from selenium import webdriver

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--disable-gpu", "--no-first-run"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(60)
    return driver


def render_ms(driver: Any, url: str, ready_selector: str) -> float:
    """Load ``url`` afresh; ms from navigation start until it has rendered."""
    driver.get(url)
    return float(driver.execute_async_script(WAIT_RENDERED, ready_selector))


def sign_in(driver: Any, base: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, 60).until(ec.presence_of_element_located((By.ID, "nav-user")))


def seed(conn: Any, n_edges: int, n_dead: int, sources_per_edge: int = 4) -> dict[str, Any]:
    """Companies of 20 edges over two sites each, every edge with a status detail as an edge agent sends it,
    and ``n_dead`` dead letters spread over the edges and four reasons."""
    from psycopg.types.json import Jsonb

    from tonghu.platform import registry
    from tonghu.platform.ingest.deadletters import DeadLetter, insert

    now_us = time.time_ns() // 1000
    edge_ids = []
    for i in range(n_edges):
        company, site = f"bench{i // 20:03d}", f"s{(i // 10) % 2}"
        if i % 20 == 0:
            registry.add_company(conn, company, f"Bench company {i // 20}", "electronics")
        if i % 10 == 0:
            registry.add_site(conn, company, site, f"Site {site}")
        edge_id = registry.add_edge(conn, company, site, f"gw{i:04d}")
        detail = {"v": 1, "state": "online", "ts": now_us, "buffered_samples": i * 10, "buffered_bytes": i * 800,
                  "oldest_age_s": float(i % 300), "dropped": {"oldest": i % 3},
                  "sources": {f"src{j}": {"connected": (i + j) % 7 != 0, "last_value_us": now_us - (i + j) * 1_000_000,
                                          "outages": j, "samples": 1000 * j} for j in range(sources_per_edge)}}
        conn.execute("UPDATE edges SET status = %s, status_at = now(), status_detail = %s WHERE id = %s",
                     ("online" if i % 9 else "offline", Jsonb(detail), edge_id))
        edge_ids.append(edge_id)
    reasons = ("unknown_tag", "bad_type", "non_finite", "too_old")
    insert(conn, [DeadLetter(f"tonghu/v1/bench/x/gw{k % n_edges:04d}/data", reasons[k % 4], f"sample {k} refused",
                             k.to_bytes(8, "big"), edge_ids[k % n_edges], k, 1) for k in range(n_dead)])
    return {"edges": n_edges, "sources": n_edges * sources_per_edge, "dead_letters": n_dead,
            "companies": (n_edges + 19) // 20}


@contextmanager
def _server(dsn: str, workdir: Path) -> Iterator[str]:
    """``tonghu dashboards serve`` in its own process, as in production (waitress, 8 threads)."""
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from tonghu.dashboards.cli import dashboards; dashboards()", "serve", "--dsn", dsn,
         "--port", str(port), "--cookie-secure", "never", "--secret-key-file", str(workdir / "key")],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/login", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError) as err:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"dashboards server did not start: {(workdir / 'server.log').read_text()}"
                                       ) from err
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def run(admin_dsn: str, edges: int = 200, dead_letters: int = 2000, runs: int = 5) -> dict[str, Any]:
    import psycopg
    from psycopg.conninfo import make_conninfo

    from tonghu.platform import migrate, users

    name = f"tonghu_bench_dash_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(admin_dsn, dbname=name)
    password = secrets.token_urlsafe(16)
    result: dict[str, Any] = {"runs": runs}
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate.migrate(conn)
            result["data"] = seed(conn, edges, dead_letters)
            users.add_user(conn, "bench-admin", password, "admin")
            users.add_user(conn, "bench-manager", password, "plant_manager", company="bench000")
        driver = chromium()
        with tempfile.TemporaryDirectory() as tmp, _server(dsn, Path(tmp)) as base:
            try:
                for who in ("bench-admin", "bench-manager"):
                    sign_in(driver, base, who, password)
                    per_page = {}
                    for page, path, marker in PAGES:
                        times = [render_ms(driver, f"{base}{path}", marker) for _ in range(runs)]
                        callbacks = driver.execute_script(_CALLBACK_MS)
                        per_page[page] = {"first_ms": round(times[0]), "median_ms": round(statistics.median(times)),
                                          "slowest_callback_ms": round(max(callbacks)) if callbacks else None}
                    result[who.removeprefix("bench-")] = per_page
            finally:
                driver.quit()
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return result
