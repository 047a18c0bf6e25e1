"""Prometheus metrics of one ingest service instance (its own registry: no process-wide globals)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class IngestMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("tonghu_ingest_messages_received", "MQTT messages received", ["kind"], registry=r)
        self.samples_staged = Counter("tonghu_ingest_samples_received",
                                      "Valid samples received and staged", registry=r)
        self.samples_committed = Counter("tonghu_ingest_samples_committed",
                                         "Samples newly stored (committed)", registry=r)
        self.duplicates = Counter("tonghu_ingest_duplicates_skipped",
                                  "Samples already stored (resends and redeliveries)", registry=r)
        self.batches_resent = Counter("tonghu_ingest_batches_resent", "Batches whose seq was already committed",
                                      registry=r)
        self.dead_letters = Counter("tonghu_ingest_dead_letters", "Dead letters written", ["reason"], registry=r)
        self.dead_samples = Counter("tonghu_ingest_dead_letter_samples", "Samples dead-lettered",
                                    ["reason"], registry=r)
        self.acks = Counter("tonghu_ingest_acks_published", "Ack messages published to edges", registry=r)
        self.ack_failures = Counter("tonghu_ingest_ack_publish_failures",
                                    "Ack messages paho refused to send (the edge resends; dedup absorbs it)",
                                    registry=r)
        self.db_retries = Counter("tonghu_ingest_db_retries", "Groups retried after a transient error",
                                  registry=r)
        self.subscribe_refused = Counter("tonghu_ingest_subscriptions_refused",
                                         "Subscriptions the broker refused or downgraded below QoS 1", registry=r)
        self.queue_depth = Gauge("tonghu_ingest_queue_depth", "Messages received but not yet committed",
                                 registry=r)
        self.lag = Gauge("tonghu_ingest_lag_seconds",
                         "Age of the oldest batch (edge creation time) in the last committed group", registry=r)
        self.mqtt_connected = Gauge("tonghu_ingest_mqtt_connected", "1 while connected to the broker",
                                    registry=r)
        self.db_connected = Gauge("tonghu_ingest_db_connected", "1 while connected to the database", registry=r)
        self.commit_seconds = Histogram("tonghu_ingest_group_commit_seconds", "Time to store one group",
                                        registry=r)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        start_http_server(port, addr=addr, registry=self.registry)
