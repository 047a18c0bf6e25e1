"""Units made in a section (parts, boards, assemblies): completion times and cumulative counter columns."""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import ne
from typing import TYPE_CHECKING, Any

from tonghu.device_sims.models.core import US, Item, Segment, TimeClass, Value

if TYPE_CHECKING:
    from tonghu.device_sims.models.timeline import Timeline


@dataclass(slots=True)
class PartLog:
    """Units completed in a section: completion times, cumulative columns (index i = after the first i units)
    and per-unit values (index i = unit i). Counters are read with one bisect on ``times``. ``items`` are
    exact-time samples and events found while making units; ``extra`` holds other per-section data of a kind
    (process excursions)."""

    times: Sequence[int] = field(default_factory=list)
    cols: dict[str, Sequence[float]] = field(default_factory=dict)
    lasts: dict[str, Sequence[Value]] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def freeze(self) -> PartLog:
        """Pack the columns into machine arrays: a day of boards costs megabytes as lists of Python ints."""
        self.times = array("q", self.times)
        self.cols = {k: _packed(v) for k, v in self.cols.items()}
        self.lasts = {k: _packed(v) for k, v in self.lasts.items()}
        return self


def _packed(values: Sequence[Any]) -> Sequence[Any]:
    if all(type(v) is int for v in values):
        steps = Steps.of(values)
        return steps if steps is not None else array("q", values)
    if all(type(v) in (int, float) for v in values):
        return array("d", values)
    return values


class Steps(Sequence[int]):
    """An integer column that rarely changes (pick failures of one feeder), kept as its change points.

    ``steps[i]`` is the value at unit i, as for a plain list, at the cost of one bisect.
    """

    __slots__ = ("_at", "_n", "_values")

    def __init__(self, at: array, values: array, n: int) -> None:
        self._at, self._values, self._n = at, values, n

    @classmethod
    def of(cls, values: Sequence[int]) -> Steps | None:
        """The change points of a column, or None when it changes too often for them to save anything."""
        n = len(values)
        at = [0, *compress(range(1, n), map(ne, values[1:], values))] if n else []  # type: ignore[index]
        if not at or len(at) * 4 > n:
            return None
        return cls(array("q", at), array("q", (values[i] for i in at)), n)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> int:  # type: ignore[override]
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(i)
        return self._values[bisect_right(self._at, i) - 1]


def produce(tl: Timeline, segs: list[Segment], need: Callable[[int], float]) -> list[tuple[int, int, float]]:
    """Completion times of units in production segments: (time µs, segment index, work in ideal seconds).

    ``need(product)`` gives the work content of the next unit in ideal seconds; a segment at level L works off
    L ideal seconds per second. Work in progress survives stops but is discarded at a setup (a changeover
    clears the machine).
    """
    out: list[tuple[int, int, float]] = []
    left: float | None = None
    work = 0.0
    current = -1
    for i, s in enumerate(segs):
        if s.r not in tl.production:
            if tl.reasons[s.r].tclass is TimeClass.SETUP:
                left = None
            continue
        if s.prod != current:
            current, left = s.prod, None
        level = s.l0
        if level <= 0.0:
            continue
        t = s.start
        while True:
            if left is None:
                left = work = need(s.prod)
            done = t + int(left / level * US)
            if done >= s.end:
                left -= (s.end - t) / US * level
                break
            out.append((done, i, work))
            t, left = done, None
    return out
