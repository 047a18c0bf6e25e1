"""The files Mosquitto reads, rendered from ``broker.yaml`` and the registry; reloading and running the broker.

Broker directory layout:

    broker.yaml        the settings (settings.py)
    mosquitto.conf     rendered; `mosquitto -c` reads it
    passwd, acl        rendered from ``broker_accounts`` (hashes only)
    crl.pem            revoked client certificates (only with the client-certificate listener)
    data/              Mosquitto's persistence (owned by the broker user)
    run/mosquitto.pid  written by Mosquitto; `SIGHUP` to it reloads passwd, acl, crl and certificates
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import psycopg

from tonghu.common.errors import ConfigError
from tonghu.common.topics import VERSION, Kind
from tonghu.platform.broker import accounts
from tonghu.platform.broker.accounts import Account, Auth, Role
from tonghu.platform.broker.passwd import file_line
from tonghu.platform.broker.settings import BrokerSettings
from tonghu.platform.pki import Pki, write_crl, write_private

HEADER = "# Rendered by `tonghu platform broker config` / `tonghu edges add|revoke`; edits here are overwritten.\n"
# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are all of that kind already).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


@dataclass(frozen=True, slots=True)
class Layout:
    dir: Path

    def __post_init__(self) -> None:
        # Absolute: Mosquitto resolves relative paths against its working directory, and the running broker is
        # recognised by the config path on its command line.
        object.__setattr__(self, "dir", self.dir.expanduser().resolve())

    conf = property(lambda self: self.dir / "mosquitto.conf")
    passwd = property(lambda self: self.dir / "passwd")
    acl = property(lambda self: self.dir / "acl")
    crl = property(lambda self: self.dir / "crl.pem")
    data = property(lambda self: self.dir / "data")
    run = property(lambda self: self.dir / "run")
    pid = property(lambda self: self.dir / "run" / "mosquitto.pid")
    lock = property(lambda self: self.dir / ".lock")


@dataclass(frozen=True, slots=True)
class ApplyReport:
    edges: int
    ingesters: int
    revoked_certificates: int
    reloaded_pid: int | None


def render_conf(s: BrokerSettings, lay: Layout) -> str:
    pki = Pki(s.pki_dir)
    bind = f" {s.bind_address}" if s.bind_address else ""
    tls = [f"certfile {pki.server_cert}", f"keyfile {pki.server_key}", "tls_version tlsv1.2",
           f"ciphers {TLS12_CIPHERS}"]
    out = [HEADER, "per_listener_settings false", "allow_anonymous false", f"password_file {lay.passwd}",
           f"acl_file {lay.acl}", f"user {s.run_as}", f"pid_file {lay.pid}",
           "persistence true", f"persistence_location {lay.data}/",
           f"autosave_interval {int(s.autosave_interval.total_seconds())}",
           f"persistent_client_expiration {s.persistent_client_expiration}",
           f"max_packet_size {s.max_packet_size}",
           f"max_queued_messages {s.max_queued_messages}", f"max_queued_bytes {s.max_queued_bytes}",
           "log_dest stderr", "log_type error", "log_type warning", "log_type notice", "log_type information",
           "connection_messages true", "",
           "# Edges and ingesters: TLS, username and password.", f"listener {s.tls_port}{bind}", *tls]
    if s.mtls_port is not None:
        out += ["", "# Edges with a client certificate from the platform CA: its CN is the username.",
                f"listener {s.mtls_port}{bind}", *tls, f"cafile {pki.ca_cert}", "require_certificate true",
                "use_identity_as_username true", f"crlfile {lay.crl}"]
    if s.local_port is not None:
        out += ["", "# Local tools only: plaintext on loopback, still username and password (allow_anonymous false).",
                f"listener {s.local_port} 127.0.0.1"]
    return "\n".join(out) + "\n"


def render_acl(prefix: str, accts: list[Account]) -> str:
    """One block per identity; Mosquitto denies whatever no line grants (no anonymous access, no catch-all)."""
    out = [HEADER]
    for a in accts:
        out.append(f"user {a.username}")
        if a.role is Role.INGESTER:
            out += [f"topic read {prefix}/{VERSION}/+/+/+/{k}" for k in (Kind.DATA, Kind.META, Kind.STATUS)]
            out.append(f"topic write {prefix}/{VERSION}/+/+/+/{Kind.ACK}")
        else:
            own = f"{prefix}/{VERSION}/{a.company}/{a.site}/{a.edge}"
            out += [f"topic write {own}/{k}" for k in (Kind.DATA, Kind.META, Kind.STATUS)]
            out.append(f"topic read {own}/{Kind.ACK}")
        out.append("")
    return "\n".join(out)


def render_passwd(accts: list[Account]) -> str:
    return "".join(file_line(a.username, a.password_hash) for a in accts if a.password_hash)


def _check_paths(*paths: Path) -> None:
    for p in paths:
        if any(c.isspace() for c in str(p)):
            raise ConfigError(f"{p}: Mosquitto's configuration cannot name a path with whitespace")


def _owner(run_as: str) -> tuple[int, int] | None:
    """(uid, gid) to hand broker-read files to, or None when we are not root and cannot change owners."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(run_as)
    except KeyError as err:
        raise ConfigError(f"run_as: user {run_as!r} does not exist on this host") from err
    return entry.pw_uid, entry.pw_gid


