"""Mosquitto's password-file hashes, so the registry stores exactly the line the broker checks and no password.

Format (mosquitto 2.0 ``mosquitto_passwd``, ``src/password_mosq.c``; one ``username:hash`` per line):

    $7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512(password, salt, iterations, 64 bytes)>
    $6$<base64 salt>$<base64 SHA-512(password || salt)>          (mosquitto 1.6 and earlier; verified only)

The salt is the 12 random bytes the base64 text decodes to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SALT_BYTES = 12
# The passwords this platform issues are 256 random bits, out of reach of any guessing however fast the hash;
# stretching would only cost the broker CPU on every (re)connect of every edge: 1 000 rounds cost ≈ 3 ms of one
# core here (10 000 would cost 25 ms, 250 s of broker CPU when 10 000 edges reconnect at once).
ITERATIONS = 1000
PASSWORD_BYTES = 32


def new_password() -> str:
    """256 random bits as 43 URL-safe characters (no ':' or whitespace: safe in YAML and the password file)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches a ``$7$`` or ``$6$`` hash (as written by mosquitto_passwd or by us)."""
    parts = stored.split("$")
    try:
        if len(parts) == 5 and parts[1] == "7":
            iterations, salt, want = int(parts[2]), base64.b64decode(parts[3]), base64.b64decode(parts[4])
            got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, len(want))
        elif len(parts) == 4 and parts[1] == "6":
            salt, want = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            got = hashlib.sha512(password.encode() + salt).digest()
        else:
            return False
    except (ValueError, binascii.Error):
        return False
    return hmac.compare_digest(got, want)


def file_line(username: str, password_hash: str) -> str:
    if ":" in username or any(c.isspace() for c in username):
        raise ValueError(f"broker username {username!r} may not contain ':' or whitespace")
    return f"{username}:{password_hash}\n"
