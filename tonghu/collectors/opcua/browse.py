"""Walk a server's address space and draft a collector configuration from the variables found.

The draft is a starting point for an engineer: node ids are written with namespace URIs (``nsu=``), asset paths
are guessed from the objects above each variable (the last three, padded with ``unassigned``), tag names are the
browse names in snake_case, units come from the EngineeringUnits property (EUInformation, OPC 10000-8 §5.6.3)
and ranges from EURange. Variables whose type has no tag data type (DateTime, ByteString, structures, arrays)
are listed as comments.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncua import ua

from tonghu.collectors.opcua import nodes
from tonghu.collectors.opcua.config import ConnectionConfig
from tonghu.collectors.opcua.session import open_session, quiet_disconnect

_HAS_PROPERTY = ua.NodeId(ua.ObjectIds.HasProperty)
_HAS_SUBTYPE = ua.NodeId(ua.ObjectIds.HasSubtype)
_ENUMERATION = ua.NodeId(ua.ObjectIds.Enumeration)
# Built-in DataTypes (OPC 10000-6 §5.1.2) and the abstract numeric ones of OPC 10000-3 §8.
_TYPES = {1: "bool", 2: "int", 3: "int", 4: "int", 5: "int", 6: "int", 7: "int", 8: "int", 9: "int",
          10: "float", 11: "float", 12: "string", 21: "string", 26: "float", 27: "int", 28: "int"}
_TYPE_NAMES = {13: "DateTime", 14: "Guid", 15: "ByteString", 16: "XmlElement", 17: "NodeId", 19: "StatusCode",
               20: "QualifiedName", 22: "Structure", 24: "BaseDataType"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Found:
    node_id: ua.NodeId
    path: tuple[nodes.PathStep, ...]  # from Objects (exclusive) to the variable
    data_type: ua.NodeId | None = None
    value_rank: int = -1
    description: str = ""
    unit: str = ""
    eu_range: tuple[float, float] | None = None
    kind: str | None = None  # tag data type, or None when unsupported
    why: str = ""


@dataclass
class Walk:
    namespaces: list[str]
    variables: list[Found] = field(default_factory=list)
    truncated: bool = False


async def _browse(client: Any, node_ids: Sequence[ua.NodeId], reference: ua.NodeId, mask: int,
                  inverse: bool = False) -> list[list[ua.ReferenceDescription]]:
    """All references of each node (OPC 10000-4 §5.9.2), following continuation points with BrowseNext."""
    direction = ua.BrowseDirection.Inverse if inverse else ua.BrowseDirection.Forward
    params = ua.BrowseParameters(View=ua.ViewDescription(), RequestedMaxReferencesPerNode=0, NodesToBrowse=[
        ua.BrowseDescription(NodeId=n, BrowseDirection=direction, ReferenceTypeId=reference, IncludeSubtypes=True,
                             NodeClassMask=mask, ResultMask=ua.BrowseResultMask.All) for n in node_ids])
    out = []
    for result in await client.uaclient.browse(params):
        refs = list(result.References or [])
        cp = result.ContinuationPoint
        while cp:
            more = await client.uaclient.browse_next(
                ua.BrowseNextParameters(ReleaseContinuationPoints=False, ContinuationPoints=[cp]))
            refs.extend(more[0].References or [])
            cp = more[0].ContinuationPoint
        out.append(refs)
    return out


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def walk(client: Any, depth: int, max_variables: int = 2000, include_standard: bool = False,
               per_call: int = 500) -> Walk:
    """Breadth-first from Objects through hierarchical references, ``depth`` levels down."""
    ns_dv = await client.uaclient.read(ua.ReadParameters(NodesToRead=[
        ua.ReadValueId(NodeId=ua.NodeId(ua.ObjectIds.Server_NamespaceArray), AttributeId=ua.AttributeIds.Value)]))
    out = Walk(list(ns_dv[0].Value.Value or []))
    seen = {ua.NodeId(ua.ObjectIds.ObjectsFolder)}
    frontier: list[tuple[ua.NodeId, tuple[nodes.PathStep, ...]]] = [(ua.NodeId(ua.ObjectIds.ObjectsFolder), ())]
    mask = ua.NodeClass.Object | ua.NodeClass.Variable
    for _ in range(depth):
        following: list[tuple[ua.NodeId, tuple[nodes.PathStep, ...]]] = []
        for chunk in _chunks(frontier, per_call):
            results = await _browse(client, [n for n, _ in chunk], ua.NodeId(ua.ObjectIds.HierarchicalReferences),
                                    mask)
            for (_, path), refs in zip(chunk, results, strict=True):
                for ref in refs:
                    target = ua.NodeId(ref.NodeId.Identifier, ref.NodeId.NamespaceIndex)
                    if ref.ReferenceTypeId == _HAS_PROPERTY or target in seen or getattr(ref.NodeId, "ServerIndex", 0):
                        continue
                    if target.NamespaceIndex == 0 and not include_standard:
                        continue
                    seen.add(target)
                    bn = ref.BrowseName
                    uri = out.namespaces[bn.NamespaceIndex] if bn.NamespaceIndex < len(out.namespaces) else ""
                    step_path = (*path, nodes.PathStep(uri, bn.Name or ""))
                    if ref.NodeClass == ua.NodeClass.Variable:
                        if len(out.variables) >= max_variables:
                            out.truncated = True
                            continue
                        out.variables.append(Found(target, step_path))
                    following.append((target, step_path))
        frontier = following
        if not frontier or out.truncated:
            break
    await _describe(client, out.variables, per_call)
    return out


async def _describe(client: Any, found: list[Found], per_call: int) -> None:
    """DataType, ValueRank, Description, EngineeringUnits and EURange of each variable."""
    attrs = (ua.AttributeIds.DataType, ua.AttributeIds.ValueRank, ua.AttributeIds.Description)
    supertypes: dict[ua.NodeId, str | None] = {}
    for chunk in _chunks(found, max(1, per_call // len(attrs))):
        values = await client.uaclient.read(ua.ReadParameters(NodesToRead=[
            ua.ReadValueId(NodeId=f.node_id, AttributeId=a) for f in chunk for a in attrs]))
        for i, f in enumerate(chunk):
            dt, rank, desc = (values[i * 3 + k].Value.Value if values[i * 3 + k].Value else None for k in range(3))
            f.data_type = dt if isinstance(dt, ua.NodeId) else None
            f.value_rank = rank if isinstance(rank, int) else -1
            f.description = getattr(desc, "Text", None) or ""
        props = await _browse(client, [f.node_id for f in chunk], _HAS_PROPERTY, ua.NodeClass.Variable)
        wanted: list[tuple[Found, str, ua.NodeId]] = []
        for f, refs in zip(chunk, props, strict=True):
            for ref in refs:
                if ref.BrowseName.NamespaceIndex == 0 and ref.BrowseName.Name in ("EngineeringUnits", "EURange"):
                    wanted.append((f, ref.BrowseName.Name, ua.NodeId(ref.NodeId.Identifier, ref.NodeId.NamespaceIndex)))
        if wanted:
            prop_values = await client.uaclient.read(ua.ReadParameters(NodesToRead=[
                ua.ReadValueId(NodeId=nid, AttributeId=ua.AttributeIds.Value) for _, _, nid in wanted]))
            for (f, name, _), dv in zip(wanted, prop_values, strict=True):
                value = dv.Value.Value if dv.Value is not None else None
                if name == "EngineeringUnits" and value is not None:
                    f.unit = (getattr(value.DisplayName, "Text", None) or getattr(value.Description, "Text", None)
                              or "")
                elif name == "EURange" and value is not None:
                    f.eu_range = (float(value.Low), float(value.High))
        for f in chunk:
            f.kind, f.why = await _classify(client, f, supertypes)


async def _classify(client: Any, f: Found, cache: dict[ua.NodeId, str | None]) -> tuple[str | None, str]:
    if f.data_type is None:
        return None, "no DataType"
    if f.value_rank not in (-1, 0, -3):  # scalar, or "scalar or one dimension" read as scalar
        return None, "array value"
    kind = await _kind_of(client, f.data_type, cache, 0)
    if kind is None:
        name = _TYPE_NAMES.get(f.data_type.Identifier, str(f.data_type.to_string())) \
            if f.data_type.NamespaceIndex == 0 else f.data_type.to_string()
        return None, f"DataType {name}"
    return kind, ""


async def _kind_of(client: Any, dt: ua.NodeId, cache: dict[ua.NodeId, str | None], hops: int) -> str | None:
    """Tag data type of a DataType: built-in, an Enumeration (→ state), or found through its supertypes."""
    if dt in cache:
        return cache[dt]
    kind: str | None = None
    if dt == _ENUMERATION:
        kind = "state"
    elif dt.NamespaceIndex == 0 and isinstance(dt.Identifier, int) and dt.Identifier in _TYPES:
        kind = _TYPES[dt.Identifier]
    elif hops < 8 and not (dt.NamespaceIndex == 0 and dt.Identifier in _TYPE_NAMES):
        parents = (await _browse(client, [dt], _HAS_SUBTYPE, 0, inverse=True))[0]
        if parents:
            parent = parents[0].NodeId
            kind = await _kind_of(client, ua.NodeId(parent.Identifier, parent.NamespaceIndex), cache, hops + 1)
    cache[dt] = kind
    return kind


def _segment(name: str, limit: int) -> str:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    text = _UNSAFE.sub("_", snake).strip("_.-").lower()[:limit]
    return text if text and text[0].isalnum() else f"x{text}"[:limit] or "x"


def _guess(path: Sequence[nodes.PathStep]) -> tuple[str, str]:
    parents = [_segment(s.name, 63) for s in path[:-1]]
    asset = (["unassigned"] * 3 + parents)[-3:]
    return "/".join(asset), _segment(path[-1].name, 127)


def _node_id_text(nid: ua.NodeId, namespaces: Sequence[str]) -> str:
    kinds = {ua.NodeIdType.String: "s", ua.NodeIdType.Guid: "g", ua.NodeIdType.ByteString: "b"}
    kind = kinds.get(nid.NodeIdType, "i")
    uri = namespaces[nid.NamespaceIndex] if nid.NamespaceIndex < len(namespaces) else nodes.UA_NAMESPACE
    return nodes.format_node_id(uri, kind, nid.Identifier)  # type: ignore[arg-type]


def draft(result: Walk, endpoint: str, name: str = "opcua", header: str = "", extra: Sequence[str] = (),
          publishing_interval: float = 1.0) -> str:
    """The YAML text of one collector entry with one subscription group holding every supported variable.

    ``extra`` lines (security, identity, …) go after the endpoint as they are.
    """
    def q(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid double-quoted YAML scalar

    lines = [f"# {line}" for line in header.splitlines()]
    lines += ["type: opcua", f"name: {q(name)}", f"endpoint: {q(endpoint)}"]
    lines += list(extra)
    lines += ["groups:", "  - name: all", "    mode: subscription", f"    publishing_interval: {publishing_interval}",
              "    nodes:"]
    used: set[str] = set()
    skipped = []
    for f in result.variables:
        path = nodes.format_browse_path((nodes.PathStep(nodes.UA_NAMESPACE, "Objects"), *f.path))
        if f.kind is None:
            skipped.append(f"#   {path}: {f.why}")
            continue
        asset, tag = _guess(f.path)
        base, n = tag, 2
        while f"{asset}/{tag}" in used:
            tag, n = f"{base}_{n}"[:127], n + 1
        used.add(f"{asset}/{tag}")
        item = {"node_id": _node_id_text(f.node_id, result.namespaces), "asset": asset, "tag": tag,
                "data_type": f.kind}
        if f.unit:
            item["unit"] = f.unit
        if f.description and f.description != f.path[-1].name:
            item["description"] = f.description
        fields = ", ".join(f"{k}: {q(v)}" for k, v in item.items())
        if f.eu_range is not None:
            fields += f", attrs: {{eu_low: {f.eu_range[0]!r}, eu_high: {f.eu_range[1]!r}}}"
        lines.append(f"      - {{{fields}}}  # {path}")
    if not used:
        lines.append("      []  # no supported variables found; try a larger --depth")
    if skipped:
        lines += ["# Not included (no matching tag data type):", *skipped]
    if result.truncated:
        lines.append(f"# Stopped after {len(result.variables)} variables (--max-variables).")
    return "\n".join(lines) + "\n"


async def browse_server(cfg: ConnectionConfig, depth: int, max_variables: int = 2000,
                        include_standard: bool = False) -> Walk:
    client, _ = await open_session(cfg, "browse")
    try:
        return await walk(client, depth, max_variables, include_standard)
    finally:
        await quiet_disconnect(client, cfg.timeouts.request.total_seconds())
