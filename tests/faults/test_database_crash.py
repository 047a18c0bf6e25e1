"""PostgreSQL stopped hard (``pg_ctl stop -m immediate``: crash recovery at restart) under a running chain.

On a private cluster started for this test: the shared server, which other test runs use, is never stopped.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from tests.faults.conftest import assert_exactly_once, new_run
from tonghu.chaos.chain import Chain
from tonghu.chaos.pgcluster import BIN, PgCluster
from tonghu.platform import migrate

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BIN / "initdb").exists() or (os.geteuid() == 0 and not shutil.which("runuser")),
                       reason=f"needs PostgreSQL 15 binaries in {BIN} (and runuser as root)"),
]
DOWN_S = 10.0


@pytest.fixture
def private_database() -> Iterator[tuple[PgCluster, str]]:
    with PgCluster() as cluster:
        dsn = cluster.dsn("tonghu")
        migrate.ensure_database(cluster.dsn(), "tonghu")
        with psycopg.connect(dsn) as conn:
            migrate.migrate(conn)
        yield cluster, dsn


def test_postgres_immediate_stop_and_restart(make_chain: Callable[..., Chain],
                                             private_database: tuple[PgCluster, str]) -> None:
    cluster, dsn = private_database
    chain = make_chain(dsn)
    run = new_run("postgres_immediate_stop", chain)
    chain.start_ingester()
    run.start()
    run.mark("fault")
    cluster.stop_immediate()
    time.sleep(DOWN_S)
    cluster.start()  # crash recovery replays the WAL: every committed group is there, nothing else
    run.mark("restored")
    run.wait_recovered()
    report = run.finish()
    assert_exactly_once(report)
    # The agent kept every batch the ingester could not commit, and resent it.
    assert report.agent is not None and report.agent.acked == report.agent.samples_in
