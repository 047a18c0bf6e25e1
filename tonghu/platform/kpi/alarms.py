"""Alarm system performance KPIs: ANSI/ISA-18.2-2016 clause 16 (monitoring and assessment) with its technical
report ISA-TR18.2.5, and EEMUA Publication 191, 3rd edition (2013).

Pure functions over an alarm journal of ``(time, alarm id, value)`` events (value ``active`` | ``acked`` |
``cleared``, timezone-aware times). Rates are per operator position: a process unit (asset) is one console with one
operator unless the asset's ``attrs`` say ``{"operators": n}``, and then the load counts as shared evenly (/ n).
The definitions implemented, exactly:

- annunciated alarm: an ``active`` event in [start, end); ``acked``/``cleared`` only change an alarm's state.
  10-minute periods are aligned to ``start``; a last, shorter period counts as a period.
- flood: r(t) = annunciations in (t − 10 min, t] per operator; a flood starts at the first instant with r > 10 and
  ends at the first later instant with r < 5. At ``start`` the state is "in flood" iff r(start) > 10 (hysteresis
  from before is not carried over, so only the 10 minutes before ``start`` matter); ``end`` cuts an open episode.
- chattering: ISA-18.2 calls an alarm chattering when it repeatedly goes in and out of alarm in a short time; the
  usual measure, used here, is 3 or more activations within 60 s: one of its annunciations in the range comes at
  most 60 s after the annunciation two before it (which may precede ``start``).
- standing: from the first ``active`` after the last ``cleared`` to the next ``cleared`` (an ``acked`` with no known
  activation stands from the ack). Stale: standing more than 24 h at some instant of the range;
  ``stale_max_concurrent`` is the most stale alarms at one time (the target counts those "present on any day").
- bad actors: the 10 alarm ids with most annunciations (ties by id) and their share of all annunciations.

Events before ``start`` are history: they set the alarms standing at ``start`` and feed the windows above.
``load_alarm_journals`` reads exactly that history: each standing episode and the ``LOOKBACK`` before ``start``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any

import numpy as np
import psycopg

from tonghu.common.errors import TonghuError

Event = tuple[datetime, str, str]  # (time, alarm id, 'active' | 'acked' | 'cleared')
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
PERIOD_US, DAY_US, STALE_US = 600 * US, 86_400 * US, 86_400 * US  # 10 min; a day; stale after 24 h
FLOOD_ABOVE, FLOOD_BELOW = 10, 5   # > 10 per 10 min starts a flood, < 5 ends it (ISA-18.2-2016 cl. 16)
CHATTER_COUNT, CHATTER_WINDOW_US = 3, 60 * US
TOP_N = 10
_ONE_US = timedelta(microseconds=1)
LOOKBACK = timedelta(minutes=10)   # the longest window above that reaches back from ``start``
_RANK = {"active": 0, "acked": 1, "cleared": 2}  # order of simultaneous events of one alarm


class AlarmDataError(TonghuError, ValueError):
    """An alarm journal or a range the KPIs cannot be computed on; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Target:
    """``value <= acceptable``: "very likely acceptable"; ``<= maximum``: "maximum manageable"; else over."""

    field: str
    acceptable: float
    maximum: float | None
    source: str


# The alarm performance metrics table of ANSI/ISA-18.2-2016 clause 16; EEMUA 191 (3rd ed.) gives the same long-term
# averages (1 per 10 min very likely acceptable, 2 manageable). "< 5" on a count is stored as 4.
TARGETS = (
    Target("per_operator_per_day", 150, 300, "ISA-18.2-2016: ~150/day very likely acceptable, ~300/day maximum"),
    Target("per_operator_per_10min", 1, 2, "ISA-18.2-2016 and EEMUA 191: ~1 and ~2 per 10 minutes"),
    Target("max_10min", 10, None, "ISA-18.2-2016: at most 10 alarms in a 10-minute period"),
    Target("flood_periods_pct", 1, None, "ISA-18.2-2016: < ~1 % of 10-minute periods with more than 10 alarms"),
    Target("flood_time_pct", 1, None, "ISA-18.2-2016: < ~1 % of the time in flood"),
    Target("top10_share", 0.05, None, "ISA-18.2-2016: the top 10 alarms ~1 % to 5 % of the load at most"),
    Target("chattering_count", 0, None, "ISA-18.2-2016: zero chattering alarms"),
    Target("stale_max_concurrent", 4, None, "ISA-18.2-2016: fewer than 5 stale alarms present on any day"),
)


