"""The collector extension point: every source (OPC-UA, MQTT JSON, Sparkplug B) has this shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta


class SampleSink(Protocol):
    """Where collectors put normalised samples (the edge agent's durable buffer).

    Contract: ``put`` never blocks on disk or network and never raises for a full buffer (drops are counted by
    the sink); it may be called from any thread. ``on_durable``, if given, is called (from the sink's writer
    thread) once the samples are on disk — a source that can redeliver (an MQTT broker) acknowledges only then.
    ``declare`` announces tags discovered at run time; call it before putting their first samples.
    """

    def put(self, samples: Sequence[Sample], on_durable: Callable[[], None] | None = None) -> None: ...

    def declare(self, tags: Sequence[TagMeta]) -> None: ...


class Collector(Protocol):
    """One source. The agent's supervisor owns reconnection; a collector never loops on reconnects itself.

    Lifecycle: ``connect`` (may raise TransientError: the supervisor retries with capped, jittered backoff),
    then ``read`` streams samples into the sink until the connection is lost (raises TransientError) or the
    task is cancelled; ``close`` releases everything and is safe to call at any point. Samples must not be
    put into the sink after ``close`` returns.
    """

    name: str

    def tags(self) -> Sequence[TagMeta]:
        """Metadata for every tag this collector produces, from its configuration (no I/O)."""
        ...

    async def connect(self) -> None: ...

    async def read(self, sink: SampleSink) -> None: ...

    async def close(self) -> None: ...
