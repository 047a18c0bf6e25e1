"""Node id and browse path syntax, parsed without I/O.

Node ids follow the string form of OPC 10000-6 §5.3.1.10, with the namespace given by URI (``nsu=``) because
namespace indexes are assigned by the server and may change when it restarts or loads another model:

    nsu=urn:example:site;s=Line1.Temp      string identifier in namespace urn:example:site
    nsu=urn:example:site;i=1001            numeric
    nsu=urn:example:site;g=09087e75-8e5e-499b-954f-f2a9603db28a
    nsu=urn:example:site;b=AAEC            opaque (base64)
    ns=2;s=Line1.Temp                      by index: accepted, but breaks when the server renumbers
    i=2258                                 namespace 0, the OPC UA standard namespace

Browse paths start at the Root folder and name each step by namespace URI and browse name:

    /Objects/{urn:example:site}Plant/{urn:example:site}Line1/{urn:example:site}Temp

A step without ``{uri}`` is in namespace 0 (``Objects``, ``Server``). ``\\`` escapes ``/``, ``{``, ``}`` and
itself inside names. Each step follows any hierarchical reference (OPC 10000-4 §7.31, RelativePath).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

UA_NAMESPACE = "http://opcfoundation.org/UA/"

IdKind = Literal["i", "s", "g", "b"]
_NODE_ID = re.compile(r"(?:nsu=(?P<uri>[^;]+);|ns=(?P<ns>[0-9]+);)?(?P<kind>[isgb])=(?P<ident>.*)", re.DOTALL)
_UINT32_MAX = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class NodeIdSpec:
    """A configured node id: the namespace by URI (preferred) or by index, and the identifier."""

    namespace_uri: str | None
    namespace_index: int | None
    kind: IdKind
    identifier: int | str | uuid.UUID | bytes

    def namespace(self, namespaces: Sequence[str]) -> int:
        """The index of this node's namespace in the server's NamespaceArray; LookupError if it is absent."""
        if self.namespace_uri is None:
            return self.namespace_index or 0
        try:
            return list(namespaces).index(self.namespace_uri)
        except ValueError:
            raise LookupError(f"namespace {self.namespace_uri!r} is not in the server's NamespaceArray") from None

    @property
    def by_index(self) -> bool:
        return self.namespace_uri is None and bool(self.namespace_index)


def parse_node_id(text: str) -> NodeIdSpec:
    """Parse ``nsu=URI;s=...``, ``ns=N;i=...`` or a bare ``i=...``; ValueError names what is wrong."""
    m = _NODE_ID.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"node id {text!r} must look like 'nsu=<namespace URI>;s=<name>' (or i=, g=, b=)")
    kind: IdKind = m["kind"]  # type: ignore[assignment]
    raw = m["ident"]
    identifier: int | str | uuid.UUID | bytes
    if kind == "i":
        if not raw.isdigit() or int(raw) > _UINT32_MAX:
            raise ValueError(f"node id {text!r}: a numeric identifier is an integer 0..{_UINT32_MAX}")
        identifier = int(raw)
    elif kind == "s":
        if not raw:
            raise ValueError(f"node id {text!r}: the string identifier is empty")
        identifier = raw
    elif kind == "g":
        try:
            identifier = uuid.UUID(raw)
        except ValueError:
            raise ValueError(f"node id {text!r}: g= needs a GUID such as 09087e75-8e5e-499b-954f-f2a9603db28a") \
                from None
    else:
        try:
            identifier = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"node id {text!r}: b= needs base64 text") from None
    index = int(m["ns"]) if m["ns"] is not None else None
    if index is not None and index > 0xFFFF:
        raise ValueError(f"node id {text!r}: namespace index must be 0..65535")
    return NodeIdSpec(m["uri"], index, kind, identifier)


@dataclass(frozen=True, slots=True)
class PathStep:
    namespace_uri: str
    name: str


def parse_browse_path(text: str) -> tuple[PathStep, ...]:
    """Parse ``/Objects/{uri}Name/...`` into steps; ValueError names the position of the problem."""
    if not text.startswith("/"):
        raise ValueError(f"browse path {text!r} must start with '/' (the Root folder), e.g. /Objects/{{urn:x}}Plant")
    steps: list[PathStep] = []
    i, n = 1, len(text)
    while i <= n:
        uri = UA_NAMESPACE
        if i < n and text[i] == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise ValueError(f"browse path {text!r}: '{{' at position {i} is not closed")
            uri = text[i + 1:end].strip()
            if not uri:
                raise ValueError(f"browse path {text!r}: empty namespace URI at position {i}")
            i = end + 1
        name: list[str] = []
        while i < n and text[i] != "/":
            ch = text[i]
            if ch == "\\":
                if i + 1 >= n or text[i + 1] not in "/{}\\":
                    raise ValueError(f"browse path {text!r}: '\\' at position {i} must escape / {{ }} or \\")
                name.append(text[i + 1])
                i += 2
                continue
            if ch in "{}":
                raise ValueError(f"browse path {text!r}: unexpected {ch!r} at position {i} (escape it with '\\')")
            name.append(ch)
            i += 1
        if not name:
            raise ValueError(f"browse path {text!r}: empty step at position {i}")
        steps.append(PathStep(uri, "".join(name)))
        i += 1
    return tuple(steps)


def format_browse_path(steps: Sequence[PathStep]) -> str:
    """The inverse of ``parse_browse_path``."""
    out = []
    for step in steps:
        name = re.sub(r"([/{}\\])", r"\\\1", step.name)
        out.append(name if step.namespace_uri == UA_NAMESPACE else f"{{{step.namespace_uri}}}{name}")
    return "/" + "/".join(out)


def format_node_id(namespace_uri: str, kind: IdKind, identifier: int | str | uuid.UUID | bytes) -> str:
    """The ``nsu=`` form of a node id; namespace 0 is written without a prefix."""
    ident = base64.b64encode(identifier).decode("ascii") if isinstance(identifier, bytes) else str(identifier)
    body = f"{kind}={ident}"
    return body if namespace_uri == UA_NAMESPACE else f"nsu={namespace_uri};{body}"
