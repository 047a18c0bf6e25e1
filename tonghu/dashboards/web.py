"""The Flask side of the dashboards: cookie policy, the login gate in front of every Dash route, login/logout.

The login form is a plain server-rendered HTML form (not a Dash callback) protected by a per-session CSRF token
and an Origin check; the session cookie is HttpOnly, SameSite=Lax and Secure over TLS, so a cross-site page can
neither read it nor make the browser send it with a POST.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import quote, urlsplit

import flask
from flask.sessions import SecureCookieSessionInterface
from markupsafe import escape

from tonghu.dashboards import sessions
from tonghu.dashboards.auth import audit_denied, current_user
from tonghu.dashboards.context import EXTENSION, POOL, client_addr, close_conn, conn, settings
from tonghu.dashboards.pool import ConnectionPool
from tonghu.dashboards.settings import CookieSecure, DashboardSettings
from tonghu.platform import users

COOKIE_NAME = "tonghu_session"
# Served without a session: the login page and the static files every page (the login page included) needs.
_PUBLIC_PREFIXES = ("/_dash-component-suites/", "/assets/", "/_favicon.ico")
_PUBLIC_PATHS = ("/login",)
_STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/")


class _SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: flask.Flask) -> bool:
        mode = app.extensions[EXTENSION].cookie_secure
        if mode is CookieSecure.AUTO:
            return flask.request.is_secure
        return mode is CookieSecure.ALWAYS


def install(server: flask.Flask, cfg: DashboardSettings, secret_key: bytes) -> None:
    server.extensions[EXTENSION] = cfg
    server.extensions[POOL] = ConnectionPool(cfg.database_url, cfg.pool_max_idle)
    server.secret_key = secret_key
    server.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=cfg.session_lifetime,
        MAX_CONTENT_LENGTH=1 << 20,
    )
    server.session_interface = _SessionInterface()
    server.before_request(_gate)
    server.after_request(_headers)
    server.teardown_request(close_conn)
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout, methods=["POST"])
    server.add_url_rule("/auth/alive", "alive", _alive, methods=["GET"])


def csrf_token() -> str:
    """This browser session's CSRF token (created on first use); forms post it back."""
    token = flask.session.get("csrf")
    if not token:
        token = flask.session["csrf"] = secrets.token_urlsafe(24)
    return str(token)


def _csrf_ok() -> bool:
    sent, expected = flask.request.form.get("csrf", ""), flask.session.get("csrf", "")
    return bool(expected) and hmac.compare_digest(sent.encode(), str(expected).encode())


def _same_origin() -> bool:
    origin = flask.request.headers.get("Origin")
    # Browsers send Origin with every POST; clients without one cannot carry a victim's cookie anyway.
    return origin is None or urlsplit(origin).netloc == flask.request.host


def _empty(status: int) -> flask.Response:
    return flask.Response(status=status)


def _gate() -> flask.Response | None:
    path = flask.request.path
    if flask.request.method not in ("GET", "HEAD", "OPTIONS") and not _same_origin():
        return _empty(403)
    if path.startswith(_PUBLIC_PREFIXES):
        return None
    flask.g.user = None
    token = flask.session.get("sid")
    if token:
        flask.g.user = sessions.resolve(conn(), str(token), settings().idle_timeout)
        if flask.g.user is None:
            flask.session.pop("sid", None)
    if flask.g.user is not None or path in _PUBLIC_PATHS:
        return None
    if path.endswith("/_dash-update-component"):
        audit_denied("no_session")
        return _empty(401)
    if path.startswith(("/_dash", "/_reload", "/auth/")) or flask.request.method != "GET":
        return _empty(401)
    return flask.redirect(f"/login?next={quote(flask.request.full_path.rstrip('?'), safe='/?=&')}")


def _headers(response: flask.Response) -> flask.Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not flask.request.path.startswith(_STATIC_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    return response


def _safe_next(target: str | None) -> str:
    # Only a path on this server: "//evil.example" or "https://…" would turn the login into an open redirect.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login() -> Any:
    cfg = settings()
    next_url = _safe_next(flask.request.values.get("next"))
    if flask.request.method == "GET":
        if current_user() is not None:
            return flask.redirect(next_url)
        return _login_page(next_url)
    username = flask.request.form.get("username", "").strip()[:200]
    password = flask.request.form.get("password", "")[:1000]
    addr = client_addr()
    c = conn()
    if not _csrf_ok():
        users.audit(c, username or "anonymous", "login_failed", {"addr": addr, "reason": "csrf"})
        return _login_page(next_url, "The form expired. Please sign in again.", 400)
    if sessions.throttled(c, username, addr, cfg.login_window, cfg.login_max_failures,
                          cfg.login_max_failures_per_address):
        users.audit(c, username or "anonymous", "login_throttled", {"addr": addr})
        minutes = max(1, int(cfg.login_window.total_seconds() // 60))
        return _login_page(next_url, f"Too many failed sign-ins. Try again in {minutes} minutes.", 429)
    user = users.authenticate(c, username, password) if username and password else None
    if user is None:
        sessions.record_failure(c, username, addr, cfg.login_window)
        users.audit(c, username or "anonymous", "login_failed", {"addr": addr, "reason": "bad_credentials"})
        return _login_page(next_url, "Wrong user name or password.", 401)
    sessions.clear_failures(c, username)
    # A fresh cookie at login: a session id planted before login (fixation) is never promoted.
    flask.session.clear()
    flask.session.permanent = True
    flask.session["sid"] = sessions.create(c, user, cfg.session_lifetime, addr,
                                           flask.request.headers.get("User-Agent", ""))
    csrf_token()
    users.audit(c, user.username, "login", {"addr": addr})
    return flask.redirect(next_url)


def _logout() -> Any:
    user, token = current_user(), flask.session.get("sid")
    if user is not None and _csrf_ok():
        sessions.end(conn(), str(token))
        users.audit(conn(), user.username, "logout", {"addr": client_addr()})
        flask.session.clear()
    return flask.redirect("/login")


def _alive() -> flask.Response:
    return _empty(204)


def _login_page(next_url: str, error: str = "", status: int = 200) -> tuple[str, int]:
    alert = f'<div class="alert alert-danger" role="alert">{escape(error)}</div>' if error else ""
    html = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Tonghu</title><link rel="stylesheet" href="/assets/style.css"></head>
<body class="login-body"><main class="login-card card">
<h1 class="h4">Tonghu dashboards</h1>{alert}
<form method="post" action="/login" autocomplete="on">
<input type="hidden" name="csrf" value="{escape(csrf_token())}">
<input type="hidden" name="next" value="{escape(next_url)}">
<label class="form-label" for="username">User name</label>
<input class="form-control" id="username" name="username" autocomplete="username" required autofocus>
<label class="form-label" for="password">Password</label>
<input class="form-control" id="password" name="password" type="password" autocomplete="current-password" required>
<button class="btn btn-primary" id="login-submit" type="submit">Sign in</button>
</form></main></body></html>"""
    return html, status
