from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant
from tonghu.edge_agent.agent import Agent
from tonghu.edge_agent.config import EdgeConfig


def edge_config(tenant: Tenant, prefix: str, buffer_path: Path, collectors: list[dict[str, Any]],
                **extra: Any) -> EdgeConfig:
    return EdgeConfig.model_validate({
        "edge": {"company": tenant.company, "site": tenant.site, "name": tenant.edge},
        "uplink": {"host": MQTT_HOST, "port": MQTT_PORT, "topic_prefix": prefix, "resend_after": "PT2S",
                   "batch_interval": "PT0.05S", **extra.pop("uplink", {})},
        "buffer": {"path": str(buffer_path), **extra.pop("buffer", {})},
        "metrics": {"port": None},
        "collectors": collectors,
        **extra,
    })


class RunningAgent:
    def __init__(self, cfg: EdgeConfig) -> None:
        self.agent = Agent(cfg)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.agent.run()
        except BaseException as err:  # surfaced by stop()
            self.error = err

    def stop(self, timeout: float = 30.0) -> None:
        self.agent.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "agent did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def run_agent() -> Iterator[Callable[[EdgeConfig], RunningAgent]]:
    running: list[RunningAgent] = []

    def start(cfg: EdgeConfig) -> RunningAgent:
        r = RunningAgent(cfg)
        running.append(r)
        return r

    yield start
    for r in running:
        if r.thread.is_alive():
            r.stop()
