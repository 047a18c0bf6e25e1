"""Broker identities in the registry: enrol and revoke edges, the ingester's identity; every change audited.

A secret is returned once, to the caller that asked for it, and never stored: the database keeps Mosquitto's
password hash, or a client certificate's serial and fingerprint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg

from tonghu.common.topics import check_code
from tonghu.platform import pki, registry
from tonghu.platform.broker.passwd import hash_password, new_password


class Auth(StrEnum):
    PASSWORD = "password"
    CERTIFICATE = "certificate"


class Role(StrEnum):
    EDGE = "edge"
    INGESTER = "ingester"


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    auth: Auth
    state: str  # created | rotated | kept (the existing secret stays valid and is not known here)
    password: str | None = None
    cert: pki.Issued | None = None


@dataclass(frozen=True, slots=True)
class Account:
    """One identity as the broker files need it."""

    username: str
    role: Role
    auth: Auth
    password_hash: str | None
    company: str | None = None
    site: str | None = None
    edge: str | None = None


def edge_username(company: str, site: str, edge: str) -> str:
    # Codes never contain '.', so the name is unambiguous; ':' would break Mosquitto's password file.
    return f"edge.{company}.{site}.{edge}"


def ingester_username(name: str) -> str:
    check_code(name, "ingester name")
    return f"ingest.{name}"


def _issue(conn: psycopg.Connection, prefix: str, username: str, role: Role, edge_id: int | None, auth: Auth,
           rotate: bool, pki_dir: Path | None) -> Credentials:
    row = conn.execute("SELECT auth, cert_serial, cert_not_after FROM broker_accounts "
                       "WHERE topic_prefix = %s AND username = %s FOR UPDATE", (prefix, username)).fetchone()
    if row is not None and not rotate and row[0] == auth:
        return Credentials(username, auth, "kept")
    if row is not None and row[1] is not None:
        _revoke_serials(conn, prefix, [(username, row[1], row[2])])
    password = password_hash = cert = None
    if auth is Auth.PASSWORD:
        password = new_password()
        password_hash = hash_password(password)
    else:
        if pki_dir is None:
            raise ValueError("a client certificate needs the PKI directory")
        cert = pki.issue_client(pki_dir, username)
    conn.execute(
        "INSERT INTO broker_accounts AS a (topic_prefix, username, role, edge_id, auth, password_hash, cert_serial, "
        "  cert_sha256, cert_not_after) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (topic_prefix, username) DO UPDATE SET auth = EXCLUDED.auth, edge_id = EXCLUDED.edge_id, "
        "  password_hash = EXCLUDED.password_hash, cert_serial = EXCLUDED.cert_serial, "
        "  cert_sha256 = EXCLUDED.cert_sha256, cert_not_after = EXCLUDED.cert_not_after, created_at = now()",
        (prefix, username, role.value, edge_id, auth.value, password_hash, cert.serial if cert else None,
         cert.sha256 if cert else None, cert.not_after if cert else None))
    return Credentials(username, auth, "rotated" if row is not None else "created", password, cert)


def _revoke_serials(conn: psycopg.Connection, prefix: str, certs: list[tuple[str, Any, datetime | None]]) -> None:
    for username, serial, not_after in certs:
        conn.execute("INSERT INTO broker_revoked_certificates (topic_prefix, serial, username, not_after) "
                     "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", (prefix, serial, username, not_after))


def _detail(creds: Credentials, prefix: str, **extra: Any) -> dict[str, Any]:
    detail = {"username": creds.username, "auth": creds.auth.value, "credentials": creds.state,
              "topic_prefix": prefix, **extra}
    if creds.cert is not None:
        detail |= {"cert_serial": str(creds.cert.serial), "cert_sha256": creds.cert.sha256}
    return detail


def enrol_edge(conn: psycopg.Connection, prefix: str, company: str, site: str, edge: str, *, actor: str,
               description: str = "", auth: Auth = Auth.PASSWORD, rotate: bool = False,
               pki_dir: Path | None = None) -> Credentials:
    """Register (or re-enable) the edge and give it broker credentials, unless it has some and not ``rotate``."""
    with conn.transaction():
        edge_id = registry.add_edge(conn, company, site, edge, description)
        creds = _issue(conn, prefix, edge_username(company, site, edge), Role.EDGE, edge_id, auth, rotate, pki_dir)
        registry.audit(conn, actor, "edge.enrol", _detail(creds, prefix, company=company, site=site, edge=edge))
    return creds


def enrol_ingester(conn: psycopg.Connection, prefix: str, name: str, *, actor: str,
                   rotate: bool = False) -> Credentials:
    """The ingester identity ``ingest.{name}``: the only one that reads every edge's topics and writes acks."""
    with conn.transaction():
        creds = _issue(conn, prefix, ingester_username(name), Role.INGESTER, None, Auth.PASSWORD, rotate, None)
        registry.audit(conn, actor, "ingester.enrol", _detail(creds, prefix))
    return creds


def revoke_edge(conn: psycopg.Connection, company: str, site: str, edge: str, *, actor: str) -> list[str]:
    """Disable the edge and delete its broker identities (every topic prefix); returns the usernames removed."""
    with conn.transaction():
        registry.set_edge_enabled(conn, company, site, edge, False)
        rows = conn.execute(
            "DELETE FROM broker_accounts a USING edge_identities i WHERE a.edge_id = i.edge_id "
            "AND i.company = %s AND i.site = %s AND i.edge = %s "
            "RETURNING a.topic_prefix, a.username, a.cert_serial, a.cert_not_after", (company, site, edge)).fetchall()
        for prefix, username, serial, not_after in rows:
            if serial is not None:
                _revoke_serials(conn, prefix, [(username, serial, not_after)])
        registry.audit(conn, actor, "edge.revoke", {"company": company, "site": site, "edge": edge,
                                                    "usernames": sorted({r[1] for r in rows}),
                                                    "topic_prefixes": sorted({r[0] for r in rows})})
    return sorted({r[1] for r in rows})


def accounts(conn: psycopg.Connection, prefix: str) -> list[Account]:
    """Every identity the broker for ``prefix`` must know; a disabled edge has none, whatever rows linger."""
    rows = conn.execute(
        "SELECT a.username, a.role, a.auth, a.password_hash, i.company, i.site, i.edge FROM broker_accounts a "
        "LEFT JOIN edge_identities i ON i.edge_id = a.edge_id "
        "WHERE a.topic_prefix = %s AND (a.role = 'ingester' OR i.enabled) ORDER BY a.role DESC, a.username",
        (prefix,)).fetchall()
    return [Account(u, Role(r), Auth(a), h, c, s, e) for u, r, a, h, c, s, e in rows]


def exists(conn: psycopg.Connection, prefix: str, username: str) -> bool:
    return conn.execute("SELECT 1 FROM broker_accounts WHERE topic_prefix = %s AND username = %s",
                        (prefix, username)).fetchone() is not None


def revoked_certificates(conn: psycopg.Connection, prefix: str) -> list[tuple[int, datetime]]:
    rows = conn.execute("SELECT serial, revoked_at FROM broker_revoked_certificates WHERE topic_prefix = %s "
                        "AND (not_after IS NULL OR not_after > now()) ORDER BY revoked_at", (prefix,)).fetchall()
    return [(int(s), at) for s, at in rows]
