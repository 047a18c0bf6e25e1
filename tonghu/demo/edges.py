"""Edge agent configurations for the demo's live simulated sites: one agent per site, reading the site's
Sparkplug B edge node on the plant broker and mapping each device (a machine) onto the asset its history was
registered under, so live data continues the backfilled series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tonghu.device_sims.live import asset_id
from tonghu.device_sims.runner import SimSite


def collector(site: SimSite, plant_host: str, plant_port: int, state_dir: Path) -> dict[str, Any]:
    """A Sparkplug host collector for one site: node = site code in group = company code (the simulator's
    naming), one rule per machine; other sites of the company share the group, so unmatched metrics are skipped."""
    return {
        "type": "sparkplug",
        "name": "sparkplug",
        "broker": {"host": plant_host, "port": plant_port,
                   "client_id": f"tonghu-{site.company}-{site.site.code}-sparkplug"},
        "host_id": f"tonghu-{site.company}-{site.site.code}",
        "groups": [site.company],
        "alias_cache": str(state_dir / "sparkplug-aliases.json"),
        "mapping": {
            "unmatched": "skip",
            "rules": [{"metric": "*", "node": site.site.code, "device": asset_id(m), "level": "device",
                       "asset": m.asset_path} for m in site.machines],
        },
    }


def edge_config(site: SimSite, uplink_sections: str, state_dir: Path, plant_host: str, plant_port: int,
                metrics_port: int | None) -> dict[str, Any]:
    """A complete edge.yaml: the ``edge``/``uplink`` sections printed by ``tonghu edges add`` plus a buffer,
    metrics and the collector."""
    cfg = yaml.safe_load(uplink_sections) or {}
    if not isinstance(cfg, dict) or "uplink" not in cfg:
        raise ValueError("the enrolment output has no uplink section")
    cfg.setdefault("edge", {"company": site.company, "site": site.site.code, "name": site.site.edge})
    cfg["buffer"] = {"path": str(state_dir / "buffer.db")}
    cfg["metrics"] = {"port": metrics_port, "addr": "127.0.0.1"}
    cfg["collectors"] = [collector(site, plant_host, plant_port, state_dir)]
    return cfg


def write(path: Path, cfg: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)  # holds the edge's broker password
    return path
