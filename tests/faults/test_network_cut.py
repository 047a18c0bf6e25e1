"""The network between the edge and the platform broker cut for a minute, then restored.

The agent runs in its own network namespace, joined to the host by a veth pair per network (tonghu.chaos.netcut):
the factory side stays up, the uplink's host end goes down. Nothing answers on a downed link, so the agent's
connection hangs until its MQTT keepalive gives up, exactly as with a failed WAN link (a proxy that closes
sockets would instead show a clean disconnect, which is the easier case).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from tests.faults.conftest import assert_exactly_once, new_run
from tonghu.chaos import netcut
from tonghu.chaos.chain import Chain

pytestmark = pytest.mark.slow
CUT_S = float(os.environ.get("TONGHU_TEST_OUTAGE_S", "60"))


@pytest.fixture
def edge_netns() -> Iterator[netcut.EdgeNetns]:
    why = netcut.supported()
    if why is not None:
        pytest.skip(f"network namespaces unavailable here ({why})")
    ns = netcut.EdgeNetns()
    ns.create()
    yield ns
    ns.destroy()


def test_network_cut_between_edge_and_broker(make_chain: Callable[..., Chain], database_url: str,
                                             edge_netns: netcut.EdgeNetns) -> None:
    chain = make_chain(database_url, netns=edge_netns)
    run = new_run("network_cut", chain, uplink={"keepalive": "PT5S"})
    chain.start_ingester()
    run.start()
    before = run.edge.counts().acked
    run.mark("fault")
    edge_netns.cut()
    time.sleep(CUT_S)
    cut = run.edge.counts()
    # The devices kept producing and the agent kept buffering on disk: nothing acknowledged during the cut.
    assert cut.buffered + cut.in_flight > 0, cut
    assert cut.acked - before < run.load.samples_per_s * 15, "data still flowed through a cut link"
    edge_netns.restore()
    run.mark("restored")
    run.wait_recovered(timeout=180)
    report = run.finish(cut_s=CUT_S)
    assert_exactly_once(report)
