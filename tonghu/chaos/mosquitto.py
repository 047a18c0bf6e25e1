"""A private Mosquitto that can be killed -9 and started again on the same port, with its persistence file.

Never the shared broker on 1883: fault scenarios kill this one. With ``persistence`` the broker saves sessions
and queued messages to ``mosquitto.db`` every ``autosave_interval`` seconds (and at a clean exit); a kill -9
loses what arrived since the last save, which is exactly what the edge's resend-until-the-ingester-acks
protocol must absorb (docs/ARCHITECTURE.md, Delivery).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tonghu.chaos.procs import free_port, kill9, stop, wait_port

# A stock Mosquitto queues 1000 messages per persistent session and drops the rest silently; a device broker
# feeding an agent that is down for a while needs far more.
QUEUED_MAX = 1_000_000


class Mosquitto:
    def __init__(self, workdir: Path, *, port: int | None = None, bind: str = "127.0.0.1",
                 persistence: bool = True, autosave_interval: int = 1, name: str = "mosquitto") -> None:
        self.bind = bind
        self.port = port or free_port(bind)
        self.dir = workdir / f"{name}-{self.port}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log = self.dir / "mosquitto.log"
        self.conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} {bind}", "allow_anonymous true",
                 # As root, mosquitto would switch to its own user and could not write here.
                 "user root", f"max_queued_messages {QUEUED_MAX}", "max_inflight_messages 0",
                 f"log_dest file {self.log}", "log_type error", "log_type warning", "log_type notice"]
        if persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/",
                      f"autosave_interval {autosave_interval}"]
        else:
            lines.append("persistence false")
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        try:
            wait_port(self.bind, self.port, timeout, alive=lambda: proc.poll() is None)
        except RuntimeError as err:
            raise RuntimeError(f"private mosquitto on {self.bind}:{self.port} did not start: {err}; "
                               f"see {self.log}") from err

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill9(self.proc)

    def stop(self) -> None:
        stop(self.proc)

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()
