"""Server-side dashboard sessions and login throttling (tables in migration 0005_dashboards.sql).

The browser's signed cookie holds only a random token; the session (whose user, since when, until when) lives in
the database, so logout, expiry and disabling a user take effect on the very next request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import psycopg

from tonghu.platform.users import User

# last_seen_at is written at most this often, so a page refreshing every few seconds does not write every time.
_TOUCH_EVERY = timedelta(seconds=60)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def create(conn: psycopg.Connection, user: User, lifetime: timedelta, remote_addr: str, user_agent: str) -> str:
    """A new session for ``user``; returns the token for the cookie. Expired sessions are pruned on the way."""
    token = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM dashboard_sessions WHERE expires_at < now()")
    conn.execute(
        "INSERT INTO dashboard_sessions (token_sha256, user_id, expires_at, remote_addr, user_agent) "
        "VALUES (%s, %s, now() + %s, %s, %s)",
        (_digest(token), user.id, lifetime, remote_addr[:100], user_agent[:300]))
    return token


def resolve(conn: psycopg.Connection, token: str, idle_timeout: timedelta) -> User | None:
    """The user of a live session, or None when the token is unknown, expired, idle too long or the user is
    disabled. Touches last_seen_at (at most once a minute)."""
    row = conn.execute(
        "SELECT u.id, u.username, u.display_name, u.role, u.company_id, u.site_id, u.sector::text, u.disabled, "
        "       s.last_seen_at < now() - %s AS touch "
        "FROM dashboard_sessions s JOIN users u ON u.id = s.user_id "
        "WHERE s.token_sha256 = %s AND s.expires_at > now() AND s.last_seen_at > now() - %s AND NOT u.disabled",
        (_TOUCH_EVERY, _digest(token), idle_timeout)).fetchone()
    if row is None:
        return None
    if row[-1]:
        conn.execute("UPDATE dashboard_sessions SET last_seen_at = now() WHERE token_sha256 = %s", (_digest(token),))
    return User(*row[:-1])


def end(conn: psycopg.Connection, token: str) -> None:
    conn.execute("DELETE FROM dashboard_sessions WHERE token_sha256 = %s", (_digest(token),))


def end_all(conn: psycopg.Connection, user_id: int) -> int:
    """End every session of a user (after a password change); returns how many there were."""
    return conn.execute("DELETE FROM dashboard_sessions WHERE user_id = %s", (user_id,)).rowcount


# ---------------------------------------------------------------------------------------------- throttling


def throttled(conn: psycopg.Connection, username: str, remote_addr: str, window: timedelta, max_per_user: int,
              max_per_address: int) -> bool:
    """True when this user name or this address has failed too often within the window. Checked before the
    password, so a locked-out guesser learns nothing even when a guess is right."""
    row = conn.execute(
        "SELECT (SELECT count(*) FROM login_failures WHERE username = %s AND at > now() - %s), "
        "       (SELECT count(*) FROM login_failures WHERE remote_addr = %s AND at > now() - %s)",
        (username, window, remote_addr, window)).fetchone()
    assert row is not None
    return int(row[0]) >= max_per_user or int(row[1]) >= max_per_address


def record_failure(conn: psycopg.Connection, username: str, remote_addr: str, window: timedelta) -> None:
    conn.execute("DELETE FROM login_failures WHERE at < now() - %s", (window,))
    conn.execute("INSERT INTO login_failures (username, remote_addr) VALUES (%s, %s)",
                 (username[:200], remote_addr[:100]))


def clear_failures(conn: psycopg.Connection, username: str) -> None:
    conn.execute("DELETE FROM login_failures WHERE username = %s", (username,))
