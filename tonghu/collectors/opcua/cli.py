"""Command-line tools for OPC UA: draft a configuration by browsing a server, and manage certificates.

Mounted by the edge CLI as ``tonghu edge browse …`` and ``tonghu edge certs …``. asyncua and cryptography
are imported inside the commands, so ``tonghu --help`` works on an install without them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

_PKI = click.option("--pki", "pki_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("pki"),
                    show_default=True, help="PKI folder (own/, trusted/, rejected/) of the edge agent.")


def _connection(endpoint: str, security: str, username: str | None, password: str | None, pki_dir: Path,
                application_uri: str | None, pin: str | None) -> Any:
    from tonghu.collectors.opcua.config import ConnectionConfig
    from tonghu.common.settings import validate_model

    policy, _, mode = security.partition(":")
    data: dict[str, Any] = {"endpoint": endpoint, "security": {"policy": policy, "mode": mode or "None"},
                            "pki": {"dir": str(pki_dir)}}
    if application_uri:
        data["application_uri"] = application_uri
    if username:
        data["identity"] = {"type": "username", "username": username, "password": password or ""}
    if pin:
        data["server_trust"] = {"mode": "pinned", "sha256": pin}
    return validate_model(ConnectionConfig, data, "command line")


@click.command("browse")
@click.argument("endpoint")
@click.option("--depth", default=5, show_default=True, type=click.IntRange(1, 30),
              help="Levels below the Objects folder to walk.")
@click.option("--security", default="None:None", show_default=True, metavar="POLICY:MODE",
              help="e.g. Basic256Sha256:SignAndEncrypt; never weakened to what the server offers.")
@click.option("--username", help="Log in as this user (default: anonymous).")
@click.option("--password", envvar="TONGHU_OPCUA_PASSWORD", help="Password; prompted for when --username is given "
              "without it. Also read from TONGHU_OPCUA_PASSWORD.")
@_PKI
@click.option("--application-uri", help="Our ApplicationUri (default urn:<hostname>:tonghu:edge).")
@click.option("--pin", help="Trust exactly the server certificate with this SHA-256 fingerprint.")
@click.option("--name", default="opcua", show_default=True, help="Collector name in the drafted configuration.")
@click.option("--max-variables", default=2000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--include-standard", is_flag=True, help="Also walk namespace 0 (the Server object's diagnostics).")
@click.option("--publishing-interval", default=1.0, show_default=True, type=click.FloatRange(0.01, 3600))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the draft here instead of standard output.")
def browse_command(endpoint: str, depth: int, security: str, username: str | None, password: str | None,
                   pki_dir: Path, application_uri: str | None, pin: str | None, name: str, max_variables: int,
                   include_standard: bool, publishing_interval: float, output: Path | None) -> None:
    """Walk ENDPOINT's address space and print a draft collector entry (type: opcua) to review and edit."""
    import asyncio

    from tonghu.collectors.opcua.browse import browse_server, draft
    from tonghu.common.errors import TonghuError

    if username and password is None:
        password = click.prompt("Password", hide_input=True)
    try:
        cfg = _connection(endpoint, security, username, password, pki_dir, application_uri, pin)
        found = asyncio.run(browse_server(cfg, depth, max_variables, include_standard))
    except TonghuError as err:
        raise click.ClickException(str(err)) from err
    extra = []
    if cfg.security.mode.value != "None":
        extra.append(f"security: {{policy: {cfg.security.policy.value}, mode: {cfg.security.mode.value}}}")
    if username:
        extra.append(f"identity: {{type: username, username: {json.dumps(username)}, password: CHANGE-ME}}")
    if pin:
        extra.append(f"server_trust: {{mode: pinned, sha256: {cfg.server_trust.sha256}}}")
    if pki_dir != Path("pki"):
        extra.append(f"pki: {{dir: {json.dumps(str(pki_dir))}}}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (f"Drafted by `tonghu edge browse {endpoint} --depth {depth}` on {stamp}.\n"
              "Review asset paths, tag names, data types and roles before use.")
    text = draft(found, endpoint, name, header, extra, publishing_interval)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {len(found.variables)} variables to {output}", err=True)


@click.group("certs")
def certs() -> None:
    """The agent's OPC UA application certificate and the server certificates it trusts."""


@certs.command("create")
@_PKI
@click.option("--application-uri", help="ApplicationUri in the certificate (default urn:<hostname>:tonghu:edge).")
@click.option("--days", default=5 * 365, show_default=True, type=click.IntRange(1, 36500), help="Validity.")
@click.option("--hostname", help="DNS name in the certificate (default: this host's name).")
def certs_create(pki_dir: Path, application_uri: str | None, days: int, hostname: str | None) -> None:
    """Create the application certificate unless a usable one exists; print its fingerprint."""
    from tonghu.collectors.opcua.certs import (
        default_application_uri,
        der_of,
        ensure_application_certificate,
        fingerprint,
    )
    from tonghu.collectors.opcua.config import Pki

    pki = Pki(dir=pki_dir)
    cert, created = ensure_application_certificate(pki.certificate_path, pki.private_key_path,
                                                   application_uri or default_application_uri(),
                                                   timedelta(days=days), hostname)
    click.echo(f"{'created' if created else 'kept'} {pki.certificate_path}")
    click.echo(f"sha256 {fingerprint(der_of(cert))}")
    click.echo(f"valid until {cert.not_valid_after_utc:%Y-%m-%d}; give this file to the server's administrator "
               "to trust")


@certs.command("list")
@_PKI
def certs_list(pki_dir: Path) -> None:
    """Own, trusted and rejected certificates with their SHA-256 fingerprints."""
    from tonghu.collectors.opcua.certs import TrustStore

    entries = TrustStore(pki_dir).list()
    if not entries:
        click.echo(f"no certificates under {pki_dir}")
    for e in entries:
        click.echo(f"{e.state:<8} {e.fingerprint}  {e.not_after:%Y-%m-%d}  {e.subject}  {e.application_uri}")


@certs.command("trust")
@_PKI
@click.argument("fingerprint_or_file")
def certs_trust(pki_dir: Path, fingerprint_or_file: str) -> None:
    """Trust a server certificate: a rejected one by fingerprint (or its first 8+ digits), or a file."""
    from tonghu.collectors.opcua.certs import TrustStore

    try:
        path = TrustStore(pki_dir).trust(fingerprint_or_file)
    except (ValueError, OSError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"trusted {path}")


@certs.command("reject")
@_PKI
@click.argument("fingerprint")
def certs_reject(pki_dir: Path, fingerprint: str) -> None:
    """Stop trusting a server certificate (moved from trusted/ to rejected/)."""
    from tonghu.collectors.opcua.certs import TrustStore

    try:
        path = TrustStore(pki_dir).reject(fingerprint)
    except (ValueError, OSError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"rejected {path}")
