"""The durable buffer against real SQLite files: order, types, seqs, bounds, counters, threads and kill -9."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tonghu.common.errors import NotConnectedError
from tonghu.common.sample import STATUS_BAD, STATUS_MAX, STATUS_UNCERTAIN, Sample
from tonghu.common.uplink import decode_data
from tonghu.edge_agent import buffer_model
from tonghu.edge_agent.buffer import Buffer, BufferConfig, BufferStats, DropReason, OverflowPolicy

NOW = 1_780_000_000_000_000  # a fixed "now" in µs; every call below passes it, so the wall clock never matters
SMALL = 64 * 1024  # the smallest max_bytes the config accepts


def cfg(path: Path, **kw: object) -> BufferConfig:
    return BufferConfig(path=path / "buffer.db", **kw)  # type: ignore[arg-type]


def numbered(n: int, start: int = 0, ts: int = NOW) -> list[Sample]:
    """Sample i: tag t{i:05}, time ts + i, value float(i); the index is recoverable from any field."""
    return [Sample(f"a/l/m/t{i:05}", ts + i, float(i)) for i in range(start, start + n)]


def unpack(payload: bytes) -> tuple[int, list[Sample], list[Sample]]:
    """Seq, numeric samples and text samples of a payload, each column in the order it was encoded."""
    b = decode_data(payload)
    num = [Sample(b.keys[k], t, v, q) for k, t, v, q in zip(b.num.k, b.num.t, b.num.v, b.num.q, strict=True)]
    txt = [Sample(b.keys[k], t, v, q) for k, t, v, q in zip(b.txt.k, b.txt.t, b.txt.v, b.txt.q, strict=True)]
    return b.seq, num, txt


def drain(buf: Buffer) -> list[Sample]:
    """Everything the buffer holds, oldest first: the in-flight batches, then the unbatched samples."""
    out: list[Sample] = []
    for pending in buf.unacked():
        out += unpack(pending.payload)[1]
    while (batch := buf.next_batch("e1", NOW)) is not None:
        out += unpack(batch[1])[1]
    return out


def indices(samples: list[Sample]) -> list[int]:
    return [int(s.value) for s in samples]


def canon(v: object) -> tuple[str, str]:
    # repr tells -0.0 from 0.0 and 1 from 1.0 from True; every NaN is the same missing number.
    if isinstance(v, float) and math.isnan(v):
        return "float", "nan"
    return type(v).__name__, repr(v)


def same(a: list[Sample], b: list[Sample]) -> bool:
    return [(s.key, s.source_ts_us, canon(s.value), s.status) for s in a] == \
           [(s.key, s.source_ts_us, canon(s.value), s.status) for s in b]


def assert_conserved(s: BufferStats) -> None:
    assert s.samples_in == (s.samples_buffered + s.samples_in_flight + s.samples_acked
                            + sum(s.dropped.values()) + s.rejected), s


@pytest.fixture
def buf(tmp_path: Path) -> Iterator[Buffer]:
    with Buffer(cfg(tmp_path)) as b:
        yield b


# ------------------------------------------------------------------------------------------ config, lifecycle


def test_config_is_strict_and_frozen(tmp_path: Path) -> None:
    c = cfg(tmp_path)
    assert (c.overflow, c.batch_max_samples, c.max_age) == (OverflowPolicy.DROP_OLDEST, 5000, timedelta(days=7))
    with pytest.raises(ValidationError):
        BufferConfig(path=tmp_path / "b.db", max_byte=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        BufferConfig(path=tmp_path / "b.db", overflow="drop_random")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        BufferConfig(path=tmp_path / "b.db", max_age=timedelta(0))
    with pytest.raises(ValidationError):
        c.max_bytes = 1  # type: ignore[misc]


def test_construction_does_no_io_and_calls_need_open(tmp_path: Path) -> None:
    b = Buffer(BufferConfig(path=tmp_path / "sub" / "b.db"))
    assert not (tmp_path / "sub").exists()
    with pytest.raises(NotConnectedError):
        b.put(numbered(1), now_us=NOW)
    with b:
        b.put(numbered(1), now_us=NOW)
        mode = b._conn().execute("PRAGMA journal_mode").fetchone()[0]
        sync = b._conn().execute("PRAGMA synchronous").fetchone()[0]
    assert (mode, sync) == ("wal", 2)  # 2 is FULL
    with pytest.raises(NotConnectedError):
        b.stats()


# ------------------------------------------------------------------------------------------ round trip


TRICKY = [
    Sample("a/l/m/f", NOW, 21.5), Sample("a/l/m/f", NOW + 1, -0.0), Sample("a/l/m/f", NOW + 2, math.inf),
    Sample("a/l/m/f", NOW + 3, math.nan, STATUS_BAD), Sample("a/l/m/f", NOW + 4, 3.0),
    Sample("a/l/m/i", NOW, 0), Sample("a/l/m/i", NOW + 1, -(2**63)), Sample("a/l/m/i", NOW + 2, 2**63 - 1),
    Sample("a/l/m/i", NOW + 3, 2**64 - 1, STATUS_UNCERTAIN),
    Sample("a/l/m/b", NOW, True), Sample("a/l/m/b", NOW + 1, False, STATUS_MAX),
    Sample("a/l/m/s", NOW, "running"), Sample("a/l/m/s", NOW + 1, ""), Sample("a/l/m/s", NOW + 2, "温度 \x00 ü"),
    Sample("a/l/m/温度", NOW + 5, 1, 0x80340000),
]


def test_round_trip_keeps_order_types_and_statuses(buf: Buffer) -> None:
    buf.put(TRICKY, now_us=NOW)
    seq, payload = buf.next_batch("edge-7", NOW + 9)
    b = decode_data(payload)
    assert (b.edge, b.seq, b.created_us) == ("edge-7", seq, NOW + 9)
    _, num, txt = unpack(payload)
    assert same(num, [s for s in TRICKY if not isinstance(s.value, str)])
    assert same(txt, [s for s in TRICKY if isinstance(s.value, str)])
    assert buf.next_batch("edge-7", NOW) is None


values = st.one_of(st.floats(), st.integers(-(2**63), 2**64 - 1), st.booleans(), st.text(max_size=40))
# Keys without NUL: the platform refuses a key with NUL (and its whole batch), so the buffer refuses it at put.
keys_st = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=30)
samples_st = st.lists(st.builds(Sample, keys_st, st.integers(-(2**63), 2**63 - 1),
                                values, st.integers(0, STATUS_MAX)), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(samples=samples_st)
def test_any_valid_samples_come_back_identical(tmp_path: Path, samples: list[Sample]) -> None:
    # The longest max_age there is keeps every timestamp of the int64 range fresh.
    with Buffer(cfg(tmp_path, max_age=timedelta.max, batch_max_samples=7)) as b:
        b.put(samples, now_us=NOW)
        num: list[Sample] = []
        txt: list[Sample] = []
        while (batch := b.next_batch("e", NOW)) is not None:
            num += unpack(batch[1])[1]
            txt += unpack(batch[1])[2]
            b.ack([batch[0]])
        assert same(num, [s for s in samples if not isinstance(s.value, str)])
        assert same(txt, [s for s in samples if isinstance(s.value, str)])
        assert_conserved(b.stats(now_us=NOW))


def test_unsendable_samples_are_rejected_one_by_one(buf: Buffer) -> None:
    good = numbered(2)
    bad = [Sample("", NOW, 1.0), Sample("k" * 256, NOW, 1.0), Sample("a/l/m/x", NOW, [1]),  # type: ignore[arg-type]
           Sample("a/l/m/x", NOW, 2**64), Sample("a/l/m/x", 1.5, 1.0),  # type: ignore[arg-type]
           Sample("a/l/m/x", NOW, 1.0, -1), Sample("a/l/m/x", NOW, "\ud800")]
    buf.put([good[0], *bad, good[1]], now_us=NOW)
    s = buf.stats(now_us=NOW)
    assert (s.samples_in, s.rejected, s.samples_buffered) == (9, 7, 2)
    assert same(drain(buf), good)


# ------------------------------------------------------------------------------------------ batches and seqs


def test_batches_take_the_oldest_samples_within_both_limits(tmp_path: Path) -> None:
    with Buffer(cfg(tmp_path, batch_max_samples=300, batch_max_bytes=8192)) as b:
        b.put(numbered(1000), now_us=NOW)
        sizes = []
        got: list[Sample] = []
        while (batch := b.next_batch("e", NOW)) is not None:
            got += unpack(batch[1])[1]
            sizes.append(len(unpack(batch[1])[1]))
        assert indices(got) == list(range(1000))
        # The byte limit (in estimated row bytes) cuts before the count limit of 300 does.
        per_batch = 8192 // (buffer_model.ROW_OVERHEAD + len("a/l/m/t00000") + 8)
        assert per_batch < 300 and sizes == [per_batch] * (1000 // per_batch) + [1000 % per_batch]


def test_seq_strictly_increases_across_reopen_and_is_never_reused(tmp_path: Path) -> None:
    seqs = []
    for round_ in range(3):
        with Buffer(cfg(tmp_path, batch_max_samples=10)) as b:
            b.put(numbered(25, start=round_ * 25), now_us=NOW)
            while (batch := b.next_batch("e", NOW)) is not None:
                assert unpack(batch[1])[0] == batch[0]
                seqs.append(batch[0])
            # Acking everything empties the batch table; the next seq must still not go back.
            b.ack(seqs)
    assert seqs == list(range(1, 10))
    with Buffer(cfg(tmp_path, batch_max_samples=10)) as b:
        b.put(numbered(10), now_us=NOW)
        meta = b.allocate_seq()
        assert (meta, b.next_batch("e", NOW)[0], b.allocate_seq()) == (10, 11, 12)
    with Buffer(cfg(tmp_path)) as b:
        assert b.allocate_seq() == 13


def test_ack_removes_batches_and_counts_unknown_seqs(buf: Buffer) -> None:
    buf.put(numbered(30), now_us=NOW)
    seq, _ = buf.next_batch("e", NOW)
    assert buf.next_batch("e", NOW) is None  # all 30 went into one batch
    assert buf.ack([seq, seq, 999]) == 1
    assert buf.ack([seq]) == 0
    assert buf.unacked() == []
    s = buf.stats(now_us=NOW)
    assert (s.acked_batches, s.unknown_acks, s.samples_acked, s.batches_in_flight) == (1, 2, 30, 0)
    assert (s.samples_buffered, s.bytes_buffered) == (0, 0)
    assert_conserved(s)


def test_unacked_lists_batches_due_for_resend_and_mark_sent_counts_resends(tmp_path: Path) -> None:
    with Buffer(cfg(tmp_path, batch_max_samples=10)) as b:
        b.put(numbered(30), now_us=NOW)
        s1, p1 = b.next_batch("e", NOW)
        s2, _ = b.next_batch("e", NOW)
        s3, _ = b.next_batch("e", NOW)
        b.mark_sent(s1, 100)
        b.mark_sent(s2, 300)
        assert [(p.seq, p.last_sent_us) for p in b.unacked()] == [(s1, 100), (s2, 300), (s3, None)]
        assert [p.seq for p in b.unacked(older_than_us=200)] == [s1, s3]
        assert [p.seq for p in b.unacked(older_than_us=200, limit=1)] == [s1]
        assert b.unacked(older_than_us=50)[0].seq == s3
        assert b.unacked()[0].payload == p1
        b.mark_sent(s1, 400)
        b.mark_sent(s1, 500)
        b.mark_sent(12345, 500)  # unknown: ignored
        assert b.stats(now_us=NOW).resent_batches == 2
        b.ack([s1])
        assert [p.seq for p in b.unacked(older_than_us=10_000)] == [s2, s3]


# ------------------------------------------------------------------------------------------ bounds


def test_drop_oldest_drops_exactly_the_missing_oldest_samples(tmp_path: Path) -> None:
    with Buffer(cfg(tmp_path, max_bytes=SMALL)) as b:
        for k in range(30):
            b.put(numbered(100, start=k * 100), now_us=NOW)
            assert b.stats(now_us=NOW).bytes_buffered <= SMALL
        s = b.stats(now_us=NOW)
        kept = indices(drain(b))
    assert 0 < s.dropped_overflow_oldest < 3000 and s.dropped_overflow_newest == 0
    assert kept == list(range(3000 - len(kept), 3000))
    assert s.dropped_overflow_oldest == 3000 - len(kept)
    assert_conserved(s)


def test_drop_oldest_takes_unbatched_samples_before_batches_then_batches(tmp_path: Path) -> None:
    with Buffer(cfg(tmp_path, max_bytes=SMALL, batch_max_samples=300)) as b:
        b.put(numbered(300), now_us=NOW)
        first, _ = b.next_batch("e", NOW)
        b.put(numbered(600, start=300), now_us=NOW)
        b.put(numbered(300, start=900), now_us=NOW)
        s = b.stats(now_us=NOW)
        assert s.dropped_overflow_oldest > 0 and [p.seq for p in b.unacked()] == [first]
        kept = indices(drain(b))
        assert kept[:300] == list(range(300))  # the batch is intact
        assert kept[300:] == list(range(1200 - (len(kept) - 300), 1200))
        assert s.dropped_overflow_oldest == 1200 - len(kept)

        # Now only batches are left to drop: three batches of 300, then 900 new samples.
        b.ack(p.seq for p in b.unacked())
        b.put(numbered(900, start=2000), now_us=NOW)
        seqs = [b.next_batch("e", NOW)[0] for _ in range(3)]
        before = b.stats(now_us=NOW).dropped_overflow_oldest
        b.put(numbered(900, start=3000), now_us=NOW)
        s = b.stats(now_us=NOW)
        dropped = s.dropped_overflow_oldest - before
        left = [p.seq for p in b.unacked()]
        assert dropped > 0 and dropped % 300 == 0 and left == seqs[dropped // 300:]
        assert b.ack(seqs) == len(left) and b.stats(now_us=NOW).unknown_acks == 3 - len(left)
        assert indices(drain(b)) == list(range(3000, 3900))
        assert_conserved(b.stats(now_us=NOW))


def test_drop_oldest_keeps_the_newest_of_a_put_larger_than_the_buffer(tmp_path: Path) -> None:
    with Buffer(cfg(tmp_path, max_bytes=SMALL)) as b:
        b.put(numbered(100), now_us=NOW)
        b.put(numbered(3000, start=100), now_us=NOW)
        s = b.stats(now_us=NOW)
        kept = indices(drain(b))
    assert 0 < len(kept) < 3000 and kept == list(range(3100 - len(kept), 3100))
    assert s.dropped_overflow_oldest == 3100 - len(kept) and s.bytes_buffered <= SMALL


def test_drop_newest_refuses_exactly_the_missing_newest_samples(tmp_path: Path) -> None:
    with Buffer(cfg(tmp_path, max_bytes=SMALL, overflow=OverflowPolicy.DROP_NEWEST)) as b:
        for k in range(30):
            b.put(numbered(100, start=k * 100), now_us=NOW)
        s = b.stats(now_us=NOW)
        kept = indices(drain(b))
        assert 0 < len(kept) < 3000 and kept == list(range(len(kept)))
        assert s.dropped_overflow_newest == 3000 - len(kept) and s.dropped_overflow_oldest == 0
        assert s.bytes_buffered <= SMALL
        # Once drained into (smaller) batches and acked, there is room again.
        b.ack(p.seq for p in b.unacked())
        b.put(numbered(10, start=5000), now_us=NOW)
        assert indices(drain(b)) == list(range(5000, 5010))
        assert_conserved(b.stats(now_us=NOW))


def test_expiry_by_source_age_at_put_and_on_expire(tmp_path: Path) -> None:
    hour = 3_600_000_000
    with Buffer(cfg(tmp_path, max_age=timedelta(hours=1), batch_max_samples=10)) as b:
        # Refused at put: already older than max_age.
        b.put(numbered(5, ts=NOW - 2 * hour) + numbered(5, start=5, ts=NOW), now_us=NOW)
        assert b.stats(now_us=NOW).dropped_expired == 5
        # Ten samples from 50 minutes ago in one batch; ten mixed old/new in another; ten recent unbatched.
        b.next_batch("e", NOW)
        b.ack(p.seq for p in b.unacked())
        b.put(numbered(10, start=100, ts=NOW - 50 * 60_000_000), now_us=NOW)
        old_batch, _ = b.next_batch("e", NOW)
        b.put(numbered(5, start=200, ts=NOW - 50 * 60_000_000) + numbered(5, start=205, ts=NOW), now_us=NOW)
        mixed_batch, _ = b.next_batch("e", NOW)
        b.put(numbered(10, start=300, ts=NOW - 30 * 60_000_000), now_us=NOW)
        b.put(numbered(10, start=400, ts=NOW), now_us=NOW)
        assert b.stats(now_us=NOW).oldest_age_s == pytest.approx(50 * 60 - 100e-6)

        # At NOW + 15 min the cut is 45 minutes ago: the old batch goes whole, the mixed one stays.
        assert b.expire(now_us=NOW + 15 * 60_000_000) == 10
        assert [p.seq for p in b.unacked()] == [mixed_batch] and old_batch != mixed_batch
        # A put at NOW + 40 min expires the unbatched samples from 30 minutes ago on its way.
        b.put(numbered(1, start=500, ts=NOW + 40 * 60_000_000), now_us=NOW + 40 * 60_000_000)
        s = b.stats(now_us=NOW)
        assert s.dropped_expired == 5 + 10 + 10
        assert indices(drain(b)) == [*range(200, 210), *range(400, 410), 500]
        assert_conserved(s)


def test_stats_survive_reopen(tmp_path: Path) -> None:
    c = cfg(tmp_path, max_bytes=SMALL, batch_max_samples=100, max_age=timedelta(hours=1))
    with Buffer(c) as b:
        b.put([*numbered(10, ts=NOW - 7_200_000_000), Sample("", NOW, 1.0)], now_us=NOW)
        for k in range(12):
            b.put(numbered(100, start=k * 100), now_us=NOW)
        s1, _ = b.next_batch("e", NOW)
        s2, _ = b.next_batch("e", NOW)
        b.mark_sent(s1, NOW)
        b.mark_sent(s1, NOW + 1)
        b.ack([s2, 77])
        before = b.stats(now_us=NOW)
    with Buffer(c) as b:
        after = b.stats(now_us=NOW)
        assert b.next_batch("e", NOW)[0] == s2 + 1
    assert dataclasses.replace(after, file_bytes=0) == dataclasses.replace(before, file_bytes=0)
    assert (before.samples_in, before.rejected, before.dropped_expired, before.resent_batches) == (1211, 1, 10, 1)
    assert (before.acked_batches, before.unknown_acks, before.batches_in_flight) == (1, 1, 1)
    assert before.dropped_overflow_oldest > 0 and before.dropped[DropReason.OVERFLOW_OLDEST] > 0
    assert_conserved(before)


# ------------------------------------------------------------------------------------------ concurrency, crashes


def test_writer_and_uplink_threads_lose_and_double_nothing(tmp_path: Path) -> None:
    total = 20_000
    with Buffer(cfg(tmp_path, batch_max_samples=700)) as b:
        acked: list[int] = []
        done = threading.Event()
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for k in range(0, total, 250):
                    b.put(numbered(250, start=k), now_us=NOW)
            except BaseException as err:  # surfaced by the assertion below
                errors.append(err)
            finally:
                done.set()

        def uplink() -> None:
            try:
                while not done.is_set() or b.stats(now_us=NOW).samples_buffered:
                    batch = b.next_batch("e", NOW)
                    if batch is None:
                        time.sleep(0.001)
                        continue
                    b.mark_sent(batch[0], NOW)
                    if batch[0] % 2:
                        acked.extend(indices(unpack(batch[1])[1]))
                        b.ack([batch[0]])
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=writer), threading.Thread(target=uplink)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        left = indices(drain(b))
        s = b.stats(now_us=NOW)
    assert sorted(acked + left) == list(range(total))
    assert s.samples_acked == len(acked) and s.samples_in == total
    assert_conserved(s)


CHILD = r"""
import sys, threading, time
from pathlib import Path
from tonghu.common.sample import Sample
from tonghu.edge_agent.buffer import Buffer, BufferConfig

