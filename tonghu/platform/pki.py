"""The platform's own small PKI: a local CA, the broker's server certificate and client certificates.

Layout of the PKI folder (``tonghu platform pki init --dir DIR``):

    DIR/ca.crt               the CA certificate: copy it to every edge gateway (``uplink.tls_ca``)
    DIR/ca.key               the CA's private key (mode 0600); whoever holds it can mint broker identities
    DIR/server.crt|.key      the broker's certificate, naming every host/IP edges use to reach it
    DIR/clients/NAME.crt|.key  client certificates (``use_identity_as_username``: the CN is the broker user)

Keys are ECDSA P-256 (fast handshakes on small gateways, accepted by OpenSSL 1.1+ and 3.x). ``init`` is
idempotent: an existing CA is kept unless ``force``; the server certificate is reissued only when it is missing,
does not chain to the CA, lacks a requested host name, or expires within ``RENEW_BEFORE``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tonghu.common.errors import ConfigError

CA_VALIDITY = timedelta(days=10 * 365)
# 825 days is the longest validity common TLS clients accept for a server certificate.
LEAF_VALIDITY = timedelta(days=825)
RENEW_BEFORE = timedelta(days=30)
# Clock skew between the platform and a gateway must not make a fresh certificate "not yet valid".
BACKDATE = timedelta(hours=1)
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True)
class Pki:
    dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.dir / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.dir / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.dir / "server.key"

    def client_cert(self, name: str) -> Path:
        return self.dir / "clients" / f"{name}.crt"

    def client_key(self, name: str) -> Path:
        return self.dir / "clients" / f"{name}.key"

    def exists(self) -> bool:
        return self.ca_cert.is_file() and self.ca_key.is_file()


@dataclass(frozen=True, slots=True)
class InitReport:
    ca_created: bool
    server_issued: bool
    why: str  # why the server certificate was (re)issued, or "" when it was kept
    hosts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Issued:
    cert: Path
    key: Path
    serial: int
    sha256: str
    not_after: datetime


def default_hosts() -> list[str]:
    """Names a local client can use; remote edges need the names they really use (``--host``)."""
    names = ["localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()]
    return list(dict.fromkeys(n for n in names if n))


def write_private(path: Path, data: bytes, mode: int = 0o600, owner: tuple[int, int] | None = None) -> None:
    """Write atomically with ``mode`` (and ``owner`` uid, gid) set before any byte lands, so a secret is never
    briefly readable by others and a reader never finds a file it may not open."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # O_CREAT's mode is ignored when a stale temp file already exists
        if owner is not None:
            os.fchown(fd, *owner)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    write_private(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _load(pki: Pki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    try:
        cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
        key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        raise ConfigError(f"{pki.dir}: cannot read the CA ({err}); run `tonghu platform pki init`") from err
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{pki.ca_key}: expected an EC private key, got {type(key).__name__}")
    if cert.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
        raise ConfigError(f"{pki.ca_cert} does not belong to {pki.ca_key}")
    return cert, key


def _san(hosts: Iterable[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def _new_ca(pki: Pki, now: datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tonghu"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"Tonghu platform CA {socket.gethostname()}"[:64])])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + CA_VALIDITY)
            # path_length 0: this CA signs leaves only, never another CA.
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    _write_key(pki.ca_key, key)  # key first: a reader that finds the new certificate also finds its key
    _write_cert(pki.ca_cert, cert)


def _issue(pki: Pki, common_name: str, hosts: Iterable[str], usage: x509.ObjectIdentifier,
           cert_path: Path, key_path: Path, validity: timedelta, now: datetime) -> Issued:
    ca_cert, ca_key = _load(pki)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tonghu"),
                                        x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - BACKDATE).not_valid_after(min(now + validity, ca_cert.not_valid_after_utc))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    names = _san(hosts)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(key_path, key)
    _write_cert(cert_path, cert)
    return Issued(cert_path, key_path, cert.serial_number, cert.fingerprint(hashes.SHA256()).hex(),
                  cert.not_valid_after_utc)


def _server_problem(pki: Pki, hosts: list[str], now: datetime) -> str:
    """Why the existing server certificate must be reissued, or "" when it is good."""
    if not pki.server_cert.is_file() or not pki.server_key.is_file():
        return "missing"
    try:
        cert = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
        key = serialization.load_pem_private_key(pki.server_key.read_bytes(), password=None)
        cert.verify_directly_issued_by(_load(pki)[0])
    except (OSError, ValueError, TypeError, InvalidSignature) as err:
        return f"not issued by the current CA or unreadable ({err.__class__.__name__})"
    if cert.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
        return "the certificate does not belong to its key"
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return f"it expires on {cert.not_valid_after_utc:%Y-%m-%d}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "it names no hosts"
    have = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(h)) if _is_ip(h) else h for h in hosts}
    missing = sorted(wanted - have)
    return f"it does not name {', '.join(missing)}" if missing else ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def init(directory: Path, hosts: Iterable[str] = (), *, force: bool = False, now: datetime | None = None) -> InitReport:
    """Create the CA (unless one exists and not ``force``) and a server certificate for ``hosts`` + defaults."""
    pki = Pki(directory)
    now = now or datetime.now(UTC)
    hosts = list(hosts)
    names = list(dict.fromkeys([*default_hosts(), *hosts]))
    common_name = next((h for h in [*hosts, *names] if not _is_ip(h)), "tonghu-broker")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)
    ca_created = False
    if force or not pki.exists():
        if not force and (pki.ca_cert.exists() or pki.ca_key.exists()):
            raise ConfigError(f"{directory}: only one of ca.crt / ca.key exists; restore the other or use --force")
        _new_ca(pki, now)
        ca_created = True
    else:
        _load(pki)  # fail early on a damaged CA rather than issue from it
    why = "new CA" if ca_created else _server_problem(pki, names, now)
    if why:
        _issue(pki, common_name[:64], names, ExtendedKeyUsageOID.SERVER_AUTH, pki.server_cert, pki.server_key,
               LEAF_VALIDITY, now)
    return InitReport(ca_created, bool(why), why, tuple(names))


def issue_client(directory: Path, name: str, validity: timedelta = LEAF_VALIDITY,
                 now: datetime | None = None) -> Issued:
    """A client certificate whose common name is ``name`` (the broker user with ``use_identity_as_username``)."""
    pki = Pki(directory)
    if not pki.exists():
        raise ConfigError(f"{directory}: no CA here; run `tonghu platform pki init --dir {directory}` first")
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"client name {name!r} must be a plain file name (no '/', not starting with '.')")
    return _issue(pki, name, (), ExtendedKeyUsageOID.CLIENT_AUTH, pki.client_cert(name), pki.client_key(name),
                  validity, now or datetime.now(UTC))


def write_crl(directory: Path, revoked: Iterable[tuple[int, datetime]], path: Path,
              now: datetime | None = None) -> int:
    """Sign a CRL listing ``revoked`` (serial, when) and write it to ``path``; returns how many it lists.

    OpenSSL refuses every client once a CRL is past its nextUpdate, and this CRL is rewritten at each enrolment
    rather than on a schedule, so nextUpdate is the CA's own expiry.
    """
    ca_cert, ca_key = _load(Pki(directory))
    now = now or datetime.now(UTC)
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca_cert.subject)
               .last_update(now - BACKDATE).next_update(ca_cert.not_valid_after_utc))
    count = 0
    for serial, at in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(at).build())
        count += 1
    crl = builder.sign(ca_key, hashes.SHA256())
    write_private(path, crl.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return count
