"""`tonghu platform broker config` and `tonghu edges add|revoke`: what they write, what they store, what they audit."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.conftest import make_tenant
from tests.helpers.broker import CommandBroker, free_port
from tests.security.conftest import PLATFORM, broker_config, cli
from tests.security.probe import Probe, Tls
from tonghu.common.uplink import DEFAULT_LIMITS
from tonghu.platform.broker.passwd import verify
from tonghu.platform.broker.settings import PACKET_HEADROOM


def _conf(directory: Path) -> list[list[str]]:
    lines = (directory / "mosquitto.conf").read_text().splitlines()
    return [line.split(" ", 1) for line in lines if line and not line.startswith("#")]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _audit(db: psycopg.Connection, action: str, key: str, value: str) -> list[tuple[str, dict]]:
    return db.execute("SELECT actor, detail FROM audit_log WHERE action = %s AND detail->>%s = %s ORDER BY id",
                      (action, key, value)).fetchall()


@pytest.fixture
def configured(tmp_path: Path, database_url: str, topic_prefix: str) -> Iterator[Path]:
    broker_config(database_url, tmp_path / "broker", tmp_path / "pki", topic_prefix, free_port(), free_port())
    yield tmp_path / "broker"


def test_the_config_holds_the_documented_values(tmp_path: Path, database_url: str, topic_prefix: str) -> None:
    tls, mtls, local = free_port(), free_port(), free_port()
    broker_config(database_url, tmp_path / "b", tmp_path / "pki", topic_prefix, tls, mtls, "--local-port", str(local))
    conf = _conf(tmp_path / "b")
    values = {k: v for k, v in (kv for kv in conf if len(kv) == 2) if k not in ("listener", "log_type")}
    assert values["allow_anonymous"] == "false" and values["per_listener_settings"] == "false"
    assert values["password_file"] == str(tmp_path / "b" / "passwd")
    assert values["acl_file"] == str(tmp_path / "b" / "acl")
    assert int(values["max_packet_size"]) == DEFAULT_LIMITS.max_payload_bytes + PACKET_HEADROOM
    assert (values["max_queued_messages"], values["max_queued_bytes"]) == ("100000", str(512 * 1024 * 1024))
    assert (values["persistence"], values["autosave_interval"]) == ("true", "10")
    assert values["tls_version"] == "tlsv1.2" and values["require_certificate"] == "true"
    assert values["use_identity_as_username"] == "true" and values["crlfile"] == str(tmp_path / "b" / "crl.pem")
    # Exactly three listeners; the only plaintext one is on loopback, and no option re-enables anonymous access.
    listeners = [v for k, v in conf if k == "listener"]
    assert listeners == [str(tls), str(mtls), f"{local} 127.0.0.1"]
    assert [v for k, v in conf if k == "allow_anonymous"] == ["false"]
    assert sum(k == "tls_version" for k, *_ in conf) == 2  # both TLS listeners, not the loopback one
    # Secrets: the broker's files and the ingester's identity are readable by their owner only.
    for f in ("b/passwd", "b/acl", "b/ingest-main.yaml", "pki/ca.key", "pki/server.key"):
        assert _mode(tmp_path / f) == 0o600, f


def test_config_is_idempotent_and_keeps_what_it_made(tmp_path: Path, database_url: str, topic_prefix: str,
                                                     db: psycopg.Connection) -> None:
    d, pki, tls, mtls = tmp_path / "broker", tmp_path / "pki", free_port(), free_port()
    first = broker_config(database_url, d, pki, topic_prefix, tls, mtls)
    assert "CA created" in first.output and "ingest.main: issued" in first.output
    snapshot = {f: f.read_bytes() for f in (pki / "ca.crt", pki / "server.crt", d / "ingest-main.yaml", d / "passwd")}
    again = cli("platform", "broker", "config", "--database-url", database_url, "--dir", d,
                "--max-queued-messages", "5000", "--actor", "test")
    assert "CA kept" in again.output and "server certificate kept" in again.output
    assert "ingest.main: kept" in again.output
    assert {f: f.read_bytes() for f in snapshot} == snapshot
    stored = yaml.safe_load((d / "broker.yaml").read_text())
    assert (stored["max_queued_messages"], stored["tls_port"], stored["topic_prefix"]) == (5000, tls, topic_prefix)
    assert ["max_queued_messages", "5000"] in _conf(d)
    assert len(_audit(db, "broker.configure", "dir", str(d))) == 2
    assert len(_audit(db, "ingester.enrol", "topic_prefix", topic_prefix)) == 1

    # Without its file the ingester's password is lost: the next run issues a new one and the old one dies.
    old = yaml.safe_load((d / "ingest-main.yaml").read_text())["broker"]["password"]
    (d / "ingest-main.yaml").unlink()
    cli("platform", "broker", "config", "--database-url", database_url, "--dir", d, "--actor", "test")
    new = yaml.safe_load((d / "ingest-main.yaml").read_text())["broker"]["password"]
    (hashed,) = db.execute("SELECT password_hash FROM broker_accounts WHERE topic_prefix = %s AND username = %s",
                           (topic_prefix, "ingest.main")).fetchone()
    assert verify(new, hashed) and not verify(old, hashed)
    assert [d["credentials"] for _, d in _audit(db, "ingester.enrol", "topic_prefix", topic_prefix)] == [
        "created", "rotated"]


def test_enrolment_stores_hashes_only_writes_the_acl_and_audits(configured: Path, database_url: str,
                                                              topic_prefix: str, db: psycopg.Connection) -> None:
    t = make_tenant(db)
    args = ["edges", "add", "--database-url", database_url, "--company", t.company, "--site", t.site, "--name",
            t.edge, "--broker-dir", configured, "--actor", "alice"]
    out = cli(*args)
    printed = yaml.safe_load(out.stdout)
    assert printed["edge"] == {"company": t.company, "site": t.site, "name": t.edge}
    uplink = printed["uplink"]
    user, password = uplink["username"], uplink["password"]
    assert user == f"edge.{t.company}.{t.site}.{t.edge}" and uplink["topic_prefix"] == topic_prefix

    (hashed,) = db.execute("SELECT password_hash FROM broker_accounts WHERE username = %s", (user,)).fetchone()
    assert verify(password, hashed)
    for table in ("broker_accounts", "audit_log"):
        assert db.execute(f"SELECT count(*) FROM {table} x WHERE x::text LIKE %s", (f"%{password}%",)
                          ).fetchone() == (0,), table
    assert f"{user}:{hashed}\n" in (configured / "passwd").read_text()
    assert password not in (configured / "passwd").read_text() + (configured / "acl").read_text()
    own = f"{topic_prefix}/v1/{t.company}/{t.site}/{t.edge}"
    block = (configured / "acl").read_text().split(f"user {user}\n")[1].split("\n\n")[0].splitlines()
    assert block == [f"topic write {own}/data", f"topic write {own}/meta", f"topic write {own}/status",
                     f"topic read {own}/ack"]
    ((actor, detail),) = _audit(db, "edge.enrol", "username", user)
    assert actor == "alice" and detail["credentials"] == "created" and detail["auth"] == "password"

    kept = cli(*args)
    assert "password" not in yaml.safe_load(kept.stdout)["uplink"] and "--rotate" in kept.stdout
    rotated = yaml.safe_load(cli(*args, "--rotate").stdout)["uplink"]["password"]
    (hashed,) = db.execute("SELECT password_hash FROM broker_accounts WHERE username = %s", (user,)).fetchone()
    assert verify(rotated, hashed) and not verify(password, hashed)

    cli("edges", "revoke", "--database-url", database_url, "--company", t.company, "--site", t.site, "--name", t.edge,
        "--broker-dir", configured, "--actor", "bob")
    assert user not in (configured / "passwd").read_text() + (configured / "acl").read_text()
    assert db.execute("SELECT count(*) FROM broker_accounts WHERE username = %s", (user,)).fetchone() == (0,)
    assert db.execute("SELECT enabled FROM edges WHERE id = %s", (t.edge_id,)).fetchone() == (False,)
    ((actor, detail),) = _audit(db, "edge.revoke", "edge", t.edge)
    assert actor == "bob" and detail["usernames"] == [user]
    assert [d["credentials"] for _, d in _audit(db, "edge.enrol", "username", user)] == ["created", "kept", "rotated"]


def test_enrolment_needs_a_configured_broker(tmp_path: Path, database_url: str, db: psycopg.Connection) -> None:
    t = make_tenant(db)
    db.execute("UPDATE edges SET enabled = false WHERE id = %s", (t.edge_id,))
    base = ["edges", "add", "--database-url", database_url, "--company", t.company, "--site", t.site, "--name", t.edge]
    refused = cli(*base, "--broker-dir", tmp_path / "nowhere", ok=False)
    assert refused.exit_code != 0 and "tonghu platform broker config" in str(refused.exception)
    assert db.execute("SELECT enabled FROM edges WHERE id = %s", (t.edge_id,)).fetchone() == (False,)  # untouched
    # A broker managed elsewhere: registration only, the earlier behaviour.
    assert "registered" in cli(*base, "--no-broker").output
    assert db.execute("SELECT enabled FROM edges WHERE id = %s", (t.edge_id,)).fetchone() == (True,)
    # Revocation never waits for broker files.
    revoked = cli("edges", "revoke", "--database-url", database_url, "--company", t.company, "--site", t.site,
                  "--name", t.edge, "--broker-dir", tmp_path / "nowhere")
    assert "revoked" in revoked.output
    assert db.execute("SELECT enabled FROM edges WHERE id = %s", (t.edge_id,)).fetchone() == (False,)


def test_certificate_enrolment_needs_the_mtls_listener(tmp_path: Path, database_url: str, topic_prefix: str,
                                                       db: psycopg.Connection) -> None:
    broker_config(database_url, tmp_path / "b", tmp_path / "pki", topic_prefix, free_port(), 0)
    assert not any(k == "require_certificate" for k, *_ in _conf(tmp_path / "b"))
    t = make_tenant(db)
    refused = cli("edges", "add", "--database-url", database_url, "--company", t.company, "--site", t.site, "--name",
                  t.edge, "--broker-dir", tmp_path / "b", "--auth", "certificate", ok=False)
    assert "client-certificate listener" in str(refused.exception)
    assert db.execute("SELECT count(*) FROM broker_accounts WHERE edge_id = %s", (t.edge_id,)).fetchone() == (0,)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands files to the broker user")
def test_a_directory_the_broker_user_cannot_reach_is_refused(tmp_path: Path, database_url: str,
                                                             topic_prefix: str) -> None:
    tmp_path.chmod(0o700)  # as /root is: the broker would fail only when it starts, unable to open its files
    refused = cli("platform", "broker", "config", "--database-url", database_url, "--dir", tmp_path / "b", "--pki",
                  tmp_path / "pki", "--run-as", "mosquitto", "--topic-prefix", topic_prefix, ok=False)
    assert "the broker user 'mosquitto' cannot reach" in str(refused.exception)
    assert f"{tmp_path} is mode 700" in str(refused.exception)
    assert not (tmp_path / "pki" / "ca.key").exists() and not (tmp_path / "b" / "ingest-main.yaml").exists()


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mosquitto") is None, reason="needs root and mosquitto")
def test_started_as_root_the_broker_runs_as_its_own_user(database_url: str, topic_prefix: str) -> None:
    import pwd

    try:
        broker_user = pwd.getpwnam("mosquitto")
    except KeyError:
        pytest.skip("no mosquitto user on this host")
    # The broker user must be able to reach the directory, as it would /var/lib/tonghu.
    root = Path(tempfile.mkdtemp(prefix="tonghu-security-"))
    try:
        root.chmod(0o755)
        d, tls = root / "broker", free_port()
        broker_config(database_url, d, root / "pki", topic_prefix, tls, free_port(), run_as=None)
        assert ["user", "mosquitto"] in _conf(d)
        assert (root / "pki" / "server.key").stat().st_uid == broker_user.pw_uid
        assert _mode(root / "pki" / "server.key") == 0o600 and _mode(root / "pki" / "ca.key") == 0o600
        assert (root / "pki" / "ca.key").stat().st_uid == 0
        assert (d / "passwd").stat().st_gid == broker_user.pw_gid and _mode(d / "passwd") == 0o640
        with CommandBroker([*PLATFORM, "broker", "run", "--dir", str(d)], tls, root / "log") as proc:
            ident = yaml.safe_load((d / "ingest-main.yaml").read_text())["broker"]
            probe = Probe(tls, ident["username"], ident["password"], Tls(root / "pki" / "ca.crt"))
            try:
                assert probe.connect().ok
            finally:
                probe.close()
            assert proc.proc is not None
            status = Path(f"/proc/{proc.proc.pid}/status").read_text()
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uid_line.split()[1:] == [str(broker_user.pw_uid)] * 4
    finally:
        shutil.rmtree(root)
