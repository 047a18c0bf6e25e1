"""The alias cache on disk: read once at the first connect, replaced atomically when it changes.

A torn or half-written file would cost one rebirth per edge node at the next start (``HostSession.from_json``
refuses it); write-to-temp + fsync + rename makes sure the file is always either the old or the new cache.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import timedelta
from pathlib import Path

from tonghu.collectors.sparkplug.session import HostSession, SessionConfig
from tonghu.collectors.sparkplug.state import KeyOf
from tonghu.common.errors import PermanentError

log = logging.getLogger(__name__)


def load_session(path: Path | None, key_of: KeyOf, config: SessionConfig) -> HostSession:
    """A session restored from ``path``; an empty one when there is no usable cache (logged)."""
    if path is None:
        return HostSession(key_of, config)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return HostSession(key_of, config)
    except (OSError, UnicodeDecodeError) as err:
        log.warning("cannot read the Sparkplug alias cache %s (%s); every edge node will be asked for a rebirth",
                    path, err)
        return HostSession(key_of, config)
    try:
        session = HostSession.from_json(text, key_of, config)
    except PermanentError as err:
        log.warning("%s: %s; every edge node will be asked for a rebirth", path, err)
        return HostSession(key_of, config)
    log.info("restored the Sparkplug alias cache from %s", path)
    return session


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash at any point leaves the old or the new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return  # platforms without directory handles
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CacheWriter:
    """Writes a session's alias cache when its ``cache_revision`` changes, at most once per ``interval``."""

    def __init__(self, path: Path | None, interval: timedelta) -> None:
        self.path = path
        self.interval = interval.total_seconds()
        self.writes = self.errors = 0
        self._revision = 0
        self._after = 0.0

    def loaded(self, session: HostSession) -> None:
        self._revision = session.cache_revision

    def due_in(self, session: HostSession) -> float | None:
        """Seconds until ``save`` has something to write, None when nothing changed."""
        if self.path is None or session.cache_revision == self._revision:
            return None
        return max(0.0, self._after - time.monotonic())

    async def save(self, session: HostSession, force: bool = False) -> None:
        due = self.due_in(session)
        if self.path is None or due is None or (due > 0 and not force):
            return
        revision, text = session.cache_revision, session.to_json()
        self._after = time.monotonic() + self.interval
        try:
            await asyncio.to_thread(write_atomic, self.path, text)
        except OSError as err:
            self.errors += 1
            if self.errors == 1:
                log.warning("cannot write the Sparkplug alias cache %s: %s (retrying; further errors only "
                            "counted)", self.path, err)
            return
        self._revision = revision
        self.writes += 1
