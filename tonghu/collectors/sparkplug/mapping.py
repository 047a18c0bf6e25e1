"""Sparkplug names → ISA-95 tag keys ``area/line/asset/name``, as ``MappingConfig`` describes.

Sparkplug ids and metric names are free UTF-8 (§4.1, §6.4.6) while tag keys are ASCII codes, so every name
that goes into a template is sanitised first: accents are dropped (é → e), '/' (the folder separator of
metric names) becomes '.', anything else outside the key alphabet becomes '_'. A name that loses letters on
the way (Chinese, Cyrillic…) or is too long gets a short hash of the original appended, so two different
names never meet in one key by accident. Should two metrics still map to one key, the first keeps it and the
second is not collected (logged and counted): merging them would interleave two series in one tag and the
platform's (tag, time) key would silently drop one of two samples at the same time.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from tonghu.collectors.sparkplug.config import Action, Case, Level, MappingConfig, MetricRule
from tonghu.common.errors import PayloadError
from tonghu.common.tagkey import parse_key
from tonghu.common.uplink import TagMeta

log = logging.getLogger(__name__)

# Protocol metrics (§4.2.1.1, §4.2.2.1), not process data: skipped unless a rule names them.
PROTOCOL_METRICS = ("bdSeq", "Node Control/*", "Device Control/*")
SEGMENT_MAX, NAME_MAX = 63, 127
_NOT_SEGMENT = re.compile(r"[^A-Za-z0-9_.-]+")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.:-]+")
_RUNS = re.compile(r"_{2,}")
_HASH_LEN = 6
_MAX_LOGGED = 100

Source = tuple[str, str, str | None, str]


def sanitise(text: str, *, segment: bool, lower: bool = True) -> str:
    """``text`` spelled in the alphabet of a key segment (``segment``) or of a tag name."""
    limit = SEGMENT_MAX if segment else NAME_MAX
    lossy = False
    chars = []
    for c in unicodedata.normalize("NFKD", text):
        if c.isascii():
            chars.append(c)
        elif unicodedata.combining(c):
            continue  # the accent of a decomposed letter
        else:
            lossy = lossy or unicodedata.category(c)[0] in "LN"
            chars.append(" ")  # symbols and non-ASCII spaces separate words, as a space does
    out = (_NOT_SEGMENT if segment else _NOT_NAME).sub("_", "".join(chars).replace("/", "."))
    out = _RUNS.sub("_", out).strip("_.:-")
    if lower:
        out = out.lower()
    if lossy or not out or len(out) > limit:
        digest = hashlib.blake2s(text.encode(), digest_size=_HASH_LEN // 2).hexdigest()
        out = f"{out[: limit - _HASH_LEN - 1].rstrip('_.:-')}-{digest}" if out else f"u-{digest}"
    return out


@dataclass(frozen=True, slots=True)
class _Target:
    source: Source
    rule: MetricRule | None


class KeyMapper:
    """The collector's ``KeyOf``: called at each birth (not per data message), so results are memoised."""

    def __init__(self, cfg: MappingConfig) -> None:
        self.cfg = cfg
        self._lower = cfg.case is Case.LOWER
        self._memo: dict[Source, str | None] = {}
        self._targets: dict[str, _Target] = {}
        self.skipped = 0
        self.problems: Counter[str] = Counter()

    def key_of(self, group: str, node: str, device: str | None, metric: str) -> str | None:
        source = (group, node, device, metric)
        if source in self._memo:
            return self._memo[source]
        key = self._map(source)
        self._memo[source] = key
        return key

    def rule_for(self, group: str, node: str, device: str | None, metric: str) -> MetricRule | None:
        for rule in self.cfg.rules:
            if device is None:
                if rule.device_only:
                    continue
            elif rule.level is Level.NODE or not fnmatchcase(device, rule.device):
                continue
            if fnmatchcase(metric, rule.metric) and fnmatchcase(group, rule.group) and fnmatchcase(node, rule.node):
                return rule
        return None

    def _map(self, source: Source) -> str | None:
        group, node, device, metric = source
        rule = self.rule_for(*source)
        if rule is None:
            skip = self.cfg.unmatched is Action.SKIP or any(fnmatchcase(metric, p) for p in PROTOCOL_METRICS)
        else:
            skip = rule.action is Action.SKIP
        if skip:
            self.skipped += 1
            return None
        asset = rule.asset if rule and rule.asset else self.cfg.device_asset if device else self.cfg.node_asset
        name = rule.name if rule and rule.name else self.cfg.name
        leaf = metric.rsplit("/", 1)[-1] or metric
        raw = {"group": group, "node": node, "device": device or "", "metric": metric, "leaf": leaf}
        segments = {k: sanitise(v, segment=True, lower=self._lower) for k, v in raw.items()}
        names = {k: sanitise(v, segment=False, lower=self._lower) for k, v in raw.items()}
        key = f"{asset.format(**segments)}/{name.format(**names)}"
        try:
            parse_key(key)
        except PayloadError as err:
            self._problem("invalid_key", f"metric {metric!r} of {_where(source)} maps to an invalid key: {err}")
            return None
        owner = self._targets.setdefault(key, _Target(source, rule))
        if owner.source != source:
            self._problem("key_collision", f"metric {metric!r} of {_where(source)} maps to {key!r}, which "
                          f"metric {owner.source[3]!r} of {_where(owner.source)} already uses; it is not "
                          "collected (add a rule that gives it another name)")
            return None
        return key

    def describe(self, tags: Iterable[TagMeta]) -> list[TagMeta]:
        """Tag metadata from a birth, completed with the matching rule's unit, role and description and the
        metric's Sparkplug address."""
        out = []
        for tag in tags:
            target = self._targets.get(tag.key)
            if target is None:
                out.append(tag)
                continue
            group, node, device, _metric = target.source
            attrs = {**tag.attrs, "sparkplug_group": group, "sparkplug_node": node}
            if device is not None:
                attrs["sparkplug_device"] = device
            rule = target.rule
            out.append(replace(
                tag, attrs=attrs, role=rule.role if rule else tag.role,
                unit=rule.unit if rule and rule.unit is not None else tag.unit,
                description=rule.description if rule and rule.description is not None else tag.description))
        return out

    def _problem(self, reason: str, message: str) -> None:
        self.problems[reason] += 1
        if sum(self.problems.values()) <= _MAX_LOGGED:
            log.warning("%s", message)


def _where(source: Source) -> str:
    group, node, device, _metric = source
    return f"{group}/{node}" + (f"/{device}" if device is not None else "")
