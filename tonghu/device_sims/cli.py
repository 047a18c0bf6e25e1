"""``tonghu sims …``: simulated factories (live, over the real protocols) and their history."""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import click


@click.group()
def sims() -> None:
    """Simulated equipment for electronics, petrochemical and equipment manufacturing."""


@sims.command()
@click.option("--database-url", envvar="TONGHU_DATABASE_URL", default="postgresql://postgres@127.0.0.1:5432/tonghu",
              show_default=True)
@click.option("--companies", default=18, show_default=True, help="Companies, taking turns across the 3 sectors.")
@click.option("--days", default=30, show_default=True, help="Days of history up to now.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same factories, same history.")
@click.option("--step", "step_s", default=60, show_default=True, help="Simulation grid in seconds.")
@click.option("--quiet", is_flag=True, help="No progress line.")
def backfill(database_url: str, companies: int, days: int, seed: int, step_s: int, quiet: bool) -> None:
    """Register a simulated fleet and write its history (idempotent: a rerun adds nothing)."""
    from tonghu.device_sims.backfill import backfill as run
    from tonghu.device_sims.backfill import print_progress

    p = run(database_url, companies, days, seed, step_s=step_s, report=None if quiet else print_progress)
    click.echo(json.dumps({"companies": companies, "days": days, "machine_days": p.machine_days,
                           "samples": p.samples, "events": p.events}))


@sims.command()
@click.option("--sector", type=click.Choice(["electronics", "petrochemical", "equipment"]), required=True)
@click.option("--machines", default=10, show_default=True, help="Machines to simulate (whole sites first).")
@click.option("--speed", default=1.0, show_default=True, help="Simulated seconds per wall-clock second.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same factories.")
@click.option("--protocols", default="opcua,mqtt,sparkplug", show_default=True,
              help="Comma-separated subset of opcua, mqtt, sparkplug.")
@click.option("--opcua-host", default="127.0.0.1", show_default=True)
@click.option("--opcua-port", default=4840, show_default=True, help="Port of the first site; the next sites count up.")
@click.option("--mqtt-host", default="127.0.0.1", show_default=True)
@click.option("--mqtt-port", default=1883, show_default=True)
@click.option("--topic-prefix", default="tonghu/sims", show_default=True, help="Root of the MQTT JSON topics.")
@click.option("--sparkplug-group", default="", help="Sparkplug group id (default: the company code).")
@click.option("--secure", is_flag=True, help="OPC-UA Basic256Sha256 SignAndEncrypt with username login only.")
@click.option("--username", default="operator", show_default=True, help="OPC-UA user when --secure.")
@click.option("--password", envvar="TONGHU_SIMS_PASSWORD", default="operator", show_default=True,
              help="OPC-UA password when --secure (env TONGHU_SIMS_PASSWORD).")
@click.option("--state-dir", type=click.Path(path_type=Path), default=None,
              help="Where certificates and Sparkplug bdSeq files are kept (default: a temp directory).")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: until signalled).")
@click.option("--faults", is_flag=True, help="Inject OPC-UA restarts and stalls and malformed payloads.")
@click.option("--fault-period", default=30.0, show_default=True, help="Mean seconds between faults.")
def run(sector: str, machines: int, speed: float, seed: int, protocols: str, opcua_host: str, opcua_port: int,
        mqtt_host: str, mqtt_port: int, topic_prefix: str, sparkplug_group: str, secure: bool, username: str,
        password: str, state_dir: Path | None, duration: float | None, faults: bool, fault_period: float) -> None:
    """Run a sector's simulated sites over OPC-UA, MQTT JSON and Sparkplug B until SIGINT/SIGTERM."""
    import logging

    from tonghu.device_sims.opcua_site import Security
    from tonghu.device_sims.runner import RunConfig, SimRun

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("asyncua", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    extra = {"state_dir": state_dir} if state_dir else {}
    cert_dir = (state_dir or Path(tempfile.gettempdir()) / "tonghu-sims") / "certs"
    try:
        config = RunConfig(sector=sector, machines=machines, speed=speed, seed=seed,
                           protocols=tuple(p.strip() for p in protocols.split(",") if p.strip()),
                           opcua_host=opcua_host, opcua_port=opcua_port, mqtt_host=mqtt_host, mqtt_port=mqtt_port,
                           topic_prefix=topic_prefix, sparkplug_group=sparkplug_group, faults=faults,
                           fault_period_s=fault_period,
                           security=Security(username, password, cert_dir) if secure else None, **extra)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    sim = SimRun(config)

    def ready(s: SimRun) -> None:
        click.echo(f"simulating {sum(len(x.machines) for x in s.sites)} {sector} machines at {speed}x:")
        for line in s.describe():
            click.echo(f"  {line}")

    _until_signalled(lambda stop: sim.run(stop, ready), duration)


@sims.command()
@click.option("--machines", default=10, show_default=True)
@click.option("--tags", default=100, show_default=True, help="Variables per machine.")
@click.option("--rate", default=1.0, show_default=True, help="Changes per second of every variable.")
@click.option("--port", default=4841, show_default=True)
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
def scale(machines: int, tags: int, rate: float, port: int, duration: float | None) -> None:
    """Load-test OPC-UA server: machines × tags Double variables changing at --rate."""
    from tonghu.device_sims.opcua_scale import NAMESPACE, serve

    click.echo(f"opc.tcp://127.0.0.1:{port}  ns={NAMESPACE}  {machines}x{tags} variables at {rate}/s")
    _until_signalled(lambda stop: serve(port, machines, tags, rate, stop=stop), duration)


def _until_signalled(main: Callable[[asyncio.Event], Awaitable[None]], duration: float | None) -> None:
    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if duration is not None:
            loop.call_later(duration, stop.set)
        await main(stop)

    asyncio.run(go())
