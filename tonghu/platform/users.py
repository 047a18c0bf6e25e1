"""Dashboard users, their roles and tenant boundary, password hashing and the audit log.

Passwords are hashed with scrypt (RFC 7914) from the standard library, a random salt per user, and the cost
parameters stored in the hash string (``scrypt$n=…,r=…,p=…$salt$hash``), so they can be raised later: a login
with an older parameter set rehashes the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from tonghu.common.errors import TonghuError

ROLES = ("admin", "plant_manager", "engineer", "association_analyst")
SECTORS = ("electronics", "petrochemical", "equipment")
# 2**15 × r=8 needs 32 MiB and about 50–100 ms per hash on this class of machine: slow for a guesser, fine for
# a login. OWASP's scrypt guidance (N=2**17 at p=1) is reachable by raising these; old hashes keep verifying.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSWORD_LENGTH = 10
_DKLEN = 32
_SALT_BYTES = 16


class UserError(TonghuError):
    """A user change refused: unknown user, invalid role/scope combination, weak password."""


@dataclass(frozen=True, slots=True)
class User:
    """A user and the tenant boundary every dashboard request is checked against."""

    id: int
    username: str
    display_name: str
    role: str
    company_id: int | None = None
    site_id: int | None = None
    sector: str | None = None
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# ---------------------------------------------------------------------------------------------- hashing


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem must exceed 128·n·r bytes or OpenSSL refuses; keep some headroom.
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20),
                          dklen=_DKLEN)


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(_scrypt(password, salt, n, r, p))}"


def _parse(stored: str) -> tuple[int, int, int, bytes, bytes]:
    try:
        scheme, params, salt, digest = stored.split("$")
        values = dict(kv.split("=", 1) for kv in params.split(","))
        n, r, p = int(values["n"]), int(values["r"]), int(values["p"])
    except (ValueError, KeyError) as err:
        raise UserError("stored password hash is not in the form scrypt$n=…,r=…,p=…$salt$hash") from err
    if scheme != "scrypt" or n < 2 or n & (n - 1) or not (0 < r <= 64 and 0 < p <= 16):
        raise UserError(f"stored password hash has unsupported scheme or parameters: {scheme} {params}")
    return n, r, p, _unb64(salt), _unb64(digest)


def verify_password(password: str, stored: str) -> bool:
    n, r, p, salt, digest = _parse(stored)
    return hmac.compare_digest(_scrypt(password, salt, n, r, p), digest)


def needs_rehash(stored: str) -> bool:
    n, r, p, _, _ = _parse(stored)
    return (n, r, p) != (SCRYPT_N, SCRYPT_R, SCRYPT_P)


# A hash of nothing in particular: unknown user names cost the same scrypt work as known ones, so response
# times do not reveal which names exist.
_DUMMY_HASH = f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(b'0' * _SALT_BYTES)}${_b64(b'0' * _DKLEN)}"


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")


# ---------------------------------------------------------------------------------------------- users

_COLUMNS = "u.id, u.username, u.display_name, u.role, u.company_id, u.site_id, u.sector::text, u.disabled"


def add_user(conn: psycopg.Connection, username: str, password: str, role: str, *, company: str | None = None,
             site: str | None = None, sector: str | None = None, display_name: str = "",
             scrypt_n: int = SCRYPT_N) -> User:
    """Create a user. plant_manager/engineer need a company (and may have a site of it); association_analyst
    needs a sector and no company; admin has no scope."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise UserError(f"user name {username!r} must be 1–64 characters without spaces")
    if role not in ROLES:
        raise UserError(f"role {role!r} must be one of {', '.join(ROLES)}")
    if role in ("plant_manager", "engineer") and not company:
        raise UserError(f"role {role} needs --company")
    if role in ("admin", "association_analyst") and (company or site):
        raise UserError(f"role {role} is not bound to a company or site")
    if site and not company:
        raise UserError("--site needs --company")
    if role == "association_analyst":
        if sector not in SECTORS:
            raise UserError(f"role association_analyst needs --sector, one of {', '.join(SECTORS)}")
    elif sector:
        raise UserError("only association_analyst users have a sector")
    check_password_strength(password)
    company_id = site_id = None
    if company:
        row = conn.execute("SELECT id FROM companies WHERE code = %s", (company,)).fetchone()
        if row is None:
            raise UserError(f"company {company!r} is not registered")
        company_id = int(row[0])
    if site:
        row = conn.execute("SELECT id FROM sites WHERE company_id = %s AND code = %s", (company_id, site)).fetchone()
        if row is None:
            raise UserError(f"site {company}/{site} is not registered")
        site_id = int(row[0])
    try:
        row = conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, company_id, site_id, sector) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (username, display_name, hash_password(password, n=scrypt_n), role, company_id, site_id, sector),
        ).fetchone()
    except psycopg.errors.UniqueViolation as err:
        raise UserError(f"user {username!r} exists already") from err
    assert row is not None
    return User(int(row[0]), username, display_name, role, company_id, site_id, sector)


def get_user(conn: psycopg.Connection, user_id: int) -> User | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM users u WHERE u.id = %s", (user_id,)).fetchone()
    return User(*row) if row else None


def list_users(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Every user with the codes of their company and site, for listing."""
    cur = conn.execute(
        "SELECT u.username, u.display_name, u.role, c.code AS company, s.code AS site, u.sector::text AS sector, "
        "       u.disabled, u.created_at "
        "FROM users u LEFT JOIN companies c ON c.id = u.company_id LEFT JOIN sites s ON s.id = u.site_id "
        "ORDER BY u.username")
    names = [d.name for d in cur.description or ()]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def set_disabled(conn: psycopg.Connection, username: str, disabled: bool = True) -> None:
    """Disable (or enable) a user; a disabled user's open sessions stop working on their next request."""
    cur = conn.execute("UPDATE users SET disabled = %s WHERE username = %s", (disabled, username))
    if cur.rowcount != 1:
        raise UserError(f"user {username!r} does not exist")


def set_password(conn: psycopg.Connection, username: str, password: str, *, scrypt_n: int = SCRYPT_N) -> int:
    """Set a new password; returns the user's id."""
    check_password_strength(password)
    row = conn.execute("UPDATE users SET password_hash = %s WHERE username = %s RETURNING id",
                       (hash_password(password, n=scrypt_n), username)).fetchone()
    if row is None:
        raise UserError(f"user {username!r} does not exist")
    return int(row[0])


def authenticate(conn: psycopg.Connection, username: str, password: str) -> User | None:
    """The enabled user with this name and password, else None. Costs one scrypt whether or not the user exists."""
    row = conn.execute(f"SELECT {_COLUMNS}, u.password_hash FROM users u WHERE u.username = %s",
                       (username,)).fetchone()
    stored = row[-1] if row else _DUMMY_HASH
    ok = verify_password(password, stored)
    if row is None or not ok or row[7]:
        return None
    user = User(*row[:-1])
    if needs_rehash(stored):
        conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (hash_password(password), user.id))
    return user


# ---------------------------------------------------------------------------------------------- audit


def audit(conn: psycopg.Connection, actor: str, action: str, detail: dict[str, Any] | None = None) -> None:
    """One audit row: logins, logouts, denied requests, data exports."""
    conn.execute("INSERT INTO audit_log (actor, action, detail) VALUES (%s, %s, %s)",
                 (actor[:200], action, Jsonb(detail or {})))
