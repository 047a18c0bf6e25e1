"""Compiled mapping from MQTT messages to samples: the pure core of the MQTT JSON collector.

Decoding rules (each failure is a ``PayloadError`` whose reason labels metrics and dead letters):

- A message is accepted whole or not at all. One field of the wrong type rejects the message, so that a
  mapping mistake shows up as a dead letter with its raw bytes instead of as a quietly thinner stream.
- A field that is absent, or JSON ``null``, yields no sample and is counted in ``missing`` (devices often
  leave out what they cannot measure). ``on_missing: error`` turns that into ``missing_field``. A message
  that yields no sample at all is rejected as ``no_values``: a topic that matches but maps nothing is
  almost always a mismatch between device and configuration.
- A path that runs into a value of another kind (a key looked up in a number) counts as absent.
- Text is UTF-8 (a leading byte-order mark is skipped). JSON ``NaN``/``Infinity`` are refused only where
  they are mapped (``non_finite``), since unmapped parts of a payload are none of our business.
- All samples of a message share one source timestamp: the mapped timestamp field, or the receive time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tonghu.collectors.mqtt import convert, syntax
from tonghu.collectors.mqtt.config import (
    FieldMapping,
    FieldMissing,
    MqttConfig,
    PayloadFormat,
    QoS,
    Subscription,
    TimestampMissing,
)
from tonghu.common.errors import PayloadError
from tonghu.common.sample import STATUS_GOOD, Sample
from tonghu.common.uplink import DEFAULT_LIMITS, TagMeta

_MISSING: Any = object()
_BOM = b"\xef\xbb\xbf"


def _lookup(doc: Any, steps: tuple[syntax.PathStep, ...]) -> Any:
    """The value at ``steps`` in a parsed JSON document, or ``_MISSING``."""
    node = doc
    for step in steps:
        if type(step) is str:
            if type(node) is not dict:
                return _MISSING
            node = node.get(step, _MISSING)
            if node is _MISSING:
                return node
        else:
            # Checked explicitly: indexing a string would quietly return one character.
            if type(node) is not list:
                return _MISSING
            try:
                node = node[step]
            except IndexError:
                return _MISSING
    return node


@dataclass(slots=True)
class _Field:
    label: str  # canonical JSON path, or "payload" for plain payloads
    steps: tuple[syntax.PathStep, ...]
    convert: convert.Converter
    required: bool
    asset: str
    tag: str
    config: FieldMapping
    quality_steps: tuple[syntax.PathStep, ...] | None = None
    quality_table: dict[str, int] = field(default_factory=dict)
    quality_otherwise: int = STATUS_GOOD


@dataclass(slots=True)
class _Target:
    """The tag keys of one combination of captured values; rendered and checked once."""

    keys: tuple[str, ...]
    captures: dict[str, str]
    announced: bool = False


class SubscriptionMapper:
    """One subscription, compiled. Holds counters and a bounded cache of rendered keys, no I/O."""

    def __init__(self, sub: Subscription, qos: QoS, max_payload_bytes: int = 1024 * 1024,
                 max_targets: int = 10_000) -> None:
        self.subscription = sub
        self.filter = sub.topic_filter
        self.broker_filter = self.filter.broker_filter
        self.qos = sub.qos if sub.qos is not None else qos
        self.missing: dict[str, int] = {}  # per field label: how often the field was absent
        self._pattern = self.filter.pattern()
        self._max_payload = max_payload_bytes
        self._max_targets = max_targets
        self._targets: dict[tuple[str, ...], _Target] = {}
        self._plain = sub.payload is PayloadFormat.PLAIN
        self._fields = [self._compile(f) for f in sub.fields]
        ts = sub.timestamp
        self._ts_steps = syntax.parse_json_path(ts.path) if ts else None
        self._ts_parse = convert.timestamp_parser(ts) if ts else None
        self._ts_required = ts is not None and ts.on_missing is TimestampMissing.ERROR
        self._new_targets: list[_Target] = []

    def _compile(self, f: FieldMapping) -> _Field:
        steps = syntax.parse_json_path(f.path) if f.path is not None else ()
        label = syntax.format_json_path(steps) if f.path is not None else "payload"
        out = _Field(label, steps, convert.value_converter(f, label), f.on_missing is FieldMissing.ERROR,
                     f.asset, f.tag, f)
        if f.quality is not None:
            out.quality_steps = syntax.parse_json_path(f.quality.path)
            out.quality_table, out.quality_otherwise = convert.quality_mapper(f.quality)
        return out

    # ------------------------------------------------------------------------------------ topics

    def match(self, topic: str) -> dict[str, str] | None:
        """The captured values if ``topic`` matches this subscription's filter, else None."""
        m = self._match(topic)
        return None if m is None else dict(zip(self.filter.captures, m, strict=True))

    def _match(self, topic: str) -> tuple[str, ...] | None:
        if not syntax.is_valid_topic_name(topic):
            return None
        m = self._pattern.fullmatch(topic)
        return None if m is None else m.groups()

    def _target(self, groups: tuple[str, ...]) -> _Target:
        target = self._targets.get(groups)
        if target is None:
            captures = dict(zip(self.filter.captures, groups, strict=True))
            target = _Target(self._render(captures), captures)
            if len(self._targets) >= self._max_targets:
                # Forgetting only costs a re-render and a repeated (idempotent) metadata message.
                self._targets.clear()
            self._targets[groups] = target
        return target

    def _render(self, captures: Mapping[str, str]) -> tuple[str, ...]:
        keys = []
        for f in self._fields:
            asset, tag = f.asset.format_map(captures), f.tag.format_map(captures)
            for segment, is_name in (*((a, False) for a in asset.split("/")), (tag, True)):
                if not syntax.check_segment(segment, name=is_name):
                    raise PayloadError("bad_topic", f"captured values {dict(captures)} give the key segment "
                                       f"{segment!r}, which the platform refuses (tag keys are ASCII letters, "
                                       "digits and _.- ; names also ':')")
            key = f"{asset}/{tag}"
            if len(key) > DEFAULT_LIMITS.max_key_len:
                raise PayloadError("bad_topic", f"tag key {key[:80]!r}… exceeds "
                                   f"{DEFAULT_LIMITS.max_key_len} characters")
            keys.append(key)
        return tuple(keys)

    def tags(self, captures: Mapping[str, str]) -> list[TagMeta]:
        """Metadata of every tag this subscription produces for the given captured values."""
        keys = self._render(captures)
        return [TagMeta(key, f.config.data_type.value, f.config.unit, f.config.role, f.config.description,
                        dict(f.config.attrs)) for key, f in zip(keys, self._fields, strict=True)]

    # ----------------------------------------------------------------------------------- payloads

    def decode(self, topic: str, payload: bytes, receive_ts_us: int) -> list[Sample]:
        """Samples of one message; raises PayloadError (``unmatched_topic`` if the topic does not match)."""
        groups = self._match(topic)
        if groups is None:
            raise PayloadError("unmatched_topic",
                               f"topic {topic[:200]!r} does not match {self.filter.text!r}")
        return self._decode(groups, payload, receive_ts_us)

    def _decode(self, groups: tuple[str, ...], payload: bytes, receive_ts_us: int) -> list[Sample]:
        target = self._target(groups)
        samples = self._samples(target, payload, receive_ts_us)
        # Bounded in case the caller never drains it; an unannounced target is offered again next time.
        if not target.announced and len(self._new_targets) < self._max_targets:
            target.announced = True
            self._new_targets.append(target)
        return samples

    def take_new_tags(self) -> list[TagMeta]:
        """Metadata of the tags that decoded successfully for the first time since the last call.

        Call it after each ``decode`` and publish the result before the samples, so the platform's tag
        registry knows a tag before its first value arrives.
        """
        new, self._new_targets = self._new_targets, []
        return [meta for target in new for meta in self.tags(target.captures)]

    def _samples(self, target: _Target, payload: bytes, receive_ts_us: int) -> list[Sample]:
        if len(payload) > self._max_payload:
            raise PayloadError("oversize", f"{len(payload)} bytes exceed {self._max_payload}")
        if payload.startswith(_BOM):
            payload = payload[3:]
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PayloadError("not_utf8", f"payload is not UTF-8 ({err.reason} at {err.start})") from None
        if self._plain:
            return self._plain_sample(target, text, receive_ts_us)
        try:
            doc = json.loads(text)
        except RecursionError:
            raise PayloadError("not_json", "payload nests too deeply") from None
        except ValueError as err:  # JSONDecodeError, and integers beyond Python's digit limit
            raise PayloadError("not_json", f"payload is not JSON ({str(err)[:120]})") from None
        ts = self._timestamp(doc, receive_ts_us)
        samples: list[Sample] = []
        absent: list[str] = []
        for f, key in zip(self._fields, target.keys, strict=True):
            raw = _lookup(doc, f.steps)
            if raw is _MISSING or raw is None:
                if f.required:
                    raise PayloadError("missing_field", f"field {f.label} is missing or null")
                absent.append(f.label)
                continue
            status = STATUS_GOOD
            if f.quality_steps is not None:
                qtext = convert.status_text(_lookup(doc, f.quality_steps))
                status = f.quality_table.get(qtext, f.quality_otherwise) if qtext is not None \
                    else f.quality_otherwise
            samples.append(Sample(key, ts, f.convert(raw), status, None, receive_ts_us))
        if not samples:
            raise PayloadError("no_values", f"none of the {len(self._fields)} mapped fields is present")
        for label in absent:
            self.missing[label] = self.missing.get(label, 0) + 1
        return samples

    def _timestamp(self, doc: Any, receive_ts_us: int) -> int:
        if self._ts_steps is None or self._ts_parse is None:
            return receive_ts_us
        raw = _lookup(doc, self._ts_steps)
        if raw is _MISSING or raw is None:
            if self._ts_required:
                where = syntax.format_json_path(self._ts_steps)
                raise PayloadError("missing_timestamp", f"timestamp field {where} is missing or null")
            return receive_ts_us
        return self._ts_parse(raw)

    def _plain_sample(self, target: _Target, text: str, receive_ts_us: int) -> list[Sample]:
        value = text.strip()
        if not value:
            raise PayloadError("empty", "plain payload is empty")
        f = self._fields[0]
        return [Sample(target.keys[0], receive_ts_us, f.convert(value), STATUS_GOOD, None, receive_ts_us)]


