"""Petrochemical: the alarm journal of a crude distillation unit, with the pathologies alarm KPIs look for.

ISA-18.2 / EEMUA 191 measure alarms per operator per 10 minutes and per day, floods (more than 10 alarms in 10
minutes), chattering alarms (the same alarm three or more times in a minute) and stale alarms (standing more than
24 hours). The journal therefore holds: process excursions (a key process value crosses its limit; the value
itself is pushed across the limit for the duration, so trend and journal agree), chattering episodes on a level
or analyser alarm hovering at its limit, floods when the unit trips, and a bad-instrument alarm that stands for a
day or more now and then. Events: value ``active`` / ``acked`` / ``cleared``, code = alarm id.
"""

from __future__ import annotations

from dataclasses import dataclass

from tonghu.device_sims.models.core import US, Item, Segment
from tonghu.device_sims.models.rng import Draws

MIN_US = 60 * US


@dataclass(frozen=True, slots=True)
class AlarmDef:
    """An alarm on a key process value: the tag, +1 for a high / -1 for a low alarm, the limit name."""

    id: str
    tag: str
    direction: int
    limit: str
    priority: str
    text: str


@dataclass(frozen=True, slots=True)
class Bump:
    """A process excursion: from ``start`` the value moves ``direction`` until it sits ``overshoot`` past
    ``limit`` at ``active``; it returns by ``end``."""

    start: int
    active: int
    cleared: int
    end: int
    tag: str
    direction: int
    limit: str
    overshoot: float


PV_ALARMS = (
    AlarmDef("TI-101.HI", "heater_outlet_temp", +1, "alarm_hi", "high", "Heater outlet temperature high"),
    AlarmDef("TI-201.HI", "column_top_temp", +1, "alarm_hi", "medium", "Column top temperature high"),
    AlarmDef("PI-201.HI", "column_top_press", +1, "alarm_hi", "high", "Column top pressure high"),
    AlarmDef("LI-301.LO", "reflux_drum_level", -1, "alarm_lo", "medium", "Reflux drum level low"),
    AlarmDef("LI-301.HI", "reflux_drum_level", +1, "alarm_hi", "medium", "Reflux drum level high"),
    AlarmDef("AI-102.LO", "heater_o2_pct", -1, "alarm_lo", "high", "Heater flue-gas oxygen low"),
    AlarmDef("TI-102.HI", "stack_temp", +1, "alarm_hi", "low", "Heater stack temperature high"),
)
CHATTERERS = (PV_ALARMS[3], PV_ALARMS[4], PV_ALARMS[5])
# Alarms that fire together when the unit trips (the cascade an operator faces in the first minutes).
TRIP_CASCADE = (
    ("XA-900.ESD", "emergency", "Emergency shutdown activated"),
    ("BMS-101.FLAME", "emergency", "Heater flame failure"),
    ("PI-105.LO", "high", "Fuel gas pressure low"),
    ("FI-001.LO", "high", "Crude feed flow low"),
    ("FI-001.LOLO", "emergency", "Crude feed flow low low"),
    ("P-101A.TRIP", "high", "Crude charge pump A tripped"),
    ("P-101B.TRIP", "high", "Crude charge pump B tripped"),
    ("TI-101.LO", "medium", "Heater outlet temperature low"),
    ("TI-201.LO", "low", "Column top temperature low"),
    ("PI-201.LO", "medium", "Column top pressure low"),
    ("LI-301.LO", "medium", "Reflux drum level low"),
    ("LI-105.HI", "medium", "Column bottom level high"),
    ("FI-210.LO", "medium", "Reflux flow low"),
    ("FI-410.LO", "low", "Diesel draw flow low"),
    ("FI-420.LO", "low", "Kerosene draw flow low"),
    ("TI-130.LO", "low", "Preheat train outlet temperature low"),
    ("FI-901.HI", "high", "Flare flow high"),
    ("AI-950.HI", "medium", "Flare smoke detected"),
    ("P-201A.TRIP", "medium", "Reflux pump A tripped"),
    ("P-301A.TRIP", "medium", "Residue pump A tripped"),
)
STALE = ("TI-215.BAD", "low", "Bad PV: thermocouple TI-215 open circuit")


