"""Disclosure control for sector benchmarks: which anonymised figures may be released (docs/BENCHMARKS.md).

Every released benchmark figure goes through :func:`disclose`, one metric and period at a time. Contributions of
companies that did not opt in are dropped before anything is counted. The cells are the sector cell and one cell per
value of every dimension in the opted-in companies' attributes (the universe). A released cell has N, P25/P50/P75
(P10/P90 when N ≥ 10; Hyndman–Fan type 7, see :mod:`.percentiles`), Σnumerator/Σdenominator for weighted metrics,
and the viewer's own value and percentile rank when the viewer is a member. A suppressed cell has only its reasons.

Rules (defaults of :class:`Thresholds`):
1. ``min_count``: fewer than 5 companies.
2. ``dominance`` (weighted metrics): one company holds more than 25 % of the cell's Σdenominator. The whole cell is
   suppressed, so a cell is either released with every figure or with none.
3. ``differencing``: (a) released cells with different members differ by at least 3 companies (symmetric
   difference); (b) weighted metrics: released cells of one dimension inside a larger released cell leave none or
   at least 3 of its companies uncovered. One company is the product rule; two, because a member inside a
   two-company difference can subtract its own contribution; (b) because Σnumerator and Σdenominator add up, so
   with volumes known from public statistics sector − North − South yields East even when East is suppressed.

Resolution is one deterministic greedy pass over the whole universe, whatever the caller asked for, then a retry of
the cells it suppressed for differencing (smaller cells released later may have closed their gap): by N descending
(sector first among equals, then by dimension and value); a cell passing rules 1–2 is released unless it breaks
rule 3 against cells released before it. Suppressing never creates a conflict, so the result is stable, the smaller
cell of a conflict is the suppressed one, and neither input order nor the requested dimensions change anything.

A viewer's own value cannot be subtracted from the aggregate: Σnumerator and Σdenominator are never released, and
even with the total volume known the rest mixes at least 4 companies, none above 1/3 of its weight (rule 2).
Figures are released unrounded: protection never relies on rounding, and display rounding is the dashboards' job.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType

from tonghu.common.errors import ConfigError, PermanentError
from tonghu.platform.kpi.percentiles import P10, P25, P50, P75, P90, percentile_rank, quantile_type7

CellKey = tuple[str | None, str | None]
SECTOR: CellKey = (None, None)
"""Key of the sector-wide cell; a filtered cell's key is (dimension, value)."""


class BenchmarkInputError(PermanentError):
    """A contribution is invalid; the message names the company and the field."""


class Reason(StrEnum):
    MIN_COUNT = "min_count"
    DOMINANCE = "dominance"
    DIFFERENCING = "differencing"


# The defaults are also the loosest values allowed outside tests.
_LOOSEST_COUNTS = {"min_companies": 5, "min_companies_p10_p90": 10, "min_difference": 3}
_LOOSEST_SHARE = 0.25


@dataclass(frozen=True)
class Thresholds:
    """Disclosure thresholds: only stricter than the defaults, unless ``test`` is set (tests and demos only)."""

    min_companies: int = 5
    max_weight_share: float = _LOOSEST_SHARE
    min_companies_p10_p90: int = 10
    min_difference: int = 3
    test: bool = False

    def __post_init__(self) -> None:
        for name, loosest in _LOOSEST_COUNTS.items():
            got = getattr(self, name)
            if not isinstance(got, int) or isinstance(got, bool) or got < 1:
                raise ConfigError(f"Thresholds.{name}: expected an integer ≥ 1, got {got!r}")
            if not self.test and got < loosest:
                raise ConfigError(f"Thresholds.{name}: {got} is looser than the minimum {loosest} (test=False)")
        share = self.max_weight_share
        if not isinstance(share, int | float) or isinstance(share, bool) or not 0 < share <= 1:
            raise ConfigError(f"Thresholds.max_weight_share: expected a number in (0, 1], got {share!r}")
        if not self.test and share > _LOOSEST_SHARE:
            raise ConfigError(f"Thresholds.max_weight_share: {share} is looser than the maximum {_LOOSEST_SHARE}")


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Contribution:
    """One company's figure for one metric and period. ``denominator`` is its weight in the sector aggregate."""

    company: str
    value: float
    opted_in: bool
    attributes: Mapping[str, str] = field(default_factory=dict)
    numerator: float | None = None
    denominator: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.company, str) or not self.company:
            raise BenchmarkInputError(f"Contribution.company: expected a non-empty string, got {self.company!r}")
        where = f"contribution of {self.company!r}"
        object.__setattr__(self, "value", _number(self.value, f"{where}: value"))
        if not isinstance(self.opted_in, bool):
            raise BenchmarkInputError(f"{where}: opted_in must be a bool, got {self.opted_in!r}")
        if not isinstance(self.attributes, Mapping):
            raise BenchmarkInputError(f"{where}: attributes must be a mapping, got {type(self.attributes).__name__}")
        for dim, val in self.attributes.items():
            if not (isinstance(dim, str) and dim and isinstance(val, str)):
                raise BenchmarkInputError(f"{where}: attribute {dim!r}: expected a string name and value, got {val!r}")
        object.__setattr__(self, "attributes", MappingProxyType(dict(self.attributes)))
        if (self.numerator is None) != (self.denominator is None):
            raise BenchmarkInputError(f"{where}: numerator and denominator must be given together")
        if self.numerator is not None and self.denominator is not None:
            object.__setattr__(self, "numerator", _number(self.numerator, f"{where}: numerator"))
            object.__setattr__(self, "denominator", _number(self.denominator, f"{where}: denominator"))
            if self.denominator <= 0:
                raise BenchmarkInputError(f"{where}: denominator is the weight and must be > 0, got {self.denominator}")

    @property
    def weighted(self) -> bool:
        return self.denominator is not None


