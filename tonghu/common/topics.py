"""Uplink topic names: ``{prefix}/v1/{company}/{site}/{edge}/{kind}``.

The prefix is ``tonghu`` in production; tests use their own so that runs never see each other's data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tonghu.common.errors import PayloadError

VERSION = "v1"
DEFAULT_PREFIX = "tonghu"
# Codes appear in topics and ACLs, so they exclude MQTT wildcards, '/', and anything a shell would mangle.
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class Kind(StrEnum):
    DATA = "data"
    META = "meta"
    STATUS = "status"
    ACK = "ack"


@dataclass(frozen=True, slots=True)
class EdgeTopic:
    company: str
    site: str
    edge: str
    kind: Kind


def check_code(value: str, what: str) -> str:
    if not CODE_RE.fullmatch(value):
        raise ValueError(f"{what} {value!r} must match {CODE_RE.pattern} (lower-case letters, digits, '_' or '-')")
    return value


def topic(prefix: str, company: str, site: str, edge: str, kind: Kind) -> str:
    return f"{prefix}/{VERSION}/{company}/{site}/{edge}/{kind}"


def subscription(prefix: str, kind: Kind, share_group: str | None = None) -> str:
    """The filter for one kind from every edge, optionally as an MQTT 5 shared subscription."""
    base = f"{prefix}/{VERSION}/+/+/+/{kind}"
    return f"$share/{share_group}/{base}" if share_group else base


def parse(prefix: str, name: str) -> EdgeTopic:
    """Split an uplink topic; raises PayloadError('bad_topic') for anything else."""
    head = f"{prefix}/{VERSION}/"
    if not name.startswith(head):
        raise PayloadError("bad_topic", f"topic {name!r} is not under {head!r}")
    parts = name[len(head):].split("/")
    if len(parts) != 4:
        raise PayloadError("bad_topic", f"topic {name!r} must be {head}company/site/edge/kind")
    company, site, edge, kind = parts
    for value, what in ((company, "company"), (site, "site"), (edge, "edge")):
        if not CODE_RE.fullmatch(value):
            raise PayloadError("bad_topic", f"{what} {value!r} in topic {name!r} is not a valid code")
    try:
        return EdgeTopic(company, site, edge, Kind(kind))
    except ValueError:
        raise PayloadError("bad_topic", f"unknown message kind {kind!r} in topic {name!r}") from None
