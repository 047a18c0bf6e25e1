"""The vocabulary of equipment models: tags, reasons, state-machine specs, products and machine kinds.

A machine kind is data: a table of :class:`TagSpec` (each with a value function of the machine's momentary
state), a :class:`StateMachineSpec` (reasons, stop episodes with their distributions, planned windows), a
product catalogue with ideal cycle times, and a physics function. Nothing here does I/O or keeps module state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from tonghu.common.tagkey import NAME_RE, SEGMENT_RE

if TYPE_CHECKING:
    from tonghu.device_sims.models.machine import Ctx, Machine
    from tonghu.device_sims.models.partlog import PartLog
    from tonghu.device_sims.models.profile import Profile
    from tonghu.device_sims.models.rng import Draws
    from tonghu.device_sims.models.timeline import Section, Timeline

Value = float | int | bool | str
US = 1_000_000
HOUR_US = 3600 * US
DAY_US = 86400 * US
EMPTY: Mapping[str, Any] = MappingProxyType({})


class DataType(StrEnum):
    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STRING = "string"
    STATE = "state"


class TimeClass(StrEnum):
    """ISO 22400-2 time elements a state belongs to (the KPI engine maps reason codes to these)."""

    PRODUCTION = "production"
    SETUP = "setup"
    UNPLANNED_DOWN = "unplanned_down"
    PLANNED_DOWN = "planned_down"
    IDLE = "idle"


class Position(NamedTuple):
    """ISA-95 position of an asset below its site: area / line (work centre) / asset (work unit)."""

    area: str
    line: str
    asset: str

    @property
    def path(self) -> str:
        return f"{self.area}/{self.line}/{self.asset}"

    def check(self) -> Position:
        for part in self:
            if not SEGMENT_RE.fullmatch(part):
                raise ValueError(f"position segment {part!r} must match {SEGMENT_RE.pattern}")
        return self


@dataclass(frozen=True, slots=True)
class TagSpec:
    """One tag of a machine kind.

    ``value(ctx)`` gives the value at the context's time. Step-sampled tags are reported by exception: when
    they move by more than ``deadband`` since their last report (but not sooner than ``min_interval_s`` after it:
    totalisers need no minute-by-minute history), and at every keyframe. ``exact`` tags change
    at instants the model supplies (state changes, lab results, AOI findings) and are reported at exactly those
    instants; ``periodic`` exact tags are also repeated at keyframes so every hour holds a value.
    """

    name: str
    dtype: DataType
    value: Callable[[Ctx], Value]
    unit: str = ""
    role: str = ""
    lo: float | None = None
    hi: float | None = None
    description: str = ""
    deadband: float = 0.0
    min_interval_s: float = 0.0
    digits: int | None = None
    exact: bool = False
    periodic: bool = True
    attrs: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    def __post_init__(self) -> None:
        if not NAME_RE.fullmatch(self.name):
            raise ValueError(f"tag name {self.name!r} must match {NAME_RE.pattern}")
        if self.lo is not None and self.hi is not None and self.lo > self.hi:
            raise ValueError(f"tag {self.name!r}: lo {self.lo} is above hi {self.hi}")


@dataclass(frozen=True, slots=True)
class Reason:
    """A reason code: the state it puts the machine in, its ISO 22400 time class and its text.

    ``weight`` is the relative frequency within its episode; ``scale`` multiplies the episode's duration
    (a spindle repair takes longer than a coolant fault); ``station`` names the station of a flow line that
    causes the stop (the other stations see it as starved or blocked).
    """

    code: str
    state: str
    tclass: TimeClass
    text: str
    weight: float = 1.0
    scale: float = 1.0
    station: str = ""


@dataclass(frozen=True, slots=True)
class Dist:
    """A duration distribution in seconds; ``cv`` is the coefficient of variation (lognormal only)."""

    kind: Literal["exponential", "lognormal", "fixed"]
    mean_s: float
    cv: float = 1.0
    lo_s: float = 1.0
    hi_s: float = math.inf

    def draw(self, d: Draws, scale: float = 1.0) -> float:
        if self.kind == "exponential":
            v = d.exponential(self.mean_s * scale)
        elif self.kind == "lognormal":
            v = d.lognormal(self.mean_s * scale, self.cv)
        else:
            v = self.mean_s * scale
        return min(self.hi_s, max(self.lo_s, v))


def _no_rate(_p: Profile) -> float:
    return 0.0


def _stopped(_p: Profile, _d: Draws) -> tuple[float, float]:
    return 0.0, 0.0


@dataclass(frozen=True, slots=True)
class Episode:
    """A departure from normal production: breakdowns, micro-stops, idling, reduced rate, trips.

    While producing, every episode with a positive ``rate_per_h`` competes (exponential hazards); the first to
    fire ends the production segment. ``reasons`` are drawn by weight; the duration comes from ``duration``
    times the reason's ``scale``. ``level`` gives the production level at the start and end of the episode
    (0 for a stop, a ramp for a startup). ``then`` names a follow-up episode (a trip is followed by a startup).
    Only ``interruptible`` episodes (idling) give way to a planned event; stops are never cut short.
    """

    name: str
    reasons: tuple[str, ...]
    duration: Callable[[Profile], Dist]
    rate_per_h: Callable[[Profile], float] = _no_rate
    level: Callable[[Profile, Draws], tuple[float, float]] = _stopped
    then: str = ""
    interruptible: bool = False


@dataclass(frozen=True)
class StateMachineSpec:
    """The state machine of a machine (or of a whole flow line whose stations share one timeline).

    ``epoch_s`` is the unit in which the timeline is generated (one day for discrete plants, a week for
    process units): each epoch has its own random stream, and consecutive epochs are joined at the first
    instant where both run the same product, so any window can be generated without its past.
    Counters reset weekly at the machine's maintenance slot (a PLC restart during the weekly planned
    maintenance, or the weekly totaliser cut-off of a process unit).
    """

    reasons: tuple[Reason, ...]
    run: str
    run_level: Callable[[Profile, Draws], float]
    episodes: tuple[Episode, ...]
    epoch_s: int = 86400
    changeover: str = ""
    order_change: str = ""
    setup_duration: Callable[[Profile], Dist] | None = None
    pm: str = ""
    planned_sd: str = ""
    planned_then: str = ""
    reset_days: int = 7

    def __post_init__(self) -> None:
        codes = [r.code for r in self.reasons]
        if len(set(codes)) != len(codes):
            raise ValueError("reason codes must be unique")
        known = set(codes)
        for code in (self.run, self.changeover, self.order_change, self.pm, self.planned_sd):
            if code and code not in known:
                raise ValueError(f"reason {code!r} is not in the reason table")
        names = {e.name for e in self.episodes}
        for e in self.episodes:
            missing = [c for c in e.reasons if c not in known]
            if missing:
                raise ValueError(f"episode {e.name!r} names unknown reasons {missing}")
            if e.then and e.then not in names:
                raise ValueError(f"episode {e.name!r} is followed by unknown episode {e.then!r}")
        if self.planned_then and self.planned_then not in names:
            raise ValueError(f"planned shutdowns are followed by unknown episode {self.planned_then!r}")

    def reason_index(self) -> dict[str, int]:
        return {r.code: i for i, r in enumerate(self.reasons)}


@dataclass(frozen=True, slots=True)
class Product:
    """A product (or part number) with its ideal cycle time in seconds per unit and physical attributes."""

    code: str
    name: str
    ideal_ct_s: float
    attrs: Mapping[str, Any] = field(default_factory=lambda: EMPTY)


class Segment:
    """A stretch of one state of a timeline: [start, end) in µs, a reason index, a product index, and two
    quantities that vary linearly inside it: the production ``level`` (speed factor or throughput fraction)
    and an ``aux`` variable of the kind (tool wear, flare relief)."""

    __slots__ = ("a0", "a1", "end", "l0", "l1", "prod", "r", "start")

    def __init__(self, start: int, end: int, r: int, prod: int, l0: float = 0.0, l1: float | None = None,
                 a0: float = 0.0, a1: float | None = None) -> None:
        self.start, self.end, self.r, self.prod = start, end, r, prod
        self.l0 = l0
        self.l1 = l0 if l1 is None else l1
        self.a0 = a0
        self.a1 = a0 if a1 is None else a1

    def at(self, t: int, v0: float, v1: float) -> float:
        if v0 == v1:
            return v0
        return v0 + (v1 - v0) * (t - self.start) / (self.end - self.start)

    def level(self, t: int) -> float:
        return self.at(t, self.l0, self.l1)

    def aux(self, t: int) -> float:
        return self.at(t, self.a0, self.a1)

    def clip(self, start: int, end: int) -> Segment:
        """The part of this segment inside [start, end), with the linear quantities interpolated."""
        s, e = max(self.start, start), min(self.end, end)
        return Segment(s, e, self.r, self.prod, self.level(s), self.level(e), self.aux(s), self.aux(e))

    def __repr__(self) -> str:
        return f"Segment({self.start}, {self.end}, r={self.r}, prod={self.prod}, l={self.l0:.3f}..{self.l1:.3f})"


# An exact item: (ts_us, tag name, value, event kind or "" for a sample, code, text).
Item = tuple[int, str, Value, str, str, str]


# Refines a section's segments (splitting them where the kind needs it) and produces its units.
PartModel = Callable[["Timeline", int, list[Segment]], tuple[list[Segment], "PartLog"]]
# Rate of a totaliser inside a segment, per hour: rate(t) = a + b * level(t) + c * aux(t).
RateFn = Callable[["Machine", Segment], tuple[float, float, float]]


@dataclass(frozen=True, slots=True)
class Total:
    """A totaliser integrated exactly over the timeline (energy, feed, fuel …) from a per-segment rate."""

    name: str
    rate: RateFn


# How a station of a flow line sees a reason of the line: (state, code, text, time class).
View = tuple[str, str, str, TimeClass]


@dataclass(frozen=True)
class MachineKind:
    """A kind of machine as data: tags, state machine, products, physics.

    ``catalogue``, ``params`` and ``parts`` belong to the timeline: stations of one flow line share them (and
    their board flow); ``physics(ctx)`` fills ``ctx.p`` with derived values the tags read. ``counters`` are
    the part-log columns the kind reads as reset-safe counters, ``lasts`` the per-unit values it reads, and
    ``totals`` the exactly integrated totalisers. ``view`` maps a line reason to the station's own state;
    ``exact`` adds kind-specific instants (alarms, lab results) for a section.
    """

    name: str
    sector: str
    description: str
    tags: tuple[TagSpec, ...]
    states: StateMachineSpec
    catalogue: Callable[[Draws, Mapping[str, Any]], tuple[Product, ...]]
    params: Callable[[Draws, Profile], dict[str, Any]]
    physics: Callable[[Ctx], None]
    parts: PartModel | None = None
    totals: tuple[Total, ...] = ()
    counters: tuple[str, ...] = ()
    lasts: tuple[str, ...] = ()
    view: Callable[[Reason], View] | None = None
    exact: Callable[[Machine, Section], Sequence[Item]] | None = None
    orders: bool = False
    item_spill_s: int = 86400

    def __post_init__(self) -> None:
        names = [t.name for t in self.tags]
        if len(set(names)) != len(names):
            raise ValueError(f"kind {self.name!r} declares a tag twice")
