"""The agent's SampleSink: a bounded in-memory hand-over from collectors to the buffer writer thread.

Collectors run in event loops and network threads and must not wait for disk; the writer thread drains this
queue into the durable buffer every ``flush_interval`` and then runs the ``on_durable`` callbacks. When the
disk cannot keep up and the queue is full, incoming samples are refused and counted in ``dropped``: the only
place the agent drops data outside the buffer's own policy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta


class Ingress:
    def __init__(self, max_samples: int, on_new_tags: Callable[[Sequence[TagMeta]], None] | None = None) -> None:
        self.max_samples = max_samples
        self._items: list[Sample] = []
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._on_new_tags = on_new_tags
        self.accepted = 0
        self.dropped = 0

    def put(self, samples: Sequence[Sample], on_durable: Callable[[], None] | None = None) -> None:
        with self._lock:
            room = self.max_samples - len(self._items)
            taken = min(max(room, 0), len(samples))
            self._items.extend(samples[:taken])
            self.accepted += taken
            self.dropped += len(samples) - taken
            # A source is told "durable" only when all its samples were taken; otherwise it may redeliver.
            if on_durable is not None and taken == len(samples):
                self._callbacks.append(on_durable)
        self._ready.set()

    def count_dropped(self, n: int) -> None:
        """Samples the writer had to let go after taking them (the buffer refused them for too long)."""
        with self._lock:
            self.dropped += n

    def declare(self, tags: Sequence[TagMeta]) -> None:
        if self._on_new_tags is not None and tags:
            self._on_new_tags(tags)

    def drain(self, timeout: float) -> tuple[list[Sample], list[Callable[[], None]]]:
        self._ready.wait(timeout)
        with self._lock:
            items, self._items = self._items, []
            callbacks, self._callbacks = self._callbacks, []
            self._ready.clear()
        return items, callbacks

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
