"""``tonghu dashboards serve`` and ``tonghu users …``. Dash and the database driver are imported inside the
commands, so an edge install (without them) still runs ``tonghu --help``."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

DSN_OPTION = click.option("--dsn", "--database-url", "database_url", envvar="TONGHU_DATABASE_URL",
                          default="postgresql://postgres@127.0.0.1:5432/tonghu", show_default=True,
                          help="PostgreSQL with TimescaleDB (env TONGHU_DATABASE_URL).")


def _connect(dsn: str) -> Any:
    from tonghu.platform import db

    try:
        return db.connect(dsn, autocommit=True)
    except Exception as err:
        raise click.ClickException(f"cannot connect to {dsn}: {err}") from err


@click.group()
def dashboards() -> None:
    """Serve the Dash dashboards (plant analytics, edge fleet, benchmarks)."""


@dashboards.command()
@DSN_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Worker threads of the WSGI server (requests served at once).")
@click.option("--secret-key-file", envvar="TONGHU_DASHBOARDS_SECRET_FILE", type=click.Path(path_type=Path),
              default=Path("var/dashboards/secret_key"), show_default=True,
              help="Key that signs session cookies; created with mode 0600 when missing. "
                   "Env TONGHU_DASHBOARDS_SECRET_KEY takes precedence.")
@click.option("--cookie-secure", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True,
              help="Secure flag of the session cookie: auto = when the request came over HTTPS.")
@click.option("--trusted-proxy", metavar="ADDR",
              help="Address of a TLS-terminating reverse proxy whose X-Forwarded-For/-Proto headers are trusted.")
@click.option("--stylesheet", "stylesheets", multiple=True, metavar="URL",
              help="Extra stylesheet, e.g. a Bootstrap 5 theme (repeatable).")
def serve(database_url: str, host: str, port: int, threads: int, secret_key_file: Path, cookie_secure: str,
          trusted_proxy: str | None, stylesheets: tuple[str, ...]) -> None:
    """Serve the dashboards with the waitress WSGI server until interrupted."""
    import os

    import waitress

    from tonghu.dashboards.app import create_app
    from tonghu.dashboards.settings import DashboardSettings

    key = os.environ.get("TONGHU_DASHBOARDS_SECRET_KEY") or None
    if key is not None and len(key) < 32:  # checked here so that no error message can echo the key
        raise click.ClickException(f"TONGHU_DASHBOARDS_SECRET_KEY has {len(key)} characters; it needs at least 32")
    cfg = DashboardSettings(database_url=database_url, secret_key_file=secret_key_file,
                            cookie_secure=cookie_secure,  # type: ignore[arg-type]
                            secret_key=key, stylesheets=stylesheets, pool_max_idle=threads)
    with _connect(database_url) as conn:  # fail at start, not at the first login, when the schema is missing
        if conn.execute("SELECT to_regclass('dashboard_sessions')").fetchone()[0] is None:
            raise click.ClickException("the database has no dashboard tables: run `tonghu platform migrate` first")
    app = create_app(cfg)
    proxy: dict[str, Any] = {}
    if trusted_proxy:
        proxy = {"trusted_proxy": trusted_proxy, "trusted_proxy_headers": {"x-forwarded-for", "x-forwarded-proto"},
                 "clear_untrusted_proxy_headers": True}
    click.echo(f"dashboards on http://{host}:{port}/", err=True)
    waitress.serve(app.server, host=host, port=port, threads=threads, ident="tonghu", **proxy)


@click.command("dashboards")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (the default).")
@click.option("--edges", default=200, show_default=True, help="Edges with a status detail in the seeded database.")
@click.option("--dead-letters", default=2000, show_default=True, help="Dead letters in the seeded database.")
@click.option("--runs", default=5, show_default=True, help="Page loads per page and user.")
@click.option("--admin-dsn", envvar="TONGHU_ADMIN_DSN", default="postgresql://postgres@127.0.0.1:5432/postgres",
              show_default=True, help="Server where a throwaway benchmark database is created and dropped.")
def bench_dashboards(as_json: bool, edges: int, dead_letters: int, runs: int, admin_dsn: str) -> None:
    """First render time of each dashboard page in headless Chromium (needs selenium and chromium)."""
    from tonghu.dashboards.bench import run

    click.echo(json.dumps(run(admin_dsn, edges=edges, dead_letters=dead_letters, runs=runs)))


# ---------------------------------------------------------------------------------------------- users


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from tonghu.platform.users import UserError

    try:
        return fn(*args, **kwargs)
    except UserError as err:
        raise click.ClickException(str(err)) from err


@click.group()
def users() -> None:
    """Dashboard users: roles admin, plant_manager, engineer (one company, optionally one site),
    association_analyst (one sector)."""


@users.command("add")
@DSN_OPTION
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["admin", "plant_manager", "engineer", "association_analyst"]))
@click.option("--company", help="Company code (plant_manager, engineer).")
@click.option("--site", help="Site code within --company, to restrict the user to one site.")
@click.option("--sector", type=click.Choice(["electronics", "petrochemical", "equipment"]),
              help="Sector (association_analyst).")
@click.option("--display-name", default="")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def users_add(database_url: str, username: str, role: str, company: str | None, site: str | None,
              sector: str | None, display_name: str, password_stdin: bool) -> None:
    """Add user USERNAME."""
    from tonghu.platform import users as u

    password = _read_password(password_stdin)
    with _connect(database_url) as conn:
        user = _call(u.add_user, conn, username, password, role, company=company, site=site, sector=sector,
                     display_name=display_name)
        u.audit(conn, _actor(), "user_add", {"username": user.username, "role": role, "company": company,
                                             "site": site, "sector": sector})
    click.echo(f"user {user.username} ({role})")


@users.command("list")
@DSN_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def users_list(database_url: str, as_json: bool) -> None:
    """List users with their role and scope."""
    from tonghu.platform import users as u

    with _connect(database_url) as conn:
        rows = u.list_users(conn)
    for r in rows:
        if as_json:
            click.echo(json.dumps({k: v.isoformat() if isinstance(v, datetime) else v for k, v in r.items()}))
            continue
        scope = r["sector"] or "/".join(x for x in (r["company"], r["site"]) if x) or "all"
        state = "disabled" if r["disabled"] else "active"
        click.echo(f"{r['username']:<24} {r['role']:<20} {scope:<30} {state}")


@users.command("disable")
@DSN_OPTION
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def users_disable(database_url: str, username: str, enable: bool) -> None:
    """Disable USERNAME: open sessions stop working on their next request."""
    from tonghu.platform import users as u

    with _connect(database_url) as conn:
        _call(u.set_disabled, conn, username, not enable)
        u.audit(conn, _actor(), "user_enable" if enable else "user_disable", {"username": username})
    click.echo(f"user {username} {'enabled' if enable else 'disabled'}")


@users.command("passwd")
@DSN_OPTION
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def users_passwd(database_url: str, username: str, password_stdin: bool) -> None:
    """Set USERNAME's password and end their open sessions."""
    from tonghu.dashboards import sessions
    from tonghu.platform import users as u

    password = _read_password(password_stdin)
    with _connect(database_url) as conn:
        user_id = _call(u.set_password, conn, username, password)
        ended = sessions.end_all(conn, user_id)
        u.audit(conn, _actor(), "user_passwd", {"username": username, "sessions_ended": ended})
    click.echo(f"password of {username} changed; {ended} open session(s) ended")
