"""The line / machine drill-down: its views on engine results from the test plant (timeline, counts and speed,
trend, I-MR chart) and its callbacks on the user's own scope (tag lists, zoom, trend resolution)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.dashboards.test_pages_plant import CNC, L1, TZ, PagesWorld, text_of, user_of
from tonghu.dashboards.views import common, states
from tonghu.dashboards.views import machine as view
from tonghu.platform.kpi import catalog, spc, timeline
from tonghu.platform.kpi.facts import facts
from tonghu.platform.kpi.scope import Scope

# The test plant's fixtures (pages, as_user) live with the plant overview's tests.
pytest_plugins = ["tests.dashboards.test_pages_plant"]


def _day(t: datetime) -> str:
    """The date of ``t`` at site A (custom ranges are whole days of the site's time zone)."""
    return t.astimezone(ZoneInfo(TZ)).date().isoformat()


def test_state_timeline_is_drawn_by_time_class(db: Any, pages: PagesWorld) -> None:
    spans = timeline.state_timeline(db, pages.a_line_asset, pages.start, pages.end)
    fig = states.gantt_figure([(L1, spans)], pages.start, pages.end, "Europe/Berlin")
    widths = {t.name: sum(t.x) / 60_000 for t in fig.data}  # minutes per time class
    assert widths == {"Production": 200, "Setup": 20, "Unplanned down": 20}
    assert {t.name: t.marker.color for t in fig.data}["Setup"] == common.colour("setup")


def test_counts_and_speed_per_hour(db: Any, pages: PagesWorld) -> None:
    """Reports at 60, 150 and 239 min: hours 1–3 count 110, 130 and 160 units (108, 128, 156 good). Hour 1 runs
    40 min (down 60–80): 110 units / 40 min = 165 units/h; ideal speed at 25 s = 144 units/h."""
    rows = facts(db, Scope("asset", pages.a_line_asset), pages.start, pages.end, bucket="hour")
    fig = view.counts_figure(rows, "hour", "Europe/Berlin")
    good, bad, speed, ideal = fig.data
    assert list(good.y) == [0, 108, 128, 156] and list(bad.y) == [0, 2, 2, 4]
    assert speed.y[1] == pytest.approx(165) and ideal.y[1] == pytest.approx(144) and ideal.y[0] is None
    assert common.is_empty_figure(view.counts_figure([], "hour"))


def test_trend_draws_raw_samples_with_their_limits(db: Any, pages: PagesWorld) -> None:
    scope = Scope("asset", pages.a_reflow)
    tag = next(t for t in catalog.numeric_tags(db, scope) if t.name == "peak_temp")
    data = timeline.trend(db, tag.id, pages.start, pages.end, max_points=1000)
    fig = view.trend_figure(tag, "smt/l1/reflow", data, pages.start, pages.end, "UTC", (235.0, 250.0))
    assert data["resolution"] == "raw" and "raw samples" in fig.layout.title.text
    assert len(fig.data[0].y) == 20 and max(fig.data[0].y) == 252.0
    assert sorted(s.y0 for s in fig.layout.shapes) == [235.0, 250.0]
    assert fig.layout.uirevision == f"tag-{tag.id}"  # zoom survives refreshes of the same tag
    speed = next(t for t in catalog.numeric_tags(db, scope) if t.name == "conveyor_speed")
    coarse = timeline.trend(db, speed.id, pages.start, pages.end, max_points=300)  # 480 samples, 240 minutes
    band = view.trend_figure(speed, "smt/l1/reflow", coarse, pages.start, pages.end)
    assert coarse["resolution"] == "1m" and [t.name for t in band.data][-2:] == ["min–max", "mean"]
    empty = view.trend_figure(tag, "x", {"resolution": "raw", "time": []}, pages.start, pages.end)
    assert "is its source connected" in empty.layout.annotations[0].text


def test_spc_chart_and_capability_of_a_tag_with_spec_limits(db: Any, pages: PagesWorld) -> None:
    tag = pages.tags[f"B:{CNC}/bore_diameter"]
    report = spc.load_spc(db, pages.b_company, tag, pages.start, pages.end, max_points=1000)
    fig = view.spc_figure(report, CNC, "UTC")
    assert len(fig.data[0].y) == report.capability.n == 30
    assert fig.data[-1].name == "moving range" and len(fig.data[-1].y) == 29  # every sample shown: MR drawn
    lines = {a.text.split()[0]: a for a in fig.layout.annotations}
    assert {"LSL", "USL", "UCL", "LCL", "centre"} <= set(lines)
    table = text_of(view.capability_table(report))
    assert common.fmt_sig(report.capability.cpk) in table and "spec_lo/spec_hi" in table
    thinned = spc.load_spc(db, pages.b_company, tag, pages.start, pages.end, max_points=10)
    assert "of 30 samples drawn" in view.spc_figure(thinned, CNC).layout.title.text


def test_zoom_range_is_read_in_site_time_and_clipped(dash_app: Any) -> None:
    from tonghu.dashboards.pages import machine

    start, end = datetime(2026, 3, 10, 5, tzinfo=UTC), datetime(2026, 3, 10, 17, tzinfo=UTC)
    got = machine.zoom_range({"xaxis.range[0]": "2026-03-10 08:00:00", "xaxis.range[1]": "2026-03-10 09:30:00.5"},
                             "Europe/Berlin", start, end)
    assert got == (datetime(2026, 3, 10, 7, tzinfo=UTC), datetime(2026, 3, 10, 8, 30, 0, 500000, tzinfo=UTC))
    assert machine.zoom_range({"xaxis.range": ["2026-03-09 00:00", "2026-03-10 07:00"]}, "UTC", start, end) == (
        start, datetime(2026, 3, 10, 7, tzinfo=UTC))
    for bad in (None, {"autosize": True}, {"xaxis.range": ["x", "y"]}, {"xaxis.range": [1, 2]},
                {"xaxis.range": ["2026-03-11 00:00", "2026-03-12 00:00"]}):
        assert machine.zoom_range(bad, "UTC", start, end) is None


def test_tag_lists_offer_the_scopes_tags_and_only_spec_limited_ones_for_spc(dash_app: Any, db: Any,
                                                                           pages: PagesWorld, as_user: Any) -> None:
    from tonghu.dashboards.pages import machine

    with as_user(user_of(db, pages.users["eng_a"])):
        options, value, spc_options, spc_value = machine.tag_lists({"level": "line", "id": pages.a_l1})
    labels = {o["label"] for o in options}
    assert "smt/l1/reflow · peak_temp" in labels and "smt/l1/line · count_total" in labels
    assert {o["label"] for o in spc_options} == {"smt/l1/reflow · peak_temp", "smt/l1/reflow · time_above_liquidus"}
    assert value in {o["value"] for o in options} and spc_value in {o["value"] for o in spc_options}
    peak = [o["value"] for o in options if o["label"].endswith("peak_temp")]
    assert peak == [pages.tags["A:smt/l1/reflow/peak_temp"]]


def test_trend_follows_the_zoom(dash_app: Any, db: Any, pages: PagesWorld, as_user: Any) -> None:
    """Over the whole day the conveyor speed (480 samples) is drawn from rollups; zoomed to 20 minutes it is raw
    samples again (40 of them)."""
    from tonghu.dashboards.pages import machine

    tag = pages.tags["A:smt/l1/reflow/conveyor_speed"]
    scope = {"level": "asset", "id": pages.a_reflow}
    day = ("custom", None, None, _day(pages.start), _day(pages.end - timedelta(seconds=1)))
    zoom = {"xaxis.range[0]": (pages.start + timedelta(minutes=60)).strftime("%Y-%m-%d %H:%M:%S"),
            "xaxis.range[1]": (pages.start + timedelta(minutes=80)).strftime("%Y-%m-%d %H:%M:%S")}
    with as_user(user_of(db, pages.users["eng_a"])):
        machine.TREND_POINTS, saved = 100, machine.TREND_POINTS
        try:
            whole = machine.refresh_trend(1, tag, None, scope, *day)
        finally:
            machine.TREND_POINTS = saved
        zoomed = machine.refresh_trend(1, tag, {k: v.replace(" ", "T") for k, v in zoom.items()}, scope, "custom",
                                       None, None, *day[3:])
    assert "1-minute" in whole.layout.title.text or "hourly" in whole.layout.title.text
    assert "raw samples" in zoomed.layout.title.text and len(zoomed.data[0].x) == 40


def test_drilldown_callbacks_on_a_line(dash_app: Any, db: Any, pages: PagesWorld, as_user: Any) -> None:
    from tonghu.dashboards.pages import machine

    line = {"level": "line", "id": pages.a_l1}
    day = ("custom", None, None, _day(pages.start), _day(pages.end - timedelta(seconds=1)))
    with as_user(user_of(db, pages.users["pm_a"])):
        notice, gantt, updated = machine.refresh(1, line, *day)
        pareto, stops = machine.refresh_losses(1, line, *day)
        counts = machine.refresh_counts(1, line, *day)
        spc_fig, capability = machine.refresh_spc(pages.tags["A:smt/l1/reflow/peak_temp"], line, *day)
        bad_range = machine.refresh(1, line, "custom", None, None, "2026-13-01", None)
    assert notice is None and "Europe/Berlin" in updated
    assert {d.y[0] for d in gantt.data} <= {L1, "smt/l1/reflow", "smt/l1/pnp", "smt/l1/aoi"}
    # The jam that began at the end of the data still lasts: it falls inside this site day (two unplanned stops)
    # only while the wall clock is in the same Europe/Berlin day as the data, so either count is right.
    title = stops.layout.title.text
    assert "BRK-SPINDLE" in list(pareto.data[0].x) and ("2 stops" in title or "1 stops" in title), title
    assert sum(counts.data[0].y) >= 392
    assert "I-MR chart" in spc_fig.layout.title.text and "Cpk" in text_of(capability)
    assert "must be a date" in text_of(bad_range[0])  # shown on the page, not a refusal
