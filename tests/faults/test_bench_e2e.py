"""Smoke test of ``tonghu bench e2e``: tiny load, every field present, nothing lost (figures are not judged)."""

from __future__ import annotations

import pytest

from tonghu.chaos import bench_e2e
from tonghu.chaos.pgcluster import BIN

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (BIN / "initdb").exists(), reason=f"needs PostgreSQL 15 binaries in {BIN}")]

COMPONENTS = {"devices", "agents", "device_broker", "platform_broker", "ingesters", "postgres"}


def test_bench_e2e_reports_every_field_and_loses_nothing() -> None:
    out = bench_e2e.run(samples_per_s=2000, duration=4.0, warmup=1.0, agents=1, tags=10, rate=10.0)
    assert set(out["configs"]) == {"ingesters_1", "ingesters_2"}
    assert out["ratio_2_to_1_ingesters"] > 0
    for name, cfg in out["configs"].items():
        assert cfg["samples_measured"] == 2000 * 4, (name, cfg)
        tick0 = out["devices"] * out["tags_per_device"]  # the priming tick, which registers the tags
        assert cfg["generated"] == cfg["samples_measured"] + tick0, (name, cfg)
        assert cfg["first_tick_with_tag_registration_s"] > 0
        assert cfg["nothing_lost"] is True and cfg["missing"] == 0 and cfg["duplicated"] == 0, (name, cfg)
        assert cfg["stored"] == cfg["generated"]
        assert cfg["sustained_samples_per_s"] > 0 and cfg["drain_after_devices_stopped_s"] is not None
        lat = cfg["latency_source_to_commit"]
        assert lat["rows"] > 0 and 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"], lat
        assert set(cfg["components"]) == COMPONENTS
        for comp, usage in cfg["components"].items():
            assert usage["cpu_s"] >= 0 and usage["peak_pss_mb"] >= 0, (comp, usage)
        # Every component did measurable work (a process that was never measured would show zeros).
        assert cfg["components"]["agents"]["cpu_s"] > 0 and cfg["components"]["postgres"]["peak_pss_mb"] > 0
    assert isinstance(out["goal_met"], bool) and set(out["bottleneck"]) == set(out["configs"])
    assert len(out["load_average_before"]) == 3 and isinstance(out["preliminary"], bool)
