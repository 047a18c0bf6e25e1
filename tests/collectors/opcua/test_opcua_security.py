"""Security: encrypted sessions with a password, server certificate trust, no downgrade, the empty-certificate
pitfall, and passwords that would travel in clear."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua
from opcua_rig import NS, SERVER_URI, ListSink, Rig, run, serving, wait_for

from tonghu.collectors.opcua.certs import (
    CertificateRejected,
    TrustStore,
    der_of,
    ensure_application_certificate,
    fingerprint,
)
from tonghu.collectors.opcua.collector import OpcUaCollector
from tonghu.collectors.opcua.config import parse_config
from tonghu.collectors.opcua.session import session_certificate
from tonghu.common.errors import PermanentError

USERS = {"edge": "s3cret"}
SECURE = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt"}
BOTH = [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt, ua.SecurityPolicyType.NoSecurity]


@pytest.fixture(scope="module")
def server_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("server-pki")
    cert, _ = ensure_application_certificate(folder / "cert.der", folder / "key.pem", SERVER_URI, timedelta(days=2))
    return folder / "cert.der", folder / "key.pem", fingerprint(der_of(cert))


def collector(rig: Rig, pki: Path, **extra: Any) -> OpcUaCollector:
    data = {"type": "opcua", "name": "secure", "endpoint": rig.url, "flush_interval": 0.02, "pki": {"dir": str(pki)},
            "timeouts": {"request": 2},
            "groups": [{"name": "g", "mode": "subscription", "publishing_interval": 0.05,
                        "nodes": [{"node_id": f"nsu={NS};s=Line1.Temp", "asset": "a/b/c", "tag": "temp"}]}]}
    data.update(extra)
    return OpcUaCollector(parse_config(data))


async def first_value(c: OpcUaCollector) -> float:
    """Connect, read until the first sample arrives, close; the supervisor's cycle in miniature."""
    sink = ListSink()
    await c.connect()
    try:
        task = asyncio.create_task(c.read(sink))
        await wait_for(lambda: len(sink.samples) >= 1, what="a sample")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await c.close()
    return float(sink.samples[0].value)


def password(pw: str = "s3cret", **extra: Any) -> dict[str, Any]:
    return {"type": "username", "username": "edge", "password": pw, **extra}


def test_sign_and_encrypt_with_username(tmp_path: Path, server_cert: tuple[Path, Path, str]) -> None:
    cert, key, fp = server_cert

    async def body() -> None:
        async with serving(cert=(cert, key), policies=BOTH, users=USERS) as rig:
            pinned = {"mode": "pinned", "sha256": fp}
            c = collector(rig, tmp_path, security=SECURE, identity=password(), server_trust=pinned)
            assert await first_value(c) == 20.0
            assert c.stats()["security"] == "Basic256Sha256/SignAndEncrypt"
            own = tmp_path / "own" / "certs" / "application.der"
            assert own.exists()
            before = own.read_bytes()
            assert await first_value(c) == 20.0  # reconnect: the same certificate, not a new one
            assert own.read_bytes() == before

            wrong = collector(rig, tmp_path, security=SECURE, identity=password("nope"), server_trust=pinned)
            with pytest.raises(PermanentError, match="refused the login \\(BadUserAccessDenied\\)"):
                await wrong.connect()

    run(body())


def test_untrusted_or_mismatched_server_certificate_is_refused(tmp_path: Path,
                                                                server_cert: tuple[Path, Path, str]) -> None:
    cert, key, fp = server_cert

    async def body() -> None:
        async with serving(cert=(cert, key), policies=BOTH, users=USERS) as rig:
            pinned = {"mode": "pinned", "sha256": "00" * 32}
            c = collector(rig, tmp_path, security=SECURE, identity=password(), server_trust=pinned)
            with pytest.raises(CertificateRejected) as info:
                await c.connect()
            assert f"fingerprint {fp} is not the pinned {'00' * 32}" in str(info.value)
            rejected = tmp_path / "rejected"
            assert [p.name.endswith(f"{fp}.der") for p in rejected.iterdir()] == [True]
            assert "refused" in c.stats()["last_error"]

            # Trust list: refused until an engineer trusts the rejected certificate, then accepted.
            listed = collector(rig, tmp_path, security=SECURE, identity=password())
            with pytest.raises(CertificateRejected, match="not in the trust list"):
                await listed.connect()
            TrustStore(tmp_path).trust(fp[:10])
            assert await first_value(listed) == 20.0

    run(body())


def test_no_downgrade_to_a_weaker_endpoint(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving() as rig:  # offers None/None only
            c = collector(rig, tmp_path, security=SECURE)
            with pytest.raises(PermanentError) as info:
                await c.connect()
            message = str(info.value)
            assert "does not offer security Basic256Sha256/SignAndEncrypt; it offers None/None" in message
            assert "never falls back" in message
            assert c.stats()["connected"] is False

    run(body())


def test_username_login_when_create_session_omits_the_server_certificate(
        tmp_path: Path, server_cert: tuple[Path, Path, str]) -> None:
    cert, key, fp = server_cert

    async def body() -> None:
        # Like open62541: None endpoint, the password token encrypted with Basic256Sha256, and an empty
        # ServerCertificate in CreateSession.
        async with serving(cert=(cert, key), policies=BOTH, users=USERS, empty_cert_on_none=True) as rig:
            plain = Client(rig.url, timeout=2)
            plain.set_user("edge")
            plain.set_password("s3cret")
            with pytest.raises(AttributeError, match="public_key"):  # asyncua encrypts with a missing certificate
                await plain.connect()
            await plain.disconnect()
            c = collector(rig, tmp_path, identity=password(), server_trust={"mode": "pinned", "sha256": fp})
            assert await first_value(c) == 20.0
            assert c.stats()["security"] == "None/None"

    run(body())


def test_a_password_that_would_travel_in_clear_is_refused(tmp_path: Path) -> None:
    async def body() -> None:
        async with serving(users=USERS) as rig:  # no server certificate: the token policy cannot encrypt
            c = collector(rig, tmp_path, identity=password())
            with pytest.raises(PermanentError, match="would receive the password unencrypted"):
                await c.connect()
            allowed = collector(rig, tmp_path, identity=password(cleartext_password="allow"))
            assert await first_value(allowed) == 20.0

    run(body())


def test_session_certificate_prefers_create_session_and_falls_back_to_get_endpoints(
        server_cert: tuple[Path, Path, str]) -> None:
    der = server_cert[0].read_bytes()
    other = b"\x30\x03\x02\x01\x05"  # a tiny DER SEQUENCE stands in for another certificate
    assert session_certificate(other, der) == other
    assert session_certificate(None, der) == der
    assert session_certificate(b"", der + other) == der  # a chain: only the leading certificate
    assert session_certificate(None, None) is None
