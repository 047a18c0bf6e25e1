"""A small pool of idle database connections, so a request does not pay a new connection (≈ 15 ms here) each
time a page makes its five or six callback requests. Bounded: at most ``max_idle`` connections wait idle; any
more are closed on release (counted in ``closed_surplus``). Broken connections are dropped (``dropped_broken``)."""

from __future__ import annotations

import threading

import psycopg
from psycopg.pq import TransactionStatus

from tonghu.platform import db


class ConnectionPool:
    def __init__(self, dsn: str, max_idle: int, application_name: str = "tonghu-dashboards") -> None:
        self.dsn, self.max_idle, self.application_name = dsn, max_idle, application_name
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self.opened = self.closed_surplus = self.dropped_broken = 0

    def get(self) -> psycopg.Connection:
        with self._lock:
            conn = self._idle.pop() if self._idle else None
        if conn is not None:
            return conn
        conn = db.connect(self.dsn, autocommit=True, application_name=self.application_name)
        with self._lock:
            self.opened += 1
        return conn

    def put(self, conn: psycopg.Connection) -> None:
        usable = not conn.closed and not conn.broken and conn.info.transaction_status == TransactionStatus.IDLE
        with self._lock:
            if usable and len(self._idle) < self.max_idle:
                self._idle.append(conn)
                return
            if usable:
                self.closed_surplus += 1
            else:
                self.dropped_broken += 1
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