def journal(k: int, segs: list[Segment], production: frozenset[int], trips: frozenset[int],
            planned: frozenset[int], rates: dict[str, float], d: Draws) -> tuple[list[Item], list[Bump]]:
    """Alarm events and process excursions of one section.

    Timestamps carry the section number in their lowest two bits and are made unique within the section, so
    that (tag, time, kind) stays unique across neighbouring sections, as the events table requires.
    """
    items: list[Item] = []
    bumps: list[Bump] = []
    busy: dict[str, list[tuple[int, int]]] = {}  # alarm id → standing intervals: no activation while it stands
    running = [s for s in segs if s.r in production and s.l0 > 0.0]
    hours = sum(s.end - s.start for s in running) / 3600e6

    def event(t: int, value: str, alarm_id: str, priority: str, text: str) -> None:
        items.append((t, "alarms", value, "alarm", alarm_id, f"{text} (priority {priority})"))

    def raise_alarm(t: int, dur: int, alarm_id: str, priority: str, text: str, ack_s: float) -> bool:
        spans = busy.setdefault(alarm_id, [])
        if any(a <= t + dur and t <= b for a, b in spans):
            return False
        spans.append((t, t + dur))
        event(t, "active", alarm_id, priority, text)
        ack = t + int(ack_s * US)
        if ack < t + dur:
            event(ack, "acked", alarm_id, priority, text)
        event(t + dur, "cleared", alarm_id, priority, text)
        return True

    def at_running_hour(x: float) -> tuple[int, Segment]:
        for s in running:
            span = (s.end - s.start) / 3600e6
            if x < span:
                return s.start + int(x * 3600e6), s
            x -= span
        return running[-1].end - 1, running[-1]

    if running:
        starts = sorted(d.uniform(0.0, hours) for _ in range(d.poisson(rates["alarms_per_day"] / 24.0 * hours)))
        for x in starts:
            t, seg = at_running_hour(x)
            a = PV_ALARMS[d.index(len(PV_ALARMS))]
            dur = min(int(d.lognormal(10.0, 1.0) * MIN_US), seg.end - t - 5 * MIN_US)
            if dur >= MIN_US and raise_alarm(t, dur, a.id, a.priority, a.text, d.lognormal(90.0, 1.0)):
                bumps.append(Bump(t - 3 * MIN_US, t, t + dur, t + dur + 3 * MIN_US, a.tag, a.direction, a.limit,
                                  d.uniform(0.02, 0.15)))
        starts = sorted(d.uniform(0.0, hours) for _ in range(d.poisson(rates["chatter_per_week"] / 168.0 * hours)))
        for x in starts:
            t, seg = at_running_hour(x)
            a = CHATTERERS[d.index(len(CHATTERERS))]
            start, stop = t, seg.end - 5 * MIN_US
            # A value hovering at its limit: seconds on, seconds off, several times a minute.
            for _ in range(8 + d.index(33)):
                on = int(d.uniform(1.0, 10.0) * US)
                if t + on >= stop or not raise_alarm(t, on, a.id, a.priority, a.text, 3600.0):
                    break
                t += on + int(d.uniform(2.0, 15.0) * US)
            if t > start:
                bumps.append(Bump(start - MIN_US, start, t, t + MIN_US, a.tag, a.direction, a.limit, 0.0))
    for s in segs:
        if s.r in trips:
            cascade = list(TRIP_CASCADE)
            for i in range(len(cascade) - 1, 0, -1):  # Fisher–Yates: each alarm of the cascade at most once
                j = d.index(i + 1)
                cascade[i], cascade[j] = cascade[j], cascade[i]
            for alarm_id, priority, text in cascade[:10 + d.index(11)]:
                t = s.start + int(d.uniform(0.0, 1.0) ** 2 * 600.0 * US)
                dur = min(int(d.lognormal(3600.0, 1.2) * US), max(MIN_US, s.end - t))
                raise_alarm(t, dur, alarm_id, priority, text, d.uniform(60.0, 900.0))
                if d.chance(0.4) and t + dur + 10 * MIN_US < s.end:
                    # Re-alarms while the operators stabilise the unit.
                    t2 = t + dur + int(d.uniform(60.0, 300.0) * US)
                    raise_alarm(t2, int(d.uniform(60.0, 600.0) * US), alarm_id, priority, text, d.uniform(30.0, 300.0))
        elif s.r in planned:
            for _ in range(3 + d.index(6)):
                alarm_id, priority, text = TRIP_CASCADE[3 + d.index(len(TRIP_CASCADE) - 3)]
                t = s.start + int(d.uniform(0.0, 3600.0) * US)
                raise_alarm(t, int(d.uniform(600.0, 7200.0) * US), alarm_id, priority, text, d.uniform(30.0, 300.0))
    weeks = (segs[-1].end - segs[0].start) / (7 * 86400e6) if segs else 0.0
    for _ in range(d.poisson(rates["stale_per_week"] * weeks)):
        # Early in the section and at most 60 h, so a stale alarm never overlaps the next section's.
        t = segs[0].start + int(d.uniform(0.0, min(3 * 86400e6, segs[-1].end - segs[0].start)))
        dur = int(min(d.lognormal(30.0, 0.5), 60.0) * 3600 * US)
        raise_alarm(t, dur, *STALE, d.uniform(300.0, 1800.0))
    return _unique(items, k), bumps


def _unique(items: list[Item], k: int) -> list[Item]:
    items.sort(key=lambda it: it[0])
    out: list[Item] = []
    last = -1
    for it in items:
        t = it[0] - it[0] % 4 + k % 4
        while t <= last:
            t += 4
        last = t
        out.append((t, *it[1:]))
    return out
