"""Processes of the chain: free ports, waiting for listeners, stopping, and CPU / memory read from /proc.

CPU is counted for a whole process tree (PostgreSQL forks a backend per connection): the live descendants'
user + system time plus the time of children already reaped (``cutime``/``cstime`` of every live process).
Memory is the proportional set size (PSS) of the tree, so shared memory (PostgreSQL's shared buffers, the
Python interpreter's shared pages) is counted once, not once per process.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

_TICK = os.sysconf("SC_CLK_TCK")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(host: str, port: int, timeout: float, alive: Callable[[], bool] = lambda: True) -> None:
    """Wait until something accepts TCP connections on host:port; RuntimeError on timeout or early death."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the process meant to listen on {host}:{port} exited")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout} s")


def wait_until(cond: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(every)
    return cond()


def stop(proc: subprocess.Popen | None, timeout: float = 20.0) -> int | None:
    """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


def kill9(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(10)


def _stat(pid: int) -> tuple[int, float, float]:
    """(parent pid, own CPU s, CPU s of reaped children) of one process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK, (int(fields[13]) + int(fields[14])) / _TICK


def _all_stats() -> dict[int, tuple[int, float, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                out[int(entry)] = _stat(int(entry))
    return out


def tree(root: int, stats: dict[int, tuple[int, float, float]] | None = None) -> list[int]:
    stats = _all_stats() if stats is None else stats
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out


def cpu_seconds(roots: Iterable[int]) -> float:
    stats = _all_stats()
    return sum(stats[p][1] + stats[p][2] for r in roots for p in tree(r, stats))


def pss_mb(roots: Iterable[int], stats: dict[int, tuple[int, float, float]] | None = None) -> float:
    total_kb = 0
    stats = _all_stats() if stats is None else stats
    for r in roots:
        for pid in tree(r, stats):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
    return total_kb / 1024


@dataclass
class Meter:
    """CPU seconds and peak PSS of named components over a measured interval; ``components`` maps a name to a
    function returning its root pids now (they change when a process is restarted or added)."""

    components: dict[str, Callable[[], list[int]]]
    every: float = 0.5
    peak_mb: dict[str, float] = field(default_factory=dict)
    _cpu0: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._cpu0 = {name: cpu_seconds(pids()) for name, pids in self.components.items()}
        self.peak_mb = dict.fromkeys(self.components, 0.0)
        self._thread = threading.Thread(target=self._poll, name="chaos-meter", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.every):
            stats = _all_stats()
            for name, pids in self.components.items():
                self.peak_mb[name] = max(self.peak_mb[name], pss_mb(pids(), stats))

    def stop(self) -> dict[str, dict[str, float]]:
        """Per component: CPU seconds used since start and the peak PSS in MB."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        return {name: {"cpu_s": round(cpu_seconds(pids()) - self._cpu0[name], 2),
                       "peak_pss_mb": round(self.peak_mb[name], 1)}
                for name, pids in self.components.items()}
