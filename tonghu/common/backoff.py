"""Capped exponential backoff with full jitter, so that many clients restarting together spread out."""

from __future__ import annotations

import random


class Backoff:
    def __init__(self, first: float = 0.2, cap: float = 10.0) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff needs 0 < first ({first}) <= cap ({cap})")
        self.first, self.cap, self.attempt = first, cap, 0

    def next(self) -> float:
        """Seconds to wait before the next attempt: uniform in [d/2, d], d doubling up to the cap."""
        delay = min(self.cap, self.first * 2 ** min(self.attempt, 32))
        self.attempt += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.attempt = 0
