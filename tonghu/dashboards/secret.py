"""The key that signs session cookies: from settings, else from a file created with mode 0600 when missing."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from tonghu.common.errors import ConfigError


def load_or_create(path: Path) -> bytes:
    """Read the key in ``path``; create it (parents 0700, file 0600) when missing. A file that others can read is
    refused rather than used: whoever reads it can forge any session."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return _create(path)
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"secret key file {path} is accessible to group/others (mode {mode & 0o777:04o}); "
                              f"run: chmod 600 {path}")
        key = f.read().strip()
    if len(key) < 32:
        raise ConfigError(f"secret key file {path} holds {len(key)} bytes; it needs at least 32")
    return key


def _create(path: Path) -> bytes:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    # Written under a private name, then linked into place: a concurrent reader never sees a half-written key,
    # and of two servers starting together the first link wins and the other reads that key.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return load_or_create(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key
