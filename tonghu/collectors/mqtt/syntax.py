"""The three small languages of the MQTT collector's configuration: topic filters with named captures,
JSON paths and key templates. Parsing happens once, when the configuration is validated or compiled.

Topic filter
    MQTT wildcards plus named captures: ``plant/{site}/meters/{meter}/+``. A capture ``{name}`` is a
    single-level wildcard (``+`` on the wire) whose value can be used in key templates. ``+``, ``#`` and
    captures each take a whole level; ``#`` only the last one. Literal braces are not supported.

JSON path
    Object keys separated by dots, array indexes in brackets: ``data.phases[1].voltage``. A key with
    dots, spaces, brackets or quotes is written as a JSON string in brackets: ``data["L1-N"]``. Negative
    indexes count from the end. ``$`` alone is the whole document; a leading ``$.`` is allowed.

Template
    Text with ``{capture}`` placeholders: ``area1/line1/meter_{meter}``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tonghu.common.tagkey import NAME_RE as KEY_NAME_RE
from tonghu.common.tagkey import SEGMENT_RE as KEY_SEGMENT_RE

NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
_PLACEHOLDER_RE = re.compile(r"\{([^{}]*)\}")
_INDEX_RE = re.compile(r"-?[0-9]+")
# A bare key stops at the characters the path syntax uses; whitespace is refused so that a stray space
# is reported instead of silently becoming part of a key.
_BARE_KEY_RE = re.compile(r"[^.\[\]\"'\s]+")
_SHARED_PREFIXES = ("$share/", "$queue/")
MAX_TOPIC_BYTES = 65535

PathStep = str | int


@dataclass(frozen=True, slots=True)
class TopicFilter:
    """A parsed topic filter; ``levels`` keep captures as ``{name}``."""

    text: str
    levels: tuple[str, ...]
    captures: tuple[str, ...]

    @property
    def broker_filter(self) -> str:
        """The filter as sent in SUBSCRIBE: every capture becomes ``+``."""
        return "/".join("+" if _is_capture(level) else level for level in self.levels)

    def pattern(self) -> re.Pattern[str]:
        """A regular expression whose groups are the captures, in order, for use with ``fullmatch``."""
        parts: list[str] = []
        for level in self.levels:
            if level == "#":
                break
            if level == "+":
                parts.append("[^/]*")
            elif _is_capture(level):
                parts.append("([^/]*)")
            else:
                parts.append(re.escape(level))
        body = "/".join(parts)
        if self.levels[-1] == "#":
            # '#' also matches the parent level itself: 'a/#' matches 'a'.
            body = body + "(?:/.*)?" if parts else ".*"
        # MQTT 3.1.1 §4.7.2: a filter that starts with a wildcard does not match topics starting with '$'.
        if self.levels[0] in ("+", "#") or _is_capture(self.levels[0]):
            body = r"(?!\$)" + body
        return re.compile(body, re.DOTALL)


def _is_capture(level: str) -> bool:
    return level.startswith("{")


def parse_filter(text: str) -> TopicFilter:
    """Parse a topic filter with captures; raises ValueError naming the offending level."""
    if not text:
        raise ValueError("a topic filter must not be empty")
    if "\x00" in text:
        raise ValueError("a topic filter must not contain the NUL character")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TOPIC_BYTES:
        raise ValueError(f"a topic filter must not exceed {MAX_TOPIC_BYTES} bytes")
    if text.startswith(_SHARED_PREFIXES):
        raise ValueError("shared subscriptions ($share/…) are not supported here: a collector needs every "
                         "message of its devices")
    levels = tuple(text.split("/"))
    captures: list[str] = []
    for i, level in enumerate(levels):
        where = f"level {i + 1} ({level!r}) of {text!r}"
        if level == "#":
            if i != len(levels) - 1:
                raise ValueError(f"'#' must be the last level, but is {where}")
        elif level == "+":
            continue
        elif level.startswith("{") and level.endswith("}"):
            name = level[1:-1]
            if not NAME_RE.fullmatch(name):
                raise ValueError(f"capture {where} must be named like {NAME_RE.pattern}")
            if name in captures:
                raise ValueError(f"capture {{{name}}} appears twice in {text!r}")
            captures.append(name)
        elif any(c in level for c in "+#{}"):
            raise ValueError(f"'+', '#' and '{{capture}}' must take a whole level, unlike {where}")
    return TopicFilter(text, levels, tuple(captures))


def is_valid_topic_name(topic: str) -> bool:
    """Whether ``topic`` can be a PUBLISH topic name (no wildcards, not empty, no NUL)."""
    return bool(topic) and "+" not in topic and "#" not in topic and "\x00" not in topic


def parse_json_path(text: str) -> tuple[PathStep, ...]:
    """Parse a JSON path into keys (str) and indexes (int); raises ValueError with the position."""
    if text == "$":
        return ()
    steps: list[PathStep] = []
    i, n = 0, len(text)
    if text.startswith("$."):
        i = 2
    elif text.startswith("$["):
        i = 1
    first = True
    while i < n:
        c = text[i]
        if c == "[":
            i = _parse_bracket(text, i + 1, steps)
        elif c == "." and not first:
            i = _parse_bare(text, i + 1, steps)
        elif first and c != ".":
            i = _parse_bare(text, i, steps)
        else:
            raise ValueError(f"JSON path {text!r}: unexpected {c!r} at position {i}")
        first = False
    if not steps:
        raise ValueError(f"JSON path {text!r} is empty (use '$' for the whole document)")
    return tuple(steps)


def _parse_bare(text: str, i: int, steps: list[PathStep]) -> int:
    m = _BARE_KEY_RE.match(text, i)
    if not m:
        found = repr(text[i]) if i < len(text) else "the end"
        raise ValueError(f"JSON path {text!r}: expected a key at position {i}, found {found} "
                         "(write keys with special characters as [\"key\"])")
    steps.append(m.group())
    return m.end()


def _parse_bracket(text: str, i: int, steps: list[PathStep]) -> int:
    if text.startswith('"', i):
        try:
            key, end = json.JSONDecoder().raw_decode(text, i)
        except ValueError:
            raise ValueError(f"JSON path {text!r}: bad quoted key at position {i}") from None
        steps.append(key)
    else:
        m = _INDEX_RE.match(text, i)
        if not m:
            raise ValueError(f"JSON path {text!r}: expected an integer index or a quoted key at position {i}")
        steps.append(int(m.group()))
        end = m.end()
    if not text.startswith("]", end):
        raise ValueError(f"JSON path {text!r}: expected ']' at position {end}")
    return end + 1


def format_json_path(steps: tuple[PathStep, ...]) -> str:
    """The canonical text of a parsed path, for messages and counters."""
    out: list[str] = []
    for step in steps:
        if isinstance(step, int):
            out.append(f"[{step}]")
        elif _BARE_KEY_RE.fullmatch(step) and (out or step != "$"):  # a leading bare '$' is the document
            out.append(f".{step}" if out else step)
        else:
            out.append(f"[{json.dumps(step)}]")
    return "".join(out) or "$"


def template_names(text: str) -> tuple[str, ...]:
    """Placeholder names in a template; raises ValueError for malformed braces or names."""
    names: list[str] = []
    for m in _PLACEHOLDER_RE.finditer(text):
        if not NAME_RE.fullmatch(m.group(1)):
            raise ValueError(f"placeholder {m.group()!r} in {text!r} must be a capture name like {{meter}}")
        names.append(m.group(1))
    if "{" in _PLACEHOLDER_RE.sub("", text) or "}" in _PLACEHOLDER_RE.sub("", text):
        raise ValueError(f"unbalanced brace in {text!r} (placeholders are written {{name}})")
    return tuple(names)


def check_segment(value: str, *, name: bool = False) -> bool:
    """Whether ``value`` can be an asset segment (or, with ``name``, the tag name) of a tag key.

    The alphabet is the platform's (``tonghu.common.tagkey``): its registry refuses any other key, and every
    sample of such a tag would end as a dead letter.
    """
    return (KEY_NAME_RE if name else KEY_SEGMENT_RE).fullmatch(value) is not None


def check_template_segments(text: str, count: int, what: str) -> None:
    """Check the literal parts of a template that must expand to exactly ``count`` '/'-separated segments."""
    segments = text.split("/")
    if len(segments) != count:
        raise ValueError(f"{what} {text!r} has {len(segments)} segment(s), expected {count}"
                         + (" (area/line/asset)" if count == 3 else " (no '/')"))
    regex = KEY_NAME_RE if count == 1 else KEY_SEGMENT_RE
    for segment in segments:
        if not segment:
            raise ValueError(f"{what} {text!r}: segment '' is empty")
        if not regex.fullmatch(_PLACEHOLDER_RE.sub("x", segment)):
            raise ValueError(f"{what} {text!r}: segment {segment!r} must match {regex.pattern} once its "
                             "placeholders are filled in")
