"""Browsing drafts a configuration that the model accepts and that collects from the server it came from."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from click.testing import CliRunner
from opcua_rig import NS, OTHER_NS, ListSink, run, serving, wait_for

from tonghu.collectors.opcua.browse import browse_server, draft
from tonghu.collectors.opcua.cli import browse_command
from tonghu.collectors.opcua.collector import OpcUaCollector
from tonghu.collectors.opcua.config import ConnectionConfig, parse_config


def test_browse_drafts_a_valid_configuration(tmp_path: Path) -> None:
    async def body() -> None:
        # NS gets index 3 here: the draft must still name it by URI.
        async with serving(namespaces=(OTHER_NS, NS)) as rig:
            found = await browse_server(ConnectionConfig(endpoint=rig.url), depth=4)
            text = draft(found, rig.url, name="line1", header="drafted in a test")
            cfg = parse_config(yaml.safe_load(text), "draft.yaml")
            nodes = {n.tag: n for n in cfg.groups[0].nodes}
            assert set(nodes) == {"temp", "count", "running", "mode", "state"}
            temp = nodes["temp"]
            assert (temp.node_id, temp.asset, temp.data_type.value, temp.unit) == (
                f"nsu={NS};s=Line1.Temp", "unassigned/plant/line1", "float", "°C")
            assert temp.attrs == {"eu_low": -20.0, "eu_high": 120.0}
            assert {t: n.data_type.value for t, n in nodes.items()} == {
                "temp": "float", "count": "int", "running": "bool", "mode": "string", "state": "int"}
            assert text.startswith("# drafted in a test\n")
            assert f"# /Objects/{{{NS}}}Plant/{{{NS}}}Line1/{{{NS}}}Temp" in text

            # The draft works as is.
            collector = OpcUaCollector(cfg.model_copy(update={"flush_interval": cfg.flush_interval / 5}))
            sink = ListSink()
            await collector.connect()
            reader = asyncio.create_task(collector.read(sink))
            try:
                await wait_for(lambda: len(sink.samples) == 5, what="one value per drafted node")
                assert {s.status for s in sink.samples} == {0}
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                await collector.close()

            # The command line, run in a thread because it runs its own event loop.
            out = tmp_path / "draft.yaml"
            result = await asyncio.to_thread(CliRunner().invoke, browse_command,
                                             [rig.url, "--depth", "2", "--name", "line1", "-o", str(out)])
            assert result.exit_code == 0, result.output
            shallow = yaml.safe_load(out.read_text(encoding="utf-8"))
            assert shallow["groups"][0]["nodes"] == []  # variables sit three levels down
            assert "try a larger --depth" in out.read_text(encoding="utf-8")

            refused = await asyncio.to_thread(CliRunner().invoke, browse_command,
                                              [rig.url, "--security", "Basic256Sha256:SignAndEncrypt",
                                               "--pki", str(tmp_path / "pki")])
            assert refused.exit_code == 1 and "it offers None/None" in refused.output

    run(body())
