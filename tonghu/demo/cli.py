"""``tonghu demo``: the whole platform on one machine, until Ctrl-C.

TimescaleDB with history of a simulated fleet (three sectors, enough companies for benchmarks), the TLS broker
with per-edge credentials and ACLs, the ingester, the rollup scheduler, live simulators for some sites of every
sector (Sparkplug B on the plant broker) each read by its own edge agent, and the dashboards. State (PKI,
broker files, edge buffers, logs, the demo logins) lives in ``--workdir``; a second run reuses it and only tops
up the history.
"""

from __future__ import annotations

import itertools
import json
import math
import secrets
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tonghu.demo.stack import Stack, StackError, port_open, tonghu

SECTORS = ("electronics", "petrochemical", "equipment")
DAY_S = 86400


def _run(argv: list[str], what: str, stdin: str | None = None) -> str:
    import subprocess

    r = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise StackError(f"{what} failed ({r.returncode}):\n{r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def _history(dsn: str, work: Path, companies: int, days: int, seed: int) -> None:
    """Backfill the fleet's history once, then only the days since the last run (backfill is idempotent)."""
    from tonghu.device_sims.backfill import backfill, print_progress

    stamp = work / "history.json"
    done = json.loads(stamp.read_text()) if stamp.exists() else {}
    if done.get("companies") == companies and done.get("seed") == seed:
        gap = time.time() - float(done["until"])
        days = max(1, min(days, math.ceil(gap / DAY_S)))
    click.echo(f"history: {companies} companies, {days} day(s) up to now (first run: a few minutes)")
    backfill(dsn, companies, days, seed, report=print_progress)
    stamp.write_text(json.dumps({"companies": companies, "seed": seed, "until": time.time()}))


def _sharing(conn: Any) -> None:
    """Every company shares its benchmarks except the last of each sector, so a dashboard shows both cases."""
    from tonghu.platform.kpi.benchmark import set_sharing

    for sector in SECTORS:
        ids = [r[0] for r in conn.execute("SELECT id FROM companies WHERE sector = %s::sector ORDER BY id",
                                          (sector,)).fetchall()]
        for cid in ids:
            set_sharing(conn, cid, cid != ids[-1], "demo")


def _logins(conn: Any, work: Path) -> list[tuple[str, str, str]]:
    """One user per role with a fresh random password each run, saved to WORKDIR/logins.txt (mode 0600)."""
    from tonghu.platform import users

    company, site = conn.execute(
        "SELECT c.code, s.code FROM companies c JOIN sites s ON s.company_id = c.id "
        "WHERE c.sector = 'electronics' ORDER BY c.id, s.id LIMIT 1").fetchone()
    wanted = [("admin", "admin", {}), (f"pm-{company}", "plant_manager", {"company": company}),
              (f"eng-{company}", "engineer", {"company": company, "site": site}),
              ("analyst-electronics", "association_analyst", {"sector": "electronics"})]
    existing = {u["username"] for u in users.list_users(conn)}
    out = []
    for name, role, scope in wanted:
        password = secrets.token_urlsafe(12)
        if name in existing:
            users.set_password(conn, name, password)
        else:
            users.add_user(conn, name, password, role, display_name=f"Demo {role.replace('_', ' ')}", **scope)
        out.append((role, name, password))
    path = work / "logins.txt"
    path.write_text("".join(f"{r:20} {n:32} {p}\n" for r, n, p in out))
    path.chmod(0o600)
    return out


@click.command()
@click.option("--database-url", envvar="TONGHU_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/tonghu",
              show_default=True)
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path(".demo"),
              show_default=True, help="PKI, broker files, edge buffers, logs and the demo logins.")
@click.option("--companies", default=18, show_default=True, help="Simulated companies (three sectors in turn).")
@click.option("--days", default=14, show_default=True, help="Days of history on the first run.")
@click.option("--live-machines", default=8, show_default=True, help="Live simulated machines per sector.")
@click.option("--seed", default=0, show_default=True)
@click.option("--port", default=8050, show_default=True, help="Dashboards.")
@click.option("--tls-port", default=8883, show_default=True, help="The platform broker (TLS).")
@click.option("--plant-port", default=1883, show_default=True, help="The plant broker the simulators publish to.")
@click.option("--metrics-port", default=9108, show_default=True,
              help="The ingester's Prometheus metrics; edge agents use the ports from this + 12 on.")
