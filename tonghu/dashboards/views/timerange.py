"""The time range of the analytics pages: presets (current shift, today, 24 h, 7 and 30 days), one chosen shift,
or custom dates, all in the site's time zone. Three 8-hour shifts a day: early 06–14, late 14–22, night 22–06 (a
night shift belongs to the day it starts on). Shift boundaries are wall-clock times, so on a daylight-saving night
the night shift lasts 7 or 9 hours, as it does on the shop floor.

Pure: ``resolve`` takes the clock as an argument, and the controls are plain components (the page wires them).
Every value arrives from the browser, so ``resolve`` checks each one and names what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dash_bootstrap_components as dbc
from dash import dcc, html

from tonghu.common.errors import TonghuError

PRESETS = {"shift_now": "Current shift", "today": "Today", "24h": "Last 24 hours", "7d": "Last 7 days",
           "30d": "Last 30 days", "shift": "Pick a shift", "custom": "Custom dates"}
ROLLING = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
SHIFTS = {"early": ("Early 06–14", 6), "late": ("Late 14–22", 14), "night": ("Night 22–06", 22)}
SHIFT_HOURS = 8
MAX_CUSTOM_DAYS = 400


class TimeRangeError(TonghuError, ValueError):
    """A time range that cannot be resolved; the message says which input is wrong."""


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime   # UTC
    end: datetime     # UTC, never after now
    label: str        # for people: what the range is, in the site's time zone
    live: bool        # ends now, so a refresh brings new data
    tz: str

    @property
    def span(self) -> timedelta:
        return self.end - self.start


def zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise TimeRangeError(f"time zone {tz!r} of the site is not known") from err


def parse_day(text: Any, what: str) -> date:
    """A date from a date picker ("2026-01-05", possibly with a time part that is ignored)."""
    if not isinstance(text, str) or len(text) < 10:
        raise TimeRangeError(f"{what} must be a date like 2026-01-05, not {text!r}")
    try:
        return date.fromisoformat(text[:10])
    except ValueError as err:
        raise TimeRangeError(f"{what} must be a date like 2026-01-05, not {text!r}") from err


def _local(day: date, hour: int, z: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=z)


def shift_start(local_now: datetime) -> tuple[str, datetime]:
    """(shift key, local start) of the shift running at ``local_now``."""
    day, hour = local_now.date(), local_now.hour
    if hour < SHIFTS["early"][1]:
        return "night", _local(day - timedelta(days=1), SHIFTS["night"][1], local_now.tzinfo)  # type: ignore[arg-type]
    key = "early" if hour < SHIFTS["late"][1] else "late" if hour < SHIFTS["night"][1] else "night"
    return key, _local(day, SHIFTS[key][1], local_now.tzinfo)  # type: ignore[arg-type]


def shift_window(day: date, key: str, z: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) in UTC of shift ``key`` starting on ``day`` (wall-clock 8 hours)."""
    if key not in SHIFTS:
        raise TimeRangeError(f"shift {key!r} must be one of {', '.join(SHIFTS)}")
    start = _local(day, SHIFTS[key][1], z)
    end = (datetime.combine(day, time(SHIFTS[key][1])) + timedelta(hours=SHIFT_HOURS)).replace(tzinfo=z)
    return start.astimezone(UTC), end.astimezone(UTC)


def _fmt(t: datetime, z: ZoneInfo) -> str:
    return t.astimezone(z).strftime("%a %d %b %H:%M")


