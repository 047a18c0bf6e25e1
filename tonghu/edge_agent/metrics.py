"""Prometheus metrics of the edge agent, read from its snapshot at scrape time (no process-wide registry)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from tonghu.edge_agent.agent import Agent


class _AgentCollector(Collector):
    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        a = self.agent
        snap = a.health()
        yield CounterMetricFamily("tonghu_edge_samples_in", "Samples accepted into the buffer",
                                  value=snap.get("samples_in", 0))
        yield GaugeMetricFamily("tonghu_edge_buffered_samples", "Samples in the buffer, unsent or unacknowledged",
                                value=snap.get("buffered_samples", 0))
        yield GaugeMetricFamily("tonghu_edge_buffered_bytes", "Estimated bytes in the buffer",
                                value=snap.get("buffered_bytes", 0))
        yield GaugeMetricFamily("tonghu_edge_buffer_oldest_age_seconds", "Age of the oldest buffered sample",
                                value=snap.get("oldest_age_s") or 0.0)
        dropped = CounterMetricFamily("tonghu_edge_samples_dropped", "Samples dropped, by reason",
                                      labels=["reason"])
        for reason, n in snap.get("dropped", {}).items():
            dropped.add_metric([reason], n)
        yield dropped
        u = a.uplink.counters
        for name, value, doc in (("published", u.published, "Batches published"),
                                 ("resent", u.resent, "Batches published again after no ack"),
                                 ("acked", u.acked, "Batches the platform committed"),
                                 ("dead", u.dead, "Batches the platform kept as dead letters"),
                                 ("publish_refused", u.publish_refused, "Publishes the MQTT client refused"),
                                 ("broker_refused", u.broker_refused,
                                  "Publishes the platform broker refused (PUBACK reason code >= 0x80)")):
            yield CounterMetricFamily(f"tonghu_edge_uplink_batches_{name}", doc, value=value)
        yield GaugeMetricFamily("tonghu_edge_uplink_connected", "1 while connected to the platform broker",
                                value=int(a.uplink.connected))
        state = GaugeMetricFamily("tonghu_edge_source_connected", "1 while the source is connected",
                                  labels=["collector"])
        outages = CounterMetricFamily("tonghu_edge_source_outages", "Connection losses per source",
                                      labels=["collector"])
        samples = CounterMetricFamily("tonghu_edge_source_samples", "Samples delivered per source",
                                      labels=["collector"])
        age = GaugeMetricFamily("tonghu_edge_source_last_value_age_seconds",
                                "Seconds since the source last delivered a sample", labels=["collector"])
        now_us = time.time_ns() // 1000
        for sup in a.supervisors:
            name = sup.collector.name
            state.add_metric([name], int(sup.state.connected))
            outages.add_metric([name], sup.state.outages)
            samples.add_metric([name], sup.state.samples)
            if sup.state.last_value_us:
                age.add_metric([name], (now_us - sup.state.last_value_us) / 1e6)
        yield from (state, outages, samples, age)


def serve(agent: Agent, port: int, addr: str) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(_AgentCollector(agent))
    start_http_server(port, addr=addr, registry=registry)
    return registry
