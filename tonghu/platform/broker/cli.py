"""``tonghu platform pki|broker|credentials`` and the broker half of ``tonghu edges add|revoke``.

Imports of the database driver and ``cryptography`` happen inside the commands, so an edge-only install still
loads the command tree.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tonghu.platform.broker.settings import DEFAULT_BROKER_DIR, DEFAULT_PKI_DIR

F = Callable[..., Any]


def default_actor() -> str:
    return f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"


def _options(*opts: Callable[[F], F]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for o in reversed(opts):
            f = o(f)
        return f
    return apply


DSN = click.option("--database-url", envvar="TONGHU_DATABASE_URL",
                   default="postgresql://postgres@127.0.0.1:5432/tonghu", show_default=True,
                   help="PostgreSQL with TimescaleDB (env TONGHU_DATABASE_URL).")
ACTOR = click.option("--actor", default=default_actor, show_default="cli:<login>",
                     help="Who makes the change, as recorded in audit_log.")
BROKER_DIR = click.option("--dir", "directory", envvar="TONGHU_BROKER_DIR", default=DEFAULT_BROKER_DIR,
                          show_default=True, type=click.Path(file_okay=False, path_type=Path),
                          help="Broker directory (env TONGHU_BROKER_DIR).")
PKI_DIR = click.option("--dir", "directory", envvar="TONGHU_PKI_DIR", default=DEFAULT_PKI_DIR, show_default=True,
                       type=click.Path(file_okay=False, path_type=Path), help="PKI directory (env TONGHU_PKI_DIR).")
# Shared with `tonghu edges add|revoke`, which own the rest of their options.
EDGE_BROKER_DIR = click.option("--broker-dir", envvar="TONGHU_BROKER_DIR", default=DEFAULT_BROKER_DIR,
                               show_default=True, type=click.Path(file_okay=False, path_type=Path),
                               help="Configured broker directory (env TONGHU_BROKER_DIR).")
ENROL_OPTIONS = _options(
    EDGE_BROKER_DIR,
    click.option("--auth", type=click.Choice(["password", "certificate"]), default="password", show_default=True,
                 help="Username + password on the TLS port, or a client certificate on the mTLS port."),
    click.option("--rotate", is_flag=True, help="Issue new credentials; the old ones stop working at once."),
    click.option("--broker-host", help="Host the edge dials (default: the broker's public_host)."),
    click.option("--edge-ca-path", type=click.Path(dir_okay=False, path_type=Path),
                 help="Where the CA certificate will be on the gateway (default: its path here)."),
    click.option("--uplink-file", type=click.Path(dir_okay=False, path_type=Path),
                 help="Write the edge.yaml sections to this file (mode 0600) instead of standard output."),
    click.option("--no-broker", is_flag=True, help="Only register the edge (its broker is managed elsewhere)."),
    ACTOR)
REVOKE_OPTIONS = _options(EDGE_BROKER_DIR, ACTOR)


def _connect(dsn: str) -> Any:
    from tonghu.platform import db

    try:
        return db.connect(dsn, autocommit=True)
    except Exception as err:
        raise click.ClickException(f"cannot connect to {dsn}: {err}") from err


def _reloaded(pid: int | None, directory: Path) -> str:
    if pid is None:
        return f"broker not running; `tonghu platform broker run --dir {directory}` starts it with these files"
    return f"broker (pid {pid}) reloaded"


# ------------------------------------------------------------------------------------------------ pki


@click.group("pki")
def pki_group() -> None:
    """The platform's local CA: the broker's server certificate and client certificates."""


@pki_group.command("init")
@PKI_DIR
@click.option("--host", "hosts", multiple=True, help="A name or address clients use for the broker (repeatable).")
@click.option("--force", is_flag=True, help="Replace an existing CA: every certificate it issued stops working.")
def pki_init(directory: Path, hosts: tuple[str, ...], force: bool) -> None:
    """Create the CA and the broker certificate; idempotent (keeps an existing CA unless --force)."""
    from tonghu.platform import pki

    r = pki.init(directory, hosts, force=force)
    click.echo(f"CA {'created' if r.ca_created else 'kept'}: {directory / 'ca.crt'} (key ca.key, mode 0600)")
    state = f"issued ({r.why})" if r.server_issued else "kept"
    click.echo(f"server certificate {state}: {directory / 'server.crt'} for {', '.join(r.hosts)}")


@pki_group.command("issue-client")
@PKI_DIR
@click.argument("name")
def pki_issue_client(directory: Path, name: str) -> None:
    """Issue a client certificate with common name NAME (the broker username on the mTLS port)."""
    from tonghu.platform import pki

    issued = pki.issue_client(directory, name)
    click.echo(f"{issued.cert} (key {issued.key}, mode 0600), serial {issued.serial:x}, sha256 {issued.sha256}, "
               f"valid until {issued.not_after:%Y-%m-%d}")


# ------------------------------------------------------------------------------------------------ broker


@click.group("broker")
def broker_group() -> None:
    """The platform's Mosquitto 2: TLS only, one identity and ACL per edge (docs/SECURITY.md)."""


