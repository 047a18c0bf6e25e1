"""A private PostgreSQL 15 + TimescaleDB cluster in a temporary directory, on a free port.

For scenarios that stop the database hard (``pg_ctl stop -m immediate``: no checkpoint, crash recovery at the
next start) and for the end-to-end benchmark, which also needs ``track_commit_timestamp`` (the commit time of
every row, from ``pg_xact_commit_timestamp(xmin)``) and the CPU of the database alone. The shared cluster is
never touched. PostgreSQL refuses to run as root, so as root initdb and the server run as ``postgres`` via
runuser; as any other user, directly.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tonghu.chaos.procs import free_port

BIN = Path(os.environ.get("TONGHU_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PgCluster:
    def __init__(self, *, port: int | None = None, settings: dict[str, str] | None = None,
                 owner: str = "postgres") -> None:
        self.port = port or free_port()
        self.settings = {"listen_addresses": "'127.0.0.1'", "shared_preload_libraries": "'timescaledb'",
                         "timescaledb.telemetry_level": "off", "max_connections": "50",
                         **(settings or {})}
        self.owner = owner if os.geteuid() == 0 else None
        self.dir: Path | None = None

    @property
    def data(self) -> Path:
        if self.dir is None:
            raise RuntimeError("init() first")
        return self.dir / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(BIN / args[0]), *args[1:]]
        if self.owner:
            cmd = ["runuser", "-u", self.owner, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done

    def init(self) -> None:
        # Not under pytest's tmp dirs: those are private to root and the server runs as postgres.
        self.dir = Path(tempfile.mkdtemp(prefix="tonghu-pg-"))
        if self.owner:
            ids = pwd.getpwnam(self.owner)
            os.chown(self.dir, ids.pw_uid, ids.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        conf = "\n".join(f"{k} = {v}" for k, v in self.settings.items())
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"\n# tonghu.chaos private cluster\nport = {self.port}\nunix_socket_directories = '{self.dir}'\n"
                    f"{conf}\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")

    def stop_immediate(self) -> None:
        """No checkpoint, no clean shutdown: the next start runs crash recovery from the WAL."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def destroy(self) -> None:
        if self.dir is None:
            return
        if self.postmaster_pid() is not None:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> PgCluster:
        self.init()
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.destroy()
