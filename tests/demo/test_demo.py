"""`tonghu demo` end to end, as `make demo` runs it (smaller): the whole stack comes up, live data from an
enrolled edge reaches the database through the TLS broker, the dashboards answer, and Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.conftest import ADMIN_DSN, unique
from tests.helpers.broker import free_port
from tonghu.demo.stack import port_open

pytestmark = pytest.mark.slow


def _until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.5)
    return bool(cond())


def test_demo_runs_the_stack_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    name = unique("tonghu_demo_")
    dsn = make_conninfo(ADMIN_DSN, dbname=name)
    web, tls, metrics = free_port(), free_port(), free_port()
    work = Path("/tmp") / unique("tonghu-demo-")  # reachable by the broker's own user, unlike pytest's tmp under /root
    out = (tmp_path / "demo.out").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "tonghu", "demo", "--database-url", dsn, "--workdir", str(work),
                             "--companies", "3", "--days", "1", "--live-machines", "2", "--port", str(web),
                             "--tls-port", str(tls), "--metrics-port", str(metrics)],
                            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        text = lambda: (tmp_path / "demo.out").read_text(errors="replace")  # noqa: E731
        assert _until(lambda: "Tonghu demo is running" in text() or proc.poll() is not None, 420), text()[-3000:]
        assert proc.poll() is None, text()[-3000:]
        assert f"http://127.0.0.1:{web}/" in text() and "association_analyst" in text()
        with psycopg.connect(dsn, autocommit=True) as conn:
            def live() -> bool:
                row = conn.execute("SELECT count(*) FROM ingest_batches b JOIN edges e ON e.id = b.edge_id "
                                   "WHERE e.status = 'online'").fetchone()
                return bool(row and row[0] > 0)
            assert _until(live, 120), "no batch from an enrolled live edge was committed"
            assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
        assert port_open(web) and port_open(tls)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        # Everything the demo started is gone: nothing listens on its ports any more.
        assert _until(lambda: not (port_open(web) or port_open(tls) or port_open(metrics)), 20)
        leftovers = subprocess.run(["pgrep", "-f", str(work)], capture_output=True, text=True).stdout.split()
        assert leftovers == []
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["pkill", "-f", str(work)], check=False)
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(["rm", "-rf", str(work)], check=False)
