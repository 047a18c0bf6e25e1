"""The state timeline of a machine (or of a flow line): a semi-Markov process generated epoch by epoch.

Why epochs: a live simulator starts "now", a backfill starts a month ago, and both must agree without
simulating from some distant origin. Each epoch k has its own random stream and is generated from a fresh
start at its first instant, running two epochs long ("raw" timeline). Section k, the part of the real
timeline taken from raw k, ends at the *coupling point* R_k in epoch k+1, normally the first instant where
raw k and raw k+1 both produce the same product (see :meth:`Timeline.bound`). Switching streams there is
invisible (running continues), stops are never cut, and any instant can be computed from at most three raw
epochs, whatever the window asked for.

Planned things come from schedules that are pure functions of time, so every raw epoch sees the same ones:
product changeovers (a plan per epoch with at least one changeover), the weekly maintenance slot (PM window
and counter reset) and, for process units, planned shutdowns.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tonghu.device_sims.models.core import (
    DAY_US,
    HOUR_US,
    US,
    Episode,
    PartModel,
    Product,
    Segment,
    StateMachineSpec,
    TimeClass,
)
from tonghu.device_sims.models.partlog import PartLog
from tonghu.device_sims.models.profile import Profile
from tonghu.device_sims.models.rng import Draws, cumulative, derive, mix64, unit

MIN_US = 60 * US
MIN_SETUP_GAP_US = 30 * MIN_US
_CACHE = 24  # epochs kept per timeline: a week of counters plus the epochs around the current instant


@dataclass(slots=True)
class Section:
    """Section k of the timeline: [start, end) with its segments, units and orders (setup start → id)."""

    k: int
    start: int
    end: int
    segs: list[Segment]
    starts: list[int]
    log: PartLog
    orders: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    r: int
    then: str


class _Bounded(dict[Any, Any]):
    """A dict that forgets its least recently used entries: the cache of one timeline, shared with nothing."""

    def get(self, key: Any, default: Any = None) -> Any:
        value = super().pop(key, default)
        if value is not default:
            self[key] = value  # most recently used goes to the end
        return value

    def put(self, key: Any, value: Any) -> Any:
        if len(self) >= _CACHE:
            del self[next(iter(self))]
        self[key] = value
        return value


class Timeline:
    """Deterministic timeline of one machine or flow line; every query is a pure function of (seed, time)."""

    def __init__(self, spec: StateMachineSpec, profile: Profile, seed: int, *,
                 catalogue: Callable[[Draws, Mapping[str, Any]], tuple[Product, ...]],
                 params: Callable[[Draws, Profile], dict[str, Any]], parts: PartModel | None = None) -> None:
        self.spec, self.profile, self.seed = spec, profile, seed
        self.epoch_us = spec.epoch_s * US
        self.reasons = spec.reasons
        self.index = spec.reason_index()
        self.params: dict[str, Any] = params(Draws(derive(seed, "params")), profile)
        self.products = catalogue(Draws(derive(seed, "catalogue")), self.params)
        if not self.products:
            raise ValueError("a timeline needs at least one product")
        # Product mix: a few runners and some rarer products, as in any high-mix plant.
        d = Draws(derive(seed, "mix"))
        self._mix = cumulative([d.lognormal(1.0, 0.8) for _ in self.products])
        self.run_r = self.index[spec.run]
        self.production = frozenset(i for i, r in enumerate(self.reasons) if r.tclass is TimeClass.PRODUCTION)
        self.episodes = {e.name: e for e in spec.episodes}
        self._dist = {e.name: e.duration(profile) for e in spec.episodes}
        self._pick = {e.name: ([self.index[c] for c in e.reasons],
                               cumulative([self.reasons[self.index[c]].weight for c in e.reasons]))
                      for e in spec.episodes}
        # Reason scales are relative: normalised so that an episode's mean duration is its profile mean.
        self._norm = {e.name: sum(self.reasons[self.index[c]].weight * self.reasons[self.index[c]].scale
                                  for c in e.reasons) / sum(self.reasons[self.index[c]].weight for c in e.reasons)
                      for e in spec.episodes}
        self._hazards = [(e, 3600.0 / rate) for e in spec.episodes if (rate := e.rate_per_h(profile)) > 0]
        self._setup = spec.setup_duration(profile) if spec.setup_duration else None
        slot = derive(seed, "slot")
        # Weekly maintenance slot: a weekday, a morning-to-evening hour and a quarter hour.
        self.slot_us = (slot % 7) * DAY_US + (6 + (slot >> 8) % 14) * HOUR_US + ((slot >> 16) % 4) * 15 * MIN_US
        self.reset_us = spec.reset_days * DAY_US
        self._slot_key = derive(seed, "pm")
        self._parts = parts
        self._raw, self._bound, self._sections, self._plans = _Bounded(), _Bounded(), _Bounded(), _Bounded()

    # ------------------------------------------------------------------------------------------ schedules

    def last_reset(self, t: int) -> int:
        """The counter reset at or before t (weekly, at the maintenance slot)."""
        return (t - self.slot_us) // self.reset_us * self.reset_us + self.slot_us

    def windows(self, a: int, b: int) -> list[Window]:
        """Planned windows (weekly PM, planned shutdowns) overlapping [a, b), as scheduled."""
        out = []
        if self.spec.pm:
            r = self.index[self.spec.pm]
            n = (a - self.slot_us - DAY_US) // self.reset_us
            while (s := n * self.reset_us + self.slot_us) < b:
                hours = self.profile.pm_hours * (0.8 + 0.4 * unit(mix64(self._slot_key + n)))
                e = s + round(hours * 60) * MIN_US
                if e > a:
                    out.append(Window(s, e, r, ""))
                n += 1
        if self.spec.planned_sd:
            r = self.index[self.spec.planned_sd]
            every = round(self.profile.x("sd_interval_days")) * DAY_US
            phase = (self._slot_key % (every // DAY_US)) * DAY_US + 6 * HOUR_US
            n = (a - phase - 10 * DAY_US) // every
            while (s := n * every + phase) < b:
                hours = self.profile.pm_hours * (0.8 + 0.4 * unit(mix64(self._slot_key ^ n)))
                e = s + round(hours) * HOUR_US
                if e > a:
                    out.append(Window(s, e, r, self.spec.planned_then))
                n += 1
        return out

    def plan(self, j: int) -> list[tuple[int, int, str]]:
        """Product changeovers planned in epoch j: (time, product index, order id); at least one."""
        hit = self._plans.get(j)
        if hit is not None:
            return hit
        if not self.spec.changeover:
            return self._plans.put(j, [])
        d = Draws(derive(self.seed, "plan", j))
        days = self.epoch_us / DAY_US
        n = max(1, d.poisson(self.profile.changeovers_per_day * days))
        times = sorted(j * self.epoch_us + int(d.u() * self.epoch_us) // MIN_US * MIN_US for _ in range(n))
        out = [(t, d.pick(self._mix), f"WO{j % 100000:05d}{i:02d}") for i, t in enumerate(times)]
        return self._plans.put(j, out)

    def plan_product(self, t: int) -> int:
        j = t // self.epoch_us
        for e in (j, j - 1):
            before = [p for (tc, p, _o) in self.plan(e) if tc <= t]
            if before:
                return before[-1]
        return 0

    # ------------------------------------------------------------------------------------------ raw epochs

    def raw(self, k: int) -> tuple[list[Segment], dict[int, str]]:
        hit = self._raw.get(k)
        if hit is None:
            hit = self._raw.put(k, self._generate(k))
        return hit

    def _generate(self, k: int) -> tuple[list[Segment], dict[int, str]]:
        e0, end = k * self.epoch_us, (k + 2) * self.epoch_us
        d = Draws(derive(self.seed, "raw", k))
        prof, spec = self.profile, self.spec
        segs: list[Segment] = []
        orders: dict[int, str] = {}
        prod = self.plan_product(e0) if spec.changeover else 0
        t = e0
        events: list[tuple[int, int, Any]] = []
        for w in self.windows(e0, end):
            if w.start < e0:
                # The epoch opens inside a planned window: start in it.
                segs.append(Segment(t, w.end, w.r, prod))
                t = self._follow(w.then, w.end, segs, d, prod, math.inf)
            else:
                events.append((w.start, 0, w))
        for j in (k, k + 1):
            events.extend((tc, 1, (p, oid)) for tc, p, oid in self.plan(j) if e0 < tc < end)
        events.sort(key=lambda ev: (ev[0], ev[1]))
        ei, pending_w, pending_c = 0, [], None
        # A released order waits until the previous one has run a while: no back-to-back setups.
        hold = e0
        while t < end:
            while ei < len(events) and events[ei][0] <= t:
                if events[ei][1] == 0:
                    pending_w.append(events[ei][2])
                else:
                    pending_c = events[ei][2]  # a later changeover supersedes one still waiting
                ei += 1
            if pending_w:
                w = pending_w.pop(0)
                segs.append(Segment(t, t + (w.end - w.start), w.r, prod))
                t = self._follow(w.then, t + (w.end - w.start), segs, d, prod, math.inf)
                continue
            if pending_c is not None and self._setup is not None and t >= hold:
                new, oid = pending_c
                pending_c = None
                code = spec.changeover if new != prod or not spec.order_change else spec.order_change
                reason = self.reasons[self.index[code]]
                dur = max(60, round(self._setup.draw(d, reason.scale))) * US
                orders[t] = oid
                prod = new
                segs.append(Segment(t, t + dur, self.index[code], prod))
                t += dur
                hold = t + MIN_SETUP_GAP_US
                continue
            next_ev = events[ei][0] if ei < len(events) else math.inf
            if pending_c is not None:
                next_ev = min(next_ev, hold)
            level = spec.run_level(prof, d)
            best, which = math.inf, None
            for ep, mean_s in self._hazards:
                dt = d.exponential(mean_s)
                if dt < best:
                    best, which = dt, ep
            run_end = t + max(1, round(best)) * US if which is not None else math.inf
            if run_end >= next_ev or which is None:
                stop = next_ev if next_ev < math.inf else end
                segs.append(Segment(t, int(stop), self.run_r, prod, level))
                t = int(stop)
                continue
            segs.append(Segment(t, run_end, self.run_r, prod, level))
            t = self._follow(which.name, run_end, segs, d, prod, next_ev)
        return segs, orders

    def _follow(self, name: str, t: int, segs: list[Segment], d: Draws, prod: int, next_ev: float) -> int:
        """Run episode ``name`` and its follow-ups from t; returns the time production resumes."""
        ep: Episode | None = self.episodes.get(name) if name else None
        while ep is not None:
            codes, cum = self._pick[ep.name]
            r = codes[d.pick(cum)]
            dur = round(self._dist[ep.name].draw(d, self.reasons[r].scale / self._norm[ep.name])) * US
            if ep.interruptible and t + dur > next_ev:
                dur = int(next_ev) - t
            l0, l1 = ep.level(self.profile, d)
            if dur > 0:
                segs.append(Segment(t, t + dur, r, prod, l0, l1))
                t += dur
            ep = self.episodes.get(ep.then) if ep.then else None
        return t

    # ------------------------------------------------------------------------------------------ sections

    def bound(self, k: int) -> int:
        """R_k, the end of section k: the first instant in epoch k+1 where switching from raw k to raw k+1 is least
        visible. Stops are never cut short. In order of preference:

        1. both run the same product, or raw k runs and raw k+1 begins an unplanned stop on that product;
        2. a stop of raw k ends while raw k+1 runs the same product (the machine simply resumes);
        3. raw k runs while raw k+1 begins any segment on the same product (a planned event may repeat);
        4. as 2 or 3 with another product (the product changes without a setup);
        5. the end of epoch k+1.

        Only 1 happens in practice; the others need both streams disturbed by long stops for a whole epoch.
        """
        hit = self._bound.get(k)
        if hit is None:
            hit = self._bound.put(k, self.coupling(k))
        return hit[0]

    def coupling(self, k: int) -> tuple[int, int]:
        """(R_k, the preference rank that chose it, 1–5); see :meth:`bound`."""
        lo, hi = (k + 1) * self.epoch_us, (k + 2) * self.epoch_us
        a, _ = self.raw(k)
        b, _ = self.raw(k + 1)
        run, reasons = self.run_r, self.reasons
        unplanned = (TimeClass.UNPLANNED_DOWN, TimeClass.IDLE)
        i = max(0, bisect_right([s.start for s in a], lo) - 1)
        j = 0
        best: dict[int, int] = {}
        while i < len(a) and j < len(b) and 1 not in best:
            sa, sb = a[i], b[j]
            s, e = max(sa.start, sb.start, lo), min(sa.end, sb.end)
            if s >= hi:
                break
            if s < e:
                same = sa.prod == sb.prod
                if sa.r == run and (sb.r == run or (sb.start == s and reasons[sb.r].tclass in unplanned)) and same:
                    best[1] = s
                    break
                if sb.r == run and sa.end <= sb.end and sa.end < hi:
                    best.setdefault(2 if same else 4, sa.end)
                if sa.r == run and sb.start == s:
                    best.setdefault(3 if same else 4, s)
            if sa.end <= sb.end:
                i += 1
            else:
                j += 1
        return (best[min(best)], min(best)) if best else (hi, 5)

    def section(self, k: int) -> Section:
        hit = self._sections.get(k)
        if hit is not None:
            return hit
        start, end = self.bound(k - 1), self.bound(k)
        raw, orders = self.raw(k)
        segs = [s.clip(start, end) for s in raw if s.end > start and s.start < end]
        log = PartLog()
        if segs and self._parts is not None:
            segs, log = self._parts(self, k, segs)
            log.freeze()
        sec = Section(k, start, end, segs, [s.start for s in segs], log,
                      {t: o for t, o in orders.items() if start <= t < end})
        return self._sections.put(k, sec)

    def section_index(self, t: int) -> int:
        j = t // self.epoch_us
        return j if t >= self.bound(j - 1) else j - 1

    def segment_at(self, t: int) -> tuple[Section, int]:
        sec = self.section(self.section_index(t))
        return sec, bisect_right(sec.starts, t) - 1

    def sections(self, a: int, b: int) -> list[Section]:
        """The non-empty sections overlapping [a, b), in time order."""
        out = []
        k = self.section_index(a)
        while True:
            sec = self.section(k)
            if sec.start >= b:
                return out
            if sec.end > sec.start:
                out.append(sec)
            k += 1
