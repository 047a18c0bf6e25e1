"""One asyncua server per simulated site.

Address space (namespace URI ``urn:tonghu:sims:{company}:{site}``, one per site)::

    Objects/{area}/{line}/{asset}            folders, folders, then one Object per machine
        {tag}                               one Variable per tag, node id ``ns=<site ns>;s={area}.{line}.{asset}.{tag}``
            EngineeringUnits                EUInformation (UNECE code where one is known, DisplayName = unit)
            EURange                         Range(lo, hi), only where the model declares both bounds

The asset part of the node id is the whole ISA-95 path with dots because asset names repeat across lines
(every SMT line has a ``printer``). Values are written by :meth:`SiteServer.apply`; the server keeps the latest
values itself so that a restart (``stop`` then ``start``, as the fault injector does) comes back with them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole

from tonghu.device_sims.live import asset_id
from tonghu.device_sims.models import DataType, Machine
from tonghu.device_sims.models.machine import SampleT

log = logging.getLogger(__name__)

_VARIANT = {DataType.FLOAT: ua.VariantType.Double, DataType.INT: ua.VariantType.Int64,
            DataType.BOOL: ua.VariantType.Boolean, DataType.STRING: ua.VariantType.String,
            DataType.STATE: ua.VariantType.String}
_CAST: dict[DataType, Any] = {DataType.FLOAT: float, DataType.INT: int, DataType.BOOL: bool,
                              DataType.STRING: str, DataType.STATE: str}
# UNECE Recommendation 20 codes, as OPC 10000-8 asks EUInformation to carry them.
_UNECE = {"kWh": "KWH", "kW": "KWT", "degC": "CEL", "s": "SEC", "%": "P1", "rpm": "RPM", "N": "NEW",
          "N.m": "NU", "t": "TNE", "t/h": "E18", "GJ": "GV", "ppm": "59", "count": "C62", "bar(g)": "BAR"}
UNECE_URI = "http://www.opcfoundation.org/UA/units/un/cefact"


def namespace_uri(company: str, site: str) -> str:
    return f"urn:tonghu:sims:{company}:{site}"


def eu_information(unit: str) -> ua.EUInformation:
    code = _UNECE.get(unit, "")
    unit_id = -1
    if code:
        unit_id = 0
        for ch in code:
            unit_id = (unit_id << 8) | ord(ch)
    return ua.EUInformation(NamespaceUri=UNECE_URI, UnitId=unit_id, DisplayName=ua.LocalizedText(unit),
                            Description=ua.LocalizedText(unit))


@dataclass(frozen=True, slots=True)
class Security:
    """Basic256Sha256 SignAndEncrypt with one user; the self-signed server certificate lives in ``cert_dir``."""

    username: str
    password: str
    cert_dir: Path


class _OneUser:
    """Accepts exactly the configured user; anonymous sessions are refused by the endpoint's token policy."""

    def __init__(self, username: str, password: str) -> None:
        self._username, self._password = username, password

    def get_user(self, iserver: object, username: str | None = None, password: str | None = None,
                 certificate: object = None) -> User | None:
        if username == self._username and password == self._password:
            return User(role=UserRole.User)
        return None


