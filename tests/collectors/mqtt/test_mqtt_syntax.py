"""Topic filters (MQTT 3.1.1 §4.7 / MQTT 5 §4.7 wildcard semantics), captures, JSON paths, templates."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tonghu.collectors.mqtt import syntax
from tonghu.collectors.mqtt.config import QoS, Subscription
from tonghu.collectors.mqtt.mapping import SubscriptionMapper

MATCH_TABLE = [
    # filter, topic, matches
    ("sport/tennis/player1/#", "sport/tennis/player1", True),  # '#' includes the parent level
    ("sport/tennis/player1/#", "sport/tennis/player1/ranking", True),
    ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", True),
    ("sport/tennis/player1/#", "sport/tennis/player2", False),
    ("sport/#", "sport", True),
    ("sport/#", "sport/", True),
    ("sport/#", "sports", False),
    ("#", "anything/at/all", True),
    ("#", "/", True),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/tennis/+", "sport/tennis", False),
    ("sport/+", "sport", False),
    ("sport/+", "sport/", True),  # '+' matches an empty level
    ("+/+", "/finance", True),
    ("/+", "/finance", True),
    ("+", "/finance", False),
    ("+", "finance", True),
    ("+/#", "/", True),
    ("a//b", "a//b", True),
    ("a/+/b", "a//b", True),
    ("a/b", "a/b/", False),
    ("a/b/", "a/b/", True),
    ("ACCOUNTS", "Accounts", False),  # case-sensitive
    ("a.b/c", "aXb/c", False),  # literal levels are not patterns
    ("a/(x)*", "a/(x)*", True),
    ("a/+", "a/b\nc", True),  # any character but '/' is part of a level
    ("温度/+", "温度/传感器1", True),
    # Leading wildcards do not match topics that start with '$' (server-internal topics).
    ("#", "$SYS/broker/load", False),
    ("+/monitor/Clients", "$SYS/monitor/Clients", False),
    ("{x}/monitor/Clients", "$SYS/monitor/Clients", False),
    ("$SYS/#", "$SYS/monitor/Clients", True),
    ("$SYS/monitor/+", "$SYS/monitor/Clients", True),
    ("a/+", "a/$b", True),  # only the first level is special
    # Invalid topic names never match.
    ("#", "", False),
    ("a/+", "a/+", False),
    ("a/#", "a/#", False),
    ("#", "a\x00b", False),
]


def _mapper_for(filter_text: str) -> SubscriptionMapper:
    sub = Subscription(topic=filter_text, fields=[{"path": "v", "asset": "a/b/c", "tag": "t"}])
    return SubscriptionMapper(sub, QoS.AT_LEAST_ONCE)


@pytest.mark.parametrize(("filter_text", "topic", "expected"), MATCH_TABLE)
def test_match_table(filter_text: str, topic: str, expected: bool) -> None:
    assert (_mapper_for(filter_text).match(topic) is not None) is expected


def test_captures_are_returned_by_name() -> None:
    mapper = _mapper_for("plant/{site}/meters/{meter}/+")
    assert mapper.match("plant/sz/meters/em07/telemetry") == {"site": "sz", "meter": "em07"}
    assert mapper.match("plant/sz/meters/em07") is None
    assert mapper.match("plant//meters/em07/x") == {"site": "", "meter": "em07"}
    assert mapper.broker_filter == "plant/+/meters/+/+"


def test_capture_before_multilevel_wildcard() -> None:
    mapper = _mapper_for("{site}/#")
    assert mapper.match("sz") == {"site": "sz"}
    assert mapper.match("sz/a/b") == {"site": "sz"}
    assert mapper.broker_filter == "+/#"


def _reference_match(filter_text: str, topic: str) -> bool:
    """MQTT matching written level by level, as the specification words it."""
    if not syntax.is_valid_topic_name(topic):
        return False
    levels, parts = filter_text.split("/"), topic.split("/")
    if topic.startswith("$") and levels[0] in ("+", "#"):
        return False
    for i, level in enumerate(levels):
        if level == "#":
            return True
        if i >= len(parts) or (level != "+" and level != parts[i]):
            return False
    return len(parts) == len(levels)


_level = st.sampled_from(["a", "b", "", "$x", "+"])
_filters = st.tuples(st.lists(_level, min_size=1, max_size=4), st.booleans()).map(
    lambda t: "/".join([*t[0], "#"] if t[1] else t[0])).filter(bool)
_topics = st.lists(st.sampled_from(["a", "b", "", "$x", "c"]), min_size=1, max_size=5).map("/".join)


@given(_filters, _topics)
def test_match_agrees_with_reference(filter_text: str, topic: str) -> None:
    assert (_mapper_for(filter_text).match(topic) is not None) is _reference_match(filter_text, topic)


@given(st.text())
def test_match_never_raises(topic: str) -> None:
    assert _mapper_for("plant/{site}/#").match(topic) is None or topic.startswith("plant")


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("a/#/b", "'#' must be the last level"),
    ("a#", "whole level"),
    ("a/b#", "whole level"),
    ("a+/b", "whole level"),
    ("a/+b", "whole level"),
    ("a/{x", "whole level"),
    ("a/{x}y", "whole level"),
    ("a/{X}", "must be named"),
    ("a/{1x}", "must be named"),
    ("a/{}", "must be named"),
    ("{x}/b/{x}", "appears twice"),
    ("$share/g/a/b", "shared subscriptions"),
    ("a\x00b", "NUL"),
])
def test_invalid_filters(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        syntax.parse_filter(text)


@pytest.mark.parametrize("text", ["#", "+", "/", "a//b", "$SYS/#", "{x}", "a/{b_2}/+/#"])
def test_valid_filters(text: str) -> None:
    assert syntax.parse_filter(text).text == text


@pytest.mark.parametrize(("text", "steps"), [
    ("a", ("a",)),
    ("data.phases[1].voltage", ("data", "phases", 1, "voltage")),
    ("readings[-1]", ("readings", -1)),
    ("[0][2]", (0, 2)),
    ("$", ()),
    ("$.a.b", ("a", "b")),
    ("$[3]", (3,)),
    ('data["L1-N"].v', ("data", "L1-N", "v")),
    ('["a.b"]["c]"]', ("a.b", "c]")),
    ('x["\\u00e9 \\"q\\""]', ("x", 'é "q"')),
    ("a-b.c_d.$e", ("a-b", "c_d", "$e")),
])
def test_json_paths(text: str, steps: tuple[syntax.PathStep, ...]) -> None:
    assert syntax.parse_json_path(text) == steps


@pytest.mark.parametrize("text", ["", ".a", "a.", "a..b", "a[", "a[]", "a[x]", "a[1", "a[1]b", "a b",
                                  "a['x']", 'a["x"', "a]", "$.", "a.[0]"])
def test_invalid_json_paths(text: str) -> None:
    with pytest.raises(ValueError, match="JSON path"):
        syntax.parse_json_path(text)


@given(st.lists(st.one_of(st.text(min_size=1, max_size=8), st.integers(-5, 50)), min_size=1, max_size=5))
def test_json_path_format_round_trips(steps: list[syntax.PathStep]) -> None:
    assert syntax.parse_json_path(syntax.format_json_path(tuple(steps))) == tuple(steps)


@pytest.mark.parametrize(("text", "names"), [
    ("area1/line1/{meter}", ("meter",)),
    ("{a}_{b}", ("a", "b")),
    ("plain", ()),
])
def test_template_names(text: str, names: tuple[str, ...]) -> None:
    assert syntax.template_names(text) == names


@pytest.mark.parametrize("text", ["{A}", "{0}", "{a.b}", "{a!r}", "a{", "a}", "{{a}}", "{}"])
def test_invalid_templates(text: str) -> None:
    with pytest.raises(ValueError):
        syntax.template_names(text)


def test_a_leading_dollar_key_prints_as_a_quoted_key() -> None:
    # Bare '$' at the start means the whole document, so the key '$' must be quoted to print back.
    for steps in [("$",), ("$", "a"), ("$", 0)]:
        assert syntax.parse_json_path(syntax.format_json_path(steps)) == steps


@pytest.mark.parametrize(("text", "count"), [("Zone A/l1/{m}", 3), ("a/Linie_ä/{m}", 3), ("temp °C", 1),
                                             ("a/b/c:d", 3), ("_a/b/c", 3)])
def test_templates_outside_the_platform_key_alphabet_are_refused(text: str, count: int) -> None:
    with pytest.raises(ValueError, match="must match"):
        syntax.check_template_segments(text, count, "asset path" if count == 3 else "tag name")
    syntax.check_template_segments("a/l-1.x/{m}" if count == 3 else "t_{m}:max", count, "template")
