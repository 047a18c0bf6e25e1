"""The ``tonghu`` command. Role-specific commands import their dependencies lazily, so an edge install
(without the database driver) still runs ``tonghu --help`` and the edge commands."""

from __future__ import annotations

import logging

import click

from tonghu import __version__
from tonghu.common.errors import TonghuError
from tonghu.dashboards.cli import bench_dashboards, dashboards, users
from tonghu.demo import demo
from tonghu.device_sims.cli import sims
from tonghu.edge_agent.cli import edge
from tonghu.platform.cli import companies, edges, platform, sites
from tonghu.platform.kpi.cli import benchmarks, kpi
from tonghu.platform.rollups_cli import rollups


class _Group(click.Group):
    """Turns the project's own errors into a one-line message and exit code 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except TonghuError as err:
            raise click.ClickException(str(err)) from err


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tonghu")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """Tonghu: industrial IoT data from the machine to the plant manager's screen."""
    level = logging.WARNING - 10 * min(verbose + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.group()
def bench() -> None:
    """Benchmarks that print one JSON object each."""


@bench.command("ingest")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (the default).")
@click.option("--samples", default=1_000_000, show_default=True, help="Samples to push through the broker.")
@click.option("--batch-size", default=5000, show_default=True, help="Samples per uplink batch.")
@click.option("--tags", default=10_000, show_default=True, help="Distinct tags.")
@click.option("--admin-dsn", envvar="TONGHU_ADMIN_DSN", default="postgresql://postgres@127.0.0.1:5432/postgres",
              show_default=True, help="Server where a throwaway benchmark database is created and dropped.")
@click.option("--mqtt-host", default="127.0.0.1", show_default=True)
@click.option("--mqtt-port", default=1883, show_default=True)
def bench_ingest(as_json: bool, samples: int, batch_size: int, tags: int, admin_dsn: str, mqtt_host: str,
                 mqtt_port: int) -> None:
    """Broker → committed rows throughput against the direct COPY + ON CONFLICT ceiling."""
    import json

    from tonghu.platform.bench_ingest import run

    result = run(admin_dsn=admin_dsn, samples=samples, batch_size=batch_size, n_tags=tags,
                 mqtt_host=mqtt_host, mqtt_port=mqtt_port)
    click.echo(json.dumps(result))


@bench.command("queries")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (the default).")
@click.option("--database-url", default=None,
              help="Database to use instead of a throwaway one (no backfill when it already holds the fleet).")
@click.option("--admin-dsn", envvar="TONGHU_ADMIN_DSN", default="postgresql://postgres@127.0.0.1:5432/postgres",
              show_default=True, help="Server where the benchmark database is created (and dropped unless --keep).")
@click.option("--companies", default=18, show_default=True, help="Companies of the simulated fleet (18: 156 machines).")
@click.option("--days", default=30, show_default=True, help="Days of history, and the length of the query windows.")
@click.option("--seed", default=0, show_default=True, help="Fleet seed.")
@click.option("--repeats", default=20, show_default=True, help="Timed runs per query, after one warm-up.")
@click.option("--keep", is_flag=True, help="Keep the database (named tonghu_bench_queries) and reuse it next time.")
def bench_queries(as_json: bool, database_url: str | None, admin_dsn: str, companies: int, days: int, seed: int,
                  repeats: int, keep: bool) -> None:
    """Dashboard-sized analytics queries over a backfilled fleet: p50/p95/max ms each, against 300 ms."""
    import json

    from tonghu.platform.bench_queries import run

    result = run(admin_dsn, database_url, companies, days, seed, repeats, keep,
                 log=lambda msg: click.echo(msg, err=True))
    click.echo(json.dumps(result))


@bench.command("edge")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (the default).")
@click.option("--tags", default=10_000, show_default=True, help="OPC-UA variables subscribed by the agent.")
@click.option("--max-rate", default=2.0, show_default=True, help="Changes per second per variable, max scenario.")
@click.option("--servers", default=2, show_default=True, help="asyncua server processes sharing the tags.")
@click.option("--duration", default=30.0, show_default=True, help="Seconds measured per scenario.")
@click.option("--mqtt-host", default="127.0.0.1", show_default=True)
@click.option("--mqtt-port", default=1883, show_default=True)
def bench_edge(as_json: bool, tags: int, max_rate: float, servers: int, duration: float, mqtt_host: str,
               mqtt_port: int) -> None:
    """OPC-UA subscriptions through the agent to the broker: samples/s, CPU and peak RSS of the agent."""
    import json

    from tonghu.edge_agent.bench import run

    click.echo(json.dumps(run(tags, max_rate, servers, duration, mqtt_host, mqtt_port)))


@bench.command("e2e")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object (the default).")
@click.option("--rate", "samples_per_s", default=50_000, show_default=True, help="Offered samples per second.")
@click.option("--duration", default=30.0, show_default=True, help="Seconds the devices publish, per configuration.")
@click.option("--warmup", default=5.0, show_default=True, help="Seconds left out of the throughput window.")
@click.option("--agents", default=2, show_default=True, help="Edge agents (one site each).")
@click.option("--tags", default=100, show_default=True, help="Tags per device (one JSON message per device tick).")
@click.option("--device-rate", default=5.0, show_default=True, help="Ticks per second of every device.")
@click.option("--ingesters", default="1,2", show_default=True, help="Configurations to run: ingester counts.")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Keep every process's configuration and log under this directory.")
def bench_e2e(as_json: bool, samples_per_s: int, duration: float, warmup: float, agents: int, tags: int,
              device_rate: float, ingesters: str, workdir: str | None) -> None:
    """Devices → agents → broker → ingesters (one, then two sharing) → TimescaleDB: throughput, latency, CPU."""
    import json
    from pathlib import Path

    from tonghu.chaos.bench_e2e import run

    configs = tuple(int(n) for n in ingesters.split(","))
    click.echo(json.dumps(run(samples_per_s, duration, warmup, agents, tags, device_rate, configs=configs,
                              workdir=Path(workdir) if workdir else None)))


main.add_command(platform)
main.add_command(sims)
main.add_command(edge)
main.add_command(demo)
main.add_command(companies)
main.add_command(sites)
main.add_command(edges)
main.add_command(dashboards)
main.add_command(users)
main.add_command(kpi)
main.add_command(benchmarks)
platform.add_command(rollups)
bench.add_command(bench_dashboards)
