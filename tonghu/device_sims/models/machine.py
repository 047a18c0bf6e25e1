"""A machine: kind + ISA-95 position + profile + seed, and the output API protocol servers and backfill use.

Output contract:

- ``steps(start_us, end_us, step_us)`` walks a grid aligned to absolute time (multiples of ``step_us``). Each
  :class:`Step` carries the step-sampled tags that changed beyond their deadband (all of them at keyframes,
  every ``keyframe_us``), plus the exact-time samples and events with timestamps in (previous step, this step].
  Everything lies in [start_us, end_us); ``end_us=None`` runs for ever (live simulation).
- Deadband memory restarts at each keyframe, and a window replays silently from the keyframe before it, so
  running [a, c) gives exactly the output of [a, b) followed by [b, c).
- Counters and totalisers are exact functions of time (integrated per segment, reset weekly), so they do not
  depend on the step size either.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tonghu.common.uplink import TagMeta
from tonghu.device_sims.models.core import (
    US,
    DataType,
    Item,
    MachineKind,
    Position,
    Product,
    Reason,
    TimeClass,
    Value,
    View,
)
from tonghu.device_sims.models.instants import Instants
from tonghu.device_sims.models.ledger import Ledger
from tonghu.device_sims.models.profile import Profile
from tonghu.device_sims.models.rng import derive, noise, smooth
from tonghu.device_sims.models.timeline import Section, Timeline

SampleT = tuple[str, int, Value]
EventT = tuple[str, int, str, str, str, str]
DEFAULT_STEP_US = 60 * US
DEFAULT_KEYFRAME_US = 900 * US


@dataclass(frozen=True, slots=True)
class Step:
    """The output of one grid step: samples (name, ts µs, value) and events (name, ts µs, kind, value, code,
    text), each in time order."""

    t_us: int
    samples: list[SampleT]
    events: list[EventT]


@dataclass(frozen=True, slots=True)
class Run:
    samples: list[SampleT]
    events: list[EventT]


@dataclass(frozen=True, slots=True)
class StateAt:
    """The machine's state at an instant, with the bounds of that state (as far as the section goes)."""

    state: str
    code: str
    text: str
    time_class: TimeClass
    since_us: int
    until_us: int
    product: str


class Ctx:
    """The momentary state of a machine that value functions read: time, segment, state, product, counters
    (``c``), instantaneous totaliser rates (``r``) and the physics results (``p``)."""

    __slots__ = ("c", "code", "m", "memo", "p", "params", "product", "r", "sec", "seg", "si", "since", "state", "t",
                 "tclass", "text")

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.params = m.params
        self.c: dict[str, Any] = {}
        self.r: dict[str, float] = {}
        self.p: dict[str, Any] = {}
        self.memo: list[Any] = []
        self.sec: Section | None = None
        self.si = 0
        self.t = 0
        self.since = 0

    @property
    def level(self) -> float:
        return self.seg.level(self.t)

    @property
    def aux(self) -> float:
        return self.seg.aux(self.t)

    @property
    def age_s(self) -> float:
        """Seconds in the current state."""
        return (self.t - self.since) / US

    def n(self, k: int) -> float:
        """Deterministic N(0, 1) noise for channel k at this instant."""
        return noise(self.m.key, self.t, k)

    def drift(self, k: int, period_h: float) -> float:
        """Slow deterministic drift in [-1, 1] for channel k."""
        return smooth(self.m.key + k * 7919, self.t / US, period_h * 3600.0)

    def producing(self) -> bool:
        return self.tclass is TimeClass.PRODUCTION and self.seg.l0 > 0.0


def identity_view(r: Reason) -> View:
    return (r.state, r.code, r.text, r.tclass)


