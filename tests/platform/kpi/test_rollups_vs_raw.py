"""The analytics engine against an independent reference (tests/platform/kpi/reference.py) on random timelines.

Hypothesis builds 1–3 assets over 2–30 hours (tests/platform/kpi/conftest.py): state sequences with repeats and
unmapped codes, a reason map in two versions, counters with resets, changing ideal cycle times, bad-quality and
NaN samples, samples on hour and minute boundaries. Each example registers a fresh tenant, so examples never see
each other's rows; rollups and their watermarks are per database, so ``clear_watermarks`` clears them around each
test that sets one.

Data lies either in a quiet past period (now() never cuts it) or around the real clock ("live"), where the
transaction time now() falls inside the data: there the reference uses the now() of the transaction in which the
engine's queries ran.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.platform.kpi import reference as ref
from tests.platform.kpi.conftest import (
    HOUR,
    HOUR_US,
    MIN_US,
    AssetSpec,
    Built,
    Scenario,
    TagSpec,
    base_time,
    build,
    ceil_hour,
    insert,
    instants,
    ranges,
    scenarios,
    set_watermarks,
    txn_now,
)
from tonghu.platform import rollups
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import Scope
from tonghu.platform.kpi.tags import stats

SETTINGS = settings(max_examples=20, deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
MINUTE, SECOND = timedelta(minutes=1), timedelta(seconds=1)
# Rollups are written a chunk per transaction; short chunks put chunk edges (and their look-backs) inside the data.
CHUNKS = st.sampled_from([timedelta(days=1), 3 * HOUR, HOUR])
# A failing example is shrunk against the database, which takes minutes: more than the suite's default timeout.
pytestmark = pytest.mark.timeout(900)
TAG_FIELDS = ("n", "vmin", "vmax", "vsum", "vlast", "last_time", "delta", "resets")


def close(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is None and want is None
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)


def mismatches(got: dict[str, Any], want: dict[str, Any], where: str) -> list[str]:
    out = []
    for k, w in want.items():
        g = got.get(k)
        if not (close(g, w) if isinstance(g, float) or isinstance(w, float) else g == w):
            out.append(f"{where} {k}: engine {g!r}, reference {w!r}")
    return out


def rows_of(cur: Any) -> list[dict[str, Any]]:
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def tag_ref(raw: ref.Raw, tag: int, a: datetime, b: datetime) -> dict[str, Any]:
    r = ref.tag_stats(raw, tag, a, b)
    return {k: getattr(r, k) for k in TAG_FIELDS}


def numeric_tags(b: Built) -> list[int]:
    return [t.id for t in b.raw.tags if t.data_type in ("float", "int", "bool")]


# -------------------------------------------------------------------------------------------- asset_facts


def one_bucket(rows: list[dict[str, Any]], asset: int, start: datetime, want: dict[str, Any], where: str
               ) -> list[str]:
    """The asset's row of a one-bucket asset_facts call against the reference; an asset with nothing but unknown
    time has no row at all."""
    got = [r for r in rows if r["asset_id"] == asset]
    assert len(got) <= 1 and all(r["bucket"] == start for r in got), where
    if not got:
        want = {k: v for k, v in want.items() if k != "unknown_s"}
    return mismatches(got[0] if got else dict.fromkeys(want, 0), want, where)


@settings(SETTINGS, max_examples=30)
@given(sc=scenarios())
def test_asset_facts_equal_the_reference(db: Any, sc: Scenario) -> None:
    """asset_facts over the whole data, over a random range (each as one bucket) and over every hour of the data
    equals the reference."""
    b = build(db, sc, base_time(sc))
    insert(db, b.raw.num, b.raw.text)
    lo, hi = b.at(sc.lo), b.at(sc.hi)
    h0, h1 = b.base - 3 * HOUR, b.base + (sc.hours + 2) * HOUR  # every hour of the data and around it
    call = "SELECT * FROM asset_facts(%s, %s, %s, %s)"
    with db.transaction():  # one now() for every call
        now = txn_now(db)
        everything = rows_of(db.execute(call, (b.asset_ids, h0, h1, h1 - h0)))
        ranged = rows_of(db.execute(call, (b.asset_ids, lo, hi, hi - lo)))
        hourly = rows_of(db.execute(call, (b.asset_ids, h0, h1, HOUR)))
    bad: list[str] = []
    for a in b.asset_ids:
        want = ref.asset_facts(b.raw, a, h0, h1, now)
        for f in ("failures", "ideal_s", "opportunities", "cutting_s", "produced", "energy_main_kwh"):
            event(f"{f} > 0" if want[f] > 0 else f"{f} = 0")  # what the examples exercise
        bad += one_bucket(everything, a, h0, want, f"asset {a} [{h0}, {h1}) now={now}")
        bad += one_bucket(ranged, a, lo, ref.asset_facts(b.raw, a, lo, hi, now), f"asset {a} [{lo}, {hi}) now={now}")
        t = h0
        while t < h1:
            want = ref.asset_facts(b.raw, a, t, t + HOUR, now)
            bad += one_bucket([r for r in hourly if r["bucket"] == t], a, t, want, f"asset {a} hour {t} now={now}")
            t += HOUR
    assert not bad, "\n".join(bad)


# -------------------------------------------------------------------------------------- facts over windows


@SETTINGS
@given(sc=scenarios(), data=st.data())
def test_facts_from_rollups_and_raw_equal_the_reference(db: Any, clear_watermarks: None, sc: Scenario,
                                                        data: st.DataObject) -> None:
    """After a rebuild, facts() per window (whole range, hours, local days) equals the reference, wherever the
    watermark splits rolled-up hours from raw ones."""
    b = build(db, sc, base_time(sc))
    insert(db, b.raw.num, b.raw.text)
    lo, hi = data.draw(ranges(sc.hours), "range")
    start, end = b.at(lo), b.at(hi)
    bucket = data.draw(st.sampled_from([None, "hour", "day"]), "bucket")
    wm = b.base + data.draw(st.integers(-3, sc.hours + 4), "watermark hour") * HOUR
    if sc.live:  # the hour holding now() is never rolled up: refresh stops before it
        wm = min(wm, ref.floor_hour(txn_now(db)))
    if wm > b.base - 3 * HOUR:
        rollups.rebuild(db, b.base - 3 * HOUR, wm, ["asset_1h"], chunk=data.draw(CHUNKS, "chunk"))
    set_watermarks(db, wm, ("asset_1h",))
    scope = Scope("site", b.site_id)
    with db.transaction():
        now = txn_now(db)
        per_asset = facts(db, scope, start, end, bucket=bucket, by="asset", now=now if sc.live else None)
        site = facts(db, scope, start, end, bucket=bucket, now=now if sc.live else None)
    wins = {None: [(start, end)], "hour": ref.hour_windows(start, end),
            "day": ref.day_windows(start, end, sc.tz)}[bucket]
    assert [(r.start, r.end) for r in site] == wins
    assert [(r.start, r.end, r.group_id) for r in per_asset] == [(a, z, i) for a, z in wins
                                                                 for i in sorted(b.asset_ids)]
    bad: list[str] = []
    for row in per_asset:
        want = ref.asset_facts(b.raw, row.group_id, row.start, row.end, now)
        bad += mismatches(row.facts.to_dict(), want, f"asset {row.group_id} [{row.start}, {row.end}) wm={wm}")
    for row in site:
        each = [ref.asset_facts(b.raw, a, row.start, row.end, now) for a in b.asset_ids]
        sums = {f: sum(e[f] for e in each) for f in ref.FACT_FIELDS}
        bad += mismatches(row.facts.to_dict(), sums, f"site [{row.start}, {row.end}) wm={wm}")
        assert row.facts.assets == len(b.asset_ids)
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------------------------- tag rollups


@settings(SETTINGS, max_examples=15)
@given(sc=scenarios(live=False), data=st.data())
def test_tag_rollups_equal_the_reference(db: Any, clear_watermarks: None, sc: Scenario, data: st.DataObject) -> None:
    """Every minute and hour row of the tag rollups equals the reference; whole hours from the rollup plus the raw
    partial hours at the ends give the reference statistics of a window, and so does kpi.tags.stats."""
    b = build(db, sc, base_time(sc))
    insert(db, b.raw.num, b.raw.text)
    r0, r1 = b.base - 3 * HOUR, b.base + (sc.hours + 2) * HOUR
    rollups.rebuild(db, r0, r1, ["tag_1m", "tag_1h"], chunk=data.draw(CHUNKS, "chunk"))
    ids = numeric_tags(b)
    bad: list[str] = []
    for table, width in (("rollup_tag_1h", HOUR), ("rollup_tag_1m", timedelta(minutes=1))):
        got = {(r["tag_id"], r["bucket"]): r for r in rows_of(db.execute(
            f"SELECT * FROM {table} WHERE tag_id = ANY (%s) AND bucket >= %s AND bucket < %s", (ids, r0, r1)))}
        want_keys = set()
        for tag, t, v, status in b.raw.num:  # buckets with at least one counted sample
            if tag in ids and ref.good(status) and ref.usable(v) and r0 <= t < r1:
                want_keys.add((tag, r0 + (t - r0) // width * width))
        assert set(got) == want_keys, f"{table}: buckets differ"
        for (tag, bucket), row in got.items():
            bad += mismatches(row, tag_ref(b.raw, tag, bucket, bucket + width), f"{table} tag {tag} at {bucket}")
    lo, hi = data.draw(ranges(sc.hours), "range")
    start, end = b.at(lo), min(r1, b.at(hi))
    hs, he = ceil_hour(start), ref.floor_hour(end)
    pieces = [(start, end)] if hs >= he else [p for p in ((start, hs), (he, end)) if p[0] < p[1]]
    whole = {r[0]: r[1:] for r in db.execute(
        "SELECT tag_id, sum(n)::int, min(vmin), max(vmax), sum(vsum), sum(delta), sum(resets)::int "
        "FROM rollup_tag_1h WHERE tag_id = ANY (%s) AND bucket >= %s AND bucket < %s GROUP BY 1",
        (ids, hs, he)).fetchall()} if hs < he else {}
    raw_rows = [r for a, z in pieces for r in db.execute(
        "SELECT tag_id, n, vmin, vmax, vsum, delta, resets FROM tag_agg(%s, %s, %s, %s)", (ids, a, z, z - a))]
    set_watermarks(db, r1, ("tag_1h",))
    via_stats = stats(db, ids, [(start, end)])
    for tag in ids:
        want = tag_ref(b.raw, tag, start, end)
        parts = [whole[tag]] if tag in whole else []
        parts += [r[1:] for r in raw_rows if r[0] == tag]
        combined = {"n": sum(p[0] for p in parts), "vsum": sum(p[3] for p in parts),
                    "vmin": min((p[1] for p in parts), default=None), "vmax": max((p[2] for p in parts), default=None),
                    "delta": sum(p[4] for p in parts), "resets": sum(p[5] for p in parts)}
        bad += mismatches(combined, {k: want[k] for k in combined}, f"tag {tag} [{start}, {end}) hours+raw")
        s = via_stats[(tag, 0)]
        bad += mismatches({k: getattr(s, k) for k in TAG_FIELDS}, want, f"tag {tag} [{start}, {end}) stats()")
    assert not bad, "\n".join(bad)


# ----------------------------------------------------------------------------------- refresh and late rows


def floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def snapshot(db: Any, b: Built) -> dict[tuple[str, int, datetime], dict[str, Any]]:
    """This scenario's rows in the three rollup tables."""
    out = {}
    for table, key, ids in (("rollup_tag_1m", "tag_id", numeric_tags(b)), ("rollup_tag_1h", "tag_id", numeric_tags(b)),
                            ("rollup_asset_1h", "asset_id", b.asset_ids)):
        for r in rows_of(db.execute(f"SELECT * FROM {table} WHERE {key} = ANY (%s)", (ids,))):
            out[(table, r[key], r["bucket"])] = r
    return out


