from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant, unique
from tests.helpers.edge import TestEdge
from tonghu.platform.ingest.config import IngestConfig
from tonghu.platform.ingest.service import IngestService


def ingest_config(database_url: str, prefix: str, **extra: object) -> IngestConfig:
    return IngestConfig.model_validate({
        "database_url": database_url, "topic_prefix": prefix,
        "broker": {"host": MQTT_HOST, "port": MQTT_PORT, "client_id": unique("ingest-")},
        **extra,
    })


@pytest.fixture
def start_ingester(database_url: str, topic_prefix: str) -> Iterator[Callable[..., IngestService]]:
    started: list[IngestService] = []

    def start(**extra: object) -> IngestService:
        svc = IngestService(ingest_config(database_url, topic_prefix, **extra))
        svc.start()
        deadline = time.monotonic() + 10
        while svc.metrics.mqtt_connected._value.get() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # let the SUBACK arrive before tests publish
        started.append(svc)
        return svc

    yield start
    for svc in started:
        svc.stop()


@pytest.fixture
def ingester(start_ingester: Callable[..., IngestService]) -> IngestService:
    return start_ingester()


@pytest.fixture
def edge(tenant: Tenant, topic_prefix: str) -> Iterator[TestEdge]:
    e = TestEdge(MQTT_HOST, MQTT_PORT, topic_prefix, tenant.company, tenant.site, tenant.edge)
    yield e
    e.close()
