"""`tonghu platform ingest -c FILE` refuses a malformed file with a message that names what is wrong."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tonghu.cli import main


def test_a_broker_that_is_not_a_mapping_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "ingest.yaml"
    cfg.write_text("broker: 5\n")
    r = CliRunner().invoke(main, ["platform", "ingest", "-c", str(cfg)])
    assert r.exit_code == 1 and "broker: must be a mapping" in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
