"""Tag keys: ``area/line/asset/name``, an ISA-95 path below the site (which the topic names)."""

from __future__ import annotations

import re
from typing import NamedTuple

from tonghu.common.errors import PayloadError

SEGMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,126}$")


class TagKey(NamedTuple):
    area: str
    line: str
    asset: str
    name: str

    @property
    def asset_path(self) -> str:
        return f"{self.area}/{self.line}/{self.asset}"


def parse_key(key: str) -> TagKey:
    parts = key.split("/")
    if len(parts) != 4:
        raise PayloadError("bad_key", f"tag key {key[:120]!r} must be area/line/asset/name (4 segments)")
    area, line, asset, name = parts
    for segment in (area, line, asset):
        if not SEGMENT_RE.fullmatch(segment):
            raise PayloadError("bad_key", f"segment {segment[:70]!r} of tag key {key[:120]!r} must match "
                                          f"{SEGMENT_RE.pattern}")
    if not NAME_RE.fullmatch(name):
        raise PayloadError("bad_key", f"tag name {name[:130]!r} in {key[:120]!r} must match {NAME_RE.pattern}")
    return TagKey(area, line, asset, name)
