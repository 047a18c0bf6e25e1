"""The ``tonghu`` command. Role-specific commands import their dependencies lazily, so an edge install
(without the database driver) still runs ``tonghu --help`` and the edge commands."""

from __future__ import annotations

import logging

import click

from tonghu import __version__
from tonghu.common.errors import TonghuError
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


main.add_command(platform)
main.add_command(sims)
main.add_command(edge)
main.add_command(demo)
main.add_command(companies)
main.add_command(sites)
main.add_command(edges)
main.add_command(kpi)
main.add_command(benchmarks)
platform.add_command(rollups)
