"""The buffer's disk space: a reserve file given up when the disk fills, and the retry of a write that failed
because it did.

With no free byte SQLite refuses every write, the deletes that make room and acknowledge batches included, so a
buffer that filled its disk could neither store nor drain. The reserve guarantees room for those deletes; after
that the buffer bounds itself below what the disk held (see ``Buffer._disk_full``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from tonghu.common.errors import PermanentError, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

RESERVE_MIN, RESERVE_MAX = 256 * 1024, 4 * 1024 * 1024
DISK_FULL_RETRIES = 3
WAL_LIMIT = 4 * 1024 * 1024  # a WAL left at its high-water mark holds disk space the buffer may need
WAL_PAGES_WHEN_FULL = 64


class Reserve:
    """Space held back in a file beside the buffer's database."""

    def __init__(self, db_path: Path, max_bytes: int) -> None:
        self.path = db_path.with_name(db_path.name + ".reserve")
        self.size = min(RESERVE_MAX, max(RESERVE_MIN, max_bytes // 32))

    def make(self) -> None:
        try:
            if not self.path.exists() or self.path.stat().st_size < self.size:
                with self.path.open("wb") as f:
                    f.write(b"\0" * self.size)
                    f.flush()
                    os.fsync(f.fileno())
        except OSError as err:
            self.path.unlink(missing_ok=True)
            log.warning("no room for the %d-byte disk reserve %s (%s)", self.size, self.path, err)

    def release(self) -> None:
        self.path.unlink(missing_ok=True)


def is_disk_full(err: BaseException) -> bool:
    cause = err.__cause__
    return isinstance(cause, sqlite3.OperationalError) and "full" in str(cause).lower()


def retry_when_full(write: Callable[[], T], on_full: Callable[[], None]) -> T:
    """``write()``; when it fails because the disk is full, ``on_full()`` (which makes room) and again."""
    for attempt in range(DISK_FULL_RETRIES):
        try:
            return write()
        except TransientError as err:
            if not is_disk_full(err):
                raise
            log.debug("disk full (attempt %d), making room", attempt + 1)
            on_full()
    return write()


def bound_after_full(db: sqlite3.Connection, cap: int, path: Path) -> int:
    """The buffer's new bound once its disk filled: 80 % of what it holds now. The WAL's pages go back to the file
    system and later checkpoints come sooner, so the WAL cannot fill the disk again."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES_WHEN_FULL}")
    held = db.execute("SELECT value FROM counter WHERE name = 'bytes'").fetchone()[0]
    new = max(RESERVE_MIN, min(cap, int(held)) * 4 // 5)
    log.error("buffer %s: the disk is full below max_bytes; the buffer is now bounded at %d bytes under its "
              "overflow policy (every drop counted) until the agent restarts with free space", path, new)
    return new


@contextmanager
def translated(path: Path) -> Iterator[None]:
    """SQLite errors as the project's vocabulary: busy, locked, full or I/O may pass; corruption will not."""
    try:
        yield
    except sqlite3.OperationalError as err:
        raise TransientError(f"buffer {path}: {err}") from err
    except sqlite3.Error as err:
        raise PermanentError(f"buffer {path}: {err}") from err
