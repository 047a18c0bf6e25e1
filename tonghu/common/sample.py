"""The canonical record every layer speaks, and quality as OPC UA status codes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

# Quality travels as a 32-bit OPC UA StatusCode (OPC 10000-4, 7.39): the top two bits give the severity,
# so a plain source (MQTT JSON) uses the bare severity codes and an OPC-UA source keeps its exact code.
STATUS_GOOD = 0x00000000
STATUS_UNCERTAIN = 0x40000000
STATUS_BAD = 0x80000000
STATUS_MAX = 0xFFFFFFFF


class Quality(IntEnum):
    GOOD = 0
    UNCERTAIN = 1
    BAD = 2

    @classmethod
    def of_status(cls, status: int) -> Quality:
        severity = (status >> 30) & 0b11
        # 0b11 is reserved by the specification; treat it as bad rather than guess.
        return cls(min(severity, 2))


Value = float | int | bool | str


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one tag.

    ``source_ts_us`` is fixed once, at the edge, in microseconds since the Unix epoch (UTC); every
    resend carries the same timestamp, which makes (tag, time) a stable deduplication key.
    """

    key: str
    source_ts_us: int
    value: Value
    status: int = STATUS_GOOD
    server_ts_us: int | None = None
    receive_ts_us: int | None = None

    @property
    def quality(self) -> Quality:
        return Quality.of_status(self.status)
