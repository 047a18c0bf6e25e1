"""``tonghu edge …``: run and check an edge agent (OPC-UA browse and certificates are added by their collector)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from tonghu.collectors.opcua.cli import browse_command, certs

CONFIG = click.option("-c", "--config", "config_path", required=True,
                      type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The agent's edge.yaml.")


@click.group()
def edge() -> None:
    """Run the edge agent on a factory gateway."""


edge.add_command(browse_command)
edge.add_command(certs)


@edge.command()
@CONFIG
def check(config_path: Path) -> None:
    """Validate edge.yaml without touching the network; errors name the path inside the file."""
    from tonghu.edge_agent import config

    cfg = config.load(config_path)
    names = ", ".join(f"{c.name} ({c.type})" for c in cfg.collectors) or "none"
    click.echo(f"{config_path}: OK — edge {cfg.edge.company}/{cfg.edge.site}/{cfg.edge.name}, collectors: {names}")


@edge.command()
@CONFIG
def run(config_path: Path) -> None:
    """Run the agent until SIGTERM/SIGINT (then flush to the buffer, close sessions and exit 0)."""
    from tonghu.edge_agent import config
    from tonghu.edge_agent.agent import Agent
    from tonghu.edge_agent.metrics import serve

    cfg = config.load(config_path)
    # asyncua logs every publish cycle at INFO and a traceback per lost connection; the supervisor reports those.
    logging.getLogger("asyncua").setLevel(logging.WARNING)
    agent = Agent(cfg)
    if cfg.metrics.port is not None:
        serve(agent, cfg.metrics.port, cfg.metrics.addr)
    click.echo(f"edge {cfg.edge.company}/{cfg.edge.site}/{cfg.edge.name}: {len(agent.collectors)} collectors, "
               f"uplink {cfg.uplink.host}:{cfg.uplink.port}, buffer {cfg.buffer.path}", err=True)
    agent.run()
