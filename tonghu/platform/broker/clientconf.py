"""What a client needs to connect: the edge's ``edge.yaml`` sections and the ingester's ``ingest.yaml``.

Both are YAML the existing models accept unchanged (tonghu/edge_agent/config.py ``UplinkConfig``,
tonghu/platform/ingest/config.py ``BrokerConfig``); they carry the one copy of a new secret, so files are 0600.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tonghu.platform.broker.accounts import Auth, Credentials
from tonghu.platform.broker.files import certificate_auth_port
from tonghu.platform.broker.settings import BrokerSettings
from tonghu.platform.pki import Pki, write_private


def uplink_data(s: BrokerSettings, creds: Credentials, host: str | None = None,
                ca_path: Path | None = None) -> dict[str, Any]:
    uplink: dict[str, Any] = {"host": host or s.public_host, "port": certificate_auth_port(s, creds.auth),
                              "tls_ca": str(ca_path or Pki(s.pki_dir).ca_cert)}
    if creds.auth is Auth.PASSWORD:
        uplink["username"] = creds.username
        if creds.password is not None:
            uplink["password"] = creds.password
    elif creds.cert is not None:
        uplink |= {"tls_cert": str(creds.cert.cert), "tls_key": str(creds.cert.key)}
    else:
        pki = Pki(s.pki_dir)
        uplink |= {"tls_cert": str(pki.client_cert(creds.username)), "tls_key": str(pki.client_key(creds.username))}
    uplink["topic_prefix"] = s.topic_prefix
    return uplink


def edge_yaml(s: BrokerSettings, company: str, site: str, edge: str, creds: Credentials, host: str | None = None,
              ca_path: Path | None = None) -> str:
    """The ``edge`` and ``uplink`` sections of the gateway's edge.yaml, ready to paste."""
    notes = [f"# Broker identity {creds.username} ({creds.auth.value}, {creds.state}).",
             f"# Copy {Pki(s.pki_dir).ca_cert} to the gateway and point tls_ca at it."]
    if creds.auth is Auth.CERTIFICATE:
        notes.append("# Copy tls_cert and tls_key too; the key is a secret (mode 0600).")
    if creds.state == "kept":
        notes.append("# The existing secret is unchanged and not shown; `--rotate` issues a new one.")
    body = yaml.safe_dump({"edge": {"company": company, "site": site, "name": edge},
                           "uplink": uplink_data(s, creds, host, ca_path)}, sort_keys=False)
    return "\n".join(notes) + "\n" + body


def ingest_yaml(s: BrokerSettings, creds: Credentials, host: str | None = None) -> str:
    """An ``ingest.yaml`` with the broker identity; database and metrics come from the command line or env."""
    if creds.password is None:
        raise ValueError("the ingester file needs a newly issued password")
    data = {"topic_prefix": s.topic_prefix,
            "broker": {"host": host or s.public_host, "port": s.tls_port, "tls_ca": str(Pki(s.pki_dir).ca_cert),
                       "username": creds.username, "password": creds.password}}
    return (f"# Broker identity {creds.username}: reads every edge's data, meta and status, writes acks. Secret.\n"
            + yaml.safe_dump(data, sort_keys=False))


def write_secret(path: Path, text: str) -> None:
    write_private(path, text.encode(), 0o600)