def demo(database_url: str, workdir: Path, companies: int, days: int, live_machines: int, seed: int, port: int,
         tls_port: int, plant_port: int, metrics_port: int) -> None:
    """Run the whole platform with simulated factories and print the dashboards' URL (Ctrl-C stops it)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from tonghu.platform import db, migrate

    work = workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    name = str(conninfo_to_dict(database_url).get("dbname") or "tonghu")
    migrate.ensure_database(make_conninfo(database_url, dbname="postgres"), name)
    with db.connect(database_url, autocommit=True) as conn:
        migrate.migrate(conn)
    if not port_open(plant_port):
        raise click.ClickException(f"no plant broker on 127.0.0.1:{plant_port} (scripts/services.sh starts one)")
    _history(database_url, work, companies, days, seed)
    with db.connect(database_url, autocommit=True) as conn:
        _sharing(conn)
        logins = _logins(conn, work)

    stack = Stack(work / "logs")
    stopping = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        _start(stack, database_url, work, companies, live_machines, seed, port, tls_port, plant_port, metrics_port)
        _banner(database_url, work, port, tls_port, logins)
        while not stopping.wait(2.0):
            if dead := stack.dead():
                c = dead[0]
                click.echo(f"{c.name} exited ({c.proc.returncode}); see {c.log}. Stopping the demo.", err=True)
                break
    except StackError as err:
        click.echo(f"demo: {err}", err=True)
        stack.stop()
        sys.exit(1)
    click.echo("stopping the demo…")
    stack.stop()


def _start(stack: Stack, dsn: str, work: Path, companies: int, live_machines: int, seed: int, port: int,
           tls_port: int, plant_port: int, ingest_metrics: int) -> None:
    from tonghu.demo import edges
    from tonghu.device_sims.models import fleet
    from tonghu.device_sims.runner import pick_sites

    broker = work / "broker"
    _run(tonghu("platform", "broker", "config", "--database-url", dsn, "--dir", str(broker), "--pki",
                str(work / "pki"), "--public-host", "localhost", "--host", "127.0.0.1", "--bind", "127.0.0.1",
                "--tls-port", str(tls_port), "--mtls-port", "0", "--actor", "demo"), "broker config")
    stack.start("broker", tonghu("platform", "broker", "run", "--dir", str(broker)), port=tls_port)
    ingest_yaml = broker / "ingest-main.yaml"
    stack.start("ingest", tonghu("platform", "ingest", "-c", str(ingest_yaml), "--database-url", dsn,
                                 "--mqtt-port", str(tls_port), "--metrics-port", str(ingest_metrics)),
                port=ingest_metrics)
    stack.start("rollups", tonghu("platform", "rollups", "run", "--database-url", dsn, "--interval", "60"))
    metrics_port = ingest_metrics + 12
    registered = {c.code for c in fleet(companies, seed).companies}
    for sector in SECTORS:
        # The simulators pick sites in fleet order; keep the prefix whose companies have a history here.
        sites = list(itertools.takewhile(lambda s: s.company in registered, pick_sites(sector, live_machines, seed)))
        machines = sum(len(s.machines) for s in sites)
        if not machines:
            continue
        for site in sites:
            state = work / "edges" / f"{site.company}-{site.site.code}"
            state.mkdir(parents=True, exist_ok=True)
            uplink = state / "uplink.yaml"
            _run(tonghu("edges", "add", "--database-url", dsn, "--company", site.company, "--site", site.site.code,
                        "--name", site.site.edge, "--broker-dir", str(broker), "--uplink-file", str(uplink),
                        # A fresh password each run: the previous one was written only to the previous file.
                        "--rotate", "--actor", "demo"), f"enrolling edge {site.site.edge}")
            cfg = edges.edge_config(site, uplink.read_text(), state, "127.0.0.1", plant_port, metrics_port)
            path = edges.write(state / "edge.yaml", cfg)
            stack.start(f"edge-{site.company}-{site.site.code}", tonghu("edge", "run", "-c", str(path)),
                        port=metrics_port)
            metrics_port += 1
        stack.start(f"sims-{sector}", tonghu("sims", "run", "--sector", sector, "--machines", str(machines),
                                             "--seed", str(seed), "--protocols", "sparkplug", "--mqtt-port",
                                             str(plant_port), "--state-dir", str(work / "sims")))
    stack.start("dashboards", tonghu("dashboards", "serve", "--database-url", dsn, "--port", str(port),
                                     "--secret-key-file", str(work / "dashboards.secret")), port=port, timeout=90)


def _banner(dsn: str, work: Path, port: int, tls_port: int, logins: list[tuple[str, str, str]]) -> None:
    rows = "\n".join(f"    {role:20} {user:32} {password}" for role, user, password in logins)
    click.echo(f"""
Tonghu demo is running (Ctrl-C stops everything it started).

  Dashboards   http://127.0.0.1:{port}/
  Logins (also in {work / 'logins.txt'}):
{rows}

  Database     {dsn}
  Broker       mqtts://localhost:{tls_port} (CA {work / 'pki'}), per-edge credentials and ACLs
  Logs         {work / 'logs'}
  Started      {datetime.now(UTC).isoformat(timespec='seconds')}; rollups fill in during the first minutes
""")
