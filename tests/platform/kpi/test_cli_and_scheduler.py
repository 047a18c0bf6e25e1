"""`tonghu kpi`, `tonghu platform rollups` and retention, through the real command line parser."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from tests.conftest import make_tenant
from tests.platform.kpi.plant import at, make_plant
from tonghu.cli import main
from tonghu.platform import rollups


@pytest.fixture(autouse=True)
def no_watermarks(db):
    db.execute("DELETE FROM rollup_watermarks")
    yield
    db.execute("DELETE FROM rollup_watermarks")


def run(database_url: str, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, [*args, "--database-url", database_url])
    return r.exit_code, r.output


def test_kpi_command_prints_the_engine_figures(db, database_url) -> None:
    plant = make_plant(db, "equipment", make_tenant)
    path = "mach/cell/m1"
    plant.asset(path, {"count_total": "count_total", "count_good": "count_good"})
    plant.states(path, [(at("08:00"), "running", "RUN"), (at("11:00"), "down", "BRK-SPINDLE")])
    plant.num(f"{path}/count_total", [(at("07:59"), 0), (at("11:00"), 10)])
    plant.num(f"{path}/count_good", [(at("07:59"), 0), (at("11:00"), 9)])
    ref = f"{plant.company}/{plant.site}/mach/cell/m1"
    code, out = run(database_url, "kpi", "oee", "--scope", "asset", ref, "--from", at("08:00").isoformat(),
                    "--to", at("12:00").isoformat(), "--json")
    assert code == 0, out
    (row,) = json.loads(out)
    assert row["availability"] == pytest.approx(0.75) and row["quality"] == pytest.approx(0.9)
    assert row["mtbf_s"] == pytest.approx(3 * 3600)
    code, out = run(database_url, "kpi", "oee", "--scope", "line", f"{plant.company}/{plant.site}/mach/cell",
                    "--from", at("08:00").isoformat(), "--to", at("12:00").isoformat(), "--bucket", "hour")
    assert code == 0 and [r["availability"] for r in json.loads(out)] == [1.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize(("args", "message"), [
    (("kpi", "oee", "--scope", "line", "nope/x"), "a line is named by 4 '/'-separated codes"),
    (("kpi", "oee", "--scope", "company", "no-such-co"), "company 'no-such-co' is not registered"),
    (("kpi", "oee", "--scope", "asset", "999999"), "asset 999999 is not registered"),
    (("kpi", "oee", "--scope", "site", "1", "--from", "yesterday"), "'yesterday' is not an ISO 8601 time"),
    (("kpi", "oee", "--scope", "site", "1", "--from", "now", "--to", "-1d"), "empty range"),
    (("kpi", "spc", "--scope", "site", "1"), "spc needs --tag ID"),
    (("platform", "rollups", "rebuild", "--from", "-1d", "--to", "-2d"), "rebuild range is empty"),
    (("platform", "rollups", "rebuild", "--from", "-1d", "--only", "tag_5m"), "unknown rollup(s) tag_5m"),
])
def test_bad_input_gets_a_clear_error(database_url, args, message) -> None:
    code, out = run(database_url, *args)
    assert code != 0
    assert message in out


def test_scheduler_pass_moves_watermarks_and_is_idempotent(db, database_url) -> None:
    plant = make_plant(db, "equipment", make_tenant)
    path = "mach/cell/m1"
    plant.asset(path, {"count_total": "count_total"})
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    plant.states(path, [(now - timedelta(hours=3), "running", "RUN")])
    # Both reports lie before the watermark (at most 62 min behind now): the rollups hold the increase.
    plant.num(f"{path}/count_total", [(now - timedelta(hours=3), 0), (now - timedelta(hours=2), 42)])
    before = datetime.now(UTC)
    code, out = run(database_url, "platform", "rollups", "run", "--once")
    assert code == 0, out
    first = json.loads(out)
    wm = rollups.watermarks(db)
    assert rollups.floor_to(before - timedelta(minutes=2), timedelta(hours=1)) <= wm["asset_1h"] <= datetime.now(UTC)
    assert first["rows"]["tag_1m"] > 0
    snapshot = db.execute("SELECT asset_id, bucket, production_s, produced FROM rollup_asset_1h "
                          "WHERE asset_id IN (SELECT asset_id FROM tags WHERE key = %s AND site_id = %s) "
                          "ORDER BY 2", (f"{path}/count_total", plant.site_id)).fetchall()
    assert sum(r[3] for r in snapshot) == 42
    code, _ = run(database_url, "platform", "rollups", "run", "--once")
    again = db.execute("SELECT asset_id, bucket, production_s, produced FROM rollup_asset_1h "
                       "WHERE asset_id = %s ORDER BY 2", (snapshot[0][0],)).fetchall()
    assert code == 0 and again == snapshot
    code, out = run(database_url, "platform", "rollups", "status")
    assert code == 0 and set(json.loads(out)) == {"tag_1m", "tag_1h", "asset_1h", "stops_1h"}


def test_retention_drops_old_raw_chunks_and_keeps_rollups(database_url) -> None:
    """A throwaway table stands in for nothing here: raw samples 400 days old are written for a fresh tag, rolled
    up, then dropped by retention; the hourly rollup keeps their figures."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as db:
        plant = make_plant(db, "equipment", make_tenant)
        plant.asset("mach/cell/old", {"count_total": "count_total"})
        old = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=400)
        plant.num("mach/cell/old/count_total", [(old, 1), (old + timedelta(minutes=10), 5)])
        tag = plant.tags["mach/cell/old/count_total"]
        rollups.rebuild(db, old, old + timedelta(hours=1), ["tag_1h"])
        dropped = rollups.apply_retention(db, rollups.Policy(raw_retention=timedelta(days=365)), datetime.now(UTC))
        assert dropped >= 1
        assert db.execute("SELECT count(*) FROM samples_num WHERE tag_id = %s", (tag,)).fetchone()[0] == 0
        assert db.execute("SELECT n, delta FROM rollup_tag_1h WHERE tag_id = %s", (tag,)).fetchone() == (2, 4)
