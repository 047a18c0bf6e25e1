"""The operations behind the commands: configure the broker, enrol and revoke identities, then re-render.

Each changes the registry first (one transaction, audited), then renders the broker files from the registry and
reloads the broker, so the files never hold an identity the registry does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tonghu.platform import pki, registry
from tonghu.platform.broker import accounts, clientconf, files, settings
from tonghu.platform.broker.accounts import Auth, Credentials
from tonghu.platform.broker.settings import BrokerSettings

DEFAULT_INGESTER = "main"


def ingester_file(directory: Path, name: str) -> Path:
    return directory / f"ingest-{name}.yaml"


@dataclass(frozen=True, slots=True)
class Configured:
    settings: BrokerSettings
    pki: pki.InitReport
    ingester: Credentials | None  # issued now (its file written), or None when the existing one was kept
    ingester_file: Path
    applied: files.ApplyReport


def configure(conn: psycopg.Connection, directory: Path, changes: dict[str, Any], *, actor: str,
              force_pki: bool = False) -> Configured:
    """Write broker.yaml, make sure of the PKI and the default ingester identity, render everything, reload."""
    s = settings.merged(directory, changes)
    files.preflight(directory, s)
    report = pki.init(s.pki_dir, s.certificate_hosts(), force=force_pki)
    directory.mkdir(parents=True, exist_ok=True)
    settings.save(directory, s)
    path = ingester_file(directory, DEFAULT_INGESTER)
    creds = None
    # The password exists only in that file: without it (or without the registry row it matches) the identity
    # is useless, so a new one is issued.
    if not path.is_file() or not accounts.exists(conn, s.topic_prefix, accounts.ingester_username(DEFAULT_INGESTER)):
        creds = ensure_ingester(conn, directory, s, DEFAULT_INGESTER, rotate=True, actor=actor, path=path)
    with conn.transaction():
        registry.audit(conn, actor, "broker.configure", {
            "dir": str(directory), "settings": s.model_dump(mode="json"), "ca_created": report.ca_created,
            "server_certificate_issued": report.server_issued, "why": report.why})
    applied = files.apply(conn, directory, s)
    return Configured(s, report, creds, path, applied)


def ensure_ingester(conn: psycopg.Connection, directory: Path, s: BrokerSettings, name: str, *, rotate: bool,
                    actor: str, path: Path | None = None) -> Credentials:
    """Issue (or keep) ``ingest.{name}``; a new password is written to ``path`` (0600), never stored."""
    creds = accounts.enrol_ingester(conn, s.topic_prefix, name, actor=actor, rotate=rotate)
    if creds.password is not None:
        clientconf.write_secret(path or ingester_file(directory, name), clientconf.ingest_yaml(s, creds))
    return creds


def enrol_edge(conn: psycopg.Connection, directory: Path, company: str, site: str, edge: str, *, actor: str,
               description: str = "", auth: Auth = Auth.PASSWORD,
               rotate: bool = False) -> tuple[BrokerSettings, Credentials, files.ApplyReport]:
    s = settings.load(directory)
    files.certificate_auth_port(s, auth)  # refuse before changing anything
    creds = accounts.enrol_edge(conn, s.topic_prefix, company, site, edge, actor=actor, description=description,
                                auth=auth, rotate=rotate, pki_dir=s.pki_dir)
    return s, creds, files.apply(conn, directory, s)


def revoke_edge(conn: psycopg.Connection, directory: Path | None, company: str, site: str, edge: str, *,
                actor: str) -> tuple[list[str], files.ApplyReport | None]:
    """Revocation never waits for the broker files: the registry changes even when ``directory`` is None."""
    removed = accounts.revoke_edge(conn, company, site, edge, actor=actor)
    if directory is None:
        return removed, None
    return removed, files.apply(conn, directory, settings.load(directory))
