"""DataValue → Sample: values per data type, status codes kept, placeholders for bad values, timestamp fallbacks."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from asyncua import ua

from tonghu.collectors.opcua.config import NodeConfig
from tonghu.collectors.opcua.convert import BAD_OUT_OF_RANGE, BAD_TYPE_MISMATCH, TagConverter, to_us
from tonghu.common.sample import STATUS_UNCERTAIN, Quality

SRC = datetime(2026, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
SRV = datetime(2026, 3, 1, 8, 0, 1, tzinfo=UTC)
SRC_US = 1772352000123456
SRV_US = 1772352001000000
RECV = 1772352005000000


def conv(data_type: str = "float", **extra: Any) -> TagConverter:
    return TagConverter(NodeConfig(node_id="i=1", asset="a/b/c", tag="t", data_type=data_type, **extra))


def dv(value: Any, vtype: ua.VariantType | None = None, status: int = 0, source: datetime | None = SRC,
       server: datetime | None = SRV) -> ua.DataValue:
    variant = ua.Variant(value, vtype) if vtype is not None else ua.Variant(value)
    return ua.DataValue(Value=variant, StatusCode=ua.StatusCode(status), SourceTimestamp=source,
                        ServerTimestamp=server)


def test_float_sample_keeps_status_and_timestamps() -> None:
    s = conv().sample(dv(23.5, ua.VariantType.Double, STATUS_UNCERTAIN), RECV)
    assert (s.key, s.value, s.status, s.quality) == ("a/b/c/t", 23.5, STATUS_UNCERTAIN, Quality.UNCERTAIN)
    assert (s.source_ts_us, s.server_ts_us, s.receive_ts_us) == (SRC_US, SRV_US, RECV)


def test_timestamp_fallbacks() -> None:
    c = conv()
    assert c.sample(dv(1.0, source=None), RECV).source_ts_us == SRV_US
    no_times = c.sample(dv(1.0, source=None, server=None), RECV)
    assert (no_times.source_ts_us, no_times.server_ts_us) == (RECV, None)
    # DateTime 0 is 1601-01-01, OPC UA's "not set".
    assert c.sample(dv(1.0, source=datetime(1601, 1, 1, tzinfo=UTC)), RECV).source_ts_us == SRV_US
    assert to_us(datetime(2026, 3, 1, 8, 0, 0, 123456)) == SRC_US  # naive means UTC


@pytest.mark.parametrize(("data_type", "raw", "vtype", "expected"), [
    ("float", 7, ua.VariantType.Int32, 7.0),
    ("float", True, ua.VariantType.Boolean, 1.0),
    ("int", 2**62 + 1, ua.VariantType.Int64, 2**62 + 1),
    ("int", 12.0, ua.VariantType.Double, 12),
    ("bool", 1, ua.VariantType.Byte, True),
    ("string", "abc", ua.VariantType.String, "abc"),
    ("string", 42, ua.VariantType.UInt16, "42"),
    ("string", ua.LocalizedText("Hallo", "de"), ua.VariantType.LocalizedText, "Hallo"),
    ("state", 2, ua.VariantType.Int32, "setup"),
    ("state", 9, ua.VariantType.Int32, "9"),
    ("state", "running", ua.VariantType.String, "running"),
])
def test_values_per_data_type(data_type: str, raw: Any, vtype: ua.VariantType, expected: Any) -> None:
    extra = {"states": {1: "production", 2: "setup"}} if data_type == "state" else {}
    s = conv(data_type, **extra).sample(dv(raw, vtype), RECV)
    assert s.value == expected and type(s.value) is type(expected)
    assert s.status == 0


@pytest.mark.parametrize(("data_type", "raw", "vtype"), [
    ("float", "12.5", ua.VariantType.String),
    ("int", 12.5, ua.VariantType.Double),
    ("bool", 2, ua.VariantType.Int32),
    ("string", b"\x00", ua.VariantType.ByteString),
    ("float", [1.0, 2.0], ua.VariantType.Double),
    ("float", None, None),
])
def test_values_that_do_not_fit_become_bad_type_mismatch(data_type: str, raw: Any, vtype: Any) -> None:
    c = conv(data_type)
    s = c.sample(dv(raw, vtype), RECV)
    assert s.status == BAD_TYPE_MISMATCH and s.quality is Quality.BAD
    assert (c.mismatches, c.bad_status) == (1, 1)
    assert s.value == "" if data_type == "string" else math.isnan(s.value)  # type: ignore[arg-type]


def test_bad_status_without_value_carries_a_placeholder() -> None:
    comm_failure = 0x80050000  # BadCommunicationError: the server lost the device
    num = conv().sample(dv(None, status=comm_failure), RECV)
    assert num.status == comm_failure and math.isnan(num.value)  # type: ignore[arg-type]
    text = conv("string").sample(dv(None, status=comm_failure), RECV)
    assert (text.value, text.status) == ("", comm_failure)
    # A bad status with a usable value keeps the value, and the server's code.
    kept = conv().sample(dv(3.0, ua.VariantType.Double, comm_failure), RECV)
    assert (kept.value, kept.status) == (3.0, comm_failure)


def test_non_finite_good_values_become_bad_out_of_range() -> None:
    s = conv().sample(dv(math.inf, ua.VariantType.Double), RECV)
    assert s.status == BAD_OUT_OF_RANGE and s.value == math.inf
