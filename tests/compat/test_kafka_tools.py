"""Kafka's own `kafka-dump-log` (kafka.tools.DumpLogSegments, Kafka 4.1.1 from Maven, see
kafka-tools/pom.xml) reads Takhin's segment files: the .log with deep iteration shows
every record's offset, key and payload with valid CRCs, the .index and .timeindex agree
with the log, and --index-sanity-check passes.

Needs java + mvn (skipped otherwise) and a Takhin binary (`broker_process_factory`:
skipped when COMPAT_BOOTSTRAP is set).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Producer

from test_librdkafka import create_topic
from workload import unique_topic

HERE = Path(__file__).resolve().parent
POM = HERE / "kafka-tools" / "pom.xml"
CP_FILE = HERE / "kafka-tools" / "target" / "classpath.txt"
DUMP_MAIN = "kafka.tools.DumpLogSegments"   # Kafka 4.1 still ships it in kafka_2.13 (core)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 40
VALUE_PAD = 300          # enough bytes that the sparse indexes (4 KiB interval) get entries

RECORD_LINE = re.compile(r"\|\s*offset: (\d+) .*?key: (.*?) payload: (.*)$")
BAD_MARKERS = [          # matched case-insensitively
    "isvalid: false",
    "mismatch",             # "Mismatches in :", "Found timestamp mismatch in :"
    "non-consecutive offsets",
    "out of order timestamp",
    "failed sanity check",
    "corrupt",
    "exception",
]


@pytest.fixture(scope="session")
def kafka_tools_classpath() -> str:
    """Resolve the kafka-tools classpath with Maven once per session (cached in
    kafka-tools/target/classpath.txt while the pom is unchanged)."""
    if not shutil.which("java") or not shutil.which("mvn"):
        pytest.skip("java and mvn are needed for Kafka's DumpLogSegments")
    if not CP_FILE.exists() or CP_FILE.stat().st_mtime < POM.stat().st_mtime:
        CP_FILE.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(["mvn", "-q", "-B", "-f", str(POM), "dependency:build-classpath",
                            f"-Dmdep.outputFile={CP_FILE}"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"mvn dependency:build-classpath failed:\n{r.stdout}\n{r.stderr}"
    cp = CP_FILE.read_text().strip()
    assert "kafka_2.13" in cp, f"kafka_2.13 missing from classpath {CP_FILE}"
    return cp


def dump(cp: str, files: list[Path], *args: str) -> str:
    r = subprocess.run(["java", "-cp", cp, DUMP_MAIN, "--files", ",".join(str(f) for f in files), *args],
                       capture_output=True, text=True, timeout=180)
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"DumpLogSegments exited {r.returncode}:\n{out[-4000:]}"
    return out


def assert_no_corruption(out: str, what: str) -> None:
    for marker in BAD_MARKERS:
        assert marker not in out.lower(), f"DumpLogSegments reports {marker!r} for {what}:\n" + "\n".join(
            line for line in out.splitlines() if marker in line.lower())[:4000]


def produce_workload(bootstrap: str, topic: str) -> list[tuple[int, str, str]]:
    """One flush (so at least one batch) per codec; returns [(offset, key, value)] as acked."""
    acked: list[tuple[int, str, str]] = []
    errors: list[str] = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append((msg.offset(), msg.key().decode(), msg.value().decode()))

    n = 0
    for codec in CODECS:
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                      "compression.type": codec, "linger.ms": 20})
        for _ in range(PER_CODEC):
            key = f"key-{n}-{codec}"
            value = f"value-{n}-{codec}-" + "abcdefgh"[n % 8] * VALUE_PAD
            headers = [("h", f"{n}".encode()), ("codec", codec.encode())] if n % 3 else []
            p.produce(topic, key=key.encode(), value=value.encode(), partition=0,
                      headers=headers, on_delivery=on_delivery)
            n += 1
            p.poll(0)
        assert p.flush(30) == 0, f"{codec}: undelivered messages"
    assert not errors, f"delivery errors: {errors[:5]}"
    return sorted(acked)


def partition_dir(data_dir: Path, topic: str, partition: int) -> Path:
    found = [d for d in data_dir.rglob(f"{topic}-{partition}") if d.is_dir()]
    assert len(found) == 1, f"expected one directory {topic}-{partition} under {data_dir}, found {found}"
    return found[0]


def test_dump_log_segments_reads_takhin_segments(broker_process_factory, kafka_tools_classpath):
    cp = kafka_tools_classpath
    bp = broker_process_factory()
    bp.start()
    topic = unique_topic("dumplog")
    create_topic(bp.bootstrap, topic, partitions=1)
    acked = produce_workload(bp.bootstrap, topic)
    assert [o for o, _, _ in acked] == list(range(len(acked)))
    bp.stop()  # SIGTERM: segments and indexes closed cleanly

    pdir = partition_dir(bp.data_dir, topic, 0)
    log = pdir / "00000000000000000000.log"
    index = pdir / "00000000000000000000.index"
    timeindex = pdir / "00000000000000000000.timeindex"
    for f in (log, index, timeindex):
        assert f.exists(), f"{f.name} missing; partition dir has {sorted(p.name for p in pdir.iterdir())}"

    # .log, deep iteration: every record with offset, key and payload; every batch valid.
    out = dump(cp, [log], "--print-data-log", "--deep-iteration")
    assert_no_corruption(out, log.name)
    assert "isvalid: true" in out.lower(), f"no batch lines in the dump:\n{out[:3000]}"
    seen = [(int(m.group(1)), m.group(2), m.group(3))
            for m in (RECORD_LINE.search(line) for line in out.splitlines()) if m]
    assert seen == acked, (f"dump shows {len(seen)} records, {len(acked)} acked; first differences: "
                           f"{[(s, a) for s, a in zip(seen, acked) if s != a][:3]}\n{out[:3000]}")
    codecs_in_log = set(re.findall(r"compresscodec: (\w+)", out.lower()))
    header_lines = [line for line in out.splitlines() if "headerKeys: [h,codec]" in line]
    assert len(header_lines) == sum(1 for i in range(len(acked)) if i % 3), "header keys not shown as produced"

    # Indexes: dumped together with the log (so entries are verified against it).
    out = dump(cp, [log, index, timeindex], "--deep-iteration")
    assert_no_corruption(out, f"{index.name}/{timeindex.name}")
    index_entries = re.findall(r"^offset: (\d+) position: (\d+)", out, re.M)
    time_entries = re.findall(r"^timestamp: (\d+) offset: (\d+)", out, re.M)
    assert index_entries, f"offset index has no entries (wrote {log.stat().st_size} log bytes):\n{out[-3000:]}"
    assert time_entries, f"time index has no entries:\n{out[-3000:]}"

    # The same check the Kafka broker runs at start-up to decide whether to rebuild indexes.
    out = dump(cp, [index, timeindex], "--index-sanity-check")
    assert_no_corruption(out, "--index-sanity-check")
    assert out.count("passed sanity check") == 2, f"sanity check output (both indexes have entries here):\n{out}"

    # Last, because the cause is usually on the client side: every codec produced must
    # show up as a batch compressed with it. (librdkafka silently sends LZ4 batches
    # uncompressed unless the broker advertises FindCoordinator v0 in ApiVersions.)
    missing = sorted(set(CODECS) - codecs_in_log)
    assert not missing, f"no batch compressed with {missing} in the log (codecs seen: {sorted(codecs_in_log)})"


def _produce_simple(bootstrap: str, topic: str, start: int, n: int, codec: str) -> list[tuple[int, str, str]]:
    acked: list[tuple[int, str, str]] = []
    errors: list[str] = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append((msg.offset(), msg.key().decode(), msg.value().decode()))

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "compression.type": codec, "linger.ms": 5})
    for i in range(start, start + n):
        while True:
            try:
                p.produce(topic, key=f"k{i}".encode(), value=(f"v{i}-" + "x" * 1000).encode(), partition=0,
                          on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors[:5]
    return acked


def test_dump_log_segments_after_kill9_and_several_segments(broker_process_factory, kafka_tools_classpath):
    """Several 1 MiB segments, a kill -9 in the middle (recovery on restart), then a clean
    stop: every segment and index still passes Kafka's checks and holds every record."""
    cp = kafka_tools_classpath
    bp = broker_process_factory()
    bp.start()
    topic = unique_topic("dumplog-crash")
    create_topic(bp.bootstrap, topic, partitions=1, config={"segment.bytes": str(1024 * 1024)})
    acked = _produce_simple(bp.bootstrap, topic, 0, 1500, "none")
    bp.kill9()
    bp.start()
    acked += _produce_simple(bp.bootstrap, topic, 1500, 1500, "zstd")
    bp.stop()

    pdir = partition_dir(bp.data_dir, topic, 0)
    logs = sorted(pdir.glob("*.log"))
    assert len(logs) >= 2, f"expected several segments with segment.bytes=1MiB: {sorted(p.name for p in pdir.iterdir())}"
    files = []
    for log in logs:
        files += [log, log.with_suffix(".index"), log.with_suffix(".timeindex")]
    missing = [f.name for f in files if not f.exists()]
    assert not missing, f"missing segment files {missing}; dir has {sorted(p.name for p in pdir.iterdir())}"

    out = dump(cp, files, "--print-data-log", "--deep-iteration")
    assert_no_corruption(out, f"{len(logs)} segments after kill -9 + restart")
    seen = [(int(m.group(1)), m.group(2), m.group(3))
            for m in (RECORD_LINE.search(line) for line in out.splitlines()) if m]
    assert sorted(acked) == seen, (f"dump shows {len(seen)} records, {len(acked)} acked; first differences: "
                                   f"{[(s[:2], a[:2]) for s, a in zip(seen, sorted(acked)) if s != a][:3]}")
    idx = [f for f in files if f.suffix in (".index", ".timeindex")]
    out = dump(cp, idx, "--index-sanity-check")
    assert_no_corruption(out, "--index-sanity-check after kill -9")
    # An index can legitimately be empty (a segment whose only batch starts at position 0).
    assert out.count("passed sanity check") + out.count(" is empty.") == len(idx), f"sanity check output:\n{out}"
