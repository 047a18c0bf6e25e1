"""Per-request state of the dashboards server: settings, one pooled database connection per request, client
address."""

from __future__ import annotations

import flask
import psycopg

from tonghu.dashboards.settings import DashboardSettings

EXTENSION = "tonghu_dashboards"
POOL = "tonghu_dashboards_pool"


def settings() -> DashboardSettings:
    return flask.current_app.extensions[EXTENSION]


def conn() -> psycopg.Connection:
    """The request's autocommit connection, opened on first use and closed when the request ends."""
    if "tonghu_conn" not in flask.g:
        flask.g.tonghu_conn = flask.current_app.extensions[POOL].get()
    return flask.g.tonghu_conn


def close_conn(_exc: BaseException | None = None) -> None:
    c = flask.g.pop("tonghu_conn", None)
    if c is not None:
        flask.current_app.extensions[POOL].put(c)


def client_addr() -> str:
    # Behind a proxy the WSGI server (waitress trusted_proxy) has already put the real client here.
    return flask.request.remote_addr or ""