@dataclass(frozen=True)
class BenchmarkCell:
    """One cell; released when ``reasons`` is empty. Suppressed cells have every figure None."""

    dimension: str | None
    value: str | None
    reasons: tuple[Reason, ...] = ()
    n: int | None = None
    p10: float | None = None
    p25: float | None = None
    p50: float | None = None
    p75: float | None = None
    p90: float | None = None
    weighted: float | None = None
    viewer_value: float | None = None
    viewer_rank: float | None = None

    @property
    def released(self) -> bool:
        return not self.reasons

    @property
    def key(self) -> CellKey:
        return (self.dimension, self.value)


def disclose(contributions: Iterable[Contribution], dimensions: Sequence[str] = (), viewer: str | None = None,
             thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[BenchmarkCell, ...]:
    """Cells for one metric and period: the sector cell, then each requested dimension's cells sorted by value.

    A requested dimension that no opted-in company carries yields no cells. ``viewer`` is the company id of the
    user's own company (taken from the session, never from a request parameter).
    """
    if isinstance(dimensions, str):
        raise BenchmarkInputError(f"dimensions must be a sequence of names, got the string {dimensions!r}")
    members = _opted_in(contributions)
    weighted = any(c.weighted for c in members.values())
    universe = _universe(members)
    status = _decide(universe, members, weighted, thresholds)
    keys = [SECTOR]
    for dim in dict.fromkeys(dimensions):
        keys.extend(sorted(k for k in universe if k[0] == dim))
    return tuple(_cell(k, universe[k], status[k], members, viewer, thresholds) for k in keys)


def _number(x: object, what: str) -> float:
    # Decimal is what PostgreSQL numeric columns arrive as; numpy scalars register as numbers.Real.
    if isinstance(x, bool) or not isinstance(x, numbers.Real | Decimal) or not math.isfinite(x):
        raise BenchmarkInputError(f"{what} must be a finite number, got {x!r}")
    return float(x)


def _opted_in(contributions: Iterable[Contribution]) -> dict[str, Contribution]:
    seen: dict[str, Contribution] = {}
    kinds: set[bool] = set()
    for c in contributions:
        if not isinstance(c, Contribution):
            raise BenchmarkInputError(f"expected Contribution objects, got {type(c).__name__}")
        if c.company in seen:
            raise BenchmarkInputError(f"company {c.company!r} contributes twice to the same metric and period")
        seen[c.company] = c
        kinds.add(c.weighted)
    if len(kinds) > 1:
        raise BenchmarkInputError("either every contribution has numerator/denominator or none has")
    return {company: c for company, c in seen.items() if c.opted_in}


def _universe(members: Mapping[str, Contribution]) -> dict[CellKey, frozenset[str]]:
    cells: dict[CellKey, set[str]] = {SECTOR: set(members)}
    for company, c in members.items():
        for dim, val in c.attributes.items():
            cells.setdefault((dim, val), set()).add(company)
    return {k: frozenset(v) for k, v in cells.items()}


def _priority(key: CellKey, group: frozenset[str]) -> tuple[int, bool, str, str]:
    return (-len(group), key != SECTOR, key[0] or "", key[1] or "")


def _decide(universe: Mapping[CellKey, frozenset[str]], members: Mapping[str, Contribution], weighted: bool,
            t: Thresholds) -> dict[CellKey, tuple[Reason, ...]]:
    status: dict[CellKey, tuple[Reason, ...]] = {}
    released: dict[CellKey, frozenset[str]] = {}
    for key in sorted(universe, key=lambda k: _priority(k, universe[k])):
        group = universe[key]
        reasons = _primary_reasons(group, members, weighted, t)
        if not reasons and _conflicts(key, group, released, weighted, t.min_difference):
            reasons = (Reason.DIFFERENCING,)
        status[key] = reasons
        if not reasons:
            released[key] = group
    # A cell suppressed for differencing may be safe once smaller cells were released after it (they can close
    # the gap it would have left); retry such cells, in the same order, until nothing changes.
    changed = True
    while changed:
        changed = False
        for key in sorted(universe, key=lambda k: _priority(k, universe[k])):
            group = universe[key]
            if status[key] == (Reason.DIFFERENCING,) and not _conflicts(key, group, released, weighted,
                                                                         t.min_difference) \
                    and not _leaves_gap_as_outer(group, released, weighted, t.min_difference):
                status[key], released[key], changed = (), group, True
    return status


def _primary_reasons(group: frozenset[str], members: Mapping[str, Contribution], weighted: bool,
                     t: Thresholds) -> tuple[Reason, ...]:
    reasons = []
    if len(group) < t.min_companies:
        reasons.append(Reason.MIN_COUNT)
    if weighted and group:
        weights = [members[c].denominator or 0.0 for c in group]
        top, total = max(weights), math.fsum(weights)
        limit = t.max_weight_share * total
        if abs(top - limit) <= 1e-9 * total:
            # Near the line the verdict is taken in exact rational arithmetic: exactly 25 % is allowed, whatever
            # the rounding of the sums.
            top, limit = Fraction(top), Fraction(t.max_weight_share) * sum(map(Fraction, weights))
        if top > limit:
            reasons.append(Reason.DOMINANCE)
    return tuple(reasons)


def _conflicts(key: CellKey, group: frozenset[str], released: Mapping[CellKey, frozenset[str]], weighted: bool,
               k: int) -> bool:
    if any(0 < len(group ^ other) < k for other in released.values()):
        return True
    if not weighted or key == SECTOR:
        return False
    for outer in released.values():
        if group < outer:
            covered = group.union(*(g for (d, _), g in released.items() if d == key[0] and g <= outer))
            if 0 < len(outer - covered) < k:
                return True
    return False


def _leaves_gap_as_outer(group: frozenset[str], released: Mapping[CellKey, frozenset[str]], weighted: bool,
                         k: int) -> bool:
    """Rule 3 (b) with the cell as the larger one: smaller released cells of a dimension inside it must cover none
    or leave at least k of its companies (in the first pass larger cells come first, so this never arises there)."""
    if not weighted:
        return False
    inner: dict[str | None, set[str]] = {}
    for (dim, _), g in released.items():
        if g < group:
            inner.setdefault(dim, set()).update(g)
    return any(0 < len(group - covered) < k for covered in inner.values())


def _cell(
    key: CellKey, group: frozenset[str], reasons: tuple[Reason, ...], members: Mapping[str, Contribution],
    viewer: str | None, t: Thresholds,
) -> BenchmarkCell:
    if reasons:
        return BenchmarkCell(*key, reasons)
    values = sorted(members[c].value for c in group)
    tails = len(values) >= t.min_companies_p10_p90
    aggregate = None
    if any(members[c].weighted for c in group):
        # fsum is correctly rounded, so the aggregate does not depend on the order of the contributions.
        aggregate = math.fsum(members[c].numerator or 0.0 for c in group) / math.fsum(
            members[c].denominator or 0.0 for c in group)
    own = members[viewer].value if viewer in group else None
    return BenchmarkCell(
        *key, (), n=len(values), weighted=aggregate,
        p10=quantile_type7(values, P10) if tails else None, p25=quantile_type7(values, P25),
        p50=quantile_type7(values, P50), p75=quantile_type7(values, P75),
        p90=quantile_type7(values, P90) if tails else None,
        viewer_value=own, viewer_rank=None if own is None else percentile_rank(values, own),
    )
