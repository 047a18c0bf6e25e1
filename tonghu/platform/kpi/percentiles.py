"""Sample percentiles and percentile ranks as released by the sector benchmarks.

Percentiles use linear interpolation between order statistics, definition 7 of R. J. Hyndman and Y. Fan,
"Sample quantiles in statistical packages", The American Statistician 50(4), 1996, pp. 361–365. It is the
default of R (``quantile(type = 7)``), numpy (``method="linear"``) and Excel's ``PERCENTILE.INC``, so an
association can reproduce every released figure with the tool it already has.

For sorted values x[0] ≤ … ≤ x[n-1] and a probability p: h = (n - 1)·p, j = ⌊h⌋, and
Q(p) = x[j] + (h - j)·(x[j+1] - x[j]). Probabilities are fractions (0.1 has no exact binary form), so j
is exact, h - j is rounded once, and a percentile that falls on an order statistic is exactly that value.

The percentile rank of a value v among n values is 100·(B + E/2)/n, with B the number of values below v and E
the number equal to v (v itself included): the textbook definition of percentile rank, the same as
``scipy.stats.percentileofscore(kind="mean")``. It lies strictly between 0 and 100, so a rank never claims that
a company is below or above everyone including itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

P10 = Fraction(1, 10)
P25 = Fraction(1, 4)
P50 = Fraction(1, 2)
P75 = Fraction(3, 4)
P90 = Fraction(9, 10)


def quantile_type7(sorted_values: Sequence[float], p: Fraction) -> float:
    """Hyndman–Fan type 7 sample quantile of ``sorted_values`` (ascending, non-empty) at probability ``p``."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("quantile of an empty sample")
    if not 0 <= p <= 1:
        raise ValueError(f"probability must be within [0, 1], got {p}")
    h = (n - 1) * p
    j = math.floor(h)
    low = sorted_values[j]
    if j == n - 1:
        return float(low)
    return float(low + float(h - j) * (sorted_values[j + 1] - low))


def percentile_rank(values: Sequence[float], value: float) -> float:
    """Percentile rank (0–100, exclusive) of ``value`` among ``values``, which must contain it."""
    below = sum(1 for v in values if v < value)
    equal = sum(1 for v in values if v == value)
    if equal == 0:
        raise ValueError("the ranked value must be one of the values")
    return 100.0 * (below + equal / 2) / len(values)
