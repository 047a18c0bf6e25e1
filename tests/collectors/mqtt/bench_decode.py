"""CPU cost of decoding one 20-field JSON message (not a test; run it by hand).

    .venv/bin/python tests/collectors/mqtt/bench_decode.py
"""

from __future__ import annotations

import json
import time

from tonghu.collectors.mqtt.config import parse_config
from tonghu.collectors.mqtt.mapping import MessageMapper
from tonghu.common.sample import Sample

PHASES = 3
DOC = {
    "ts": 1717200000123,
    "status": "ok",
    "data": {
        "energy": {"import_wh": 123456789, "export_wh": 4567},
        "power": {"active_w": 15234.5, "reactive_var": 2100.2, "apparent_va": 15400.1},
        "pf": 0.97, "freq_hz": 50.01, "thd_pct": 2.4,
        "phases": [{"voltage": 230.1 + i, "current": 21.3 + i, "power_w": 5000.0 + i} for i in range(PHASES)],
        "temperature_c": 41.5, "uptime_s": 123456,
    },
}
PATHS = (["data.energy.import_wh", "data.energy.export_wh", "data.power.active_w", "data.power.reactive_var",
          "data.power.apparent_va", "data.pf", "data.freq_hz", "data.thd_pct", "data.temperature_c"]
         + [f"data.phases[{i}].{k}" for i in range(PHASES) for k in ("voltage", "current", "power_w")]
         + ["data.uptime_s", "status"])


def main() -> None:
    fields = [{"path": p, "asset": "utilities/power/{meter}", "tag": f"t{i}",
               "data_type": "int" if p == "data.uptime_s" else "string" if p == "status" else "float"}
              for i, p in enumerate(PATHS)]
    fields[0] |= {"scale": 0.001, "quality": {"path": "status", "good": ["ok"]}}
    cfg = parse_config({
        "broker": {"host": "127.0.0.1", "client_id": "bench"},
        "subscriptions": [{"topic": "plant/{site}/meters/{meter}/telemetry",
                           "timestamp": {"path": "ts", "format": "epoch_ms"}, "fields": fields}],
    })
    mapper = MessageMapper(cfg)
    payload = json.dumps(DOC).encode()
    topic = "plant/sz/meters/em07/telemetry"
    assert len(mapper.decode(topic, payload, 0)) == len(PATHS) == 20
    n = 50_000
    print(f"one {len(payload)}-byte message, 20 mapped fields, best of 5 x {n}, CPU time")
    cases = (("json.loads alone", lambda: json.loads(payload)),
             ("20 Sample objects alone", lambda: [Sample("k", 0, 1.0, 0, None, 0) for _ in range(20)]),
             ("decode (match + parse + 20 samples)", lambda: mapper.decode(topic, payload, 0)))
    for label, fn in cases:
        best = float("inf")
        for _ in range(5):
            t0 = time.process_time()
            for _ in range(n):
                fn()
            best = min(best, (time.process_time() - t0) / n)
        print(f"{label:40s} {best * 1e6:6.1f} µs per message")


if __name__ == "__main__":
    main()
