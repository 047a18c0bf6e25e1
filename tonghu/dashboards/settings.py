"""Settings of the dashboards server: database, cookies, sessions, login throttling."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr

from tonghu.common.settings import StrictModel
from tonghu.platform.db import DEFAULT_DSN


class CookieSecure(StrEnum):
    """When the session cookie carries the Secure flag."""

    AUTO = "auto"      # when the request came over HTTPS (directly or through a trusted proxy's X-Forwarded-Proto)
    ALWAYS = "always"  # behind a TLS proxy that does not forward the scheme
    NEVER = "never"    # plain HTTP on a trusted network, or tests


class DashboardSettings(StrictModel):
    database_url: str = DEFAULT_DSN
    secret_key: SecretStr | None = Field(
        default=None, min_length=32,
        description="signs session cookies; when unset it is read from (or created in) secret_key_file")
    secret_key_file: Path = Path("var/dashboards/secret_key")
    cookie_secure: CookieSecure = CookieSecure.AUTO
    session_lifetime: timedelta = Field(default=timedelta(hours=8), gt=timedelta(0),
                                        description="a session ends this long after login, however active")
    idle_timeout: timedelta = Field(default=timedelta(hours=1), gt=timedelta(0),
                                    description="a session ends after this long without a request")
    login_window: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    login_max_failures: int = Field(default=5, ge=1, description="failed logins per user name within login_window")
    login_max_failures_per_address: int = Field(default=30, ge=1,
                                                description="failed logins per client address within login_window")
    refresh_interval: timedelta = Field(default=timedelta(seconds=10), ge=timedelta(seconds=1),
                                        description="how often live pages refresh")
    pool_max_idle: int = Field(default=8, ge=0, description="idle database connections kept for the next requests")
    stylesheets: tuple[str, ...] = Field(
        default=(), description="extra stylesheet URLs (e.g. a Bootstrap 5 theme); the bundled one always loads")
