from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import MQTT_HOST, MQTT_PORT, Tenant
from tests.helpers.edge import TestEdge


@pytest.fixture
def edge(tenant: Tenant, topic_prefix: str) -> Iterator[TestEdge]:
    e = TestEdge(MQTT_HOST, MQTT_PORT, topic_prefix, tenant.company, tenant.site, tenant.edge)
    yield e
    e.close()
