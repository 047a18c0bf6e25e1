"""Password hashes in Mosquitto's own format, checked against the real mosquitto_passwd (the broker accepting
them is measured in test_broker_access.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tonghu.platform.broker.passwd import file_line, hash_password, new_password, verify

MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
needs_tool = pytest.mark.skipif(MOSQUITTO_PASSWD is None, reason="mosquitto_passwd is not installed")


def _mosquitto_hash(tmp_path: Path, user: str, password: str, *algorithm: str) -> str:
    path = tmp_path / "passwd"
    subprocess.run([str(MOSQUITTO_PASSWD), *algorithm, "-c", "-b", str(path), user, password], check=True,
                   capture_output=True)
    name, hashed = path.read_text().strip().split(":", 1)
    assert name == user
    return hashed


@needs_tool
def test_our_hash_is_byte_for_byte_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    import base64

    theirs = _mosquitto_hash(tmp_path, "edge.a.b.c", "correct horse")
    _, alg, iterations, salt, _ = theirs.split("$")
    assert alg == "7"
    assert hash_password("correct horse", int(iterations), base64.b64decode(salt)) == theirs
    assert verify("correct horse", theirs) and not verify("correct horsE", theirs)


@needs_tool
def test_legacy_sha512_hashes_verify(tmp_path: Path) -> None:
    theirs = _mosquitto_hash(tmp_path, "old", "s3cret", "-H", "sha512")
    assert theirs.startswith("$6$")
    assert verify("s3cret", theirs) and not verify("s3cret ", theirs)


def test_new_passwords_and_file_lines() -> None:
    passwords = {new_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(len(p) == 43 and p.replace("-", "").replace("_", "").isalnum() for p in passwords)
    h = hash_password("pw")
    assert h.startswith("$7$1000$") and verify("pw", h) and hash_password("pw") != h  # salted
    assert file_line("edge.a.b.c", h) == f"edge.a.b.c:{h}\n"
    for bad in ("a:b", "a b"):
        with pytest.raises(ValueError, match="may not contain"):
            file_line(bad, h)
    assert not verify("pw", "$7$garbage") and not verify("pw", "plain")
