"""Throughput of tonghu.edge_agent.buffer on a real file.

    .venv/bin/python bench_buffer.py [DIRECTORY]     # DIRECTORY: where the SQLite file goes (default: $TMPDIR)

Prints per-call latency of put(1000 samples) (empty buffer, then a full buffer under drop_oldest), of
next_batch(5000), of ack, and the file size against the estimated bytes.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from tonghu.common.sample import Sample
from tonghu.edge_agent.buffer import Buffer, BufferConfig


def make(puts: int, per_put: int, now: int) -> list[list[Sample]]:
    out = []
    for p in range(puts):
        batch = []
        for j in range(per_put):
            i = p * per_put + j
            k = i % 4  # a mix of float, int, bool and text values
            v = float(i) if k == 0 else i if k == 1 else (i % 2 == 0) if k == 2 else f"state{i % 7}"
            batch.append(Sample(f"area1/line1/m{i % 20}/tag{i % 500}", now + i, v))
        out.append(batch)
    return out


def report(label: str, seconds: list[float], samples: int) -> None:
    ms = sorted(t * 1000 for t in seconds)
    print(f"{label}: median {statistics.median(ms):.2f} ms, p95 {ms[int(len(ms) * 0.95)]:.2f} ms, "
          f"max {ms[-1]:.2f} ms, {samples / sum(seconds):,.0f} samples/s")


def timed(fn, *args, **kw):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t0


def main(directory: str | None) -> None:
    now = time.time_ns() // 1000
    puts, per_put = 300, 1000
    data = make(puts, per_put, now)
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        cfg = BufferConfig(path=Path(tmp) / "a.db", max_bytes=2 * 1024**3)
        with Buffer(cfg) as buf:
            report(f"put {per_put} (room to spare)", [timed(buf.put, b, now_us=now)[1] for b in data],
                   puts * per_put)
            s = buf.stats(now_us=now)
            print(f"  {s.samples_buffered} samples: estimated {s.bytes_buffered / 1e6:.1f} MB, "
                  f"file {s.file_bytes / 1e6:.1f} MB ({s.file_bytes / s.bytes_buffered:.2f}x)")
            times, n = [], 0
            while True:
                out, t = timed(buf.next_batch, "edge1", now)
                if out is None:
                    break
                times.append(t)
                n += 1
            report(f"next_batch {cfg.batch_max_samples} ({n} batches)", times, puts * per_put)
            seqs = [p.seq for p in buf.unacked()]
            report("ack 1 batch (samples/s = samples acknowledged)", [timed(buf.ack, [q])[1] for q in seqs], puts * per_put)

        full = BufferConfig(path=Path(tmp) / "b.db", max_bytes=16 * 1024**2)
        with Buffer(full) as buf:
            times = [timed(buf.put, b, now_us=now)[1] for b in data]
            s = buf.stats(now_us=now)
            report(f"put {per_put} (last 100 under drop_oldest, {s.dropped_overflow_oldest} dropped)",
                   times[-100:], 100 * per_put)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
