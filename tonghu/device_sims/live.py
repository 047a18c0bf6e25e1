"""Running equipment models in (scaled) real time: a simulation clock and a per-machine feed of due steps.

Protocol servers do not generate values themselves; they ask a :class:`Feed` for the steps whose simulated time
has come and apply the samples. Simulated time runs ``speed`` times faster than the wall clock, starting at the
wall-clock time the clock was made, so timestamps stay close to "now" when ``speed`` is 1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from tonghu.device_sims.models import Machine, Step
from tonghu.device_sims.models.machine import DEFAULT_KEYFRAME_US

# Grid steps that divide the keyframe interval (15 min), as Machine.steps requires.
_STEPS_US = (100_000, 200_000, 250_000, 500_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000, 10_000_000,
             15_000_000, 30_000_000, 60_000_000, 300_000_000, 900_000_000)


class SimClock:
    """Simulated time in µs since the epoch: starts at the wall clock, runs ``speed`` times faster."""

    def __init__(self, speed: float = 1.0, start_us: int | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        self.speed = speed
        self._wall0 = time.monotonic()
        self.start_us = time.time_ns() // 1000 if start_us is None else start_us

    def now_us(self) -> int:
        return self.start_us + int((time.monotonic() - self._wall0) * self.speed * 1_000_000)


def step_for(speed: float, tick_s: float) -> int:
    """The coarsest grid step no longer than one tick of simulated time (so every tick sees fresh values)."""
    target = speed * tick_s * 1_000_000
    fit = [s for s in _STEPS_US if s <= target]
    return fit[-1] if fit else _STEPS_US[0]


class Feed:
    """The steps of one machine, handed out as their simulated time comes (live: no throttling)."""

    def __init__(self, machine: Machine, start_us: int, step_us: int) -> None:
        if DEFAULT_KEYFRAME_US % step_us:
            raise ValueError(f"step {step_us} µs does not divide the keyframe interval")
        self.machine = machine
        self._steps: Iterator[Step] = machine.steps(start_us, None, step_us, throttle=False)
        self._next: Step | None = None

    def due(self, now_us: int) -> list[Step]:
        out = []
        while True:
            if self._next is None:
                self._next = next(self._steps)
            if self._next.t_us > now_us:
                return out
            out.append(self._next)
            self._next = None


def asset_id(machine: Machine) -> str:
    """The asset's ISA-95 path with dots: unique within a site, legal in node ids and Sparkplug device ids."""
    return machine.asset_path.replace("/", ".")
