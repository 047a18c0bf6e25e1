from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.conftest import ADMIN_DSN, unique
from tonghu.device_sims.models import fleet
from tonghu.platform.bench_queries import holds_fleet

QUERIES = {"line_oee_by_hour", "company_page_electronics", "company_page_petrochemical",
           "sector_benchmark_electronics", "sector_benchmark_petrochemical", "tag_trend_and_state_timeline"}


def _bench(dsn: str, repeats: int) -> dict[str, Any]:
    # A small fleet only: the full benchmark (18 companies × 30 days) is `tonghu bench queries`, never in the suite.
    out = subprocess.run([sys.executable, "-m", "tonghu", "bench", "queries", "--json", "--database-url", dsn,
                          "--companies", "2", "--days", "2", "--repeats", str(repeats)],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_query_benchmark_backfills_measures_and_reuses_its_database() -> None:
    name = unique("tonghu_test_bq_")
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(ADMIN_DSN, dbname=name)
    try:
        first = _bench(dsn, repeats=3)
        assert first["companies"] == 2 and first["days"] == 2 and first["kept"] is True
        assert first["setup"]["machines"] == sum(1 for _ in fleet(2).machines())
        assert first["setup"]["backfill_s"] > 0 and first["setup"]["rollups_s"] > 0
        assert set(first["setup"]["rollup_rows_written"]) == {"tag_1m", "tag_1h", "asset_1h", "stops_1h"}
        assert first["setup"]["vacuum_analyze_s"] is not None  # autovacuum may be off; plans need statistics

        start, end = (datetime.fromisoformat(t) for t in first["window"])
        assert end - start == timedelta(days=2)
        assert end.minute != 0  # partial hours at both ends take the raw-row path

        assert {q["name"] for q in first["queries"]} == QUERIES
        for q in first["queries"]:
            assert q["runs"] == 3
            assert q["items"] > 0, f"{q['name']} returned nothing"
            assert 0 < q["min_ms"] <= q["p50_ms"] <= q["p95_ms"] <= q["max_ms"]
            assert q["within_budget"] == (q["p95_ms"] < first["budget_p95_ms"])
        assert first["all_within_budget"] == all(q["within_budget"] for q in first["queries"])

        data = first["data"]
        for table in ("samples_num", "samples_text", "events", "rollup_tag_1m", "rollup_tag_1h", "rollup_asset_1h"):
            assert data[f"{table}_rows"] > 0, table
        assert data["assets"] == first["setup"]["machines"] and data["database_mb"] > 0
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM samples_num").fetchone() == (data["samples_num_rows"],)
            assert holds_fleet(conn, fleet(2), 2)
            assert not holds_fleet(conn, fleet(2), 3)       # fewer days than asked for
            assert not holds_fleet(conn, fleet(3), 2)       # a company missing

        again = _bench(dsn, repeats=1)
        assert again["setup"]["backfill_s"] is None and again["setup"]["rollups_s"] is None
        assert again["setup"]["vacuum_analyze_s"] is None
        assert again["data"]["samples_num_rows"] == data["samples_num_rows"]
        assert again["window"] == first["window"]
        assert all(q["items"] > 0 for q in again["queries"])
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
