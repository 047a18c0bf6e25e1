"""User management: scrypt hashes, role/scope rules, authentication, the `tonghu users` commands."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from tests.conftest import make_tenant, unique
from tests.dashboards.conftest import TEST_SCRYPT_N
from tonghu.cli import main
from tonghu.platform import users
from tonghu.platform.users import UserError


def test_hash_format_salt_and_verify() -> None:
    h1, h2 = users.hash_password("s3cret-password", n=1024), users.hash_password("s3cret-password", n=1024)
    assert h1.startswith("scrypt$n=1024,r=8,p=1$")
    assert h1 != h2  # a salt per hash
    assert users.verify_password("s3cret-password", h1)
    assert not users.verify_password("s3cret-passwore", h1)
    assert users.needs_rehash(h1)
    assert not users.needs_rehash(users.hash_password("x" * 12))


@pytest.mark.parametrize("bad", ["plain", "bcrypt$n=1024,r=8,p=1$AA$AA", "scrypt$n=1000,r=8,p=1$AA$AA",
                                 "scrypt$r=8,p=1$AA$AA"])
def test_malformed_hash_is_a_clear_error(bad: str) -> None:
    with pytest.raises(UserError, match="hash"):
        users.verify_password("whatever-password", bad)


def test_role_scope_rules(db: object) -> None:
    t = make_tenant(db)
    add = users.add_user
    cases = [
        ({"role": "engineer"}, "needs --company"),
        ({"role": "plant_manager", "site": t.site}, "needs --company"),
        ({"role": "admin", "company": t.company}, "not bound"),
        ({"role": "association_analyst"}, "needs --sector"),
        ({"role": "association_analyst", "sector": "electronics", "company": t.company}, "not bound"),
        ({"role": "engineer", "company": t.company, "sector": "electronics"}, "only association_analyst"),
        ({"role": "engineer", "company": "no-such-company"}, "not registered"),
        ({"role": "engineer", "company": t.company, "site": "no-such-site"}, "not registered"),
        ({"role": "superuser"}, "must be one of"),
    ]
    for kwargs, message in cases:
        role = kwargs.pop("role")
        with pytest.raises(UserError, match=message):
            add(db, unique("u"), "long-enough-pw", role, scrypt_n=TEST_SCRYPT_N, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="at least"):
        add(db, unique("u"), "short", "admin")  # type: ignore[arg-type]
    name = unique("u")
    u = add(db, name, "long-enough-pw", "engineer", company=t.company, site=t.site,  # type: ignore[arg-type]
            scrypt_n=TEST_SCRYPT_N)
    assert (u.company_id, u.site_id, u.sector) == (t.company_id, t.site_id, None)
    with pytest.raises(UserError, match="exists already"):
        add(db, name, "long-enough-pw", "admin", scrypt_n=TEST_SCRYPT_N)  # type: ignore[arg-type]


def test_authenticate_disable_passwd_and_rehash(db: object) -> None:
    name = unique("u")
    users.add_user(db, name, "first-password", "admin", scrypt_n=TEST_SCRYPT_N)  # type: ignore[arg-type]
    assert users.authenticate(db, name, "wrong-password") is None  # type: ignore[arg-type]
    assert users.authenticate(db, unique("nobody"), "first-password") is None  # type: ignore[arg-type]
    user = users.authenticate(db, name, "first-password")  # type: ignore[arg-type]
    assert user is not None and user.role == "admin"
    stored = db.execute("SELECT password_hash FROM users WHERE username = %s", (name,)).fetchone()[0]  # type: ignore[attr-defined]
    assert not users.needs_rehash(stored)  # the cheap test hash was upgraded to the production parameters
    users.set_disabled(db, name)  # type: ignore[arg-type]
    assert users.authenticate(db, name, "first-password") is None  # type: ignore[arg-type]
    users.set_disabled(db, name, False)  # type: ignore[arg-type]
    users.set_password(db, name, "second-password", scrypt_n=TEST_SCRYPT_N)  # type: ignore[arg-type]
    assert users.authenticate(db, name, "first-password") is None  # type: ignore[arg-type]
    assert users.authenticate(db, name, "second-password") is not None  # type: ignore[arg-type]
    with pytest.raises(UserError, match="does not exist"):
        users.set_disabled(db, unique("nobody"))  # type: ignore[arg-type]


def test_users_cli(database_url: str, db: object) -> None:
    t = make_tenant(db)
    name = unique("cli")
    run = CliRunner().invoke
    r = run(main, ["users", "add", name, "--dsn", database_url, "--role", "plant_manager", "--company", t.company,
                   "--password-stdin"], input="a-long-password\n")
    assert r.exit_code == 0, r.output
    r = run(main, ["users", "list", "--dsn", database_url])
    line = next(ln for ln in r.output.splitlines() if ln.startswith(name))
    assert "plant_manager" in line and t.company in line and "active" in line
    r = run(main, ["users", "disable", name, "--dsn", database_url])
    assert r.exit_code == 0 and "disabled" in r.output
    r = run(main, ["users", "passwd", name, "--dsn", database_url], input="another-password\nanother-password\n")
    assert r.exit_code == 0, r.output
    assert "0 open session(s) ended" in r.output
    r = run(main, ["users", "add", unique("cli"), "--dsn", database_url, "--role", "engineer", "--password-stdin"],
            input="a-long-password\n")
    assert r.exit_code == 1 and "needs --company" in r.output
    actions = [a for (a,) in db.execute(  # type: ignore[attr-defined]
        "SELECT action FROM audit_log WHERE detail->>'username' = %s ORDER BY id", (name,))]
    assert actions == ["user_add", "user_disable", "user_passwd"]
