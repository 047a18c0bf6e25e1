"""kill -9 of each process of the chain, mid-stream: after recovery every sample is stored exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import Run, assert_exactly_once, new_run
from tonghu.chaos import procs
from tonghu.chaos.chain import Chain

pytestmark = pytest.mark.slow
DOWN_S = 5.0


Action = Callable[[Chain, Run, str], object]
# victim → (kill -9, start again); the third argument is the ingester's client id.
FAULTS: dict[str, tuple[Action, Action]] = {
    # Same port, same persistence file: sessions saved before the kill come back, the rest is resent by the edge.
    "broker": (lambda c, r, i: c.platform.kill9(), lambda c, r, i: c.platform.start()),
    # Same client id: its persistent session still holds what was unacknowledged.
    "ingester": (lambda c, r, i: c.kill_ingester(i), lambda c, r, i: c.start_ingester(i)),
    # The device broker queued for the agent's persistent session; the buffer file kept what was on disk.
    "agent": (lambda c, r, i: r.edge.kill9(), lambda c, r, i: r.edge.start()),
}


@pytest.mark.parametrize("victim", list(FAULTS))
def test_kill_9_and_restart(victim: str, make_chain: Callable[..., Chain], database_url: str) -> None:
    kill, restart = FAULTS[victim]
    chain = make_chain(database_url)
    run = new_run(f"{victim}_kill9", chain)
    ingester = chain.start_ingester()
    run.start()
    run.mark("fault")
    kill(chain, run, ingester)
    time.sleep(DOWN_S)
    restart(chain, run, ingester)
    run.mark("restored")
    run.wait_recovered()
    report = run.finish()
    assert_exactly_once(report)
    assert run.timings["recover_s"] is not None
    assert report.agent is not None and report.agent.samples_in >= report.total("generated")


def test_one_of_two_shared_ingesters_killed_9(make_chain: Callable[..., Chain], database_url: str) -> None:
    chain = make_chain(database_url)
    run = new_run("shared_ingester_kill9", chain)
    victim = chain.start_ingester(metrics=True)
    survivor = chain.start_ingester(metrics=True)
    run.start()
    # Both members of the shared subscription are committing when one dies.
    assert procs.wait_until(lambda: min(chain.ingester_committed(victim), chain.ingester_committed(survivor)) > 0,
                            30)
    at_kill = run.edge.counts()
    run.mark("fault")
    chain.kill_ingester(victim)
    # Not restarted: what the broker had handed to the victim stays in its session; the edge resends every batch
    # still unacknowledged after resend_after, and the shared subscription gives the resends to the survivor.
    run.mark("restored")
    run.wait_recovered()
    # Ten more seconds of traffic show whether the broker keeps handing a share to the dead member's session
    # (then about half of the later batches need a resend as well).
    report = run.finish(settle_s=10.0, resent_batches_at_kill=at_kill.resent_batches,
                        acked_samples_at_kill=at_kill.acked)
    assert_exactly_once(report)
    assert chain.ingesters[survivor].poll() is None
