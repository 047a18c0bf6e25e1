"""The edge buffer fills up while the uplink is down: afterwards only counted drops may be missing.

The buffer directory is a small tmpfs mounted for these tests, so the file system can really run out of space
(SQLite then fails its writes with SQLITE_FULL). Two configurations:

- ``max_bytes`` below the disk: the overflow policy (drop_oldest) must make room before the disk is full;
- ``max_bytes`` beyond the disk: the disk fills first. With no free page SQLite refuses every write, deletes of
  acknowledged batches included; the buffer gives up its disk reserve (room for the deletes) and bounds itself
  below what the disk held, so the overflow policy decides what goes and every drop is counted.

Where mounting is not permitted, the first case runs on an ordinary directory (the bound alone, no full disk)
and the second is skipped.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.conftest import new_run
from tonghu.chaos.chain import Chain
from tonghu.chaos.check import Report

pytestmark = pytest.mark.slow
DISK = 8 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, bool]]:
    """(directory, True) on a DISK-sized tmpfs, or (directory, False) when tmpfs cannot be mounted here."""
    mnt = tmp_path / "edge-disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs", str(mnt)], capture_output=True)
    yield mnt, done.returncode == 0
    if done.returncode == 0:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill_then_restore(chain: Chain, name: str, disk: Path, max_bytes: int, *, full_s: float,
                       drain_timeout: float, **extra: object) -> Report:
    run = new_run(name, chain, rate=50.0,
                  buffer={"path": str(disk / "buffer.db"), "max_bytes": max_bytes, "overflow": "drop_oldest"})
    chain.start_ingester()
    run.start()
    run.mark("fault")
    chain.platform.kill9()  # the uplink is down: everything now piles up in the buffer
    time.sleep(full_s)
    during = run.edge.counts()
    chain.platform.start()
    run.mark("restored")
    run.wait_recovered(timeout=drain_timeout)
    return run.finish(settle_s=5.0, drain_timeout=drain_timeout, disk_bytes=DISK, max_bytes=max_bytes,
                      counts_when_restored={"dropped": during.dropped, "buffered": during.buffered}, **extra)


def _assert_only_counted_drops(report: Report) -> None:
    s = report.summary()
    assert s["duplicated"] == 0 and s["unexpected"] == 0, s
    assert report.agent is not None
    assert report.agent.dropped_total > 0, "nothing was dropped: the bound never constrained the buffer"
    # Every sample not stored is a counted drop, and every counted drop is a sample not stored.
    assert s["missing"] == report.dropped_counted, s
    assert report.agent.buffered + report.agent.in_flight == 0, s


def test_buffer_bounded_below_its_disk_drops_only_what_it_counts(
        make_chain: Callable[..., Chain], database_url: str, small_disk: tuple[Path, bool]) -> None:
    disk, mounted = small_disk
    chain = make_chain(database_url)
    # 20 s at 5 000 samples/s is ≈ 10 MB of rows: far past the 1 MB bound, more than the disk could hold.
    report = _fill_then_restore(chain, "buffer_bound_below_disk", disk, 1024 * 1024, full_s=20.0,
                                drain_timeout=90.0, on_tmpfs=mounted)
    _assert_only_counted_drops(report)
    assert report.agent is not None and report.agent.dropped["ingress_full"] == 0


def test_buffer_disk_full_before_its_bound_drops_only_what_it_counts(
        make_chain: Callable[..., Chain], database_url: str, small_disk: tuple[Path, bool]) -> None:
    disk, mounted = small_disk
    if not mounted:
        pytest.skip("tmpfs cannot be mounted here: no way to fill a disk without disturbing the machine")
    chain = make_chain(database_url)
    report = _fill_then_restore(chain, "buffer_disk_full", disk, 256 * 1024 * 1024, full_s=30.0,
                                drain_timeout=20.0, on_tmpfs=True)
    _assert_only_counted_drops(report)
