"""An OPC-UA server killed -9 and started again under a running agent.

An OPC-UA subscription delivers what changes while it exists: values the server wrote between its restart and
the agent's new subscription, and those it held unpublished when it died, were never sent. So the counter tags
may miss exactly one run of values, around the restart, and nothing else; the agent records the outage in its
connection state tag; the MQTT devices on the same agent lose nothing.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.faults.conftest import assert_exactly_once, new_run, record
from tonghu.chaos import opcua_counter, procs
from tonghu.chaos.chain import Chain

pytestmark = pytest.mark.slow
TAGS, PERIOD, DOWN_S = 10, 0.1, 5.0


class CounterServer:
    def __init__(self, workdir: Path) -> None:
        self.port = procs.free_port()
        self.log = workdir / "counter-ticks.txt"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = p = subprocess.Popen(
            [sys.executable, "-m", "tonghu.chaos.opcua_counter", "--port", str(self.port), "--tags", str(TAGS),
             "--period", str(PERIOD), "--log", str(self.log)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.wait_port("127.0.0.1", self.port, 60, alive=lambda: p.poll() is None)


@pytest.fixture
def counter(tmp_path: Path) -> Iterator[CounterServer]:
    server = CounterServer(tmp_path)
    server.start()
    yield server
    procs.stop(server.proc)


def _max_stored(chain: Chain, site_id: int) -> float:
    with psycopg.connect(chain.dsn, autocommit=True) as conn:
        row = conn.execute("SELECT max(s.value) FROM samples_num s JOIN tags t ON t.id = s.tag_id "
                           "WHERE t.site_id = %s AND t.key LIKE 'chaos/opcua/%%'", (site_id,)).fetchone()
    return -1.0 if row is None or row[0] is None else float(row[0])


def test_opcua_server_kill_9_and_restart(make_chain: Callable[..., Chain], database_url: str,
                                         counter: CounterServer, tmp_path: Path) -> None:
    chain = make_chain(database_url)
    entry = opcua_counter.collector_entry(counter.port, TAGS, tmp_path / "pki", PERIOD)
    run = new_run("opcua_server_restart", chain, collectors=[entry])
    chain.start_ingester()
    run.start()
    assert procs.wait_until(lambda: _max_stored(chain, run.edge.site_id) >= 0, 60), "no OPC-UA value arrived"
    time.sleep(2.0)
    assert counter.proc is not None
    killed_at = time.time()
    run.mark("fault")
    procs.kill9(counter.proc)
    time.sleep(DOWN_S)
    restart_begin = time.time()
    counter.start()
    restarted_at = time.time()
    run.mark("restored")

    def new_run_stored() -> bool:
        new = [seq for seq, t in opcua_counter.read_log(counter.log).items() if t >= restart_begin]
        return bool(new) and _max_stored(chain, run.edge.site_id) >= min(new)

    # Recovery: a value the new server run wrote is committed.
    assert procs.wait_until(new_run_stored, 90)
    resubscribed_s = round(time.monotonic() - run._t["restored"], 2)
    run.timings.update(recover_s=resubscribed_s, fault_s=round(restarted_at - killed_at, 2))
    time.sleep(2.0)
    procs.stop(counter.proc)
    # What the server wrote in its last publishing interval died with it unsent: judge what it wrote up to one
    # second before it stopped.
    stopped_at = time.time()
    written = opcua_counter.read_log(counter.log)
    judged = {seq: t for seq, t in written.items() if t <= stopped_at - 1.0}
    report = run.finish()
    assert_exactly_once(report)  # the MQTT devices on the same agent

    opc = chain.check(dict.fromkeys(opcua_counter.tag_keys(TAGS), max(written) + 1), run.edge)
    lost = before_first = 0
    for tag in opc.tags:
        assert tag.duplicated == 0 and tag.unexpected == 0, tag
        assert len(tag.gaps) < 5, tag  # the checker lists at most five: more would hide some
        outages = 0
        for g in tag.gaps:
            times = [judged[v] for v in range(g.first, g.last + 1) if v in judged]
            if not times:
                continue  # values never written (the server was down) or written in its last second
            if g.after_us is None:
                before_first += len(times)  # written before the agent's first subscription existed
                continue
            # Only values written in the last moments before the kill or before the new subscription existed.
            assert all(killed_at - 2.0 <= t <= restarted_at + resubscribed_s for t in times), (tag.key, g)
            outages += 1
            lost += len(times)
        assert outages <= 1, tag
    with psycopg.connect(chain.dsn, autocommit=True) as conn:
        states = [r[0] for r in conn.execute(
            "SELECT s.value FROM samples_text s JOIN tags t ON t.id = s.tag_id WHERE t.site_id = %s AND t.key = %s "
            "ORDER BY s.time", (run.edge.site_id, f"edge/{run.edge.name}/counter/connection"))]
    # The outage is in the data: connected, disconnected at the kill, connected again after the restart (and
    # disconnected at the final stop of the server).
    assert states[:3] == ["connected", "disconnected", "connected"], states
    record("opcua_server_restart_counter_tags", {
        "written": len(judged) * TAGS, "stored": opc.total("stored"), "duplicated": opc.total("duplicated"),
        "lost_in_outage": lost, "written_before_first_subscription": before_first,
        "not_written_while_down": (max(written) + 1 - len(written)) * TAGS, "resubscribed_s": resubscribed_s,
        "connection_states": states})
