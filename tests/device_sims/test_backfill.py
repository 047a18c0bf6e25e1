"""History backfill on a small scale: the database holds exactly what the models generate, once."""

from __future__ import annotations

import psycopg

from tonghu.device_sims.backfill import backfill
from tonghu.device_sims.models import fleet
from tonghu.device_sims.models.core import DAY_US, US

END_US = 1_767_225_600 * US  # 2026-01-01T00:00Z, fixed so that the expected counts are fixed too


def _counts(db: psycopg.Connection, companies: list[str]) -> tuple[int, int, int]:
    row = db.execute(
        "WITH t AS (SELECT t.id FROM tags t JOIN sites s ON s.id = t.site_id JOIN companies c ON c.id = s.company_id "
        "           WHERE c.code = ANY(%s)) "
        "SELECT (SELECT count(*) FROM samples_num WHERE tag_id IN (SELECT id FROM t)), "
        "       (SELECT count(*) FROM samples_text WHERE tag_id IN (SELECT id FROM t)), "
        "       (SELECT count(*) FROM events WHERE tag_id IN (SELECT id FROM t))", (companies,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_backfill_lands_exactly_the_generated_history(database_url: str, db: psycopg.Connection) -> None:
    seed = 4242  # a seed no other test uses: company codes are derived from it
    fl = fleet(3, seed)
    expected_samples = expected_events = 0
    for _c, _s, m in fl.machines():
        run = m.run(END_US - DAY_US, END_US, 60 * US)
        expected_samples += len(run.samples)
        expected_events += len(run.events)
    codes = [c.code for c in fl.companies]

    p = backfill(database_url, companies=3, days=1, seed=seed, end_us=END_US)
    assert (p.samples, p.events) == (expected_samples, expected_events)
    num, txt, ev = _counts(db, codes)
    assert (num + txt, ev) == (expected_samples, expected_events)
    assert num > 0 and txt > 0 and ev > 0
    sectors = {r[0] for r in db.execute("SELECT sector::text FROM companies WHERE code = ANY(%s)", (codes,))}
    assert sectors == {"electronics", "petrochemical", "equipment"}
    assert db.execute("SELECT count(*) FROM edge_identities WHERE company = ANY(%s)", (codes,)).fetchone()[0] >= 3

    # A second run (same seed) is harmless: nothing is added.
    backfill(database_url, companies=3, days=1, seed=seed, end_us=END_US)
    assert _counts(db, codes) == (num, txt, ev)
