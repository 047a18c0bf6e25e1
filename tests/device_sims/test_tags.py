"""Tag tables: valid keys, declared types, and every value inside its declared range."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from tests.device_sims.conftest import T0
from tonghu.common.errors import PayloadError
from tonghu.common.tagkey import parse_key
from tonghu.common.uplink import EVENT_KINDS
from tonghu.device_sims.models import KINDS, fleet, reason_tables
from tonghu.device_sims.models.core import DAY_US, DataType, TagSpec, TimeClass
from tonghu.device_sims.models.machine import Machine

PY_TYPES = {"float": float, "int": int, "bool": bool, "string": str, "state": str}


def test_every_key_parses_as_a_tag_key(machines: list[Machine]) -> None:
    for m in machines:
        metas = m.tags()
        assert len({t.key for t in metas}) == len(metas) == len(m.kind.tags)
        for meta in metas:
            key = parse_key(meta.key)
            assert key.asset_path == m.asset_path
            assert meta.data_type in PY_TYPES


@pytest.mark.parametrize("bad", ["", "-x", "a/b", "a b", "x" * 128])
def test_bad_tag_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="must match"):
        TagSpec(bad, DataType.FLOAT, lambda c: 0.0)
    with pytest.raises(PayloadError):
        parse_key(f"a/b/c/{bad}")


def test_values_have_their_type_and_stay_in_range(machines: list[Machine]) -> None:
    """Eight days (a weekly maintenance included) on a 30 s grid, throttling off: every sample of every tag."""
    for m in machines:
        specs = {t.name: t for t in m.kind.tags}
        run = m.run(T0, T0 + 8 * DAY_US, 30 * 1_000_000, throttle=False)
        seen: dict[str, int] = Counter()
        for name, _t, value in run.samples:
            spec = specs[name]
            assert type(value) is PY_TYPES[spec.dtype.value], (m, name, value)
            if spec.dtype in (DataType.FLOAT, DataType.INT):
                assert spec.lo is None or value >= spec.lo, (m, name, value)
                assert spec.hi is None or value <= spec.hi, (m, name, value)
            seen[name] += 1
        silent = [t.name for t in m.kind.tags if not seen[t.name] and t.name not in ("alarms", "aoi_last_defect")
                  and not t.name.startswith("lab_")]
        assert not silent, (m, silent)


def test_every_machine_of_the_fleet_starts_in_range() -> None:
    """Plant parameters differ per company and machine: check every machine's values, not one per kind."""
    for _c, _s, m in fleet().machines():
        specs = {t.name: t for t in m.kind.tags}
        for t in (T0, T0 + 2 * DAY_US + 4321 * 1_000_000, T0 + 5 * DAY_US + 777 * 1_000_000):
            for name, value in m.snapshot(t).items():
                spec = specs[name]
                assert type(value) is PY_TYPES[spec.dtype.value], (m, name, value)
                if spec.dtype in (DataType.FLOAT, DataType.INT):
                    assert spec.lo is None or value >= spec.lo, (m, name, value)
                    assert spec.hi is None or value <= spec.hi, (m, name, value)


def test_samples_and_events_are_unique_per_key(machines: list[Machine]) -> None:
    """The database's unique keys: (tag, time) for samples, (tag, time, kind) for events."""
    for m in machines:
        run = m.run(T0, T0 + 8 * DAY_US)
        keys = Counter((n, t) for n, t, _v in run.samples)
        assert max(keys.values()) == 1, (m, keys.most_common(3))
        ekeys = Counter((n, t, k) for n, t, k, *_ in run.events)
        assert max(ekeys.values()) == 1, (m, ekeys.most_common(3))
        assert {k for _n, _t, k, *_ in run.events} <= EVENT_KINDS
        per_tag: dict[str, list[int]] = defaultdict(list)
        for n, t, _v in run.samples:
            per_tag[n].append(t)
        assert all(ts == sorted(ts) for ts in per_tag.values())
        assert [t for _n, t, _v in run.samples] == sorted(t for _n, t, _v in run.samples)


def test_every_state_code_is_in_the_reason_table(machines: list[Machine]) -> None:
    tables = reason_tables()
    for m in machines:
        table = {row["code"]: row for row in tables[m.kind.name]}
        run = m.run(T0, T0 + 8 * DAY_US)
        states = [e for e in run.events if e[2] == "state"]
        assert states
        for _n, _t, _k, state, code, _text in states:
            assert table[code]["state"] == state
            assert table[code]["time_class"] in {c.value for c in TimeClass}
        assert {r["code"] for r in m.reason_table()} <= set(table)


def test_reason_tables_cover_every_kind_and_time_class() -> None:
    tables = reason_tables()
    assert set(tables) == set(KINDS)
    per_sector: dict[str, set[str]] = defaultdict(set)
    for name, rows in tables.items():
        per_sector[KINDS[name].sector] |= {r["time_class"] for r in rows}
        assert len({r["code"] for r in rows}) == len(rows)
    for classes in per_sector.values():
        assert classes == {c.value for c in TimeClass}
