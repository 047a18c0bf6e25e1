"""The alarm journal loader against TimescaleDB: it must give the KPIs of the full history, at any boundary."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest

from tests.conftest import make_tenant
from tests.platform.kpi.test_alarms import SEC, E, H, M, S, worked_journal
from tonghu.common.uplink import TagMeta
from tonghu.platform import registry
from tonghu.platform.ingest import store
from tonghu.platform.ingest.store import EPOCH
from tonghu.platform.kpi.alarms import LOOKBACK, AlarmDataError, alarm_kpis, load_alarm_journals


def _asset(db: psycopg.Connection, site_id: int, asset: str, with_alarms: bool = True) -> tuple[int, int]:
    """Registers an asset the way an edge's metadata does; returns (asset id, alarms tag id or pv tag id)."""
    tags = [TagMeta(f"unit1/crude/{asset}/heater_outlet_temp", "float", "degC", "pv", attrs={"alarm_hi": 380.0})]
    if with_alarms:
        tags.append(TagMeta(f"unit1/crude/{asset}/alarms", "string", "", "alarms", "Alarm journal (events)"))
    ids, refused = registry.upsert_tags(db, site_id, tags)
    assert not refused
    tag_id = ids[tags[-1].key][0]
    row = db.execute("SELECT asset_id FROM tags WHERE id = %s", (tag_id,)).fetchone()
    assert row is not None
    return int(row[0]), tag_id


def _write(db: psycopg.Connection, tag_id: int, events: list[tuple[datetime, str, str]]) -> None:
    rows = [(tag_id, (t - EPOCH) // timedelta(microseconds=1), "alarm", v, a, f"{a} (priority high)", {})
            for t, a, v in events]
    with db.transaction(), db.cursor() as cur:
        store.events(cur, rows)


def test_loader_reads_the_history_the_kpis_need(db: psycopg.Connection) -> None:
    tenant = make_tenant(db, "petrochemical")
    asset_id, tag_id = _asset(db, tenant.site_id, "cdu1")
    _write(db, tag_id, worked_journal())
    journals = load_alarm_journals(db, tenant.company_id, [asset_id], S, E)
    assert list(journals) == [asset_id]
    j = journals[asset_id]
    assert (j.asset, j.operators, j.start, j.end) == ("unit1/crude/cdu1", 1, S, E)
    # History: each standing alarm's episode since its last clear, plus everything in the LOOKBACK before S.
    # Left out: TI-0.HI and XI-12.BAD (cleared long before S), XI-6.BAD's/XI-10.BAD's clears are in range anyway,
    # and TI-9.HI at E.
    want = sorted(ev for ev in worked_journal() if S - LOOKBACK <= ev[0] < E or ev[1] in ("XI-1.BAD", "XI-6.BAD",
                                                                                        "XI-10.BAD", "PI-2.HI"))
    assert sorted(j.events) == want
    k = j.kpis()
    assert k == alarm_kpis(worked_journal(), S, E)
    assert (k.annunciated, k.standing_at_start, k.stale_count, k.chattering) == (28, 4, 3, ("AI-5.LO", "LI-3.LO",
                                                                                           "LI-8.HI"))


@pytest.mark.parametrize("start", [S - 45 * SEC, S, S + 15 * SEC, S + 2 * H + 7 * M, S + 2 * H + 13 * M + 30 * SEC,
                                   S + 4 * H + 15 * M, S + 6 * H + 30 * SEC, S + 8 * H + 60 * SEC])
def test_loader_matches_the_full_history_at_any_start(db: psycopg.Connection, start: datetime) -> None:
    """Starts inside the flood, on its end, inside chatter bursts and stale intervals: the loaded history must give
    exactly what the whole journal gives."""
    tenant = make_tenant(db, "petrochemical")
    asset_id, tag_id = _asset(db, tenant.site_id, "cdu1")
    _write(db, tag_id, worked_journal())
    end = start + 6 * H
    assert load_alarm_journals(db, tenant.company_id, [asset_id], start, end)[asset_id].kpis() == \
        alarm_kpis(worked_journal(), start, end)


def test_operators_from_asset_attrs_and_several_assets(db: psycopg.Connection) -> None:
    tenant = make_tenant(db, "petrochemical")
    a1, t1 = _asset(db, tenant.site_id, "cdu1")
    a2, t2 = _asset(db, tenant.site_id, "vdu1")
    _write(db, t1, worked_journal())
    _write(db, t2, [(S + M, "TI-1.HI", "active")])
    db.execute("""UPDATE assets SET attrs = '{"operators": 2}' WHERE id = %s""", (a1,))
    journals = load_alarm_journals(db, tenant.company_id, [a2, a1], S, E)
    assert list(journals) == [a1, a2]
    assert journals[a1].operators == 2 and journals[a2].operators == 1
    assert journals[a1].kpis() == alarm_kpis(worked_journal(), S, E, operators=2)
    assert journals[a2].kpis().annunciated == 1 and journals[a2].events == ((S + M, "TI-1.HI", "active"),)
    db.execute("""UPDATE assets SET attrs = '{"operators": "two"}' WHERE id = %s""", (a1,))
    with pytest.raises(AlarmDataError, match=r"unit1/crude/cdu1: attrs\.operators"):
        load_alarm_journals(db, tenant.company_id, [a1], S, E)


def test_assets_outside_the_company_or_without_alarms_are_refused(db: psycopg.Connection) -> None:
    tenant, other = make_tenant(db, "petrochemical"), make_tenant(db, "petrochemical")
    mine, _ = _asset(db, tenant.site_id, "cdu1")
    theirs, their_tag = _asset(db, other.site_id, "cdu1")
    _write(db, their_tag, [(S + M, "TI-1.HI", "active")])
    with pytest.raises(AlarmDataError, match=rf"assets \[{theirs}\] are not assets of company {tenant.company_id}"):
        load_alarm_journals(db, tenant.company_id, [mine, theirs], S, E)
    bare, _ = _asset(db, tenant.site_id, "pump1", with_alarms=False)
    with pytest.raises(AlarmDataError, match="no tag with role 'alarms'"):
        load_alarm_journals(db, tenant.company_id, [bare], S, E)
    with pytest.raises(AlarmDataError, match="empty"):
        load_alarm_journals(db, tenant.company_id, [mine], E, S)
