"""Alarm KPIs on a journal worked out by hand, and properties checked against naive recomputations."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tonghu.platform.kpi.alarms import (
    TARGETS,
    AlarmDataError,
    AlarmKpis,
    BadActor,
    FloodEpisode,
    StaleAlarm,
    alarm_kpis,
    assess,
    counts_per_period,
)

S = datetime(2026, 1, 10, tzinfo=UTC)
E = S + timedelta(days=1)
H, M, SEC = timedelta(hours=1), timedelta(minutes=1), timedelta(seconds=1)


def worked_journal() -> list[tuple[datetime, str, str]]:
    """One day [S, S + 24 h) of one console, with history before S and one event at E (outside the range).

    Every event has its own instant, so the journal also fits one alarms tag in the events table.
    """
    ev = [
        # History: stale standing alarms, a standing one, one long cleared, a lookback activation.
        (S - 30 * H, "XI-1.BAD", "active"), (S - 29 * H, "XI-1.BAD", "acked"),
        (S - 25 * H, "XI-6.BAD", "active"), (S - 24 * H, "XI-6.BAD", "acked"), (S + 4.5 * H, "XI-6.BAD", "cleared"),
        (S - 20 * H, "XI-10.BAD", "active"), (S + 5 * H, "XI-10.BAD", "cleared"),
        (S - 5 * H, "TI-0.HI", "active"), (S - 4 * H, "TI-0.HI", "cleared"),
        (S - 50 * H, "XI-12.BAD", "active"), (S - 1 * H, "XI-12.BAD", "cleared"),  # stale, but cleared before S
        (S - 2 * H, "PI-2.HI", "active"), (S + 1.5 * H, "PI-2.HI", "cleared"),
        (S - 5 * M, "FI-9.LO", "active"), (S - 4 * M, "FI-9.LO", "cleared"),
        # LI-8.HI: twice before S and once 15 s after it, 55 s after the first: chattering across the boundary.
        (S - 40 * SEC, "LI-8.HI", "active"), (S - 35 * SEC, "LI-8.HI", "cleared"),
        (S - 10 * SEC, "LI-8.HI", "active"), (S - 5 * SEC, "LI-8.HI", "cleared"),
        (S + 15 * SEC, "LI-8.HI", "active"), (S + 20 * SEC, "LI-8.HI", "cleared"),
        (S, "PI-11.HI", "active"), (S + 2 * M, "PI-11.HI", "cleared"),
        (S + 1 * H, "TI-7.BAD", "active"),  # never cleared, but only 23 h old at E: not stale
        (S + 25 * H, "TI-7.BAD", "cleared"),
        (E, "TI-9.HI", "active"),  # at E: outside the range
    ]
    for k in range(12):  # the flood: 12 alarms 30 s apart from 02:00
        alarm = f"F-{k + 1:02d}"
        ev += [(S + 2 * H + k * 30 * SEC, alarm, "active"), (S + 2.5 * H + k * SEC, alarm, "cleared")]
    bursts = (("LI-3.LO", 6, (0, 20, 50)), ("LI-4.HI", 7, (0, 40, 100)), ("AI-5.LO", 8, (0, 30, 60)))
    for alarm, hour, offsets in bursts:
        for o in offsets:
            ev += [(S + hour * H + o * SEC, alarm, "active"), (S + hour * H + (o + 5) * SEC, alarm, "cleared")]
    for hour in (12, 14, 16, 18):
        ev += [(S + hour * H, "TI-9.HI", "active"), (S + hour * H + M, "TI-9.HI", "acked"),
               (S + hour * H + 10 * M, "TI-9.HI", "cleared")]
    return ev


def test_worked_example() -> None:
    """Annunciated in [S, E): F-01..F-12 12, LI-3.LO 3, LI-4.HI 3, AI-5.LO 3, TI-9.HI 4, PI-11.HI 1 (at S exactly),
    TI-7.BAD 1, LI-8.HI 1 (S + 15 s) = 28; PI-2.HI, FI-9.LO and the history are not annunciated in the range, the
    TI-9.HI at E is outside it. One operator, one day: 28/day, 28/144 = 0.19444… per 10 min.

    144 ten-minute periods; the 02:00–02:10 period holds 12 > 10: flood_periods 1 = 100/144 = 0.69444… %, max 12.
    Sliding window (t − 10 min, t]: the 11th flood alarm (02:05:00) makes r = 11 > 10 → flood from 02:05:00, peak 12
    at 02:05:30; alarm k leaves at 02:10:00 + 30 s·k, after k = 7 leaves (02:13:30) r = 4 < 5 → it ends at 02:13:30:
    510 s of 86 400 s = 0.590277… % of the time. At S, r = FI-9.LO + LI-8.HI ×2 + PI-11.HI = 4: no flood.

    Chattering (3rd activation ≤ 60 s after the 1st of three): LI-3.LO (50 s), AI-5.LO (60 s, the boundary),
    LI-8.HI (−40 s, −10 s, +15 s: 55 s); LI-4.HI is not (100 s). Their annunciations in range 3 + 3 + 1 = 7 → 7/28.

    Stale (standing > 24 h within the range): XI-1.BAD since S − 30 h (acked, never cleared) stale all day;
    XI-6.BAD since S − 25 h, stale [S, S + 4.5 h); XI-10.BAD since S − 20 h, stale [S + 4 h, S + 5 h) → 3 stale,
    all three at once during [S + 4 h, S + 4.5 h). TI-7.BAD stands 23 h at E: not stale; XI-12.BAD was stale but
    cleared at S − 1 h.
    Standing at S: XI-1, XI-6, XI-10, PI-2 = 4 (PI-11.HI starts at S: annunciated, not standing). At E: XI-1, TI-7 = 2.
    Bad actors: TI-9.HI 4, then AI-5.LO, LI-3.LO, LI-4.HI 3 each, then the 1s by id: F-01…F-06 → top 10 = 19/28.
    """
    k = alarm_kpis(worked_journal(), S, E)
    assert k.annunciated == 28 and k.operators == 1
    assert math.isclose(k.per_operator_per_day, 28.0, abs_tol=1e-9)
    assert math.isclose(k.per_operator_per_10min, 28 / 144, abs_tol=1e-9)
    assert (k.periods, k.flood_periods, k.max_10min) == (144, 1, 12.0)
    assert math.isclose(k.flood_periods_pct, 100 / 144, abs_tol=1e-9)
    assert k.floods == (FloodEpisode(S + 2 * H + 5 * M, S + 2 * H + 13 * M + 30 * SEC, 12.0, True),)
    assert k.flood_count == 1
    assert math.isclose(k.flood_time_pct, 100 * 510 / 86_400, abs_tol=1e-9)
    assert k.chattering == ("AI-5.LO", "LI-3.LO", "LI-8.HI") and k.chattering_count == 3
    assert k.chattering_annunciated == 7
    assert math.isclose(k.chattering_share, 7 / 28, abs_tol=1e-9)
    assert k.stale == (StaleAlarm("XI-1.BAD", S - 30 * H, None), StaleAlarm("XI-10.BAD", S - 20 * H, S + 5 * H),
                       StaleAlarm("XI-6.BAD", S - 25 * H, S + 4.5 * H))
    assert (k.stale_count, k.stale_max_concurrent) == (3, 3)
    assert (k.standing_at_start, k.standing_at_end) == (4, 2)
    ids = ["TI-9.HI", "AI-5.LO", "LI-3.LO", "LI-4.HI", "F-01", "F-02", "F-03", "F-04", "F-05", "F-06"]
    assert [b.alarm_id for b in k.bad_actors] == ids
    assert [b.count for b in k.bad_actors] == [4, 3, 3, 3, 1, 1, 1, 1, 1, 1]
    assert k.bad_actors[0] == BadActor("TI-9.HI", 4, 4 / 28)
    assert math.isclose(k.top10_share, 19 / 28, abs_tol=1e-9)
    v = assess(k)
    assert v["per_operator_per_day"] == "acceptable" and v["max_10min"] == "over"
    assert v["chattering_count"] == "over" and v["stale_max_concurrent"] == "acceptable"
    assert v["top10_share"] == "over" and set(v) == {t.field for t in TARGETS}
    d = k.to_dict()
    assert d["floods"][0]["start"] == "2026-01-10T02:05:00+00:00" and d["stale"][0]["cleared"] is None


def test_operators_share_the_load() -> None:
    """Two operators: every rate halves; 12/2 = 6 per 10 min is no flood, and neither is the sliding peak 6."""
    k = alarm_kpis(worked_journal(), S, E, operators=2)
    assert math.isclose(k.per_operator_per_day, 14.0, abs_tol=1e-9)
    assert (k.max_10min, k.flood_periods, k.flood_count, k.flood_time_pct) == (6.0, 0, 0, 0.0)
    assert k.annunciated == 28  # the count itself is not per operator


def test_flood_under_way_at_start_and_end() -> None:
    """11 alarms at S − 5 min + 10 s·k (k = 0..10): r(S) = 11 > 10 → in flood at S. They leave the window at
    S + 5 min + 10 s·k; after k = 6 leaves (S + 6 min) r = 4 < 5 → the flood ends at S + 6 min.
    A second burst of 11 alarms 1 s apart ending 5 s before E is cut at E: from E − 15 s to E (15 s, ended False).
    Flood time = 360 + 15 = 375 s of a 1 h range = 10.41666… %."""
    end = S + H
    ev = [(S - 5 * M + k * 10 * SEC, f"A{k}", "active") for k in range(11)]
    ev += [(end - 25 * SEC + k * SEC, f"B{k}", "active") for k in range(11)]
    k = alarm_kpis(ev, S, end)
    assert k.floods == (FloodEpisode(S, S + 6 * M, 11.0, True), FloodEpisode(end - 15 * SEC, end, 11.0, False))
    assert math.isclose(k.flood_time_pct, 100 * 375 / 3600, abs_tol=1e-9)
    assert k.annunciated == 11 and k.flood_periods == 1  # only the last period holds the second burst


def test_empty_journal_and_bad_input() -> None:
    k = alarm_kpis([], S, S + 15 * M)
    assert (k.annunciated, k.periods, k.max_10min, k.flood_count) == (0, 2, 0.0, 0)
    assert k.chattering_share is None and k.top10_share is None and k.bad_actors == ()
    assert assess(k)["top10_share"] == "n/a"
    with pytest.raises(AlarmDataError, match="shelved"):
        alarm_kpis([(S, "X", "shelved")], S, E)
    with pytest.raises(AlarmDataError, match="timezone-aware"):
        alarm_kpis([(datetime(2026, 1, 10, 1), "X", "active")], S, E)
    with pytest.raises(AlarmDataError, match="empty"):
        alarm_kpis([], E, S)
    with pytest.raises(AlarmDataError, match="operators"):
        alarm_kpis([], S, E, operators=0)


# ------------------------------------------------------------------------------------------ properties

RANGE_S = 6 * 3600  # a 6-hour range with 1 h of history before it
offsets = st.lists(st.tuples(st.integers(-3600, RANGE_S + 600), st.sampled_from(["A", "B", "C", "D"]),
                             st.sampled_from(["active", "active", "acked", "cleared"])), max_size=200)


def _events(rows: list[tuple[int, str, str]], base: datetime = S) -> list[tuple[datetime, str, str]]:
    return [(base + timedelta(seconds=o), a, v) for o, a, v in rows]


@settings(max_examples=150, deadline=None)
@given(offsets)
def test_period_counts_sum_to_the_annunciations(rows: list[tuple[int, str, str]]) -> None:
    ev, end = _events(rows), S + timedelta(seconds=RANGE_S)
    k = alarm_kpis(ev, S, end)
    counts = counts_per_period(ev, S, end)
    in_range = sum(1 for o, _, v in rows if v == "active" and 0 <= o < RANGE_S)
    assert sum(counts) == k.annunciated == in_range == sum(n for _, n in _all_counts(rows))
    assert len(counts) == k.periods and max(counts) == k.max_10min
    assert sum(1 for c in counts if c > 10) == k.flood_periods
    assert k.chattering_annunciated <= k.annunciated and 0.0 <= k.flood_time_pct <= 100.0


def _all_counts(rows: list[tuple[int, str, str]]) -> list[tuple[str, int]]:
    out: dict[str, int] = {}
    for o, a, v in rows:
        if v == "active" and 0 <= o < RANGE_S:
            out[a] = out.get(a, 0) + 1
    return list(out.items())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(-900, RANGE_S + 600), max_size=120))
def test_a_flood_exists_exactly_when_some_window_holds_more_than_10(times: list[int]) -> None:
    """Naive check: r only rises at an annunciation, so a flood exists iff r(start) > 10 or some annunciation a in
    (start, end) has more than 10 annunciations in (a − 600 s, a]."""
    ev = [(S + timedelta(seconds=t), f"X{i}", "active") for i, t in enumerate(times)]
    k = alarm_kpis(ev, S, S + timedelta(seconds=RANGE_S))

    def r(t: int) -> int:
        return sum(1 for a in times if t - 600 < a <= t)

    naive = r(0) > 10 or any(r(a) > 10 for a in times if 0 < a < RANGE_S)
    assert (k.flood_count > 0) == naive
    for f in k.floods:
        assert f.peak > 10 and S <= f.start < f.end <= S + timedelta(seconds=RANGE_S)


@settings(max_examples=100, deadline=None)
@given(offsets, st.integers(-10**9, 10**9))
def test_shifting_all_times_changes_only_the_times(rows: list[tuple[int, str, str]], shift_s: int) -> None:
    end = S + timedelta(seconds=RANGE_S)
    a = alarm_kpis(_events(rows), S, end)
    d = timedelta(seconds=shift_s)
    b = alarm_kpis(_events(rows, S + d), S + d, end + d)
    assert _without_times(a) == _without_times(b)
    assert [f.start - S for f in a.floods] == [f.start - S - d for f in b.floods]


def _without_times(k: AlarmKpis) -> dict[str, object]:
    d = k.to_dict()
    for key in ("start", "end", "floods", "stale"):
        d.pop(key)
    return d
