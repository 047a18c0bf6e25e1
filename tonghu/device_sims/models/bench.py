"""Generation speed of the models: ``python -m tonghu.device_sims.models.bench [--days 1] [--machines 100]``.

Measures what a backfill does (every machine of a fleet, one window per machine-day on a fixed grid, throttled) and
projects the cost of 30 days × 100 machines. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from itertools import islice
from typing import Any

from tonghu.device_sims.models.core import DAY_US, US
from tonghu.device_sims.models.fleet import fleet


def measure(days: float = 1.0, machines: int = 100, companies: int = 18, seed: int = 0, step_s: int = 60,
            start_us: int = 1_760_000_000 * US // DAY_US * DAY_US) -> dict[str, Any]:
    """Run the first ``machines`` machines of ``fleet(companies, seed)`` for ``days``; counts and timings."""
    chosen = [m for _c, _s, m in islice(fleet(companies, seed).machines(), machines)]
    end = start_us + int(days * DAY_US)
    per_kind: Counter[str] = Counter()
    events = 0
    began = time.perf_counter()
    cpu = time.process_time()
    for m in chosen:
        # One window per machine-day, machine after machine: the access pattern of the backfill writer.
        t = start_us
        while t < end:
            run = m.run(t, min(t + DAY_US, end), step_s * US)
            per_kind[m.kind.name] += len(run.samples)
            events += len(run.events)
            t += DAY_US
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    samples = sum(per_kind.values())
    machine_days = len(chosen) * days
    rate = samples / cpu if cpu else 0.0
    target_samples = samples / machine_days * 30 * 100
    return {
        "machines": len(chosen), "days": days, "step_s": step_s, "samples": samples, "events": events,
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "samples_per_s": round(rate),
        "us_per_sample": round(1e6 / rate, 2) if rate else None,
        "samples_per_machine_day": round(samples / machine_days),
        "per_kind_samples_per_machine_day": {k: round(v / days / sum(m.kind.name == k for m in chosen))
                                             for k, v in sorted(per_kind.items())},
        "projection_30d_100m": {"samples": round(target_samples), "generate_s": round(target_samples / rate),
                                "write_s_at_150k_rows_per_s": round(target_samples / 150_000)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--companies", type=int, default=18)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--step", type=int, default=60, help="grid step in seconds")
    args = parser.parse_args()
    print(json.dumps(measure(args.days, args.machines, args.companies, args.seed, args.step), indent=2))


if __name__ == "__main__":
    main()
