"""The agent's application instance certificate and the trust store for server certificates.

Layout of the PKI folder (the usual OPC UA arrangement, so engineers find their way around it):

    pki/own/certs/application.der     our certificate (DER), created once and kept
    pki/own/private/application.pem   its private key (PEM, PKCS#8, mode 0600)
    pki/trusted/*.der                 server certificates, or CAs that issued them, that we trust
    pki/rejected/*.der                certificates we refused; moving one to trusted/ trusts it

Fingerprints are SHA-256 over the DER bytes, written as 64 lowercase hex digits.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tonghu.common.errors import PermanentError

log = logging.getLogger(__name__)

_HEX = re.compile(r"[0-9a-f]{8,64}")


class CertificateRejected(PermanentError):
    """A server certificate failed validation; it was saved to ``rejected/`` for an engineer to review."""

    def __init__(self, message: str, fingerprint: str, saved_to: Path | None) -> None:
        super().__init__(message)
        self.fingerprint = fingerprint
        self.saved_to = saved_to


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def first_certificate(der: bytes) -> bytes:
    """The leading certificate of a DER blob that may hold a whole chain (OPC 10000-6 §6.2.3 allows that)."""
    if len(der) < 4 or der[0] != 0x30:
        raise ValueError("not a DER certificate")
    if der[1] < 0x80:
        return der[: 2 + der[1]]
    n = der[1] & 0x7F
    length = int.from_bytes(der[2:2 + n], "big")
    return der[: 2 + n + length]


def load_certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(first_certificate(data))


def der_of(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def application_uris(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def default_application_uri() -> str:
    return f"urn:{socket.gethostname()}:tonghu:edge"


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _usable(cert_path: Path, key_path: Path, application_uri: str) -> str | None:
    """Why the existing pair cannot be used, or None when it can."""
    if not cert_path.exists() or not key_path.exists():
        return "missing"
    try:
        cert = load_certificate(cert_path)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        return f"unreadable ({err})"
    if application_uri not in application_uris(cert):
        return f"its URI {application_uris(cert)} is not {application_uri!r}"
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        return "the certificate does not belong to the private key"
    return None


def ensure_application_certificate(cert_path: Path, key_path: Path, application_uri: str,
                                   validity: timedelta = timedelta(days=5 * 365), hostname: str | None = None,
                                   name: str = "Tonghu edge agent") -> tuple[x509.Certificate, bool]:
    """Load our certificate, creating it only when it is missing, unusable, or names another application URI.

    Returns the certificate and whether it was created now. Servers trust a client by its certificate, so
    recreating it at every start would make every server reject us again.
    """
    why = _usable(cert_path, key_path, application_uri)
    if why is None:
        cert = load_certificate(cert_path)
        if cert.not_valid_after_utc < datetime.now(UTC):
            log.warning("application certificate %s expired on %s; delete it to have a new one created",
                        cert_path, cert.not_valid_after_utc)
        return cert, False
    if why != "missing":
        log.warning("creating a new application certificate at %s: the existing one is unusable: %s", cert_path, why)
    host = hostname or socket.gethostname()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}@{host}"[:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tonghu")])
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))  # tolerate a server clock that lags ours
        .not_valid_after(now + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # OPC 10000-6 §6.2.2: digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, and for a
        # self-signed certificate also keyCertSign (it signs itself).
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                     data_encipherment=True, key_agreement=False, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(application_uri),
                                                    x509.DNSName(host)]), critical=False)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    # Key first: a concurrent reader that sees the new certificate also sees its key, and a mismatched pair
    # (if a writer died in between) is detected above and recreated.
    _write_atomic(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()), mode=0o600)
    _write_atomic(cert_path, der_of(cert))
    log.info("created application certificate %s (%s, sha256 %s)", cert_path, application_uri,
             fingerprint(der_of(cert)))
    return cert, True


# ------------------------------------------------------------------------------------------------ trust store


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    state: str  # own | trusted | rejected
    path: Path
    fingerprint: str
    subject: str
    application_uri: str
    not_after: datetime


class TrustStore:
    """The ``trusted/`` and ``rejected/`` folders of a PKI directory."""

    def __init__(self, pki_dir: Path) -> None:
        self.dir = pki_dir
        self.trusted = pki_dir / "trusted"
        self.rejected = pki_dir / "rejected"

    def _files(self, folder: Path) -> list[Path]:
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".der", ".pem", ".crt", ".cer"))

    def _load_all(self, folder: Path) -> list[tuple[Path, x509.Certificate]]:
        out = []
        for path in self._files(folder):
            try:
                out.append((path, load_certificate(path)))
            except (OSError, ValueError) as err:
                log.warning("ignoring unreadable certificate %s: %s", path, err)
        return out

    def list(self) -> list[StoredCertificate]:
        out = []
        own = self.dir / "own" / "certs"
        for state, folder in (("own", own), ("trusted", self.trusted), ("rejected", self.rejected)):
            for path, cert in self._load_all(folder):
                uris = application_uris(cert)
                out.append(StoredCertificate(state, path, fingerprint(der_of(cert)), common_name(cert),
                                             uris[0] if uris else "", cert.not_valid_after_utc))
        return out

    def is_trusted(self, cert: x509.Certificate) -> bool:
        """Trusted itself, or directly issued by a CA certificate in ``trusted/``."""
        fp = fingerprint(der_of(cert))
        for _, candidate in self._load_all(self.trusted):
            if fingerprint(der_of(candidate)) == fp:
                return True
            if candidate.subject != cert.issuer or not _is_ca(candidate):
                continue
            try:
                cert.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return True
        return False

    def save_rejected(self, der: bytes) -> Path:
        cert = x509.load_der_x509_certificate(der)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", common_name(cert))[:40] or "certificate"
        path = self.rejected / f"{name}_{fingerprint(der)}.der"
        if not path.exists():
            _write_atomic(path, der)
        return path

    def _find(self, folder: Path, fp: str) -> Path:
        fp = fp.replace(":", "").lower()
        if not _HEX.fullmatch(fp):
            raise ValueError(f"{fp!r} is neither a certificate file nor a SHA-256 fingerprint (8-64 hex digits)")
        hits = [p for p, c in self._load_all(folder) if fingerprint(der_of(c)).startswith(fp)]
        if not hits:
            raise ValueError(f"no certificate with fingerprint {fp} in {folder}")
        if len(hits) > 1:
            raise ValueError(f"fingerprint prefix {fp} matches {len(hits)} certificates in {folder}; give more digits")
        return hits[0]

    def trust(self, fingerprint_or_file: str) -> Path:
        """Trust a certificate file (copied in as DER) or a rejected certificate by fingerprint (moved)."""
        source = Path(fingerprint_or_file)
        if source.is_file():
            cert = load_certificate(source)
            der = der_of(cert)
            target = self.trusted / f"{re.sub(r'[^A-Za-z0-9._-]+', '_', common_name(cert))[:40]}_{fingerprint(der)}.der"
            _write_atomic(target, der)
            return target
        found = self._find(self.rejected, fingerprint_or_file)
        self.trusted.mkdir(parents=True, exist_ok=True)
        return Path(shutil.move(found, self.trusted / found.name))

    def reject(self, fingerprint_or_name: str) -> Path:
        """Stop trusting a certificate: move it from ``trusted/`` to ``rejected/``."""
        found = self._find(self.trusted, fingerprint_or_name)
        self.rejected.mkdir(parents=True, exist_ok=True)
        return Path(shutil.move(found, self.rejected / found.name))


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check_server_certificate(der: bytes, store: TrustStore, pinned_sha256: str | None,
                             application_uri: str | None, now: datetime | None = None) -> x509.Certificate:
    """Validate a server's certificate (OPC 10000-4 §6.1.3): trust, validity period, application URI.

    Raises CertificateRejected, after saving the certificate to ``rejected/``. The host-name check of §6.1.3 is
    not made: plant servers are commonly reached by an address their certificate does not name.
    """
    try:
        der = first_certificate(der)
        cert = x509.load_der_x509_certificate(der)
    except ValueError as err:
        raise CertificateRejected(f"the server sent an unreadable certificate ({err})", "", None) from err
    fp = fingerprint(der)
    now = now or datetime.now(UTC)
    problem = None
    if pinned_sha256 is not None:
        if fp != pinned_sha256:
            problem = f"its SHA-256 fingerprint {fp} is not the pinned {pinned_sha256}"
    elif not store.is_trusted(cert):
        problem = f"it is not in the trust list {store.trusted}"
    if problem is None and not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        problem = f"it is valid only from {cert.not_valid_before_utc} to {cert.not_valid_after_utc}"
    if problem is None and application_uri and application_uri not in application_uris(cert):
        problem = f"it names {application_uris(cert)} but the server calls itself {application_uri!r}"
    if problem is None:
        return cert
    saved = store.save_rejected(der)
    hint = (f"; if this is the right server, trust it with "
            f"`tonghu edge certs trust --pki {store.dir} {fp[:16]}`" if pinned_sha256 is None else "")
    raise CertificateRejected(f"server certificate {common_name(cert)!r} (sha256 {fp}) refused: {problem}. "
                              f"Saved to {saved}{hint}", fp, saved)
