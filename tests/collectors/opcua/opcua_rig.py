"""Real asyncua servers for the OPC-UA collector tests, in-process on free ports or as a child process.

Run as a script (``python opcua_rig.py PORT``) it serves the standard test address space and changes Temp
every 100 ms until killed: the frozen-server test stops it with SIGSTOP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.callback import CallbackType
from asyncua.common.utils import ServiceError
from asyncua.crypto import security_policies
from asyncua.crypto.permission_rules import User, UserRole

NS = "urn:tonghu:test:plant"
OTHER_NS = "urn:tonghu:test:other"
SERVER_URI = "urn:tonghu:test:server"

# name → (variant type, initial value); node ids are nsu=NS;s=Line1.<name>, browse names {NS}<name>.
VARIABLES: dict[str, tuple[ua.VariantType, Any]] = {
    "Temp": (ua.VariantType.Double, 20.0),
    "Count": (ua.VariantType.Int64, 0),
    "Running": (ua.VariantType.Boolean, False),
    "Mode": (ua.VariantType.String, "auto"),
    "State": (ua.VariantType.Int32, 1),
}

log = logging.getLogger(__name__)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
    """Drive one async test body (pytest-asyncio is not a dependency)."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Users:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver: Any, username: str | None = None, password: str | None = None,
                 certificate: Any = None) -> User | None:
        if username is None:
            return User(role=UserRole.User)
        if self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class _EmptyCertOnNone(Server):
    """Behaves like open62541: no certificate in CreateSession on the None endpoint."""

    async def _setup_server_nodes(self) -> None:
        await super()._setup_server_nodes()
        for factory in self._policies:
            if factory.cls is security_policies.SecurityPolicyNone:
                factory.certificate = None


@dataclass
class Rig:
    server: Server
    port: int
    nodes: dict[str, Any] = field(default_factory=dict)
    reads: list[int] = field(default_factory=list)  # nodes per accepted client Read, in order
    refused: list[int] = field(default_factory=list)  # nodes per Read refused with BadTooManyOperations

    @property
    def url(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}"

    async def write(self, name: str, value: Any, status: int = 0, source_ts: datetime | None = None) -> None:
        vtype = VARIABLES.get(name, (ua.VariantType.Double, 0))[0]
        dv = ua.DataValue(Value=ua.Variant(value, vtype), StatusCode=ua.StatusCode(status),
                          SourceTimestamp=source_ts or datetime.now(UTC), ServerTimestamp=datetime.now(UTC))
        await self.server.write_attribute_value(self.nodes[name].nodeid, dv)


async def build_server(port: int, *, namespaces: Sequence[str] = (NS,), extra: int = 0,
                       cert: tuple[Path, Path] | None = None, policies: Sequence[ua.SecurityPolicyType] | None = None,
                       users: dict[str, str] | None = None, empty_cert_on_none: bool = False,
                       max_nodes_per_read: int | None = None, enforce_read_limit: int | None = None) -> Rig:
    """A started server: ``namespaces`` registered in that order, the VARIABLES under Objects/Plant/Line1 in NS,
    plus ``extra`` Double variables X0… (for batching and load tests).

    ``max_nodes_per_read`` is what the server advertises in its OperationLimits; ``enforce_read_limit`` makes it
    answer larger client Reads with BadTooManyOperations (asyncua itself enforces nothing). Every client Read's
    size is recorded in ``Rig.reads`` or ``Rig.refused``.
    """
    cls = _EmptyCertOnNone if empty_cert_on_none else Server
    server = cls(user_manager=_Users(users) if users is not None else None)
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}")
    server.set_server_name("Tonghu test server")
    await server.set_application_uri(SERVER_URI)
    if cert is not None:
        await server.load_certificate(str(cert[0]))
        await server.load_private_key(str(cert[1]))
    server.set_security_policy(list(policies) if policies is not None else [ua.SecurityPolicyType.NoSecurity])
    if users is not None:
        server.set_identity_tokens([ua.AnonymousIdentityToken, ua.UserNameIdentityToken])
    idx = {uri: await server.register_namespace(uri) for uri in namespaces}
    ns = idx[NS]
    plant = await server.nodes.objects.add_folder(ua.NodeId("Plant", ns), ua.QualifiedName("Plant", ns))
    line = await plant.add_object(ua.NodeId("Line1", ns), ua.QualifiedName("Line1", ns))
    rig = Rig(server, port)
    for name, (vtype, value) in VARIABLES.items():
        rig.nodes[name] = await line.add_variable(ua.NodeId(f"Line1.{name}", ns), ua.QualifiedName(name, ns),
                                                  ua.Variant(value, vtype))
    temp = rig.nodes["Temp"]
    await temp.add_property(ua.NodeId("Line1.Temp.EngineeringUnits", ns), ua.QualifiedName("EngineeringUnits", 0),
                            ua.EUInformation(NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
                                             UnitId=4408652, DisplayName=ua.LocalizedText("°C"),
                                             Description=ua.LocalizedText("degree Celsius")))
    await temp.add_property(ua.NodeId("Line1.Temp.EURange", ns), ua.QualifiedName("EURange", 0),
                            ua.Range(Low=-20.0, High=120.0))
    for i in range(extra):
        rig.nodes[f"X{i}"] = await line.add_variable(ua.NodeId(f"Line1.X{i}", ns), ua.QualifiedName(f"X{i}", ns),
                                                     ua.Variant(float(i), ua.VariantType.Double))
    if max_nodes_per_read is not None:
        limit = server.get_node(ua.NodeId(ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead))
        await limit.write_value(ua.Variant(max_nodes_per_read, ua.VariantType.UInt32))

    async def pre_read(event: Any, _dispatcher: Any) -> None:
        if not event.is_external:
            return
        size = len(event.request_params.NodesToRead)
        if enforce_read_limit is not None and size > enforce_read_limit:
            rig.refused.append(size)
            raise ServiceError(ua.StatusCodes.BadTooManyOperations)
        rig.reads.append(size)

    server.subscribe_server_callback(CallbackType.PreRead, pre_read)
    await server.start()
    return rig


@contextlib.asynccontextmanager
async def serving(port: int | None = None, **kwargs: Any) -> AsyncIterator[Rig]:
    rig = await build_server(port or free_port(), **kwargs)
    try:
        yield rig
    finally:
        await rig.server.stop()


class ListSink:
    """A SampleSink that keeps everything, for assertions."""

    def __init__(self) -> None:
        self.samples: list[Any] = []
        self.puts = 0

    def put(self, samples: Sequence[Any]) -> None:
        self.puts += 1
        self.samples.extend(samples)

    def of(self, key: str) -> list[Any]:
        return [s for s in self.samples if s.key == key]


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


async def _serve_forever(port: int) -> None:
    rig = await build_server(port)
    print("ready", flush=True)
    value = 0.0
    while True:
        value += 1.0
        await rig.write("Temp", value)
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(_serve_forever(int(sys.argv[1])))
