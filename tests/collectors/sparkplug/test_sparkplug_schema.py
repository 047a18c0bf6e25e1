"""The hand-written codec and sparkplug_b.proto describe the same wire format."""

from __future__ import annotations

import re
from pathlib import Path

import tonghu.collectors.sparkplug as package
from tonghu.collectors.sparkplug.codec import SCHEMA
from tonghu.collectors.sparkplug.datatypes import DataType

PROTO = Path(package.__file__).with_name("sparkplug_b.proto")
_FIELD = re.compile(r"^(?:optional |repeated )?[\w.]+ (\w+) = (\d+);")
_ENUM_VALUE = re.compile(r"^(\w+)\s*=\s*(\d+);$")


def _parse(text: str) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Field numbers per message (by innermost message name) and the DataType enum, from the .proto."""
    messages: dict[str, dict[str, int]] = {}
    enum: dict[str, int] = {}
    stack: list[str] = []
    for raw in text.splitlines():
        line = raw.split("//")[0].strip()
        if not line:
            continue
        opening = re.match(r"^(message|enum|oneof) (\w+) \{$", line)
        if opening:
            kind, name = opening.groups()
            # A oneof's members belong to the message around it.
            stack.append(stack[-1] if kind == "oneof" else name)
            continue
        if line == "}":
            stack.pop()
            continue
        if stack and stack[-1] == "DataType":
            value = _ENUM_VALUE.match(line)
            assert value, line
            enum[value.group(1)] = int(value.group(2))
            continue
        field = _FIELD.match(line)
        if field:
            messages.setdefault(stack[-1], {})[field.group(1)] = int(field.group(2))
    assert not stack, "unbalanced braces in the .proto"
    return messages, enum


def test_codec_field_numbers_match_the_proto() -> None:
    messages, _ = _parse(PROTO.read_text(encoding="utf-8"))
    for message, fields in SCHEMA.items():
        assert fields == messages[message], message


def test_datatype_enum_matches_the_proto() -> None:
    _, enum = _parse(PROTO.read_text(encoding="utf-8"))
    assert {name.upper(): n for name, n in enum.items()} == {
        member.name.replace("_", ""): member.value for member in DataType}
