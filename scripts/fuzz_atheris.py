"""Coverage-guided fuzzing of the decoders that face the outside, with atheris (libFuzzer for Python).

Not part of the test suite (tests/fuzz holds the property tests that run in CI). atheris ships Linux x86-64
wheels, so no compiler is needed: install it next to tonghu, e.g. ``.venv/bin/pip install atheris``, then

    .venv/bin/python scripts/fuzz_atheris.py TARGET [libFuzzer options] [CORPUS_DIR ...]
    .venv/bin/python scripts/fuzz_atheris.py uplink -max_total_time=60
    .venv/bin/python scripts/fuzz_atheris.py sparkplug -atheris_runs=500000 /var/tmp/spb-corpus

TARGET is one of: uplink, sparkplug, session, state, mqtt, config. Without a corpus directory, a fresh one is
seeded with valid messages, which libFuzzer then mutates. Any exception other than the decoder's documented
error stops the run, prints the traceback and writes ``crash-<sha1>`` with the input to the working directory;
replay it with ``scripts/fuzz_atheris.py TARGET crash-<sha1>``.
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import msgpack

    from tonghu.collectors.mqtt.config import MqttConfig
    from tonghu.collectors.mqtt.mapping import MessageMapper
    from tonghu.collectors.sparkplug import records, topic
    from tonghu.collectors.sparkplug.codec import Metric, Payload, PropertyValue, decode_payload, encode_payload
    from tonghu.collectors.sparkplug.config import MappingConfig
    from tonghu.collectors.sparkplug.datatypes import DataType
    from tonghu.collectors.sparkplug.mapping import KeyMapper
    from tonghu.collectors.sparkplug.session import HostSession
    from tonghu.collectors.sparkplug.state import MetricDef
    from tonghu.common.errors import ConfigError, PayloadError
    from tonghu.common.sample import STATUS_BAD, Sample
    from tonghu.common.settings import load_yaml_model, validate_model
    from tonghu.common.uplink import (
        DEFAULT_LIMITS,
        TagMeta,
        decode_ack,
        decode_data,
        decode_meta,
        encode_ack,
        encode_data,
        encode_meta,
        peek_seq,
    )
    from tonghu.edge_agent.config import EdgeConfig
    from tonghu.platform.ingest import validate

import yaml

ROOT = Path(__file__).resolve().parents[1]
WINDOW = validate.Window(0, 2**62)


def uplink(data: bytes) -> None:
    for decode in (decode_meta, decode_ack):
        with contextlib.suppress(PayloadError):
            decode(data)
    peek_seq(data)
    try:
        batch = decode_data(data)
    except PayloadError:
        return
    tags = {k: (i + 1, "string" if i % 2 else "float") for i, k in enumerate(batch.keys)}
    validate.prepare(batch, tags, WINDOW, DEFAULT_LIMITS)


def sparkplug(data: bytes) -> None:
    try:
        p = decode_payload(data)
    except PayloadError:
        return
    records.bdseq_of(p)
    for m in p.metrics[:20]:
        for datatype in (None, *DataType):
            with contextlib.suppress(PayloadError):
                m.value(datatype)
        records.status_of(m)
        for prop in m.properties.values():
            prop.value()
        if m.name is not None:
            records.tag_meta(MetricDef(m.name, DataType.DOUBLE, m.alias, "a/l/m/t"), m)


_SESSION_TOPICS = ["spBv1.0/g/NBIRTH/n", "spBv1.0/g/NDATA/n", "spBv1.0/g/NDEATH/n", "spBv1.0/g/DBIRTH/n/d",
                   "spBv1.0/g/DDATA/n/d", "spBv1.0/g/DDEATH/n/d", "spBv1.0/STATE/h"]


def session(data: bytes) -> None:
    # The input is a sequence of messages: one byte picks the topic, two the length, then the payload.
    fdp = atheris.FuzzedDataProvider(data)
    s = HostSession(KeyMapper(MappingConfig()).key_of)
    now = 1_700_000_000_000_000
    while fdp.remaining_bytes():
        name = _SESSION_TOPICS[fdp.ConsumeIntInRange(0, len(_SESSION_TOPICS) - 1)]
        payload = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 4096))
        now += fdp.ConsumeIntInRange(0, 5_000_000)
        with contextlib.suppress(PayloadError):
            s.handle(name, payload, now)
        s.poll(now)
    HostSession.from_json(s.to_json(), KeyMapper(MappingConfig()).key_of)


def state(data: bytes) -> None:
    with contextlib.suppress(PayloadError):
        topic.decode_state(data)


_MQTT = MessageMapper(MqttConfig.model_validate(yaml.safe_load(
    (ROOT / "tonghu/collectors/mqtt/sample.yaml").read_text())))
_MQTT_TOPICS = ["plant/sz/meters/em07/telemetry", "factory/smt/l3/aoi/aoi1/result", "plant/sz/sensors/t12/temperature"]


def mqtt(data: bytes) -> None:
    for name in _MQTT_TOPICS:
        with contextlib.suppress(PayloadError):
            _MQTT.decode(name, data, 1_717_200_000_000_000)


_CONFIG = Path(tempfile.mkdtemp(prefix="tonghu-fuzz-")) / "edge.yaml"


def config(data: bytes) -> None:
    _CONFIG.write_bytes(data)
    with contextlib.suppress(ConfigError):
        validate_model(EdgeConfig, load_yaml_model(_CONFIG), str(_CONFIG))


def _seeds(target: str) -> list[bytes]:
    if target == "uplink":
        samples = [Sample("a/l/m/t", 1_700_000_000_000_000, v, q) for v, q in
                   ((1.5, 0), (math.nan, STATUS_BAD), (2**63 - 1, 0), (True, 0), ("run", 0))]
        return [encode_data("gw", 1, 2, samples, [("a/l/m/t", 3, "state", "down", "R1", "jam")]),
                encode_meta("gw", 2, 3, [TagMeta("a/l/m/t", "float", "kW", "power", "", {"hi": 1})]),
                encode_ack([1, 2], [3]), msgpack.packb({"v": 1, "edge": "gw", "seq": 4})]
    if target in ("sparkplug", "session"):
        metrics = [Metric.of("bdSeq", DataType.UINT64, 0), Metric.of("Temp", DataType.DOUBLE, 1.5, alias=1,
                   properties={"Quality": PropertyValue.of(DataType.INT32, 192)}),
                   Metric.of("Count", DataType.INT32, -5, alias=2), Metric.of("Name", DataType.STRING, "x", alias=3)]
        birth = encode_payload(Payload(1_700_000_000_000, metrics, 0))
        data = encode_payload(Payload(1_700_000_000_001, [Metric(alias=1, kind=metrics[1].kind, raw=2.5)], 1))
        if target == "sparkplug":
            return [birth, data]
        return [b"\x00" + len(birth).to_bytes(2, "big") + birth + b"\x00\x01" + len(data).to_bytes(2, "big") + data]
    if target == "state":
        return [topic.encode_state(True, 1_700_000_000_000)]
    if target == "mqtt":
        return [b'{"ts": 1717200000123, "status": "ok", "data": {"energy": {"import_wh": 1}, "power_w": 1.5}}',
                b'{"time": "2024-06-01T08:15:30+08:00", "result": 2, "counts": {"inspected": 1}}', b"21.5"]
    return [(ROOT / "deploy/edge" / name).read_bytes() for name in
            ("edge-mqtt.yaml", "edge-opcua.yaml", "edge-sparkplug.yaml")]


TARGETS: dict[str, Callable[[bytes], None]] = {
    "uplink": uplink, "sparkplug": sparkplug, "session": session, "state": state, "mqtt": mqtt, "config": config}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options] [CORPUS_DIR ...]")
    target = sys.argv.pop(1)
    if not any(not arg.startswith("-") for arg in sys.argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix=f"tonghu-{target}-corpus-"))
        for i, seed in enumerate(_seeds(target)):
            (corpus / f"seed-{i}").write_bytes(seed)
        sys.argv.append(str(corpus))
        print(f"corpus: {corpus}", file=sys.stderr)
    atheris.Setup(sys.argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