def resolve(preset: Any, tz: str, now: datetime, *, day: Any = None, shift: Any = None, custom_start: Any = None,
            custom_end: Any = None) -> TimeRange:
    """The UTC range the controls describe. Ranges reaching past ``now`` end at ``now`` (and are live)."""
    z = zone(tz)
    now = now.astimezone(UTC)
    local_now = now.astimezone(z)
    if preset == "shift_now":
        key, start_local = shift_start(local_now)
        start = start_local.astimezone(UTC)
        return TimeRange(start, now, f"{SHIFTS[key][0]} shift since {_fmt(start, z)} ({tz})", True, tz)
    if preset == "today":
        start = _local(local_now.date(), 0, z).astimezone(UTC)
        return TimeRange(start, now, f"Today since 00:00 ({tz})", True, tz)
    if preset in ROLLING:
        start = now - ROLLING[preset]
        return TimeRange(start, now, f"{PRESETS[preset]}: {_fmt(start, z)} – {_fmt(now, z)} ({tz})", True, tz)
    if preset == "shift":
        picked = parse_day(day, "the shift's date") if day is not None else local_now.date()
        start, end = shift_window(picked, shift if shift is not None else "early", z)
        if start >= now:
            raise TimeRangeError(f"the {SHIFTS[str(shift or 'early')][0]} shift of {picked} has not started yet")
        return TimeRange(start, min(end, now), f"{SHIFTS[str(shift or 'early')][0]} shift of {picked:%a %d %b %Y} "
                         f"({tz})", end > now, tz)
    if preset == "custom":
        a = parse_day(custom_start, "the first day")
        b = parse_day(custom_end, "the last day") if custom_end is not None else a
        if b < a:
            raise TimeRangeError(f"the last day {b} is before the first day {a}")
        if (b - a).days >= MAX_CUSTOM_DAYS:
            raise TimeRangeError(f"{(b - a).days + 1} days exceed the limit of {MAX_CUSTOM_DAYS}; pick fewer days")
        start = _local(a, 0, z).astimezone(UTC)
        end = _local(b + timedelta(days=1), 0, z).astimezone(UTC)
        if start >= now:
            raise TimeRangeError(f"{a} lies in the future")
        days = f"{a:%d %b %Y}" if a == b else f"{a:%d %b %Y} – {b:%d %b %Y}"
        return TimeRange(start, min(end, now), f"{days} ({tz})", end > now, tz)
    raise TimeRangeError(f"time range {preset!r} must be one of {', '.join(PRESETS)}")


def bucket_for(span: timedelta) -> str:
    """The coarsest bucket that still draws a useful series: hours up to 2 days, days up to ~2 months, then weeks."""
    if span <= timedelta(days=2):
        return "hour"
    if span <= timedelta(days=62):
        return "day"
    return "week"


# ------------------------------------------------------------------------------------------------ controls


DEFAULT_PRESET = "24h"


def initial_preset(requested: Any) -> str:
    """The preset a page opens on: the query string's when it names a preset (it is the browser's), else 24 h."""
    return requested if isinstance(requested, str) and requested in PRESETS else DEFAULT_PRESET


def control_id(kind: str, page: str) -> dict[str, str]:
    return {"type": f"range-{kind}", "page": page}


def controls(page: str, preset: str = "24h", today: date | None = None) -> dbc.Row:
    """Preset, shift and custom-date controls. The shift and date pickers start hidden; the page's callback shows
    the ones the preset needs (see ``visible``)."""
    today = today or datetime.now(UTC).date()
    hidden = {"display": "none"}
    return dbc.Row([
        dbc.Col([html.Small("Time range", className="text-muted"),
                 dcc.Dropdown(id=control_id("preset", page), options=[{"label": v, "value": k}
                                                                       for k, v in PRESETS.items()],
                              value=preset, clearable=False)], md=3, className="range-level"),
        dbc.Col([html.Small("Shift", className="text-muted"),
                 html.Div([dcc.DatePickerSingle(id=control_id("day", page), date=today.isoformat(),
                                                display_format="YYYY-MM-DD", first_day_of_week=1),
                           dcc.Dropdown(id=control_id("shift", page), value="early", clearable=False,
                                        options=[{"label": v[0], "value": k} for k, v in SHIFTS.items()],
                                        className="shift-dropdown")], className="shift-pick")],
                md=4, id=control_id("shift-col", page), style=hidden, className="range-level"),
        dbc.Col([html.Small("Days (site time)", className="text-muted"),
                 dcc.DatePickerRange(id=control_id("dates", page), start_date=(today - timedelta(days=6)).isoformat(),
                                     end_date=today.isoformat(), display_format="YYYY-MM-DD", first_day_of_week=1,
                                     minimum_nights=0)],
                md=4, id=control_id("dates-col", page), style=hidden, className="range-level"),
    ], className="g-2 range-picker")


def visible(preset: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Styles of the (shift, custom dates) columns for a preset."""
    show, hide = {}, {"display": "none"}
    return (show if preset == "shift" else hide), (show if preset == "custom" else hide)
