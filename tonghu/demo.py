"""``tonghu demo``: the platform with its ingest service and a demo edge feeding it, until Ctrl-C."""

from __future__ import annotations

import math
import signal
import threading
import time

import click

from tonghu.common import topics
from tonghu.common.sample import Sample
from tonghu.common.uplink import TagMeta, encode_data, encode_meta

COMPANY, SITE, EDGE = "demo-electronics", "shenzhen", "gw-01"
TAGS = [TagMeta("smt/line1/reflow/zone1_temp", "float", "degC", "temperature"),
        TagMeta("smt/line1/reflow/conveyor_speed", "float", "cm/min", "speed"),
        TagMeta("smt/line1/reflow/energy", "float", "kWh", "energy_kwh")]


def _feed(host: str, port: int, stop: threading.Event) -> None:
    """A stand-in edge publishing three tags once a second (device simulators replace it)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tonghu-demo-edge", protocol=mqtt.MQTTv5)
    client.connect(host, port)
    client.loop_start()
    seq = int(time.time())  # strictly increasing across demo restarts
    client.publish(topics.topic("tonghu", COMPANY, SITE, EDGE, topics.Kind.META),
                   encode_meta(EDGE, seq, time.time_ns() // 1000, TAGS), qos=1)
    energy = 0.0
    while not stop.wait(1.0):
        now = time.time_ns() // 1000
        energy += 0.012
        seq += 1
        samples = [Sample(TAGS[0].key, now, 245 + 3 * math.sin(now / 6e7)),
                   Sample(TAGS[1].key, now, 80.0), Sample(TAGS[2].key, now, round(energy, 4))]
        client.publish(topics.topic("tonghu", COMPANY, SITE, EDGE, topics.Kind.DATA),
                       encode_data(EDGE, seq, now, samples), qos=1)
    client.disconnect()
    client.loop_stop()


@click.command()
@click.option("--database-url", envvar="TONGHU_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/tonghu",
              show_default=True)
@click.option("--mqtt-host", default="127.0.0.1", show_default=True)
@click.option("--mqtt-port", default=1883, show_default=True)
@click.option("--metrics-port", default=9108, show_default=True)
def demo(database_url: str, mqtt_host: str, mqtt_port: int, metrics_port: int) -> None:
    """Create and migrate the database, register a demo company, run ingest and a demo edge (Ctrl-C stops)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from tonghu.platform import db, migrate, registry
    from tonghu.platform.ingest.config import IngestConfig
    from tonghu.platform.ingest.service import IngestService

    name = str(conninfo_to_dict(database_url).get("dbname") or "tonghu")
    migrate.ensure_database(make_conninfo(database_url, dbname="postgres"), name)
    with db.connect(database_url, autocommit=True) as conn:
        migrate.migrate(conn)
        registry.add_company(conn, COMPANY, "Demo Electronics Co.", "electronics")
        registry.add_site(conn, COMPANY, SITE, "Shenzhen plant", "Asia/Shanghai")
        registry.add_edge(conn, COMPANY, SITE, EDGE, "demo gateway")
    cfg = IngestConfig.model_validate({"database_url": database_url, "metrics_port": metrics_port,
                                       "broker": {"host": mqtt_host, "port": mqtt_port,
                                                  "client_id": "tonghu-demo-ingest"}})
    service = IngestService(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    service.start()
    feeder = threading.Thread(target=_feed, args=(mqtt_host, mqtt_port, stop), daemon=True)
    feeder.start()
    click.echo(f"""
Tonghu demo is running (Ctrl-C stops it).
  database        {database_url}   (TimescaleDB; try: SELECT * FROM samples_num ORDER BY time DESC LIMIT 5)
  broker          mqtt://{mqtt_host}:{mqtt_port}   uplink topics tonghu/v1/{COMPANY}/{SITE}/{EDGE}/...
  ingest metrics  http://127.0.0.1:{metrics_port}/metrics
  dashboards      not part of this build yet
""")
    stop.wait()
    click.echo("stopping: finishing the group in hand")
    feeder.join(3)
    service.stop()
