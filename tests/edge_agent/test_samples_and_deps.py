"""Shipped configurations load, and the edge install stays small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tonghu.common.errors import ConfigError
from tonghu.edge_agent import config

ROOT = Path(__file__).resolve().parents[2]
EDGE_SAMPLES = sorted((ROOT / "deploy" / "edge").glob("edge-*.yaml"))


def test_there_is_a_sample_per_collector() -> None:
    from tonghu.collectors.registry import COLLECTORS

    assert {p.stem.removeprefix("edge-") for p in EDGE_SAMPLES} >= set(COLLECTORS)


@pytest.mark.parametrize("path", EDGE_SAMPLES, ids=lambda p: p.name)
def test_sample_edge_configs_load(path: Path) -> None:
    cfg = config.load(path)
    assert cfg.collectors, f"{path.name} declares no collector"
    assert {c.type for c in cfg.collectors} == {path.stem.removeprefix("edge-")}


def test_config_errors_name_file_and_path(tmp_path: Path) -> None:
    data = yaml.safe_load(EDGE_SAMPLES[0].read_text())
    data["uplink"]["port"] = 70000
    data["collectors"][0]["name"] = "Not A Code"
    bad = tmp_path / "edge.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        config.load(bad)
    text = str(err.value)
    assert f"{bad}: uplink.port:" in text and "65535" in text
    assert f"{bad}: collectors[0].name:" in text


def test_edge_agent_imports_no_platform_dependencies() -> None:
    # An edge gateway installs tonghu[edge]: no database driver, no numpy, no Dash.
    code = ("import sys, tonghu.cli, tonghu.edge_agent.agent, tonghu.edge_agent.metrics, "
            "tonghu.collectors.mqtt.collector, tonghu.collectors.registry; "
            "bad = [m for m in ('psycopg', 'numpy', 'dash', 'plotly', 'pandas') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"edge code imports {out.stdout.strip()}"