@dataclass(frozen=True, slots=True)
class FloodEpisode:
    start: datetime
    end: datetime
    peak: float    # most annunciations per operator in a trailing 10 minutes during the episode
    ended: bool    # False: still under way at the end of the range, which cuts it


@dataclass(frozen=True, slots=True)
class StaleAlarm:
    alarm_id: str
    since: datetime
    cleared: datetime | None  # None: still standing at the end of the range


@dataclass(frozen=True, slots=True)
class BadActor:
    alarm_id: str
    count: int
    share: float


@dataclass(frozen=True, slots=True)
class AlarmKpis:
    start: datetime
    end: datetime
    operators: int
    annunciated: int
    per_operator_per_day: float
    per_operator_per_10min: float   # average over the range
    max_10min: float                # per operator, over the aligned 10-minute periods
    periods: int
    flood_periods: int
    flood_periods_pct: float
    floods: tuple[FloodEpisode, ...]
    flood_count: int
    flood_time_pct: float
    chattering: tuple[str, ...]
    chattering_count: int
    chattering_annunciated: int
    chattering_share: float | None  # None when nothing was annunciated
    stale: tuple[StaleAlarm, ...]
    stale_count: int
    stale_max_concurrent: int
    bad_actors: tuple[BadActor, ...]
    top10_share: float | None
    standing_at_start: int
    standing_at_end: int

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=datetime.isoformat))


def assess(kpis: AlarmKpis) -> dict[str, str]:
    """Each ``TARGETS`` field → 'acceptable' | 'manageable' | 'over' | 'n/a' (no value)."""
    out = {}
    for t in TARGETS:
        v = getattr(kpis, t.field)
        out[t.field] = ("n/a" if v is None else "acceptable" if v <= t.acceptable
                        else "manageable" if t.maximum is not None and v <= t.maximum else "over")
    return out


