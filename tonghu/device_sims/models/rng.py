"""Deterministic randomness that depends on (seed, what, when) and never on the order of calls.

Two tools, for two needs:

- ``Draws`` wraps :class:`random.Random` for sequential draws inside one unit of work (one epoch of a state
  machine, one section's parts). Only ``Random.random()`` is used, because the standard library guarantees its
  sequence for a given integer seed across Python versions, while ``gauss``/``expovariate`` may change.
- ``mix64``/``noise``/``smooth`` are pure functions of integers: the value at time *t* is the same whether a run
  starts at *t* or a month earlier, which is what makes split windows and live/backfill agree.

``hash()`` of a ``str`` is salted per process, so every derivation from text goes through BLAKE2b.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from collections.abc import Sequence
from random import Random
from statistics import NormalDist

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_UNIT = 2.0 ** -53

# N(0, 1) quantiles at the midpoints of 4 096 equal-probability cells: a table lookup turns 12 hash bits into a
# normal deviate in a fraction of a microsecond. The tails stop at ±3.7 σ, so noise can never run away from
# the declared ranges of a tag.
_NORMAL_BITS = 12
_NORMAL = tuple(NormalDist().inv_cdf((i + 0.5) / (1 << _NORMAL_BITS)) for i in range(1 << _NORMAL_BITS))
NORMAL_MAX = _NORMAL[-1]
_STANDARD = NormalDist()  # immutable; only its inverse CDF is used


def derive(seed: int, *parts: object) -> int:
    """A 64-bit seed for a named sub-stream, e.g. ``derive(seed, "raw", epoch)``."""
    h = hashlib.blake2b(str(seed).encode(), digest_size=8)
    for part in parts:
        h.update(b"\x1f")
        h.update(str(part).encode())
    return int.from_bytes(h.digest(), "little")


def mix64(x: int) -> int:
    """The splitmix64 finaliser (Steele, Lea & Flood, OOPSLA 2014): a well-mixed 64-bit hash of an integer."""
    x = (x + _GOLDEN) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    return x ^ (x >> 31)


def unit(h: int) -> float:
    """A uniform number in [0, 1) from the top 53 bits of a 64-bit hash."""
    return (h >> 11) * _UNIT


def normal(h: int) -> float:
    """A standard normal deviate (bounded at ±3.7) from the low bits of a 64-bit hash."""
    return _NORMAL[h & ((1 << _NORMAL_BITS) - 1)]


def noise(key: int, t_us: int, k: int = 0) -> float:
    """Standard normal noise that is a pure function of (key, time, channel)."""
    return _NORMAL[mix64(key ^ (t_us * 0x2545F4914F6CDD1D + k * _GOLDEN)) & ((1 << _NORMAL_BITS) - 1)]


def smooth(key: int, t_s: float, period_s: float) -> float:
    """Slow value noise in [-1, 1]: random knots every ``period_s`` joined by a smoothstep.

    Drifts (fouling, sensor ageing, crude slate) use it: continuous, deterministic in time, no state.
    """
    x = t_s / period_s
    i = math.floor(x)
    f = x - i
    a = unit(mix64(key + i * _GOLDEN)) * 2.0 - 1.0
    b = unit(mix64(key + (i + 1) * _GOLDEN)) * 2.0 - 1.0
    return a + (b - a) * f * f * (3.0 - 2.0 * f)


class Draws:
    """Sequential draws for one unit of work; every distribution is built on ``Random.random()`` alone."""

    __slots__ = ("_r",)

    def __init__(self, seed: int) -> None:
        self._r = Random(seed)

    def u(self) -> float:
        return self._r.random()

    def uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * self._r.random()

    def normal(self) -> float:
        # Inverse transform keeps one uniform per deviate, so streams stay aligned however values are used.
        u = self._r.random()
        return _STANDARD.inv_cdf(min(max(u, 1e-12), 1.0 - 1e-12))

    def exponential(self, mean: float) -> float:
        return -mean * math.log(1.0 - self._r.random())

    def lognormal(self, mean: float, cv: float) -> float:
        """Lognormal with the given arithmetic mean and coefficient of variation (sd / mean)."""
        s2 = math.log1p(cv * cv)
        return math.exp(math.log(mean) - s2 / 2.0 + math.sqrt(s2) * self.normal())

    def poisson(self, lam: float) -> int:
        if lam <= 0.0:
            return 0
        if lam > 30.0:
            return max(0, round(lam + math.sqrt(lam) * self.normal()))
        # Knuth's multiplication method: exact, and cheap for the small means used here.
        limit, k, p = math.exp(-lam), 0, self._r.random()
        while p > limit:
            k += 1
            p *= self._r.random()
        return k

    def chance(self, p: float) -> bool:
        return self._r.random() < p

    def pick(self, cum_weights: Sequence[float]) -> int:
        """Index drawn by cumulative weights (as built by :func:`cumulative`)."""
        return min(bisect_right(cum_weights, self._r.random() * cum_weights[-1]), len(cum_weights) - 1)

    def index(self, n: int) -> int:
        return min(int(self._r.random() * n), n - 1)


def cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return tuple(out)
