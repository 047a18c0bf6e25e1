"""The platform PKI: a CA made once, a broker certificate reissued only when it must be, keys readable by the owner
only, client certificates and the CRL."""

from __future__ import annotations

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.security.conftest import cli
from tonghu.common.errors import ConfigError
from tonghu.platform import pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _san(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)} | {
        str(v) for v in san.get_values_for_type(x509.IPAddress)}


def test_init_creates_a_ca_and_a_server_certificate(tmp_path: Path) -> None:
    report = pki.init(tmp_path, ["broker.plant.example", "10.1.2.3"])
    p = pki.Pki(tmp_path)
    assert report.ca_created and report.server_issued
    assert {_mode(p.ca_key), _mode(p.server_key)} == {0o600}
    assert {_mode(p.ca_cert), _mode(p.server_cert)} == {0o644}
    ca, server = _cert(p.ca_cert), _cert(p.server_cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server.verify_directly_issued_by(ca)
    assert {"broker.plant.example", "10.1.2.3", "localhost", "127.0.0.1"} <= _san(server)
    assert ipaddress.ip_address("10.1.2.3") in server.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_init_is_idempotent_and_keeps_the_ca_unless_forced(tmp_path: Path) -> None:
    p = pki.Pki(tmp_path)
    pki.init(tmp_path, ["a.example"])
    ca, server = p.ca_cert.read_bytes(), p.server_cert.read_bytes()
    again = pki.init(tmp_path, ["a.example"])
    assert not again.ca_created and not again.server_issued
    assert (p.ca_cert.read_bytes(), p.server_cert.read_bytes()) == (ca, server)

    more = pki.init(tmp_path, ["a.example", "b.example"])  # a new name: same CA, new server certificate
    assert not more.ca_created and more.server_issued and "b.example" in more.why
    assert p.ca_cert.read_bytes() == ca and "b.example" in _san(_cert(p.server_cert))

    soon = datetime.now(UTC) + pki.LEAF_VALIDITY - pki.RENEW_BEFORE + timedelta(days=1)
    renewed = pki.init(tmp_path, ["a.example", "b.example"], now=soon)  # close to expiry: renewed
    assert renewed.server_issued and "expires" in renewed.why

    forced = pki.init(tmp_path, ["a.example"], force=True)
    assert forced.ca_created and forced.server_issued and p.ca_cert.read_bytes() != ca
    _cert(p.server_cert).verify_directly_issued_by(_cert(p.ca_cert))


def test_a_half_ca_or_a_foreign_server_certificate_is_not_trusted(tmp_path: Path) -> None:
    p = pki.Pki(tmp_path)
    pki.init(tmp_path)
    other = tmp_path / "other"
    pki.init(other)
    # A server certificate from another CA is replaced, not served.
    p.server_cert.write_bytes(pki.Pki(other).server_cert.read_bytes())
    p.server_key.write_bytes(pki.Pki(other).server_key.read_bytes())
    report = pki.init(tmp_path)
    assert report.server_issued and "not issued by the current CA" in report.why
    _cert(p.server_cert).verify_directly_issued_by(_cert(p.ca_cert))
    p.ca_key.unlink()
    with pytest.raises(ConfigError, match=r"only one of ca\.crt / ca\.key"):
        pki.init(tmp_path)


def test_client_certificates_and_the_crl(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no CA here"):
        pki.issue_client(tmp_path, "edge.a.b.c")
    pki.init(tmp_path)
    issued = pki.issue_client(tmp_path, "edge.a.b.c")
    cert = _cert(issued.cert)
    assert _mode(issued.key) == 0o600
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "edge.a.b.c"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(_cert(pki.Pki(tmp_path).ca_cert))
    with pytest.raises(ConfigError, match="plain file name"):
        pki.issue_client(tmp_path, "../escape")

    crl_path = tmp_path / "crl.pem"
    assert pki.write_crl(tmp_path, [(issued.serial, datetime.now(UTC))], crl_path) == 1
    crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    assert crl.is_signature_valid(_cert(pki.Pki(tmp_path).ca_cert).public_key())
    assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None
    assert crl.next_update_utc == _cert(pki.Pki(tmp_path).ca_cert).not_valid_after_utc


def test_pki_commands(tmp_path: Path) -> None:
    first = cli("platform", "pki", "init", "--dir", tmp_path, "--host", "broker.example")
    assert "CA created" in first.output and "server certificate issued" in first.output
    second = cli("platform", "pki", "init", "--dir", tmp_path, "--host", "broker.example")
    assert "CA kept" in second.output and "server certificate kept" in second.output
    client = cli("platform", "pki", "issue-client", "--dir", tmp_path, "edge.x.y.z")
    assert "edge.x.y.z.crt" in client.output and (tmp_path / "clients" / "edge.x.y.z.key").is_file()