def _check_reachable(path: Path, owner: tuple[int, int], run_as: str) -> None:
    """Mosquitto opens its files after dropping root; a parent it cannot traverse fails only when it starts."""
    uid, gid = owner
    for d in (path, *path.parents):
        st = d.stat()
        bits = 0o100 if st.st_uid == uid else 0o010 if st.st_gid == gid else 0o001
        if not st.st_mode & bits:
            raise ConfigError(f"the broker user {run_as!r} cannot reach {path}: {d} is mode "
                              f"{stat.S_IMODE(st.st_mode):o}; choose a directory it can reach, or --run-as root")


def _hand_over(path: Path, owner: tuple[int, int] | None, mode: int) -> None:
    """What the broker itself writes (data/, run/) or must read after dropping root (its TLS key)."""
    if owner is not None:
        os.chown(path, *owner)
    os.chmod(path, mode)


def preflight(directory: Path, s: BrokerSettings) -> tuple[int, int] | None:
    """Refuse, before anything changes, what would only fail when Mosquitto starts; returns the broker's owner."""
    lay = Layout(directory)
    _check_paths(lay.dir, s.pki_dir)
    owner = _owner(s.run_as)
    if owner is not None and owner[0] != 0:
        for d in (lay.dir, s.pki_dir):
            d.mkdir(parents=True, exist_ok=True)
            _check_reachable(d, owner, s.run_as)
    return owner


@contextlib.contextmanager
def locked(lay: Layout) -> Iterator[None]:
    """Serialises renders: each reads the registry after its own commit, so the last one written is complete."""
    lay.dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lay.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def apply(conn: psycopg.Connection, directory: Path, s: BrokerSettings) -> ApplyReport:
    """Render every broker file from the registry, hand them to the broker user, and reload a running broker."""
    lay = Layout(directory)
    pki = Pki(s.pki_dir)
    owner = preflight(directory, s)
    with locked(lay):
        accts = accounts.accounts(conn, s.topic_prefix)
        revoked = accounts.revoked_certificates(conn, s.topic_prefix)
        for d in (lay.data, lay.run):
            d.mkdir(parents=True, exist_ok=True)
            _hand_over(d, owner, 0o700)
        # Root keeps ownership (the broker cannot rewrite them); the broker's group may read them.
        secret_mode = 0o640 if owner and owner[0] != 0 else 0o600
        readers = (0, owner[1]) if owner else None
        write_private(lay.passwd, render_passwd(accts).encode(), secret_mode, readers)
        write_private(lay.acl, render_acl(s.topic_prefix, accts).encode(), secret_mode, readers)
        if s.mtls_port is not None:
            write_crl(s.pki_dir, revoked, lay.crl)
        _hand_over(pki.server_key, owner, 0o600)
        write_private(lay.conf, render_conf(s, lay).encode(), 0o644)
        pid = reload(directory)
    edges = sum(a.role is Role.EDGE for a in accts)
    return ApplyReport(edges, len(accts) - edges, len(revoked) if s.mtls_port is not None else 0, pid)


def running_pid(directory: Path) -> int | None:
    """The pid of the broker started with this directory's config, or None (a stale pid file is ignored)."""
    lay = Layout(directory)
    try:
        pid = int(lay.pid.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if str(lay.conf).encode() in cmdline.split(b"\0") else None


def reload(directory: Path) -> int | None:
    """SIGHUP the running broker: it rereads passwd, acl, crl and its certificate, and disconnects clients
    whose password no longer checks. Returns the pid signalled, or None when the broker is not running."""
    pid = running_pid(directory)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGHUP)
        except PermissionError as err:
            raise ConfigError(f"cannot signal the broker (pid {pid}): run this as root or as its user; the files "
                              "are written and take effect at its next reload or start") from err
    return pid


def run(directory: Path) -> NoReturn:
    """Replace this process with Mosquitto in the foreground, so signals and the exit code are the broker's."""
    lay = Layout(directory)
    if not lay.conf.is_file():
        raise ConfigError(f"{lay.conf} does not exist; run `tonghu platform broker config --dir {directory}` first")
    pid = running_pid(directory)
    if pid is not None:
        raise ConfigError(f"a broker is already running with {lay.conf} (pid {pid})")
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    os.execv(binary, [binary, "-c", str(lay.conf)])  # the path running_pid() recognises


def certificate_auth_port(s: BrokerSettings, auth: Auth) -> int:
    if auth is Auth.PASSWORD:
        return s.tls_port
    if s.mtls_port is None:
        raise ConfigError("certificate authentication needs the client-certificate listener: rerun "
                          "`tonghu platform broker config --mtls-port 8884`")
    return s.mtls_port
