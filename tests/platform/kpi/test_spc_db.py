"""The SPC loader against TimescaleDB: good samples of [start, end) only, limits from the registry, and the same
statistics as the pure functions whatever the display cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest

from tests.conftest import make_tenant
from tonghu.common.uplink import TagMeta
from tonghu.platform import registry
from tonghu.platform.ingest import store
from tonghu.platform.kpi.spc import SpcDataError, capability, imr_chart, load_samples, load_spc

S = datetime(2026, 2, 1, tzinfo=UTC)
UNCERTAIN, BAD = 0x40000000, -0x80000000  # OPC UA severity bits, stored as signed int4


def _tags(db: psycopg.Connection, site_id: int, *metas: TagMeta) -> list[int]:
    ids, refused = registry.upsert_tags(db, site_id, list(metas))
    assert not refused
    return [ids[m.key][0] for m in metas]


def _write(db: psycopg.Connection, tag_id: int, t_us: np.ndarray, x: np.ndarray, status: np.ndarray) -> None:
    store.prepare(db)
    with db.transaction(), db.cursor() as cur:
        store.numeric(cur, np.full(len(x), tag_id, dtype=np.int32), t_us.astype(np.int64), x.astype(np.float64),
                      status.astype(np.int32))


def _series(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n samples one second apart from S − 100 s: normal around 242 with a few spikes; every 7th uncertain, every
    11th bad, every 13th a NaN with good quality."""
    rng = np.random.default_rng(11)
    x = rng.normal(242.0, 1.5, n)
    x[::97] += 12.0
    t_us = int((S - timedelta(seconds=100)).timestamp()) * 1_000_000 + np.arange(n, dtype=np.int64) * 1_000_000
    status = np.zeros(n, dtype=np.int64)
    status[::7], status[::11] = UNCERTAIN, BAD
    x[5::13] = np.nan
    return t_us, x, status


def test_loader_gives_the_pure_statistics_of_the_good_samples(db: psycopg.Connection) -> None:
    tenant = make_tenant(db, "electronics")
    (tag,) = _tags(db, tenant.site_id, TagMeta("smt/line1/reflow1/board_peak_temp", "float", "degC", "pv",
                                               attrs={"lo_limit": 235.0, "hi_limit": 250.0, "alarm_hi": 252.0}))
    t_us, x, status = _series(3000)
    # Written out of time order (later half first, reversed), so the loader must order the samples itself.
    _write(db, tag, t_us[1500:][::-1], x[1500:][::-1], status[1500:][::-1])
    _write(db, tag, t_us[:1500], x[:1500], status[:1500])
    end = S + timedelta(seconds=2000)
    s_us, e_us = int(S.timestamp() * 1e6), int(end.timestamp() * 1e6)
    keep = (t_us >= s_us) & (t_us < e_us) & (status == 0) & np.isfinite(x)
    assert keep[100] and not keep[2100]  # the sample at S is in, the one at the end is out
    got_t, got_x = load_samples(db, tag, S, end)
    assert np.array_equal(got_t, t_us[keep]) and np.array_equal(got_x, x[keep])

    times = [datetime.fromtimestamp(0, UTC) + timedelta(microseconds=int(t)) for t in t_us[keep]]
    want_cap, want_chart = capability(x[keep], 235.0, 250.0), imr_chart(x[keep], times)
    full = load_spc(db, tenant.company_id, tag, S, end)
    assert (full.tag, full.unit, full.limits_from) == ("smt/line1/reflow1/board_peak_temp", "degC", "lo_limit/hi_limit")
    assert full.capability == want_cap and full.chart == want_chart and want_chart.outside_count > 0
    assert full.values == tuple(x[keep]) and full.times == tuple(times)

    capped = load_spc(db, tenant.company_id, tag, S, end, max_points=50)
    assert capped.capability == want_cap and capped.chart.outside_count == want_chart.outside_count
    assert (capped.chart.centre, capped.chart.ucl, capped.chart.mr_ucl) == (want_chart.centre, want_chart.ucl,
                                                                            want_chart.mr_ucl)
    assert len(capped.values) <= 50 and max(capped.values) == x[keep].max() and min(capped.values) == x[keep].min()
    assert set(capped.chart.outside) <= set(want_chart.outside) and len(capped.chart.outside) <= 50
    json.dumps(capped.to_dict())


def test_limits_come_from_spec_attrs_only(db: psycopg.Connection) -> None:
    tenant = make_tenant(db, "petrochemical")
    flash, o2, name = _tags(
        db, tenant.site_id,
        TagMeta("unit1/crude/cdu1/lab_kero_flash", "float", "degC", "quality", attrs={"spec_lo": 38.0}),
        TagMeta("unit1/crude/cdu1/heater_o2_pct", "float", "%", "pv", attrs={"alarm_lo": 1.0}),
        TagMeta("unit1/crude/cdu1/product", "string", "", "product"))
    t_us = int(S.timestamp()) * 1_000_000 + np.arange(4, dtype=np.int64) * 3_600_000_000
    _write(db, flash, t_us, np.array([41.0, 43.0, 42.0, 44.0]), np.zeros(4))
    _write(db, o2, t_us, np.array([2.0, 2.5, 2.2, 2.4]), np.zeros(4))
    end = S + timedelta(days=1)
    r = load_spc(db, tenant.company_id, flash, S, end)
    # x̄ = 42.5, MR̄ = (2 + 1 + 2)/3 = 5/3 → Cpl = (42.5 − 38)/(3·(5/3)/1.128) = 4.5·1.128/5 = 1.0152
    assert (r.limits_from, r.capability.lsl, r.capability.usl, r.capability.cp) == ("spec_lo/spec_hi", 38.0, None, None)
    assert abs(r.capability.cpk - 4.5 * 1.128 / 5) < 1e-9  # type: ignore[operator]
    r = load_spc(db, tenant.company_id, o2, S, end)
    assert r.limits_from is None and r.capability.cpk is None and r.capability.n == 4
    assert r.chart.ucl is not None and "no spec limits" in r.capability.notes[0]
    empty = load_spc(db, tenant.company_id, o2, end, end + timedelta(hours=1))
    assert (empty.capability.n, empty.chart.centre, empty.values) == (0, None, ())
    with pytest.raises(SpcDataError, match="is of type string"):
        load_spc(db, tenant.company_id, name, S, end)
    other = make_tenant(db, "petrochemical")
    with pytest.raises(SpcDataError, match=f"tag {flash} is not a tag of company {other.company_id}"):
        load_spc(db, other.company_id, flash, S, end)
    db.execute("""UPDATE tags SET attrs = '{"spec_lo": 40, "spec_hi": 39}' WHERE id = %s""", (flash,))
    with pytest.raises(SpcDataError, match=r"lab_kero_flash: the lower spec limit 40\.0 must be below"):
        load_spc(db, tenant.company_id, flash, S, end)