class MessageMapper:
    """All subscriptions of one collector. A topic goes to the first subscription that matches, in
    configuration order, so list specific filters before general ones."""

    def __init__(self, config: MqttConfig) -> None:
        self.subscriptions = tuple(SubscriptionMapper(s, config.qos, config.max_payload_bytes)
                                   for s in config.subscriptions)
        self.unmatched = 0

    def subscribe_list(self) -> list[tuple[str, int]]:
        """(filter, QoS) pairs for one SUBSCRIBE packet, in configuration order."""
        return [(sub.broker_filter, int(sub.qos)) for sub in self.subscriptions]

    def check_granted(self, granted: Sequence[int]) -> list[str]:
        """Problems in a SUBACK's return codes (one per filter of ``subscribe_list``), empty if none.

        A broker may grant less than asked (an ACL, or a QoS cap like Mosquitto's ``max_qos``); at QoS 0
        messages are lost across reconnects, so a downgrade is a problem, not a detail.
        """
        if len(granted) != len(self.subscriptions):
            return [f"the broker answered {len(granted)} codes for {len(self.subscriptions)} filters"]
        problems = []
        for sub, code in zip(self.subscriptions, granted, strict=True):
            if code >= 0x80:
                problems.append(f"{sub.broker_filter!r} refused by the broker (reason code 0x{code:02x})")
            elif code < sub.qos:
                problems.append(f"{sub.broker_filter!r} granted QoS {code}, requested {int(sub.qos)}")
        return problems

    def route(self, topic: str) -> tuple[SubscriptionMapper, dict[str, str]] | None:
        for sub in self.subscriptions:
            captures = sub.match(topic)
            if captures is not None:
                return sub, captures
        return None

    def decode(self, topic: str, payload: bytes, receive_ts_us: int) -> list[Sample]:
        """Samples of one message from the first matching subscription; raises PayloadError."""
        for sub in self.subscriptions:
            groups = sub._match(topic)
            if groups is not None:
                return sub._decode(groups, payload, receive_ts_us)
        self.unmatched += 1
        raise PayloadError("unmatched_topic", f"topic {topic[:200]!r} matches no subscription")

    def take_new_tags(self) -> list[TagMeta]:
        """See ``SubscriptionMapper.take_new_tags``."""
        return [meta for sub in self.subscriptions for meta in sub.take_new_tags()]