path, tag = sys.argv[1], sys.argv[2]
buf = Buffer(BufferConfig(path=Path(path), batch_max_samples=400))
buf.open()
now = time.time_ns() // 1000
print("start", now, flush=True)

def uplink():
    while True:
        if buf.next_batch("crash", time.time_ns() // 1000) is None:
            time.sleep(0.001)

threading.Thread(target=uplink, daemon=True).start()
i = 0
while True:
    n = 1 + i % 97
    buf.put([Sample(f"{tag}/l/m/t{(i + j) % 50}", now + i + j, float(i + j)) for j in range(n)])
    print(i, n, flush=True)
    i += n
"""


@pytest.mark.slow
def test_kill9_mid_stream_loses_and_doubles_nothing(tmp_path: Path) -> None:
    path = tmp_path / "buffer.db"
    expected: dict[tuple[str, int], Sample] = {}  # every sample some child reported as accepted
    maybe: dict[str, set[tuple[str, int]]] = {}  # per child: the put that was running when it died
    delays = random.Random(7)
    for round_ in range(12):
        tag = f"r{round_}"
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), tag], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        lines = [proc.stdout.readline()]
        # A random moment rather than right after a report, so that the kill lands inside a transaction
        # about as often as the child spends time in one.
        time.sleep(delays.uniform(0.05, 0.2))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        lines += proc.stdout.read().splitlines(keepends=True)
        assert proc.returncode == -signal.SIGKILL
        assert lines[0].startswith("start "), proc.stderr.read()
        now = int(lines[0].split()[1])
        # A torn last line is not a report.
        nxt = 0
        for line in lines[1:]:
            if line.endswith("\n"):
                i, n = map(int, line.split())
                expected.update({(tag, x): Sample(f"{tag}/l/m/t{x % 50}", now + x, float(x))
                                 for x in range(i, i + n)})
                nxt = i + n
        maybe[tag] = {(tag, x) for x in range(nxt, nxt + 1 + nxt % 97)}

    with Buffer(BufferConfig(path=path, batch_max_samples=400)) as b:
        s = b.stats()
        pending = b.unacked()
        seqs = [p.seq for p in pending]
        found: list[Sample] = []
        for p in pending:
            seq, num, _ = unpack(p.payload)
            assert seq == p.seq
            found += num
        while (batch := b.next_batch("crash", NOW)) is not None:
            assert batch[0] > max(seqs, default=0)
            seqs.append(batch[0])
            found += unpack(batch[1])[1]
    assert len(expected) > 500 and len(set(seqs)) == len(seqs) > 3

    ids = Counter((smp.key.split("/")[0], int(smp.value)) for smp in found)
    assert max(ids.values()) == 1, "a sample is present twice"
    missing = [k for k in expected if k not in ids]
    assert not missing, f"{len(missing)} accepted samples lost, e.g. {missing[:3]}"
    for smp in found:
        ident = (smp.key.split("/")[0], int(smp.value))
        if ident in expected:
            assert same([smp], [expected[ident]])
    extra = set(ids) - set(expected)
    for tag, unsure in maybe.items():
        got = extra & unsure
        assert got in (set(), unsure), f"the put running when {tag} died was stored in part"
        extra -= got
    assert not extra, f"samples no child ever put: {sorted(extra)[:3]}"
    assert s.samples_in == s.samples_buffered + s.samples_in_flight == len(found)
    assert_conserved(s)


def test_a_key_with_nul_is_refused_and_counted(tmp_path: Path) -> None:
    with Buffer(cfg(tmp_path)) as b:
        b.put([Sample("a/b/c/x\x00y", NOW, 1.0), Sample("a/b/c/ok", NOW, 2.0)], now_us=NOW)
        stats = b.stats()
        assert (stats.rejected, stats.samples_buffered) == (1, 1)
