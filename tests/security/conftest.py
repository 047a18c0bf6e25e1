"""A private platform broker per test, configured and run by the real commands:
``tonghu platform broker config`` (on free ports, the test's topic prefix, a throwaway directory) and
``tonghu platform broker run`` (Mosquitto in the foreground, started by tests.helpers.broker.CommandBroker).

The command groups are invoked directly (the same objects ``tonghu`` mounts), so these tests do not depend on the
rest of the command tree.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from click.testing import CliRunner, Result

from tests.helpers.broker import CommandBroker, free_port
from tests.security.probe import Probe, Tls
from tonghu.platform.cli import edges, platform

ROOT = click.Group("tonghu", commands={"platform": platform, "edges": edges})
PLATFORM = [sys.executable, "-c", "from tonghu.platform.cli import platform; platform()"]


def cli(*args: str | Path, ok: bool = True) -> Result:
    result = CliRunner().invoke(ROOT, [str(a) for a in args], catch_exceptions=not ok)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def broker_config(database_url: str, directory: Path, pki: Path, prefix: str, tls_port: int, mtls_port: int,
                  *extra: str, run_as: str | None = getpass.getuser()) -> Result:
    return cli("platform", "broker", "config", "--database-url", database_url, "--dir", directory, "--pki", pki,
               "--public-host", "127.0.0.1", "--tls-port", str(tls_port), "--mtls-port", str(mtls_port),
               "--topic-prefix", prefix, "--actor", "test", *(["--run-as", run_as] if run_as else []), *extra)


@dataclass
class SecureBroker:
    database_url: str
    dir: Path
    pki: Path
    prefix: str
    tls_port: int
    mtls_port: int
    process: CommandBroker | None = None

    @property
    def ca(self) -> Path:
        return self.pki / "ca.crt"

    def topic(self, company: str, site: str, edge: str, kind: str) -> str:
        return f"{self.prefix}/v1/{company}/{site}/{edge}/{kind}"

    def enrol(self, company: str, site: str, edge: str, *extra: str) -> dict[str, Any]:
        """`tonghu edges add`; returns the uplink section it wrote."""
        out = self.dir.parent / f"uplink-{company}-{site}-{edge}.yaml"
        cli("edges", "add", "--database-url", self.database_url, "--company", company, "--site", site, "--name", edge,
            "--broker-dir", self.dir, "--uplink-file", out, "--actor", "test", *extra)
        assert out.stat().st_mode & 0o777 == 0o600  # it holds the only copy of the secret
        return yaml.safe_load(out.read_text())["uplink"]

    def revoke(self, company: str, site: str, edge: str) -> Result:
        return cli("edges", "revoke", "--database-url", self.database_url, "--company", company, "--site", site,
                   "--name", edge, "--broker-dir", self.dir, "--actor", "test")

    def ingester_identity(self) -> dict[str, Any]:
        return yaml.safe_load((self.dir / "ingest-main.yaml").read_text())["broker"]

    def probe(self, username: str | None, password: str | None, **kw: Any) -> Probe:
        return Probe(self.tls_port, username, password, Tls(self.ca, **kw))

    def as_edge(self, uplink: dict[str, Any]) -> Probe:
        if "tls_cert" in uplink:
            return Probe(self.mtls_port, None, None, Tls(self.ca, Path(uplink["tls_cert"]), Path(uplink["tls_key"])))
        return self.probe(uplink["username"], uplink["password"])

    def as_ingester(self) -> Probe:
        ident = self.ingester_identity()
        return self.probe(ident["username"], ident["password"])


@pytest.fixture
def secure_broker(tmp_path: Path, database_url: str, topic_prefix: str) -> Iterator[SecureBroker]:
    b = SecureBroker(database_url, tmp_path / "broker", tmp_path / "pki", topic_prefix, free_port(), free_port())
    broker_config(database_url, b.dir, b.pki, b.prefix, b.tls_port, b.mtls_port)
    b.process = CommandBroker([*PLATFORM, "broker", "run", "--dir", str(b.dir)], b.tls_port,
                              tmp_path / "mosquitto.log")
    with b.process:
        yield b


@pytest.fixture
def probes() -> Iterator[list[Probe]]:
    """Probes appended here are closed after the test."""
    made: list[Probe] = []
    yield made
    for p in made:
        p.close()
