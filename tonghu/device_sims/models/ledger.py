"""Counters and totalisers of one machine as exact, reset-safe functions of time.

Value at t = (units completed, or rate integrated, since the last reset r ≤ t). Units come from the sections'
part logs (cumulative columns read with one bisect); totalisers integrate a per-segment rate a + b·level +
c·aux, which is exact because level and aux vary linearly inside a segment. What depends only on (section, r)
(the value at the section start, or the amount before r inside it) is computed once and cached.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from tonghu.device_sims.models.core import Segment
from tonghu.device_sims.models.timeline import Section

if TYPE_CHECKING:
    from tonghu.device_sims.models.machine import Machine

_KEEP = 32
Prefix = dict[str, tuple[list[float], list[tuple[float, float, float]]]]


def integral(seg: Segment, t0: int, t1: int, a: float, b: float, c: float) -> float:
    """∫ (a + b·level + c·aux) dt over [t0, t1] inside seg, in rate-hours (the midpoint rule is exact here)."""
    if t1 <= t0:
        return 0.0
    mid = (t0 + t1) / 2
    value = a
    if b:
        value += b * seg.level(mid)
    if c:
        value += c * seg.aux(mid)
    return value * (t1 - t0) / 3.6e9


class Ledger:
    def __init__(self, m: Machine) -> None:
        self.m = m
        self.tl = m.timeline
        self.counters = m.kind.counters
        self.lasts = m.kind.lasts
        self.totals = m.kind.totals
        self._prefix: dict[int, Prefix] = {}
        self._offsets: dict[tuple[int, int], tuple[dict[str, float], dict[str, float]]] = {}

    def read(self, sec: Section, si: int, t: int, c: dict[str, Any], rates: dict[str, float],
             memo: list[Any]) -> None:
        """Fill ``c`` with counters, last-unit values and totalisers at t, and ``rates`` with totaliser rates.

        ``memo`` belongs to the caller's walk: counters are only re-read when a unit completed or a reset passed.
        """
        log = sec.log
        r = self.tl.last_reset(t)
        off_c, off_t = self.offsets(sec, r)
        i = bisect_right(log.times, t) if log.times else 0
        if memo != [sec.k, r, i]:
            memo[:] = (sec.k, r, i)
            cols = log.cols
            for name in self.counters:
                c[name] = cols[name][i] + off_c[name]
            for name in self.lasts:
                c[name] = log.lasts[name][i - 1] if i else self._last_before(sec, name)
        if self.totals:
            seg = sec.segs[si]
            for name, (pre, abc) in self.prefix(sec).items():
                a, b, cc = abc[si]
                c[name] = pre[si] + integral(seg, seg.start, t, a, b, cc) + off_t[name]
                rates[name] = a + b * seg.level(t) + cc * seg.aux(t)

    def prefix(self, sec: Section) -> Prefix:
        """Per totaliser: integral from the section start to each segment start, and each segment's rate."""
        hit = self._prefix.get(sec.k)
        if hit is not None:
            return hit
        out: Prefix = {}
        for tot in self.totals:
            pre, abc, acc = [0.0], [], 0.0
            for seg in sec.segs:
                a, b, c = tot.rate(self.m, seg)
                abc.append((a, b, c))
                acc += integral(seg, seg.start, seg.end, a, b, c)
                pre.append(acc)
            out[tot.name] = (pre, abc)
        return _put(self._prefix, sec.k, out)

    def offsets(self, sec: Section, r: int) -> tuple[dict[str, float], dict[str, float]]:
        """What to add to the section-local amounts to get values counted from the reset at r."""
        hit = self._offsets.get((sec.k, r))
        if hit is not None:
            return hit
        if r >= sec.start:
            j = bisect_right(sec.log.times, r) if sec.log.times else 0
            off_c = {name: -float(sec.log.cols[name][j]) for name in self.counters}
            off_t = {tot.name: -self._integral_to(sec, tot.name, r) for tot in self.totals}
        else:
            off_c = dict.fromkeys(self.counters, 0.0)
            off_t = {tot.name: 0.0 for tot in self.totals}
            for j in range(self.tl.section_index(r), sec.k):
                prev = self.tl.section(j)
                if prev.end <= prev.start:
                    continue
                lo = bisect_right(prev.log.times, r) if r >= prev.start and prev.log.times else 0
                for name in self.counters:
                    col = prev.log.cols[name]
                    off_c[name] += col[-1] - col[lo]
                for tot in self.totals:
                    whole = self.prefix(prev)[tot.name][0][-1]
                    off_t[tot.name] += whole - (self._integral_to(prev, tot.name, r) if r >= prev.start else 0.0)
        return _put(self._offsets, (sec.k, r), (off_c, off_t))

    def _integral_to(self, sec: Section, name: str, t: int) -> float:
        pre, abc = self.prefix(sec)[name]
        si = bisect_right(sec.starts, t) - 1
        seg = sec.segs[si]
        return pre[si] + integral(seg, seg.start, t, *abc[si])

    def _last_before(self, sec: Section, name: str) -> Any:
        for j in range(sec.k - 1, sec.k - 4, -1):
            prev = self.tl.section(j).log
            if prev.times:
                return prev.lasts[name][-1]
        return 0.0


def _put(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    if len(cache) >= _KEEP:
        del cache[next(iter(cache))]
    cache[key] = value
    return value