@broker_group.command("config")
@DSN
@BROKER_DIR
@click.option("--pki", "pki_dir", envvar="TONGHU_PKI_DIR", type=click.Path(file_okay=False, path_type=Path),
              help=f"PKI directory, created when missing (env TONGHU_PKI_DIR; first default {DEFAULT_PKI_DIR}).")
@click.option("--public-host", help="The host name edges dial (first default: this host's FQDN).")
@click.option("--host", "hosts", multiple=True,
              help="Another name or address for the certificate (repeatable; replaces the stored list).")
@click.option("--bind", "bind_address", help="Listen on this address only (first default: every interface).")
@click.option("--tls-port", type=int, help="TLS listener, username + password (first default 8883).")
@click.option("--mtls-port", type=int, help="Client-certificate listener; 0 disables it (first default 8884).")
@click.option("--local-port", type=int, help="Plaintext listener on 127.0.0.1 for local tools, still with a "
                                             "password; 0 disables it (the first default).")
@click.option("--topic-prefix", help="Topic namespace of this broker (first default tonghu).")
@click.option("--run-as", help="User Mosquitto drops to when started as root (first default mosquitto).")
@click.option("--max-queued-messages", type=int, help="Per-session queue bound in messages (first default 100000).")
@click.option("--max-queued-bytes", type=int, help="Per-session queue bound in bytes (first default 512 MiB).")
@click.option("--force-pki", is_flag=True, help="Replace the CA (every issued certificate stops working).")
@ACTOR
def broker_config(database_url: str, directory: Path, force_pki: bool, actor: str, hosts: tuple[str, ...],
                  **given: Any) -> None:
    """Write the broker directory: settings, PKI, ingester identity, passwd/ACL/CRL and mosquitto.conf.

    Idempotent: options not given keep their stored value; a running broker is reloaded.
    """
    from tonghu.platform.broker import manage

    changes = {k: v for k, v in given.items() if v is not None}
    for port in ("mtls_port", "local_port"):
        if changes.get(port) == 0:
            changes[port] = None
    if hosts:
        changes["hosts"] = list(hosts)
    with _connect(database_url) as conn:
        done = manage.configure(conn, directory, changes, actor=actor, force_pki=force_pki)
    s, r = done.settings, done.pki
    click.echo(f"PKI {s.pki_dir}: CA {'created' if r.ca_created else 'kept'}, server certificate "
               f"{'issued (' + r.why + ')' if r.server_issued else 'kept'} for {', '.join(r.hosts)}")
    ingester = "issued, password in" if done.ingester else "kept, password in"
    click.echo(f"ingester identity ingest.{manage.DEFAULT_INGESTER}: {ingester} {done.ingester_file} (mode 0600)")
    ports = f"TLS {s.tls_port}" + (f", mTLS {s.mtls_port}" if s.mtls_port else "") + (
        f", local plaintext 127.0.0.1:{s.local_port}" if s.local_port else "")
    click.echo(f"{directory / 'mosquitto.conf'}: {ports}; prefix {s.topic_prefix}; {done.applied.edges} edge and "
               f"{done.applied.ingesters} ingester identities; {_reloaded(done.applied.reloaded_pid, directory)}")


