"""Exact-time samples and events of a machine (state changes, orders, alarms, lab results, AOI findings).

They come per section and are cached: each state change gives a ``state`` event (with reason code and text)
plus ``state``/``reason`` samples at the same instant; each order start an ``order`` event and sample; the
kind and the section's part log add their own (alarm journals, lab results, tool changes, AOI findings).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tonghu.device_sims.models.core import US, Item
from tonghu.device_sims.models.timeline import Section

if TYPE_CHECKING:
    from tonghu.device_sims.models.machine import Machine

_CHUNK_US = 6 * 3600 * US
_KEEP = 24


class Instants:
    """The exact-time items of one machine (``names``: its exact tags), and state start times, per section."""

    def __init__(self, m: Machine, names: frozenset[str]) -> None:
        self.m = m
        self.names = names
        self._items_cache: dict[int, tuple[list[Item], list[int]]] = {}
        self._since_cache: dict[int, list[int]] = {}

    def since(self, sec: Section) -> list[int]:
        """For each segment of the section, when the machine's current (state, code) began."""
        hit = self._since_cache.get(sec.k)
        if hit is not None:
            return hit
        views, out = self.m.views, []
        prev_view, prev_since = self.tail(sec.k)
        for s in sec.segs:
            v = views[s.r][:2]
            if v != prev_view:
                prev_view, prev_since = v, s.start
            out.append(prev_since)
        if len(self._since_cache) > _KEEP:
            del self._since_cache[next(iter(self._since_cache))]
        self._since_cache[sec.k] = out
        return out

    def tail(self, k: int) -> tuple[tuple[str, str] | None, int]:
        """(state, code) at the end of the last non-empty section before k, and when it began."""
        for j in range(k - 1, k - 4, -1):
            prev = self.m.timeline.section(j)
            if prev.segs:
                seg = prev.segs[-1]
                # Traced back through one section only: enough for transients, since sections end while
                # running and a state that crosses a section boundary began in the section before.
                start = seg.start
                for s in reversed(prev.segs):
                    if self.m.views[s.r][:2] != self.m.views[seg.r][:2]:
                        break
                    start = s.start
                return self.m.views[seg.r][:2], start
        return None, 0

    def of(self, sec: Section) -> tuple[list[Item], list[int]]:
        """The exact-time samples and events of a section, sorted by time (cached)."""
        hit = self._items_cache.get(sec.k)
        if hit is not None:
            return hit
        items: list[Item] = []
        prev, _ = self.tail(sec.k)
        names = self.names
        for s in sec.segs:
            state, code, text, _tc = self.m.views[s.r]
            if (state, code) != prev:
                items.append((s.start, "state", state, "state", code, text))
                items.append((s.start, "state", state, "", "", ""))
                if "reason" in names:
                    items.append((s.start, "reason", code, "", "", ""))
                prev = (state, code)
        if self.m.kind.orders:
            for t, oid in sec.orders.items():
                si = bisect_right(sec.starts, t) - 1
                product = self.m.timeline.products[sec.segs[si].prod]
                items.append((t, "order", oid, "order", product.code, f"Order {oid}: {product.name}"))
                items.append((t, "order", oid, "", "", ""))
        items.extend(it for it in sec.log.items if it[1] in names)
        if self.m.kind.exact is not None:
            items.extend(self.m.kind.exact(self.m, sec))
        items.sort(key=_ts)
        if len(self._items_cache) > _KEEP:
            del self._items_cache[next(iter(self._items_cache))]
        out = (items, [it[0] for it in items])
        self._items_cache[sec.k] = out
        return out

    def stream(self, start: int, end: int | None) -> Iterator[Item]:
        """Items with start ≤ ts < end in time order, chunk by chunk (``end=None``: for ever)."""
        spill = self.m.kind.item_spill_s * US
        a = start
        while end is None or a < end:
            b = a + _CHUNK_US if end is None else min(a + _CHUNK_US, end)
            chunk: list[Item] = []
            for sec in self.m.timeline.sections(a - spill, b):
                items, times = self.of(sec)
                chunk.extend(items[bisect_right(times, a - 1):bisect_right(times, b - 1)])
            chunk.sort(key=_ts)
            yield from chunk
            a = b


def _ts(item: Item) -> int:
    return item[0]