def alarm_kpis(events: Iterable[Event], start: datetime, end: datetime, operators: int = 1) -> AlarmKpis:
    """KPIs of one operator position over [start, end); ``events`` may include history before ``start``."""
    s, e = _range(start, end)
    if isinstance(operators, bool) or not isinstance(operators, int) or operators < 1:
        raise AlarmDataError(f"operators must be a whole number ≥ 1, not {operators!r}")
    rows = _rows(events)
    acts: dict[str, list[int]] = {}
    since: dict[str, int] = {}
    episodes: list[tuple[str, int, int | None]] = []
    for t, alarm, rank in rows:
        if t >= e:
            break
        if rank == 0:
            acts.setdefault(alarm, []).append(t)
        if rank < 2:
            since.setdefault(alarm, t)
        elif alarm in since:
            episodes.append((alarm, since.pop(alarm), t))
    episodes += [(alarm, t0, None) for alarm, t0 in since.items()]

    in_range = {a: [t for t in ts if t >= s] for a, ts in acts.items()}
    counts = Counter({a: len(ts) for a, ts in in_range.items() if ts})
    total = sum(counts.values())
    times = np.fromiter((t for ts in in_range.values() for t in ts), dtype=np.int64, count=total)
    periods = -(-(e - s) // PERIOD_US)
    per_period = np.bincount((times - s) // PERIOD_US, minlength=periods) / operators
    flood_periods = int(np.count_nonzero(per_period > FLOOD_ABOVE))
    floods = _floods(np.sort(np.fromiter((t for ts in acts.values() for t in ts), dtype=np.int64)), s, e, operators)
    k = CHATTER_COUNT - 1
    chattering = tuple(sorted(a for a, ts in acts.items()
                              if any(ts[i] >= s and ts[i] - ts[i - k] <= CHATTER_WINDOW_US for i in range(k, len(ts)))))
    chat_n = sum(counts[a] for a in chattering)
    stale = sorted((a, t0, c) for a, t0, c in episodes if max(t0 + STALE_US, s) < min(e if c is None else c, e))
    # At equal times a stale interval ending goes first: [a, b) and [b, c) are never stale together.
    marks = sorted([(min(e, c or e), -1) for _, _, c in stale] + [(max(t0 + STALE_US, s), 1) for _, t0, c in stale])
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_N]
    return AlarmKpis(
        start=start, end=end, operators=operators, annunciated=total,
        per_operator_per_day=total / operators / ((e - s) / DAY_US),
        per_operator_per_10min=total / operators / ((e - s) / PERIOD_US),
        max_10min=float(per_period.max()), periods=periods, flood_periods=flood_periods,
        flood_periods_pct=100.0 * flood_periods / periods,
        floods=tuple(FloodEpisode(_dt(a), _dt(b), peak, ended) for a, b, peak, ended in floods),
        flood_count=len(floods), flood_time_pct=100.0 * sum(b - a for a, b, _, _ in floods) / (e - s),
        chattering=chattering, chattering_count=len(chattering), chattering_annunciated=chat_n,
        chattering_share=chat_n / total if total else None,
        stale=tuple(StaleAlarm(a, _dt(t0), None if c is None else _dt(c)) for a, t0, c in stale),
        stale_count=len({a for a, _, _ in stale}),
        stale_max_concurrent=max(accumulate(d for _, d in marks), default=0),
        bad_actors=tuple(BadActor(a, n, n / total) for a, n in top),
        top10_share=sum(n for _, n in top) / total if total else None,
        standing_at_start=sum(1 for _, t0, c in episodes if t0 < s and (c is None or c > s)),
        standing_at_end=sum(1 for _, _, c in episodes if c is None),
    )


def counts_per_period(events: Iterable[Event], start: datetime, end: datetime,
                      period: timedelta = timedelta(minutes=10)) -> tuple[int, ...]:
    """Annunciations in each period of [start, end), periods aligned to ``start`` (the last may be shorter)."""
    (s, e), p = _range(start, end), period // _ONE_US
    if p <= 0:
        raise AlarmDataError(f"the period must be positive, not {period}")
    times = np.array([t for t, _, rank in _rows(events) if rank == 0 and s <= t < e], dtype=np.int64)
    return tuple(np.bincount((times - s) // p, minlength=-(-(e - s) // p)).tolist())


def _rows(events: Iterable[Event]) -> list[tuple[int, str, int]]:
    rows = []
    for t, alarm, value in events:
        try:
            rows.append(((t - EPOCH) // _ONE_US, alarm, _RANK[value]))
        except KeyError:
            raise AlarmDataError(f"alarm {alarm!r} at {t}: value {value!r} must be one of {', '.join(_RANK)}") from None
        except TypeError:  # a naive datetime or not a datetime at all
            _us(t, f"the time of alarm {alarm!r}")
            raise
    rows.sort()
    return rows


def _floods(acts: np.ndarray, s: int, e: int, operators: int) -> list[tuple[int, int, float, bool]]:
    """Flood episodes over [s, e) from the sorted annunciation times (history included)."""
    # r(t) only changes when an annunciation enters (t = a) or leaves (t = a + 10 min) the window.
    edges = np.unique(np.concatenate([acts, acts + PERIOD_US]))
    taus = np.concatenate([[s], edges[(edges > s) & (edges < e)]])
    rate = (np.searchsorted(acts, taus, "right") - np.searchsorted(acts, taus - PERIOD_US, "right")) / operators
    out: list[tuple[int, int, float, bool]] = []
    begin, peak = None, 0.0
    for tau, r in zip(taus.tolist(), rate.tolist(), strict=True):
        if begin is None and r > FLOOD_ABOVE:
            begin, peak = tau, r
        elif begin is not None and r < FLOOD_BELOW:
            out.append((begin, tau, peak, True))
            begin = None
        peak = max(peak, r)
    return out if begin is None else [*out, (begin, e, peak, False)]


@dataclass(frozen=True, slots=True)
class AlarmJournal:
    """One console's journal as read by ``load_alarm_journals``: history + the events of [start, end)."""

    asset_id: int
    asset: str          # area/line/asset
    operators: int
    start: datetime
    end: datetime
    events: tuple[Event, ...]

    def kpis(self) -> AlarmKpis:
        return alarm_kpis(self.events, self.start, self.end, self.operators)


def load_alarm_journals(conn: psycopg.Connection, company_id: int, asset_ids: Sequence[int], start: datetime,
                        end: datetime) -> dict[int, AlarmJournal]:
    """The alarm journals (tags with role 'alarms', event values active/acked/cleared; other values, e.g. shelving
    states, are left out) of the company's assets, with the history ``alarm_kpis`` needs before ``start``."""
    _range(start, end)
    rows = conn.execute(
        "SELECT a.id, ar.code || '/' || l.code || '/' || a.code, a.attrs -> 'operators', "
        "       array_agg(t.id) FILTER (WHERE t.id IS NOT NULL) "
        "FROM assets a JOIN lines l ON l.id = a.line_id JOIN areas ar ON ar.id = l.area_id "
        "JOIN sites s ON s.id = ar.site_id LEFT JOIN tags t ON t.asset_id = a.id AND t.role = 'alarms' "
        "WHERE s.company_id = %s AND a.id = ANY(%s) GROUP BY 1, 2, 3", (company_id, list(asset_ids))).fetchall()
    found = {r[0]: r for r in rows}
    if missing := sorted(set(asset_ids) - set(found)):
        raise AlarmDataError(f"assets {missing} are not assets of company {company_id}")
    if silent := sorted(r[1] for r in rows if not r[3]):
        raise AlarmDataError(f"assets {silent} have no tag with role 'alarms'")
    tag_asset = {t: r[0] for r in rows for t in r[3]}
    alarm = "tag_id = ANY(%s) AND kind = 'alarm' AND value IN ('active', 'acked', 'cleared')"
    # Alarms standing at start: their last event before it is not a clear. This reads the whole history before start
    # once (two years of 300 alarms a day: ~0.2 s); an episode starts after the last clear, or at the first event.
    standing = {(tag, code): (cleared, first) for tag, code, cleared, first in conn.execute(
        f"SELECT tag_id, code, max(time) FILTER (WHERE value = 'cleared'), min(time) FROM events WHERE {alarm} "
        "AND time < %s GROUP BY 1, 2 HAVING max(time) FILTER (WHERE value = 'cleared') IS DISTINCT FROM max(time)",
        (list(tag_asset), start))}
    since = min([start - LOOKBACK, *(c or f for c, f in standing.values())])
    events: dict[int, list[Event]] = {a: [] for a in found}
    for tag, time, code, value in conn.execute(f"SELECT tag_id, time, code, value FROM events WHERE {alarm} "
                                               "AND time >= %s AND time < %s", (list(tag_asset), since, end)):
        c, f = standing.get((tag, code), (None, None))
        if time >= start - LOOKBACK or (time > c if c is not None else f is not None and time >= f):
            events[tag_asset[tag]].append((time, code, value))
    return {a: AlarmJournal(a, r[1], _operators(r[2], r[1]), start, end, tuple(sorted(events[a])))
            for a, r in sorted(found.items())}


def _operators(raw: object, asset: str) -> int:
    if raw is not None and (isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 1 or raw % 1):
        raise AlarmDataError(f"asset {asset}: attrs.operators must be a whole number ≥ 1, not {raw!r}")
    return 1 if raw is None else int(raw)


def _range(start: datetime, end: datetime) -> tuple[int, int]:
    s, e = _us(start, "start"), _us(end, "end")
    if e <= s:
        raise AlarmDataError(f"the range is empty: end {end.isoformat()} is not after start {start.isoformat()}")
    return s, e


def _us(t: datetime, what: str) -> int:
    if not isinstance(t, datetime) or t.tzinfo is None:
        raise AlarmDataError(f"{what} must be a timezone-aware datetime, not {t!r}")
    return (t - EPOCH) // _ONE_US


def _dt(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))