@broker_group.command("run")
@BROKER_DIR
def broker_run(directory: Path) -> None:
    """Run Mosquitto in the foreground with the directory's config (this process becomes the broker)."""
    from tonghu.platform.broker import files

    files.run(directory)


# ------------------------------------------------------------------------------------------------ identities


@click.group("credentials")
def credentials() -> None:
    """Broker identities of platform services."""


@credentials.command("ingester")
@DSN
@BROKER_DIR
@click.option("--name", default="main", show_default=True, help="Identity ingest.NAME (one per ingester or shared).")
@click.option("--rotate", is_flag=True, help="Issue a new password even if the identity exists.")
@click.option("--write", "path", type=click.Path(dir_okay=False, path_type=Path),
              help="The ingest.yaml to write (mode 0600; default DIR/ingest-NAME.yaml).")
@ACTOR
def credentials_ingester(database_url: str, directory: Path, name: str, rotate: bool, path: Path | None,
                         actor: str) -> None:
    """The ingester's identity: the only one reading every edge's topics and writing acks."""
    from tonghu.platform.broker import files, manage, settings

    s = settings.load(directory)
    path = path or manage.ingester_file(directory, name)
    with _connect(database_url) as conn:
        creds = manage.ensure_ingester(conn, directory, s, name, rotate=rotate, actor=actor, path=path)
        applied = files.apply(conn, directory, s)
    if creds.password is None:
        click.echo(f"{creds.username} exists and is unchanged; its password is not stored here, only in the file "
                   f"first written for it (default {path}); --rotate issues a new one")
    else:
        click.echo(f"{creds.username} {creds.state}: `tonghu platform ingest -c {path}`; "
                   f"{_reloaded(applied.reloaded_pid, directory)}")


# ------------------------------------------------------------------------------------------------ edges


def enrol_edge(conn: Any, company: str, site: str, code: str, description: str, opts: dict[str, Any]) -> None:
    """The broker half of `tonghu edges add`: credentials, ACL, reload, and the edge.yaml sections."""
    from tonghu.platform.broker import clientconf, manage
    from tonghu.platform.broker.accounts import Auth

    directory: Path = opts["broker_dir"]
    s, creds, applied = manage.enrol_edge(conn, directory, company, site, code, actor=opts["actor"],
                                          description=description, auth=Auth(opts["auth"]), rotate=opts["rotate"])
    text = clientconf.edge_yaml(s, company, site, code, creds, opts["broker_host"], opts["edge_ca_path"])
    click.echo(f"edge {company}/{site}/{code} registered; broker identity {creds.username} {creds.state}; "
               f"{_reloaded(applied.reloaded_pid, directory)}", err=True)
    if opts["uplink_file"] is not None:
        clientconf.write_secret(opts["uplink_file"], text)
        click.echo(f"edge.yaml sections written to {opts['uplink_file']} (mode 0600)", err=True)
    else:
        click.echo(text, nl=False)


def revoke_edge(conn: Any, company: str, site: str, code: str, opts: dict[str, Any]) -> None:
    """The broker half of `tonghu edges revoke`: the registry always changes; the files when configured."""
    from tonghu.platform.broker import manage
    from tonghu.platform.broker.settings import SETTINGS_FILE

    directory: Path = opts["broker_dir"]
    configured = (directory / SETTINGS_FILE).is_file()
    removed, applied = manage.revoke_edge(conn, directory if configured else None, company, site, code,
                                          actor=opts["actor"])
    click.echo(f"broker identities removed: {', '.join(removed) or 'none'}")
    if applied is not None:
        click.echo(_reloaded(applied.reloaded_pid, directory))
    else:
        click.echo(f"warning: {directory} holds no broker configuration; render the files where the broker runs "
                   "with `tonghu platform broker config`", err=True)
