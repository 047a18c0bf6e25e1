"""The host side of Sparkplug B 3.0.0 (§5): edge node and device sessions, from MQTT messages to Samples.

Pure logic: no I/O and no clock. The caller passes each message with its receive time (µs since the Unix
epoch, UTC), calls ``poll`` when ``next_deadline`` is due, publishes the returned ``Rebirth`` actions, and
stores ``to_json()`` whenever ``cache_revision`` changes.

Decisions, where the specification leaves room:

* Stale marking (§5.5, §5.7): on an honoured NDEATH or a DDEATH each known metric gets one sample with the
  last value seen and status ``STATUS_STALE`` (OPC UA Bad_NoCommunication), stamped at the death time — the
  host's clock for NDEATH, the payload's for DDEATH, as the specification asks — or 1 µs after the metric's
  last sample when clocks disagree, so the stale mark is always the tag's newest sample. Samples travel the
  normal pipeline, so the platform learns staleness with no new message type; repeating the last value keeps
  counters and rollups that ignore quality correct. A metric with no value seen since this process started
  (only after restoring the cache) gets no stale sample rather than an invented value: counted in
  ``stale_skipped``.
* Reordering (§5.9): a message ahead of the expected seq is held (up to ``max_held`` per node) and applied
  once the gap fills. When ``reorder_timeout`` passes first, the held messages are applied anyway, because
  each sample carries its own timestamp, and a rebirth is requested. Messages behind the expected seq
  (late or duplicated) are dropped and counted.
* bdSeq (§4.2.1.3, §5.4): an NDEATH whose bdSeq differs from the NBIRTH's is ignored. When either lacks a
  bdSeq the death is honoured: a wrong death heals itself (the next data requests a rebirth), a wrongly
  ignored one would leave stale values looking current.
* An NBIRTH discards held messages: they may belong to either session, and the birth carries every current
  value anyway (counted in ``dropped_on_birth``). Previous values are not marked stale by a new NBIRTH.
* Rebirth requests (§5.17) are throttled per node to one per ``rebirth_min_interval``; a request made
  inside the interval is kept and issued when it ends, unless a birth arrives first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from tonghu.collectors.sparkplug import state
from tonghu.collectors.sparkplug.codec import Metric, Payload, decode_payload, encode_rebirth
from tonghu.collectors.sparkplug.datatypes import DataType
from tonghu.collectors.sparkplug.records import INFERRED, STATUS_STALE, TAG_TYPES, bdseq_of, status_of, tag_meta
from tonghu.collectors.sparkplug.state import Held, KeyOf, MetricDef, NodeState, Scope
from tonghu.collectors.sparkplug.topic import MessageType, Topic, parse_topic
from tonghu.common.errors import PayloadError
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta

_IGNORED = frozenset({MessageType.NCMD, MessageType.DCMD, MessageType.STATE})
_SECONDS_2 = timedelta(seconds=2)
_SECONDS_10 = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    reorder_timeout: timedelta = _SECONDS_2
    rebirth_min_interval: timedelta = _SECONDS_10
    max_held: int = 64
    # §6.4.6: transient metrics "should not be stored in a historian", which is what the platform is.
    store_transient: bool = False


@dataclass(frozen=True, slots=True)
class Rebirth:
    """Ask an edge node for a new birth sequence: publish ``payload(now)`` to ``topic`` (QoS 0)."""

    group: str
    node: str
    reason: str

    @property
    def topic(self) -> str:
        return str(Topic(MessageType.NCMD, self.group, self.node))

    def payload(self, timestamp_ms: int) -> bytes:
        return encode_rebirth(timestamp_ms)


@dataclass(slots=True)
class Output:
    samples: list[Sample] = field(default_factory=list)
    actions: list[Rebirth] = field(default_factory=list)
    # Metadata of the mapped metrics of each birth, for the tag registry.
    tags: list[TagMeta] = field(default_factory=list)


@dataclass(slots=True)
class Counters:
    messages: int = 0
    malformed: int = 0
    ignored: int = 0
    samples: int = 0
    stale_samples: int = 0
    stale_skipped: int = 0
    rebirths: int = 0
    rebirths_throttled: int = 0
    seq_gaps: int = 0
    gap_timeouts: int = 0
    held: int = 0
    late: int = 0
    duplicates: int = 0
    dropped_on_birth: int = 0
    before_birth: int = 0
    unknown_metrics: int = 0
    bad_metrics: int = 0
    bad_values: int = 0
    nulls: int = 0
    unsupported: int = 0
    transient: int = 0
    unmapped: int = 0
    deaths_ignored: int = 0


class HostSession:
    """All edge nodes seen on one MQTT connection. Not thread-safe: one task owns it."""

    def __init__(self, key_of: KeyOf, config: SessionConfig | None = None) -> None:
        self._key_of = key_of
        self._config = config or SessionConfig()
        self._reorder_us = self._config.reorder_timeout // timedelta(microseconds=1)
        self._rebirth_us = self._config.rebirth_min_interval // timedelta(microseconds=1)
        self._nodes: dict[tuple[str, str], NodeState] = {}
        self.counters = Counters()
        # Changes whenever the persisted alias cache would change (births, honoured deaths).
        self.cache_revision = 0

    # ------------------------------------------------------------------------------------------ interface

    def handle(self, topic: str, payload: bytes, now_us: int) -> Output:
        """Process one message. A malformed topic or payload raises PayloadError (also counted) and
        leaves the state as it was."""
        self.counters.messages += 1
        try:
            t = parse_topic(topic)
            if t.type in _IGNORED:
                self.counters.ignored += 1
                return Output()
            p = decode_payload(payload)
            if p.seq is not None and p.seq > 255:
                raise PayloadError("bad_seq", f"seq {p.seq} is outside 0..255 (§6.4.5)")
        except PayloadError:
            self.counters.malformed += 1
            raise
        out = Output()
        node = self._nodes.get((t.group, t.node))
        if node is None:
            node = self._nodes[(t.group, t.node)] = NodeState(t.group, t.node)
        if t.type is MessageType.NBIRTH:
            self._nbirth(node, p, now_us, out)
        elif t.type is MessageType.NDEATH:
            self._ndeath(node, p, now_us, out)
        else:
            self._sequence(node, Held(t, p, now_us), now_us, out)
        self._timers(node, now_us, out)
        return out

    def poll(self, now_us: int) -> Output:
        """Fire what is due: reorder timeouts and throttled rebirth requests."""
        out = Output()
        for node in self._nodes.values():
            self._timers(node, now_us, out)
        return out

    def next_deadline(self) -> int | None:
        """When ``poll`` next has something to do (µs), or None."""
        due = [n.gap_since_us + self._reorder_us for n in self._nodes.values() if n.gap_since_us is not None]
        due += [n.last_rebirth_us + self._rebirth_us for n in self._nodes.values()
                if n.pending_rebirth is not None and n.last_rebirth_us is not None]
        return min(due, default=None)

    def is_online(self, group: str, node: str, device: str | None = None) -> bool:
        state_ = self._nodes.get((group, node))
        if state_ is None or not state_.online:
            return False
        return device is None or (device in state_.devices and state_.devices[device].online)

    def to_json(self) -> str:
        """The alias cache (see ``state`` for the format)."""
        return state.dump(self._nodes.values())

    @classmethod
    def from_json(cls, text: str, key_of: KeyOf, config: SessionConfig | None = None) -> HostSession:
        """A session that resolves aliases as before a restart; raises PermanentError for a bad cache."""
        session = cls(key_of, config)
        session._nodes = {(n.group, n.node): n for n in state.load(text, key_of)}
        return session

    # ------------------------------------------------------------------------------------------ lifecycle

    def _nbirth(self, node: NodeState, p: Payload, now: int, out: Output) -> None:
        self.counters.dropped_on_birth += len(node.held)
        node.held.clear()
        node.gap_since_us = None
        node.pending_rebirth = None
        node.metrics = self._birth(node, None, p, now, out)
        node.devices = {}
        node.bdseq = bdseq_of(p)
        # §6.4.19 wants seq 0 here; any value is taken as the start so that lax edge nodes still work.
        node.next_seq = None if p.seq is None else (p.seq + 1) % 256
        self.cache_revision += 1

    def _ndeath(self, node: NodeState, p: Payload, now: int, out: Output) -> None:
        bdseq = bdseq_of(p)
        if not node.online or (bdseq is not None and node.bdseq is not None and bdseq != node.bdseq):
            self.counters.deaths_ignored += 1
            return
        # Held messages were sent before the death (no new session exists without an NBIRTH).
        self._release_held(node, now, out)
        for scope in (node.metrics, *node.devices.values()):
            if scope.online:
                self._stale(scope, now, now, out)
        node.next_seq = node.gap_since_us = node.pending_rebirth = None
        self.cache_revision += 1

    def _birth(self, node: NodeState, device: str | None, p: Payload, at: int, out: Output) -> Scope:
        scope = Scope(online=True)
        for m in p.metrics:
            if m.name is None:
                self.counters.bad_metrics += 1
                continue
            # §6.4.6 requires the datatype in births; for those that omit it the wire member is the best guess.
            datatype = m.datatype or (INFERRED.get(m.kind, DataType.UNKNOWN) if m.kind else DataType.UNKNOWN)
            d = MetricDef(m.name, datatype, m.alias, self._key_of(node.group, node.node, device, m.name))
            scope.add(d)
            if d.key is not None and datatype in TAG_TYPES:
                out.tags.append(tag_meta(d, m))
            self._emit(d, m, p, at, out)
        return scope

    # ------------------------------------------------------------------------------------------ ordering

    def _sequence(self, node: NodeState, msg: Held, now: int, out: Output) -> None:
        seq = msg.payload.seq
        if seq is None or not node.online or node.next_seq is None:
            if seq is not None and node.online:
                node.next_seq = (seq + 1) % 256  # first message after a restore sets the baseline
            self._apply(node, msg, now, out)
            return
        ahead = (seq - node.next_seq) % 256  # seq wraps 255 → 0 (§6.4.5)
        if ahead == 0:
            self._apply(node, msg, now, out)
            node.next_seq = (seq + 1) % 256
            while node.next_seq in node.held:
                self._apply(node, node.held.pop(node.next_seq), now, out)
                node.next_seq = (node.next_seq + 1) % 256
            if node.gap_since_us is not None:
                node.gap_since_us = now if node.held else None  # a further gap gets its own window
        elif ahead < 128:
            if seq in node.held:
                self.counters.duplicates += 1
                return
            node.held[seq] = msg
            self.counters.held += 1
            if node.gap_since_us is None:
                node.gap_since_us = now
                self.counters.seq_gaps += 1
            if len(node.held) > self._config.max_held:
                self._give_up(node, now, out)
        else:
            self.counters.late += 1

    def _timers(self, node: NodeState, now: int, out: Output) -> None:
        if node.gap_since_us is not None and now - node.gap_since_us >= self._reorder_us:
            self._give_up(node, now, out)
        if (node.pending_rebirth is not None and node.last_rebirth_us is not None
                and now - node.last_rebirth_us >= self._rebirth_us):
            self._rebirth(node, node.pending_rebirth, now, out)

    def _give_up(self, node: NodeState, now: int, out: Output) -> None:
        self.counters.gap_timeouts += 1
        self._release_held(node, now, out)
        self._rebirth(node, "seq_gap", now, out)

    def _release_held(self, node: NodeState, now: int, out: Output) -> None:
        base = node.next_seq or 0
        for seq in sorted(node.held, key=lambda s: (s - base) % 256):
            self._apply(node, node.held.pop(seq), now, out)
            node.next_seq = (seq + 1) % 256
        node.gap_since_us = None

    def _rebirth(self, node: NodeState, reason: str, now: int, out: Output) -> None:
        if node.last_rebirth_us is not None and now - node.last_rebirth_us < self._rebirth_us:
            self.counters.rebirths_throttled += 1
            if node.pending_rebirth is None:
                node.pending_rebirth = reason
            return
        node.last_rebirth_us = now
        node.pending_rebirth = None
        out.actions.append(Rebirth(node.group, node.node, reason))
        self.counters.rebirths += 1

    # ------------------------------------------------------------------------------------------ data

    def _apply(self, node: NodeState, msg: Held, now: int, out: Output) -> None:
        t, p, c = msg.topic, msg.payload, self.counters
        device = t.device or ""  # device-level topics always name one (§4.1.5)
        if t.type is MessageType.DBIRTH and node.online:
            node.devices[device] = self._birth(node, device, p, msg.at_us, out)
            self.cache_revision += 1
            return
        scope = node.metrics if t.type is MessageType.NDATA else node.devices.get(device)
        if not node.online or scope is None or not scope.online:
            if t.type is MessageType.DDEATH:
                c.deaths_ignored += 1
            else:
                c.before_birth += 1
                self._rebirth(node, "before_birth", now, out)
            return
        if t.type is MessageType.DDEATH:
            death = p.timestamp * 1000 if p.timestamp is not None else msg.at_us
            self._stale(scope, death, msg.at_us, out)
            self.cache_revision += 1
            return
        unknown = contradicts = False
        for m in p.metrics:
            d = scope.resolve(m.name, m.alias)
            if d is None:
                c.unknown_metrics += 1
                unknown = True
            elif not self._emit(d, m, p, msg.at_us, out):
                contradicts = True
        # Either way the host's picture of this node no longer matches the node's own (§5.17).
        if unknown or contradicts:
            self._rebirth(node, "unknown_metric" if unknown else "bad_value", now, out)

    def _emit(self, d: MetricDef, m: Metric, p: Payload, at: int, out: Output) -> bool:
        """Append the metric's sample; False when its value contradicts the birth's datatype."""
        c = self.counters
        if m.is_transient and not self._config.store_transient:
            c.transient += 1
            return True
        if d.key is None:
            c.unmapped += 1
            return True
        try:
            value = m.value(d.datatype)
        except PayloadError as err:
            if err.reason == "unsupported":
                c.unsupported += 1
                return True
            c.bad_values += 1
            return False
        if value is None:
            c.nulls += 1
            return True
        if not isinstance(value, bool | int | float | str):
            c.unsupported += 1  # bytes, files and arrays have no place in a time series
            return True
        # §6.4.6: the metric's timestamp is when the value was captured; the payload's when it was sent.
        ts_ms = m.timestamp if m.timestamp is not None else p.timestamp if p.timestamp is not None else at // 1000
        sent = p.timestamp * 1000 if p.timestamp is not None else None
        out.samples.append(Sample(d.key, ts_ms * 1000, value, status_of(m), sent, at))
        c.samples += 1
        if not m.is_historical:  # historical values are never the current one (§6.4.6)
            d.last, d.last_us = value, ts_ms * 1000
        return True

    def _stale(self, scope: Scope, death_us: int, at: int, out: Output) -> None:
        for d in scope.by_name.values():
            if d.key is None:
                continue
            if d.last is None:
                self.counters.stale_skipped += 1
                continue
            out.samples.append(Sample(d.key, max(death_us, d.last_us + 1), d.last, STATUS_STALE, None, at))
            self.counters.stale_samples += 1
        scope.online = False