def differences(got: dict[Any, dict[str, Any]], want: dict[Any, dict[str, Any]], what: str) -> list[str]:
    out = [f"{what}: {k} only in {name}" for name, a, z in (("the passes", got, want), ("the rebuild", want, got))
           for k in sorted(set(a) - set(z), key=str)]
    for k in sorted(set(got) & set(want), key=str):
        out += mismatches(got[k], want[k], f"{what} {k}")
    return out


def rebuilt(db: Any, b: Built, start: datetime, clock: datetime, policy: rollups.Policy) -> dict[Any, Any]:
    """Every rollup recomputed from scratch up to where a pass at ``clock`` stops, then snapshotted."""
    for name, r in rollups.ROLLUPS.items():
        if (end := rollups.floor_to(clock - policy.settle, r.width)) > start:
            rollups.rebuild(db, start, end, [name])
    return snapshot(db, b)


@settings(SETTINGS, max_examples=12)
@given(sc=scenarios(live=False, max_hours=13), data=st.data())
def test_refresh_passes_and_late_rows_equal_a_rebuild(db: Any, clear_watermarks: None, sc: Scenario,
                                                      data: st.DataObject) -> None:
    """Two passes at the same clock change nothing; rows arriving late, but inside the late window, are folded in
    by the next pass exactly as a rebuild would; facts() and tags.stats() then equal the reference."""
    b = build(db, sc, base_time(sc))
    policy = rollups.Policy(late_window=data.draw(st.sampled_from([1, 2, 6]), "late window h") * HOUR,
                            chunk=data.draw(CHUNKS, "chunk"))
    clock1 = b.at(data.draw(instants(sc.hours), "first clock"))
    clock2 = clock1 + data.draw(st.sampled_from([MINUTE, 37 * MINUTE, HOUR, 3 * HOUR + SECOND]), "second clock")
    start = b.base - 3 * HOUR
    late_from = floor_minute(clock1 - policy.settle) - policy.late_window  # inside every rollup's late window
    pick = data.draw(st.randoms(use_true_random=False), "late rows")
    late_num = [r for r in b.raw.num if late_from <= r[1] < clock1 and pick.random() < 0.5]
    late_text = [r for r in b.raw.text if late_from <= r[1] < clock1 and pick.random() < 0.5]
    insert(db, [r for r in b.raw.num if r[1] < clock1 and r not in late_num],
           [r for r in b.raw.text if r[1] < clock1 and r not in late_text])
    set_watermarks(db, start)  # the scheduler has been running: everything before the data is rolled up
    rollups.refresh(db, policy, now=clock1)
    once = snapshot(db, b)
    rollups.refresh(db, policy, now=clock1)
    bad = differences(snapshot(db, b), once, "second pass at the same clock")
    bad += differences(once, rebuilt(db, b, start, clock1, policy), "first pass")
    insert(db, late_num + [r for r in b.raw.num if clock1 <= r[1] < clock2],
           late_text + [r for r in b.raw.text if clock1 <= r[1] < clock2])
    rollups.refresh(db, policy, now=clock2)
    bad += differences(snapshot(db, b), rebuilt(db, b, start, clock2, policy), "pass after late rows")
    assert not bad, "\n".join(bad)
    arrived = ref.Raw(b.raw.tags, [r for r in b.raw.num if r[1] < clock2], [r for r in b.raw.text if r[1] < clock2],
                      b.raw.reasons)
    lo, hi = b.at(sc.lo), b.at(sc.hi)
    now = txn_now(db)
    for row in facts(db, Scope("site", b.site_id), lo, hi, by="asset"):
        bad += mismatches(row.facts.to_dict(), ref.asset_facts(arrived, row.group_id, lo, hi, now),
                          f"asset {row.group_id} [{lo}, {hi})")
    for (tag, _), got in stats(db, numeric_tags(b), [(lo, hi)]).items():
        bad += mismatches({k: getattr(got, k) for k in TAG_FIELDS}, tag_ref(arrived, tag, lo, hi), f"tag {tag}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------------------------------------- known cases


def one_asset(db: Any, tags: list[TagSpec]) -> Built:
    sc = Scenario(2, False, 0, 0, "UTC", [AssetSpec("a1/l0/m0", tags, [])], 0, HOUR_US)
    b = build(db, sc, base_time(sc) + 77 * HOUR)
    insert(db, b.raw.num, b.raw.text)
    return b


def test_spindle_nan_and_null_are_ignored(db: Any) -> None:
    """Speeds 0 at 0 min, NaN at 5, 1000 at 20, NULL at 30 (all good quality), window [0, 60 min): with NaN and NULL
    ignored the spindle is still at 0 until 20 and turns from 20 to 60: 2400 s (counting NaN as turning and NULL
    as a stop would give 1500 s: NaN > 0 is true in PostgreSQL)."""
    speeds = [(0, 0.0, 0), (5 * MIN_US, math.nan, 0), (20 * MIN_US, 1000.0, 0), (30 * MIN_US, None, 0)]
    b = one_asset(db, [TagSpec("spindle", "spindle_speed", "float", speeds)])
    lo, hi = b.at(0), b.at(HOUR_US)
    want = ref.asset_facts(b.raw, b.asset_ids[0], lo, hi, txn_now(db))["cutting_s"]
    assert want == 2400.0
    (row,) = rows_of(db.execute("SELECT * FROM asset_facts(%s, %s, %s, %s)", (b.asset_ids, lo, hi, hi - lo)))
    assert row["cutting_s"] == pytest.approx(want, abs=1e-6)
