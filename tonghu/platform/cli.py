"""Platform commands: migrations, the ingest service and the registry."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from tonghu.platform.broker.cli import (
    ENROL_OPTIONS,
    REVOKE_OPTIONS,
    broker_group,
    credentials,
    enrol_edge,
    pki_group,
    revoke_edge,
)

DSN_OPTION = click.option("--database-url", envvar="TONGHU_DATABASE_URL",
                          default="postgresql://postgres@127.0.0.1:5432/tonghu", show_default=True,
                          help="PostgreSQL with TimescaleDB (env TONGHU_DATABASE_URL).")


def _connect(dsn: str) -> Any:
    from tonghu.platform import db

    try:
        return db.connect(dsn, autocommit=True)
    except Exception as err:
        raise click.ClickException(f"cannot connect to {dsn}: {err}") from err


@click.group()
def platform() -> None:
    """Run the platform: schema migrations, the ingest service, the PKI and the broker."""


platform.add_command(pki_group)
platform.add_command(broker_group)
platform.add_command(credentials)


@platform.command()
@DSN_OPTION
@click.option("--create-database", is_flag=True, help="Create the database first if it does not exist.")
def migrate(database_url: str, create_database: bool) -> None:
    """Apply pending schema migrations (idempotent; safe to run concurrently)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from tonghu.platform import db
    from tonghu.platform import migrate as mig

    if create_database:
        info = conninfo_to_dict(database_url)
        name = info.get("dbname") or "tonghu"
        if mig.ensure_database(make_conninfo(database_url, dbname="postgres"), str(name)):
            click.echo(f"created database {name}")
    with _connect(database_url) as conn:
        applied = mig.migrate(conn)
        ts = db.timescale(conn)
    for m in applied:
        click.echo(f"applied {m.version:04d}_{m.name}")
    click.echo(f"schema up to date; TimescaleDB {ts.version if ts else '?'} ({ts.license if ts else '?'} edition)")


@platform.command()
@click.option("-c", "--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML file with the ingest configuration (see docs/INGEST.md).")
@click.option("--database-url", envvar="TONGHU_DATABASE_URL", help="Overrides database_url.")
@click.option("--mqtt-host", help="Overrides broker.host.")
@click.option("--mqtt-port", type=int, help="Overrides broker.port.")
@click.option("--client-id", help="Overrides broker.client_id (must be unique per ingester).")
@click.option("--topic-prefix", help="Overrides topic_prefix.")
@click.option("--metrics-port", type=int, help="Serve Prometheus metrics on this port.")
def ingest(config_path: Path | None, **overrides: Any) -> None:
    """Run the ingest service until SIGTERM/SIGINT (then finish the group in hand and exit 0)."""
    from tonghu.common.settings import load_yaml_model
    from tonghu.platform.ingest.config import IngestConfig
    from tonghu.platform.ingest.service import IngestService

    data = load_yaml_model(config_path) if config_path else {}
    if not isinstance(data.get("broker", {}), dict):
        raise click.ClickException(f"{config_path}: broker: must be a mapping (host, port, client_id, …)")
    broker = dict(data.get("broker", {}))
    for opt, key in (("mqtt_host", "host"), ("mqtt_port", "port"), ("client_id", "client_id")):
        if overrides.get(opt) is not None:
            broker[key] = overrides[opt]
    data["broker"] = broker
    for opt in ("database_url", "topic_prefix", "metrics_port"):
        if overrides.get(opt) is not None:
            data[opt] = overrides[opt]
    cfg = IngestConfig.model_validate(data) if not config_path else _validated(IngestConfig, data, config_path)
    service = IngestService(cfg)

    def _terminate(signum: int, _frame: object) -> None:
        click.echo(f"received signal {signum}: finishing the group in hand", err=True)
        service.stop()

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    service.start()
    click.echo(f"ingesting {cfg.topic_prefix}/v1/+/+/+/data from {cfg.broker.host}:{cfg.broker.port}", err=True)
    while not service.wait(1.0):
        pass
    sys.exit(0)


def _validated(model: Any, data: dict[str, Any], path: Path) -> Any:
    from tonghu.common.settings import validate_model

    return validate_model(model, data, str(path))


@click.group()
def companies() -> None:
    """Register companies (each belongs to one sector)."""


@companies.command("add")
@DSN_OPTION
@click.argument("code")
@click.option("--name", required=True)
@click.option("--sector", required=True, type=click.Choice(["electronics", "petrochemical", "equipment"]))
def companies_add(database_url: str, code: str, name: str, sector: str) -> None:
    """Add (or rename) company CODE."""
    from tonghu.platform import registry

    with _connect(database_url) as conn:
        _registry_call(registry.add_company, conn, code, name, sector)
    click.echo(f"company {code} ({sector})")


@click.group()
def sites() -> None:
    """Register a company's sites."""


@sites.command("add")
@DSN_OPTION
@click.option("--company", required=True)
@click.argument("code")
@click.option("--name", required=True)
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone, used for shifts and days.")
def sites_add(database_url: str, company: str, code: str, name: str, timezone: str) -> None:
    """Add (or rename) site CODE of a company."""
    from tonghu.platform import registry

    with _connect(database_url) as conn:
        _registry_call(registry.add_site, conn, company, code, name, timezone)
    click.echo(f"site {company}/{code}")


@click.group()
def edges() -> None:
    """Register edge agents: only registered edges may send data for their company and site."""


@edges.command("add")
@DSN_OPTION
@click.option("--company", required=True)
@click.option("--site", required=True)
@click.option("--name", "code", required=True, help="The edge's code, as it appears in its topics.")
@click.option("--description", default="")
@ENROL_OPTIONS
def edges_add(database_url: str, company: str, site: str, code: str, description: str, **opts: Any) -> None:
    """Register an edge agent at a site, give it broker credentials and an ACL, print its edge.yaml sections."""
    from tonghu.platform import registry

    with _connect(database_url) as conn:
        if opts["no_broker"]:
            _registry_call(registry.add_edge, conn, company, site, code, description)
            click.echo(f"edge {company}/{site}/{code} registered")
        else:
            _registry_call(enrol_edge, conn, company, site, code, description, opts)


@edges.command("revoke")
@DSN_OPTION
@click.option("--company", required=True)
@click.option("--site", required=True)
@click.option("--name", "code", required=True)
@REVOKE_OPTIONS
def edges_revoke(database_url: str, company: str, site: str, code: str, **opts: Any) -> None:
    """Disable an edge and remove its broker credentials and ACL: the broker refuses it, the ingester
    dead-letters anything that still arrives."""
    with _connect(database_url) as conn:
        _registry_call(revoke_edge, conn, company, site, code, opts)
    click.echo(f"edge {company}/{site}/{code} revoked")


@edges.command("list")
@DSN_OPTION
def edges_list(database_url: str) -> None:
    """List edges with their last reported status."""
    from tonghu.platform import registry

    with _connect(database_url) as conn:
        for e in registry.list_edges(conn):
            at = e["status_at"].isoformat() if e["status_at"] else "-"
            flag = "" if e["enabled"] else " (revoked)"
            click.echo(f"{e['company']}/{e['site']}/{e['edge']}\t{e['status']}\t{at}{flag}")


def _registry_call(fn: Any, *args: Any) -> Any:
    from tonghu.platform.registry import RegistryError

    try:
        return fn(*args)
    except (RegistryError, ValueError) as err:
        raise click.ClickException(str(err)) from err