class SiteServer:
    """An OPC-UA server for one site's machines. ``start``/``stop`` may alternate any number of times."""

    def __init__(self, company: str, site: str, machines: Sequence[Machine], port: int, *,
                 host: str = "127.0.0.1", security: Security | None = None) -> None:
        self.company, self.site, self.port, self.host = company, site, port, host
        self.machines = tuple(machines)
        self.security = security
        self.namespace = namespace_uri(company, site)
        self._specs = {id(m): {t.name: t for t in m.kind.tags} for m in self.machines}
        self._values: dict[str, tuple[ua.VariantType, Any, datetime]] = {}
        self._server: Server | None = None
        self.ns_index = 0

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def seed(self, t_us: int) -> None:
        """Initial values: every tag's snapshot at simulated time ``t_us``."""
        for m in self.machines:
            self._remember(m, [(name, t_us, v) for name, v in m.snapshot(t_us).items()])

    async def start(self) -> None:
        server = Server(user_manager=_OneUser(self.security.username, self.security.password)
                        if self.security else None)
        await server.init()
        server.set_endpoint(f"opc.tcp://{self.host}:{self.port}")
        server.set_server_name(f"Tonghu simulator {self.company}/{self.site}")
        await server.set_application_uri(f"{self.namespace}:server")
        if self.security:
            await self._secure(server, self.security)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        self.ns_index = await server.register_namespace(self.namespace)
        await self._build(server)
        await server.start()
        self._server = server

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def apply(self, machine: Machine, samples: Iterable[SampleT]) -> None:
        """Take new values of one machine; written at once when the server runs, kept for the next start."""
        written = self._remember(machine, samples)
        server = self._server
        if server is None:
            return
        for nid in written:
            vt, value, ts = self._values[nid]
            await server.write_attribute_value(ua.NodeId(nid, self.ns_index), _data_value(vt, value, ts))

    # ------------------------------------------------------------------------------------------ internals

    def _remember(self, machine: Machine, samples: Iterable[SampleT]) -> list[str]:
        specs, prefix, out = self._specs[id(machine)], asset_id(machine), []
        for name, ts_us, value in samples:
            spec = specs.get(name)
            if spec is None:
                continue
            nid = f"{prefix}.{name}"
            self._values[nid] = (_VARIANT[spec.dtype], _CAST[spec.dtype](value),
                                 datetime.fromtimestamp(ts_us / 1e6, UTC))
            out.append(nid)
        return out

    async def _build(self, server: Server) -> None:
        idx = self.ns_index
        folders: dict[str, Any] = {}

        async def folder(path: str, name: str, parent: Any) -> Any:
            if path not in folders:
                folders[path] = await parent.add_folder(ua.NodeId(path, idx), ua.QualifiedName(name, idx))
            return folders[path]

        for m in self.machines:
            area, line, asset = m.position
            parent = await folder(line_path := f"{area}.{line}", line,
                                  await folder(area, area, server.nodes.objects))
            obj = await parent.add_object(ua.NodeId(f"{line_path}.{asset}", idx), ua.QualifiedName(asset, idx))
            await obj.add_property(ua.NodeId(f"{line_path}.{asset}.#kind", idx), ua.QualifiedName("Kind", idx),
                                   m.kind.name, ua.VariantType.String)
            for spec in m.kind.tags:
                nid = f"{asset_id(m)}.{spec.name}"
                vt, value, ts = self._values.get(nid) or (_VARIANT[spec.dtype], _CAST[spec.dtype](0), _now())
                var = await obj.add_variable(ua.NodeId(nid, idx), ua.QualifiedName(spec.name, idx),
                                             ua.Variant(value, vt))
                await var.set_value(_data_value(vt, value, ts))
                if spec.description:
                    await var.write_attribute(ua.AttributeIds.Description,
                                              ua.DataValue(ua.Variant(ua.LocalizedText(spec.description))))
                if spec.unit:
                    await var.add_property(ua.NodeId(f"{nid}#eu", idx), ua.QualifiedName("EngineeringUnits", 0),
                                           eu_information(spec.unit),
                                           datatype=ua.NodeId(ua.ObjectIds.EUInformation))
                if spec.lo is not None and spec.hi is not None:
                    await var.add_property(ua.NodeId(f"{nid}#range", idx), ua.QualifiedName("EURange", 0),
                                           ua.Range(Low=float(spec.lo), High=float(spec.hi)),
                                           datatype=ua.NodeId(ua.ObjectIds.Range))

    async def _secure(self, server: Server, sec: Security) -> None:
        from asyncua.crypto.cert_gen import setup_self_signed_certificate
        from cryptography.x509.oid import ExtendedKeyUsageOID

        sec.cert_dir.mkdir(parents=True, exist_ok=True)
        key, cert = sec.cert_dir / f"{self.site}-key.pem", sec.cert_dir / f"{self.site}-cert.der"
        await setup_self_signed_certificate(key, cert, f"{self.namespace}:server", self.host,
                                            [ExtendedKeyUsageOID.SERVER_AUTH],
                                            {"commonName": f"tonghu-sims-{self.site}"})
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        server.set_security_IDs(["Username"])


def _now() -> datetime:
    return datetime.now(UTC)


def _data_value(vt: ua.VariantType, value: Any, ts: datetime) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, vt), SourceTimestamp=ts, ServerTimestamp=_now())
