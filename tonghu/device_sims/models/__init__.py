"""Pure equipment models of the device simulators: tag tables with value functions, a seed and a clock.

No I/O and no module state: protocol servers (OPC-UA, MQTT, Sparkplug), the CLI and the backfill writer build on
them. The public surface:

- :func:`fleet` builds a deterministic set of companies, sites, lines and :class:`Machine` objects;
- ``Machine.tags()`` gives the ``TagMeta`` of every tag (key = asset path + "/" + name);
- ``Machine.steps(start_us, end_us, step_us)`` yields :class:`Step` batches (samples reported by exception with
  keyframes, exact-time samples and events); ``Machine.run`` collects them; ``Machine.state_at(t)`` and
  ``Machine.snapshot(t)`` answer point queries;
- ``KINDS`` lists the machine kinds by name, ``reason_tables()`` every reason code with its ISO 22400 time class.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tonghu.device_sims.models import assembly, cnc, petro_kind, smt, smt_kinds
from tonghu.device_sims.models.core import (
    DataType,
    MachineKind,
    Position,
    Product,
    Reason,
    TagSpec,
    TimeClass,
)
from tonghu.device_sims.models.fleet import Company, Fleet, Site, fleet
from tonghu.device_sims.models.machine import Machine, Run, StateAt, Step, identity_view
from tonghu.device_sims.models.profile import SECTORS, Profile, draw_profile
from tonghu.device_sims.models.timeline import Timeline

KINDS: Mapping[str, MachineKind] = MappingProxyType({
    **{k.name: k for k in smt_kinds.KINDS.values()},
    cnc.KIND.name: cnc.KIND,
    assembly.KIND.name: assembly.KIND,
    petro_kind.KIND.name: petro_kind.KIND,
})


def reason_tables() -> dict[str, list[dict[str, str]]]:
    """The reason codes each kind can report (as its stations see them), with state, ISO 22400 time class and
    text: the table a KPI engine maps state events with."""
    out: dict[str, list[dict[str, str]]] = {}
    for name, kind in KINDS.items():
        rows: dict[str, dict[str, str]] = {}
        for reason in kind.states.reasons:
            state, code, text, tclass = kind.view(reason) if kind.view else identity_view(reason)
            if code != reason.code:
                text = next(r.text for r in (smt.STARVED, smt.BLOCKED) if r.code == code)
            rows.setdefault(code, {"code": code, "state": state, "time_class": tclass.value, "text": text})
        out[name] = list(rows.values())
    return out


__all__ = [
    "KINDS",
    "SECTORS",
    "Company",
    "DataType",
    "Fleet",
    "Machine",
    "MachineKind",
    "Position",
    "Product",
    "Profile",
    "Reason",
    "Run",
    "Site",
    "StateAt",
    "Step",
    "TagSpec",
    "TimeClass",
    "Timeline",
    "draw_profile",
    "fleet",
    "reason_tables",
]
