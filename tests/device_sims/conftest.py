"""Shared builders for the equipment-model tests: one machine of every kind, on fixed seeds."""

from __future__ import annotations

import pytest

from tonghu.device_sims.models import assembly, cnc, petro_kind, smt, smt_kinds
from tonghu.device_sims.models.core import DAY_US
from tonghu.device_sims.models.machine import Machine
from tonghu.device_sims.models.profile import draw_profile
from tonghu.device_sims.models.timeline import Timeline

# A Monday-free, arbitrary UTC midnight: 2025-10-09 00:00.
T0 = 1_760_000_000 * 1_000_000 // DAY_US * DAY_US


def smt_line(seed: int = 7, company: int = 3) -> dict[str, Machine]:
    profile = draw_profile("electronics", company)
    tl = Timeline(smt.STATES, profile, seed, catalogue=smt.catalogue, params=smt.params, parts=smt.parts)
    return {station: Machine(kind, ("smt", "l1", station), profile, seed * 100 + i, tl)
            for i, (station, kind) in enumerate(smt_kinds.KINDS.items())}


def cnc_machine(seed: int = 4, company: int = 9) -> Machine:
    return Machine(cnc.KIND, ("machining", "cell1", "cnc01"), draw_profile("equipment", company), seed)


def assembly_station(seed: int = 5, company: int = 9) -> Machine:
    return Machine(assembly.KIND, ("assembly", "asm1", "st01"), draw_profile("equipment", company), seed)


def cdu(seed: int = 11, company: int = 5) -> Machine:
    return Machine(petro_kind.KIND, ("crude", "cdu1", "unit"), draw_profile("petrochemical", company), seed)


def every_kind() -> list[Machine]:
    return [*smt_line().values(), cnc_machine(), assembly_station(), cdu()]


@pytest.fixture(scope="module")
def machines() -> list[Machine]:
    return every_kind()
