"""The application certificate (created once, kept) and the trust store for server certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tonghu.collectors.opcua.certs import (
    CertificateRejected,
    TrustStore,
    check_server_certificate,
    der_of,
    ensure_application_certificate,
    fingerprint,
)
from tonghu.collectors.opcua.cli import certs

URI = "urn:test-host:tonghu:edge"


def test_application_certificate_is_created_once(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "own/certs/app.der", tmp_path / "own/private/app.pem"
    first, created = ensure_application_certificate(cert_path, key_path, URI, timedelta(days=30), "edge-host")
    assert created
    again, created_again = ensure_application_certificate(cert_path, key_path, URI, timedelta(days=30), "edge-host")
    assert not created_again
    assert fingerprint(der_of(again)) == fingerprint(der_of(first)) == fingerprint(cert_path.read_bytes())
    assert key_path.stat().st_mode & 0o777 == 0o600

    san = first.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [URI]
    assert san.get_values_for_type(x509.DNSName) == ["edge-host"]
    ku = first.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (ku.digital_signature, ku.content_commitment, ku.key_encipherment, ku.data_encipherment) == (True,) * 4
    eku = first.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    assert isinstance(first.signature_hash_algorithm, hashes.SHA256)
    assert first.public_key().key_size == 2048  # type: ignore[union-attr]
    lifetime = first.not_valid_after_utc - datetime.now(UTC)
    assert timedelta(days=29) < lifetime <= timedelta(days=30)

    # A new ApplicationUri needs a certificate that names it.
    renamed, created_renamed = ensure_application_certificate(cert_path, key_path, "urn:other", timedelta(days=30))
    assert created_renamed and fingerprint(der_of(renamed)) != fingerprint(der_of(first))


def test_cli_create_keeps_the_certificate(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["create", "--pki", str(tmp_path), "--application-uri", URI]
    first = runner.invoke(certs, args)
    second = runner.invoke(certs, args)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert first.output.splitlines()[0].startswith("created ") and second.output.splitlines()[0].startswith("kept ")
    assert first.output.splitlines()[1] == second.output.splitlines()[1]  # same sha256
    listing = runner.invoke(certs, ["list", "--pki", str(tmp_path)]).output
    assert listing.startswith("own ") and URI in listing


def _ca_and_leaf(uri: str, days: int = 10) -> tuple[x509.Certificate, x509.Certificate]:
    now = datetime.now(UTC)
    ca_key, leaf_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Plant CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PLC 7")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return ca, leaf


def test_trust_list_pin_and_rejection(tmp_path: Path) -> None:
    store = TrustStore(tmp_path)
    server, _ = ensure_application_certificate(tmp_path / "s.der", tmp_path / "s.pem", "urn:plc", timedelta(days=5))
    der = der_of(server)
    fp = fingerprint(der)

    with pytest.raises(CertificateRejected, match="not in the trust list") as info:
        check_server_certificate(der, store, None, "urn:plc")
    assert info.value.saved_to is not None and info.value.saved_to.parent == tmp_path / "rejected"
    assert info.value.saved_to.read_bytes() == der
    assert f"certs trust --pki {tmp_path} {fp[:16]}" in str(info.value)

    # An engineer reviews it and trusts it by a fingerprint prefix: it moves from rejected/ to trusted/.
    moved = store.trust(fp[:12])
    assert moved.parent == tmp_path / "trusted" and not list((tmp_path / "rejected").iterdir())
    assert check_server_certificate(der, store, None, "urn:plc") == server
    with pytest.raises(CertificateRejected, match="names \\['urn:plc'\\] but the server calls itself 'urn:evil'"):
        check_server_certificate(der, store, None, "urn:evil")
    with pytest.raises(CertificateRejected, match="only from"):
        check_server_certificate(der, store, None, "urn:plc", now=datetime.now(UTC) + timedelta(days=10))
    assert {e.state for e in store.list()} == {"trusted", "rejected"}

    store.reject(fp)
    with pytest.raises(CertificateRejected):
        check_server_certificate(der, store, None, "urn:plc")
    assert check_server_certificate(der, store, fp, "urn:plc") == server
    with pytest.raises(CertificateRejected, match="is not the pinned"):
        check_server_certificate(der, store, "0" * 64, "urn:plc")
    with pytest.raises(ValueError, match="no certificate with fingerprint"):
        store.trust("deadbeefdeadbeef")


def test_certificates_issued_by_a_trusted_ca_are_trusted(tmp_path: Path) -> None:
    store = TrustStore(tmp_path)
    ca, leaf = _ca_and_leaf("urn:plc7")
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CertificateRejected):
        check_server_certificate(der_of(leaf), store, None, "urn:plc7")
    store.trust(str(ca_file))  # a file is copied in as DER
    assert check_server_certificate(der_of(leaf), store, None, "urn:plc7") == leaf
    _, stranger = _ca_and_leaf("urn:plc7")  # same CA name, different key: the signature does not verify
    with pytest.raises(CertificateRejected):
        check_server_certificate(der_of(stranger), store, None, "urn:plc7")
