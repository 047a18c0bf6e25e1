"""Pure parts of the analytics pages: time ranges and shifts in the site's time zone, number formats, the
time-class palette, Pareto merging and stop-duration classes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tonghu.dashboards.views import common, states, timerange
from tonghu.dashboards.views.timerange import TimeRangeError, resolve
from tonghu.platform.kpi.timeline import StateSpan

BERLIN = "Europe/Berlin"


def berlin(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(BERLIN))


@pytest.mark.parametrize(("local_now", "shift", "started"), [
    (berlin(2026, 3, 10, 6, 0), "Early", berlin(2026, 3, 10, 6)),
    (berlin(2026, 3, 10, 13, 59), "Early", berlin(2026, 3, 10, 6)),
    (berlin(2026, 3, 10, 14, 0), "Late", berlin(2026, 3, 10, 14)),
    (berlin(2026, 3, 10, 23, 30), "Night", berlin(2026, 3, 10, 22)),
    (berlin(2026, 3, 11, 5, 59), "Night", berlin(2026, 3, 10, 22)),  # the night shift belongs to the day it starts
])
def test_current_shift_in_site_time(local_now: datetime, shift: str, started: datetime) -> None:
    r = resolve("shift_now", BERLIN, local_now.astimezone(UTC))
    assert r.start == started.astimezone(UTC) and r.end == local_now.astimezone(UTC) and r.live
    assert r.label.startswith(shift) and BERLIN in r.label


def test_presets_end_now() -> None:
    now = datetime(2026, 3, 10, 12, 34, tzinfo=UTC)  # 13:34 in Berlin
    assert resolve("today", BERLIN, now).start == berlin(2026, 3, 10, 0).astimezone(UTC)
    assert resolve("24h", BERLIN, now).span == timedelta(hours=24)
    assert resolve("7d", BERLIN, now).start == now - timedelta(days=7)
    assert resolve("30d", "UTC", now).span == timedelta(days=30)
    assert all(resolve(p, BERLIN, now).end == now for p in ("today", "24h", "7d", "30d"))


def test_a_night_shift_across_a_daylight_saving_change_keeps_wall_clock_hours() -> None:
    """Berlin moves its clocks forward at 02:00 on 29 March 2026: that night shift lasts 7 hours, 22:00–06:00."""
    now = datetime(2026, 4, 1, tzinfo=UTC)
    r = resolve("shift", BERLIN, now, day="2026-03-28", shift="night")
    assert (r.start, r.end) == (berlin(2026, 3, 28, 22).astimezone(UTC), berlin(2026, 3, 29, 6).astimezone(UTC))
    assert r.span == timedelta(hours=7) and not r.live
    normal = resolve("shift", BERLIN, now, day="2026-03-30", shift="late")
    assert normal.span == timedelta(hours=8) and normal.start.hour == 12  # 14:00 CEST


def test_a_running_shift_ends_now_and_custom_days_cover_whole_local_days() -> None:
    now = berlin(2026, 3, 10, 9, 15).astimezone(UTC)
    running = resolve("shift", BERLIN, now, day="2026-03-10", shift="early")
    assert running.end == now and running.live
    days = resolve("custom", BERLIN, now, custom_start="2026-03-01", custom_end="2026-03-02T00:00:00")
    assert (days.start, days.end) == (berlin(2026, 3, 1, 0).astimezone(UTC), berlin(2026, 3, 3, 0).astimezone(UTC))
    assert not days.live and "01 Mar 2026 – 02 Mar 2026" in days.label


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"preset": "fortnight"}, "must be one of"),
    ({"preset": "custom", "custom_start": "2026-03-05", "custom_end": "2026-03-01"}, "before the first day"),
    ({"preset": "custom", "custom_start": "yesterday"}, "must be a date"),
    ({"preset": "custom", "custom_start": 20260301}, "must be a date"),
    ({"preset": "custom", "custom_start": "2026-04-01"}, "in the future"),
    ({"preset": "custom", "custom_start": "2020-01-01", "custom_end": "2026-03-01"}, "exceed the limit"),
    ({"preset": "shift", "day": "2026-03-10", "shift": "graveyard"}, "must be one of"),
    ({"preset": "shift", "day": "2026-03-10", "shift": "late"}, "has not started"),
])
def test_bad_range_inputs_are_named(kwargs: dict[str, object], message: str) -> None:
    now = berlin(2026, 3, 10, 9, 15).astimezone(UTC)
    preset = kwargs.pop("preset")
    with pytest.raises(TimeRangeError, match=message):
        resolve(preset, BERLIN, now, **kwargs)  # type: ignore[arg-type]


def test_unknown_time_zone_is_named() -> None:
    with pytest.raises(TimeRangeError, match="Mars/Olympus"):
        resolve("24h", "Mars/Olympus", datetime.now(UTC))


def test_buckets_follow_the_span() -> None:
    assert timerange.bucket_for(timedelta(hours=8)) == "hour"
    assert timerange.bucket_for(timedelta(days=7)) == "day"
    assert timerange.bucket_for(timedelta(days=90)) == "week"
    assert timerange.visible("shift") == ({}, {"display": "none"})
    assert timerange.visible("custom") == ({"display": "none"}, {})


def test_formats_never_turn_missing_into_zero() -> None:
    assert [common.fmt_pct(x) for x in (None, float("nan"), 0.0, 0.8533)] == ["–", "–", "0.0 %", "85.3 %"]
    assert common.fmt_num(12345.6, 1, "t") == "12,345.6 t" and common.fmt_num(None) == "–"
    assert [common.fmt_sig(x) for x in (0.28571, 12.345, 1234.5)] == ["0.286", "12.3", "1,234"]
    assert [common.fmt_duration(s) for s in (45, 750, 11520, 200000)] == ["45 s", "12.5 min", "3.2 h", "2.3 d"]
    assert [common.fmt_window(*w) for w in ((235, 250), (38, None), (None, 180), (None, None))] == [
        "235 – 250", "≥ 38", "≤ 180", "–"]
    assert [common.fmt_period(s) for s in (3600, 86400, 600)] == ["hour", "day", "10.0 min"]
    assert common.tone_for(0.7, 0.65, 0.45) == "success" and common.tone_for(0.5, 0.65, 0.45) == "warning"
    assert common.tone_for(0.04, 0.01, 0.03, higher_is_better=False) == "danger" and common.tone_for(None, 1, 0) == ""


def test_time_classes_have_one_colour_each() -> None:
    colours = [common.colour(t) for t in common.TIME_CLASSES]
    assert len(set(colours)) == len(colours)
    assert common.colour("unplanned_down") == "#d64541" and common.colour("no such class") == common.colour(None)
    assert common.local([datetime(2026, 7, 1, 12, tzinfo=UTC)], BERLIN) == [datetime(2026, 7, 1, 14)]


def test_pareto_parts_merge_per_reason() -> None:
    a = [{"code": "JAM", "state": "down", "time_class": "unplanned_down", "seconds": 100.0, "stops": 3, "text": ""},
         {"code": "PM", "state": "planned_down", "time_class": "planned_down", "seconds": 50.0, "stops": 1,
          "text": "Maintenance"}]
    b = [{"code": "JAM", "state": "down", "time_class": "unplanned_down", "seconds": 80.0, "stops": 2,
          "text": "Jammed"}]
    merged = states.merge_paretos([a, b, []])
    assert [(m["code"], m["seconds"], m["stops"], m["text"]) for m in merged] == [
        ("JAM", 180.0, 5, "Jammed"), ("PM", 50.0, 1, "Maintenance")]
    assert a[0]["seconds"] == 100.0  # the inputs are left alone
    fig = states.pareto_figure(merged)
    assert list(fig.data[0].marker.color) == [common.colour("unplanned_down"), common.colour("planned_down")]
    assert fig.data[1].y[-1] == pytest.approx(1.0)


def test_stop_durations_fall_into_classes() -> None:
    classes = dict((label, (n, sec)) for label, n, sec in states.duration_classes([30, 59.9, 60, 400, 7200, 90000]))
    assert classes["< 1 min"] == (2, pytest.approx(89.9)) and classes["1–2 min"] == (1, 60)
    assert classes["5–10 min"] == (1, 400) and classes["2–4 h"] == (1, 7200) and classes["≥ 4 h"] == (1, 90000)
    assert classes["30–60 min"] == (0, 0.0)
    assert "6 stops" in states.duration_histogram([30, 59.9, 60, 400, 7200, 90000]).layout.title.text
    assert common.is_empty_figure(states.duration_histogram([]))


def test_gantt_colours_by_time_class_and_thins_out_invisible_spans() -> None:
    t0 = datetime(2026, 3, 10, 6, tzinfo=UTC)
    spans = [StateSpan(1, t0 + timedelta(seconds=10 * i), t0 + timedelta(seconds=10 * i + 10),
                       "running" if i % 2 else "down", "", "production" if i % 2 else "unplanned_down", False)
             for i in range(states.MAX_BARS + 10)]
    spans.append(StateSpan(1, t0 + timedelta(days=1), t0 + timedelta(days=2), "held", "X", None, False))
    fig = states.gantt_figure([("m1", spans)], t0, t0 + timedelta(days=2), BERLIN)
    by_name = {t.name: t for t in fig.data}
    assert by_name["Unknown"].marker.color == common.colour(None) and len(by_name["Unknown"].base) == 1
    assert "not drawn" in fig.layout.title.text  # 10-second spans are far below a pixel of two days
    assert fig.layout.xaxis.range[0] == datetime(2026, 3, 10, 7)  # drawn in site time
    assert common.is_empty_figure(states.gantt_figure([("m1", [])], t0, t0 + timedelta(hours=1)))


def test_live_tiles_say_when_a_line_reports_nothing() -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    span = StateSpan(1, now - timedelta(minutes=12), now, "down", "BRK", "unplanned_down", True)
    tiles = states.live_tiles([states.LiveState("smt/l1", "line", span), states.LiveState("smt/l2", "line", None)],
                              now)
    text = str(tiles)
    assert "Unplanned down for 12.0 min" in text and "is its edge online?" in text
    assert common.colour("unplanned_down") in text and common.colour(None) in text
    assert "No line in this scope" in str(states.live_tiles([], now))