class Machine:
    """One simulated asset: a kind at an ISA-95 position with a performance profile and a seed.

    Stations of a flow line pass the line's shared ``timeline`` (its state machine, products and board flow);
    a standalone machine gets its own. How consumers use it:

    - protocol servers (live): ``tags()`` for the address space or births, ``snapshot(now)`` for initial
      values, then ``for step in steps(grid_now, None, 1_000_000, throttle=False)``: wait until the (scaled)
      wall clock reaches ``step.t_us`` and publish ``step.samples`` / ``step.events``;
    - backfill: ``tags()`` into the registry, then ``run(t0, t1)`` per window (any split of the period gives
      the same rows); ``reason_table()`` maps each reason code to its ISO 22400 time class.

    Everything is computed lazily from (seed, time) and cached per epoch; instances are not thread-safe.
    """

    def __init__(self, kind: MachineKind, position: Position | tuple[str, str, str], profile: Profile, seed: int,
                 timeline: Timeline | None = None) -> None:
        self.kind = kind
        self.position = Position(*position).check()
        self.profile = profile
        self.seed = seed
        self.timeline = timeline or Timeline(kind.states, profile, seed, catalogue=kind.catalogue,
                                             params=kind.params, parts=kind.parts)
        if self.timeline.spec is not kind.states:
            raise ValueError(f"kind {kind.name!r} does not share the state machine of the timeline it is given")
        self.key = derive(seed, "noise", self.position.path)
        self.params = self.timeline.params
        view = kind.view or identity_view
        self.views: list[View] = [view(r) for r in self.timeline.reasons]
        self._step_tags = [t for t in kind.tags if not t.exact]
        self._exact_tags = [t for t in kind.tags if t.exact]
        self.ledger = Ledger(self)
        self.instants = Instants(self, frozenset(t.name for t in self._exact_tags))

    @property
    def asset_path(self) -> str:
        return self.position.path

    @property
    def products(self) -> tuple[Product, ...]:
        return self.timeline.products

    def __repr__(self) -> str:
        return f"Machine({self.kind.name}, {self.asset_path})"

    # ------------------------------------------------------------------------------------------ metadata

    def tags(self) -> list[TagMeta]:
        out = []
        plant = self.params.get("tag_attrs", {})
        for t in self.kind.tags:
            # Plant-specific attributes (alarm limits of this unit) come from the timeline's parameters.
            attrs: dict[str, Any] = {"kind": self.kind.name, **t.attrs, **plant.get(t.name, {})}
            if t.lo is not None:
                attrs["lo"] = t.lo
            if t.hi is not None:
                attrs["hi"] = t.hi
            out.append(TagMeta(f"{self.asset_path}/{t.name}", t.dtype.value, t.unit, t.role, t.description, attrs))
        return out

    def reason_table(self) -> list[dict[str, str]]:
        """Every (state, code) this machine can report, with its ISO 22400 time class."""
        seen: dict[str, dict[str, str]] = {}
        for state, code, text, tclass in self.views:
            seen.setdefault(code, {"code": code, "state": state, "time_class": tclass.value, "text": text})
        return list(seen.values())

    # ------------------------------------------------------------------------------------------ queries

    def state_at(self, t: int) -> StateAt:
        sec, si = self.timeline.segment_at(t)
        seg = sec.segs[si]
        state, code, text, tclass = self.views[seg.r]
        until = seg.end
        for s in sec.segs[si + 1:]:
            if self.views[s.r][:2] != (state, code):
                break
            until = s.end
        return StateAt(state, code, text, tclass, self.instants.since(sec)[si], until,
                       self.timeline.products[seg.prod].code)

    def snapshot(self, t: int) -> dict[str, Value]:
        """Every tag's value at t (no deadband): initial values for an OPC-UA address space or a Sparkplug birth."""
        ctx = Ctx(self)
        self._update(ctx, t)
        self.kind.physics(ctx)
        return {spec.name: _typed(spec.dtype, spec.value(ctx), spec.digits) for spec in self.kind.tags}

    def order_at(self, t: int) -> str:
        tl = self.timeline
        k = tl.section_index(t)
        for j in range(k, k - 4, -1):
            starts = [s for s in tl.section(j).orders if s <= t]
            if starts:
                return tl.section(j).orders[max(starts)]
        return ""

    def last_item(self, name: str, t: int, default: Value) -> Value:
        """The latest exact sample of tag ``name`` at or before t (looking back a few sections)."""
        tl = self.timeline
        k = tl.section_index(t)
        for j in range(k, k - 4, -1):
            items, times = self.instants.of(tl.section(j))
            for it in reversed(items[:bisect_right(times, t)]):
                if it[1] == name and not it[3]:
                    return it[2]
        return default

    def run(self, start_us: int, end_us: int, step_us: int = DEFAULT_STEP_US,
            keyframe_us: int = DEFAULT_KEYFRAME_US, throttle: bool = True) -> Run:
        samples: list[SampleT] = []
        events: list[EventT] = []
        for st in self.steps(start_us, end_us, step_us, keyframe_us, throttle):
            samples.extend(st.samples)
            events.extend(st.events)
        return Run(samples, events)

    def steps(self, start_us: int, end_us: int | None = None, step_us: int = DEFAULT_STEP_US,
              keyframe_us: int = DEFAULT_KEYFRAME_US, throttle: bool = True) -> Iterator[Step]:
        """Walk [start_us, end_us) on the absolute grid of ``step_us``; see the module docstring.

        ``throttle`` applies each tag's ``min_interval_s`` (history); live servers pass False so that every
        change goes out at step resolution.
        """
        if step_us <= 0 or keyframe_us % step_us:
            raise ValueError(f"keyframe {keyframe_us} µs must be a positive multiple of the step {step_us} µs")
        physics = self.kind.physics
        plan = [(t.name, t.value, t.digits, t.deadband, t.dtype in (DataType.FLOAT, DataType.INT),
                 int(t.min_interval_s * US) if throttle else 0) for t in self._step_tags]
        periodic = [(t.name, t.value, t.dtype, t.digits) for t in self._exact_tags if t.periodic]
        last: list[Any] = [None] * len(plan)
        last_t = [0] * len(plan)
        ctx = Ctx(self)
        items = self.instants.stream(start_us, end_us)
        pending = next(items, None)
        g = start_us // keyframe_us * keyframe_us
        while end_us is None or g < end_us:
            emit = g >= start_us
            self._update(ctx, g)
            physics(ctx)
            key = g % keyframe_us == 0
            samples: list[SampleT] = []
            events: list[EventT] = []
            exact_now: set[str] = set()
            while pending is not None and pending[0] <= g:
                _collect(pending, samples, events, exact_now, g)
                pending = next(items, None)
            for i, (name, fn, digits, db, numeric, gap) in enumerate(plan):
                v = fn(ctx)
                if digits is not None:
                    v = round(v, digits)
                lv = last[i]
                if key or lv is None or ((abs(v - lv) > db if numeric and db else v != lv) and g - last_t[i] >= gap):
                    last[i] = v
                    last_t[i] = g
                    if emit:
                        samples.append((name, g, v))
            if key and emit:
                for name, fn, dtype, digits in periodic:
                    if name not in exact_now:
                        samples.append((name, g, _typed(dtype, fn(ctx), digits)))
            if emit:
                yield Step(g, samples, events)
            g += step_us
        if end_us is not None and pending is not None:
            samples, events = [], []
            while pending is not None:
                _collect(pending, samples, events, set(), end_us)
                pending = next(items, None)
            yield Step(end_us, samples, events)

    # ------------------------------------------------------------------------------------------ internals

    def _update(self, ctx: Ctx, t: int) -> None:
        sec = ctx.sec
        if sec is not None and sec.start <= t < sec.end and t >= sec.starts[ctx.si]:
            si, starts = ctx.si, sec.starts
            while si + 1 < len(starts) and starts[si + 1] <= t:
                si += 1
        else:
            sec, si = self.timeline.segment_at(t)
        seg = sec.segs[si]
        ctx.t, ctx.sec, ctx.si, ctx.seg = t, sec, si, seg
        ctx.state, ctx.code, ctx.text, ctx.tclass = self.views[seg.r]
        ctx.since = self.instants.since(sec)[si]
        ctx.product = self.timeline.products[seg.prod]
        self.ledger.read(sec, si, t, ctx.c, ctx.r, ctx.memo)


def _collect(item: Item, samples: list[SampleT], events: list[EventT], exact_now: set[str], g: int) -> None:
    ts, name, value, kind, code, text = item
    if kind:
        events.append((name, ts, kind, str(value), code, text))
    else:
        samples.append((name, ts, value))
        if ts == g:
            exact_now.add(name)


def _typed(dtype: DataType, v: Any, digits: int | None) -> Value:
    if dtype is DataType.FLOAT:
        return round(float(v), digits) if digits is not None else float(v)
    if dtype is DataType.INT:
        return int(v)
    if dtype is DataType.BOOL:
        return bool(v)
    return str(v)
