"""The demo's child processes: started in order, each with its own log, all stopped together."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """A component failed to start or died; the message ends with the tail of its log."""


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.3).close()
        return True
    except OSError:
        return False


def tonghu(*args: str) -> list[str]:
    """The command line of a ``tonghu`` subcommand run with this interpreter."""
    return [sys.executable, "-m", "tonghu", *args]


class Stack:
    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        logdir.mkdir(parents=True, exist_ok=True)
        self.children: list[Child] = []

    def start(self, name: str, argv: list[str], *, port: int | None = None, timeout: float = 60.0,
              env: dict[str, str] | None = None) -> Child:
        """Start a component; with ``port``, wait until it answers there (or fail with its log)."""
        if port is not None and port_open(port):
            raise StackError(f"{name}: port {port} is already in use (another demo, or choose other ports)")
        log = self.logdir / f"{name}.log"
        out = log.open("ab")
        # Own session: Ctrl-C reaches this process only, which then stops the children in order.
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})})
        out.close()
        child = Child(name, proc, log)
        self.children.append(child)
        if port is not None:
            deadline = time.monotonic() + timeout
            while not port_open(port):
                if proc.poll() is not None:
                    raise StackError(f"{name} exited with {proc.returncode} before listening on {port}:\n{tail(log)}")
                if time.monotonic() > deadline:
                    raise StackError(f"{name} did not listen on {port} within {timeout:.0f} s:\n{tail(log)}")
                time.sleep(0.2)
        return child

    def dead(self) -> list[Child]:
        return [c for c in self.children if c.proc.poll() is not None]

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM in reverse start order (consumers before producers), SIGKILL after ``grace`` seconds."""
        for c in reversed(self.children):
            if c.proc.poll() is None:
                c.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for c in reversed(self.children):
            try:
                c.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.proc.kill()
                c.proc.wait(5)
