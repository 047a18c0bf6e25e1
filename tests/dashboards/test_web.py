"""The login gate through the real app and Flask's test client: CSRF, throttling, cookie flags, session end and
expiry, open-redirect and cross-origin refusals, the secret key file."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unique
from tests.dashboards.conftest import PASSWORD, TEST_SCRYPT_N, World, audit_rows, last_audit_id
from tonghu.common.errors import ConfigError
from tonghu.dashboards import secret
from tonghu.platform import users


def _client(app: Any) -> Any:
    # A client address per test: the per-address throttle must not carry over between tests.
    n = int(unique("")[:6], 16)
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    return client


def _csrf(client: Any, base_url: str = "http://localhost") -> str:
    page = client.get("/login", base_url=base_url)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


def _find_prop(tree: Any, component_id: str, prop: str) -> Any:
    """A property of the component with this id in a serialised Dash layout."""
    if isinstance(tree, dict):
        props = tree.get("props", {})
        if isinstance(props, dict) and props.get("id") == component_id:
            return props.get(prop)
        return next((v for v in (_find_prop(x, component_id, prop) for x in tree.values()) if v is not None), None)
    if isinstance(tree, list):
        return next((v for v in (_find_prop(x, component_id, prop) for x in tree) if v is not None), None)
    return None


def _login(client: Any, username: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post("/login", data={"username": username, "password": password, "csrf": _csrf(client), **extra})


def test_gate_redirects_pages_and_refuses_api_calls(dash_app: Any) -> None:
    c = _client(dash_app)
    r = c.get("/fleet?x=1")
    assert r.status_code == 302 and r.headers["Location"] == "/login?next=/fleet?x=1"
    for path in ("/_dash-layout", "/_dash-dependencies", "/auth/alive"):
        assert c.get(path).status_code == 401
    assert c.get("/assets/style.css").status_code == 200  # the login page's own stylesheet


def test_login_logout_and_audit(dash_app: Any, db: Any, world: World) -> None:
    c, name = _client(dash_app), world.users["pm_a"]
    before = last_audit_id(db)
    r = _login(c, name, next="/fleet")
    assert r.status_code == 302 and r.headers["Location"] == "/fleet"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # plain http, auto
    assert c.get("/auth/alive").status_code == 204
    layout = c.get("/_dash-layout")
    assert layout.status_code == 200 and "nav-fleet" in layout.text and layout.headers["Cache-Control"] == "no-store"
    assert layout.headers["X-Frame-Options"] == "DENY"
    assert audit_rows(db, name, "login", before)[0]["addr"].startswith("10.")
    stolen = c.get_cookie("tonghu_session").value
    r = c.post("/logout", data={"csrf": "forged"})  # a cross-site logout attempt changes nothing
    assert r.status_code == 302 and c.get("/auth/alive").status_code == 204
    csrf = _find_prop(layout.json, "logout-csrf", "value")  # the navbar's sign-out form carries the token
    assert csrf

    r = c.post("/logout", data={"csrf": csrf})
    assert r.status_code == 302 and audit_rows(db, name, "logout", before)
    replay = _client(dash_app)
    replay.set_cookie("tonghu_session", stolen)
    assert replay.get("/auth/alive").status_code == 401  # the server-side session is gone, not just the cookie


def test_secure_cookie_over_https(dash_app: Any, world: World) -> None:
    c = _client(dash_app)
    r = c.post("/login", base_url="https://localhost", data={
        "username": world.users["eng_a"], "password": PASSWORD, "csrf": _csrf(c, "https://localhost")})
    assert r.status_code == 302 and "Secure" in r.headers["Set-Cookie"]


def test_login_form_needs_its_csrf_token_and_same_origin(dash_app: Any, db: Any, world: World) -> None:
    c, name = _client(dash_app), world.users["eng_a"]
    _csrf(c)
    before = last_audit_id(db)
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 400 and audit_rows(db, name, "login_failed", before)[0]["reason"] == "csrf"
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf": _csrf(c)},
               headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "\\\\evil", "fleet"])
def test_no_open_redirect_after_login(dash_app: Any, world: World, target: str) -> None:
    r = _login(_client(dash_app), world.users["eng_a"], next=target)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_throttling_locks_out_guessing_even_with_the_right_password(dash_app: Any, db: Any) -> None:
    name = unique("victim-")
    users.add_user(db, name, PASSWORD, "admin", scrypt_n=TEST_SCRYPT_N)
    c = _client(dash_app)
    before = last_audit_id(db)
    for _ in range(3):  # login_max_failures=3 in the test app
        assert _login(c, name, "wrong-guess-123").status_code == 401
    r = _login(c, name)
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text
    assert len(audit_rows(db, name, "login_failed", before)) == 3
    assert audit_rows(db, name, "login_throttled", before)
    db.execute("UPDATE login_failures SET at = at - interval '1 hour' WHERE username = %s", (name,))
    assert _login(_client(dash_app), name).status_code == 302  # the window passed


def test_disabled_user_and_idle_session_end(dash_app: Any, db: Any) -> None:
    name = unique("temp-")
    users.add_user(db, name, PASSWORD, "admin", scrypt_n=TEST_SCRYPT_N)
    c = _client(dash_app)
    assert _login(c, name).status_code == 302 and c.get("/auth/alive").status_code == 204
    users.set_disabled(db, name)
    assert c.get("/auth/alive").status_code == 401
    users.set_disabled(db, name, False)
    assert _login(c, name).status_code == 302 and c.get("/auth/alive").status_code == 204
    db.execute("UPDATE dashboard_sessions s SET last_seen_at = now() - interval '2 hours' FROM users u "
               "WHERE u.id = s.user_id AND u.username = %s", (name,))
    assert c.get("/auth/alive").status_code == 401  # idle_timeout is 1 h


def test_secret_key_file_created_private_and_refused_when_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secret"
    key = secret.load_or_create(path)
    assert len(key) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert secret.load_or_create(path) == key
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        secret.load_or_create(path)


def test_serve_refuses_a_short_secret_without_echoing_it() -> None:
    from click.testing import CliRunner

    from tonghu.dashboards.cli import dashboards

    r = CliRunner().invoke(dashboards, ["serve", "--port", "1"], env={"TONGHU_DASHBOARDS_SECRET_KEY": "hunter2-x"})
    assert r.exit_code == 1 and "needs at least 32" in r.output and "hunter2" not in r.output
