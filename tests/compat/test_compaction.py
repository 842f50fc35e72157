"""A real client (librdkafka, through confluent-kafka) reads a compacted topic
from the beginning: it sees the latest value of every key in the cleaned part,
every record of the uncleaned part, and steps over the offset gaps compaction
leaves; librdkafka and kafka-python read tombstones the cleaner kept with a
KIP-534 delete horizon, with their original timestamps (Takhin only: the
cleaner runs on a short backoff set by the test)."""
from __future__ import annotations

import struct
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from workload import unique_topic

KEYS = 7
RECORDS = 400


def test_librdkafka_reads_a_compacted_topic_across_offset_gaps(broker_process_factory, tmp_path):
    config = tmp_path / "takhin.yaml"
    config.write_text("log.cleaner.backoff.ms: 100\n")
    bp = broker_process_factory(extra_args=["--config", str(config)])
    bp.start()
    topic = unique_topic("compacted")
    admin = AdminClient({"bootstrap.servers": bp.bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                            config={"cleanup.policy": "compact", "segment.bytes": "2048",
                                                    "min.cleanable.dirty.ratio": "0.01"})])
    futures[topic].result(timeout=30)

    producer = Producer({"bootstrap.servers": bp.bootstrap, "enable.idempotence": True, "linger.ms": 0,
                         "compression.type": "lz4"})
    latest: dict[bytes, tuple[int, bytes]] = {}
    acked: list[tuple[int, bytes, bytes]] = []

    def on_delivery(err, msg):
        assert err is None, err
        acked.append((msg.offset(), msg.key(), msg.value()))

    for i in range(RECORDS):
        # Most keys are overwritten again and again; every tenth record has a key of
        # its own, which survives compaction in the middle of the log.
        key = (f"once-{i}" if i % 10 == 0 else f"key-{i % KEYS}").encode()
        producer.produce(topic, key=key, value=f"value-{i}".encode(), partition=0, on_delivery=on_delivery)
        producer.flush(10)  # one batch per record: many small segments
    assert len(acked) == RECORDS
    for offset, key, value in acked:
        latest[key] = (offset, value)

    consumer = Consumer({"bootstrap.servers": bp.bootstrap, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        deadline = time.monotonic() + 60
        while True:
            consumer.assign([TopicPartition(topic, 0, 0)])
            seen: list[tuple[int, bytes, bytes]] = []
            while time.monotonic() < deadline:
                msgs = consumer.consume(num_messages=500, timeout=1.0)
                for m in msgs:
                    assert m.error() is None, m.error()
                    seen.append((m.offset(), m.key(), m.value()))
                if seen and seen[-1][0] == RECORDS - 1:
                    break
            assert seen and seen[-1][0] == RECORDS - 1, f"did not reach the end: {seen[-3:]}"
            if len(seen) < RECORDS or time.monotonic() >= deadline:
                break
            time.sleep(0.2)  # nothing compacted yet: read again
        assert len(seen) < RECORDS, "the cleaner compacted nothing within 60 s"
        offsets = [o for o, _, _ in seen]
        assert offsets == sorted(set(offsets)), "offsets must strictly increase"
        by_offset = {o: (k, v) for o, k, v in acked}
        for offset, key, value in seen:
            assert by_offset[offset] == (key, value), f"offset {offset} changed"
        for key, (offset, value) in latest.items():
            assert (offset, key, value) in seen, f"latest value of {key!r} missing"
        gaps = sum(1 for a, b in zip(offsets, offsets[1:]) if b != a + 1)
        assert gaps > 0, "a compacted log has offset gaps in the middle"
        assert offsets[0] == 0, "record 0 has a key of its own and must survive"
    finally:
        consumer.close()


DELETE_HORIZON_BIT = 0x40
BASE_TS = 1_600_000_000_000  # 2020: far older than delete.retention.ms


def horizon_batches(partition_dir: Path) -> int:
    """Batches on disk whose attributes carry the KIP-534 delete-horizon bit (6)."""
    count = 0
    for segment in sorted(partition_dir.glob("*.log")):
        try:
            data = segment.read_bytes()
        except FileNotFoundError:  # swapped out by the cleaner meanwhile
            continue
        position = 0
        while position + 61 <= len(data):
            (length,) = struct.unpack_from(">i", data, position + 8)
            (attributes,) = struct.unpack_from(">h", data, position + 21)
            if attributes & DELETE_HORIZON_BIT:
                count += 1
            position += 12 + length
    return count


def test_clients_read_tombstones_kept_with_a_delete_horizon(broker_process_factory, tmp_path):
    config = tmp_path / "takhin.yaml"
    config.write_text("log.cleaner.backoff.ms: 100\n")
    bp = broker_process_factory(extra_args=["--config", str(config)])
    bp.start()
    topic = unique_topic("tombstones")
    admin = AdminClient({"bootstrap.servers": bp.bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                            config={"cleanup.policy": "compact", "segment.bytes": "2048",
                                                    "min.cleanable.dirty.ratio": "0.01",
                                                    "delete.retention.ms": "3600000"})])
    futures[topic].result(timeout=30)

    producer = Producer({"bootstrap.servers": bp.bootstrap, "enable.idempotence": True, "linger.ms": 0,
                         "compression.type": "zstd"})
    acked: dict[int, tuple[bytes, bytes | None, int]] = {}

    def on_delivery(err, msg):
        assert err is None, err
        acked[msg.offset()] = (msg.key(), msg.value(), msg.timestamp()[1])

    def send(i: int, key: bytes, value: bytes | None) -> None:
        # CreateTime from 2020: by the old rule (segment's newest record older than
        # now - delete.retention.ms) the first clean would have removed every tombstone.
        producer.produce(topic, key=key, value=value, partition=0, timestamp=BASE_TS + 1_000 * i,
                         on_delivery=on_delivery)
        producer.flush(10)  # one batch per record: many small segments

    for i in range(120):
        send(i, f"key-{i % 6}".encode(), None if i % 7 == 3 else f"value-{i}".encode())
    send(120, b"key-0", None)
    send(121, b"key-1", None)
    for i in range(122, 152):  # roll the tombstones into closed segments
        send(i, b"filler", b"x" * 100)
    latest = {key: (offset, value, ts) for offset, (key, value, ts) in sorted(acked.items())}
    tombstones = {key: latest[key] for key in (b"key-0", b"key-1")}
    assert all(value is None for _, value, _ in tombstones.values())

    partition_dir = bp.data_dir / f"{topic}-0"
    deadline = time.monotonic() + 60
    while horizon_batches(partition_dir) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert horizon_batches(partition_dir) >= 2, "the cleaner gave no tombstone a delete horizon within 60 s"
    end = max(acked) + 1

    def check(seen: list[tuple[int, bytes, bytes | None, int]], client: str) -> None:
        offsets = [o for o, _, _, _ in seen]
        assert offsets == sorted(set(offsets)), f"{client}: offsets must strictly increase"
        assert len(seen) < len(acked), f"{client}: nothing was compacted"
        for offset, key, value, ts in seen:
            assert acked[offset] == (key, value, ts), f"{client}: offset {offset} changed"
        for key, (offset, value, ts) in latest.items():
            assert (offset, key, value, ts) in seen, f"{client}: latest record of {key!r} missing"
        for key, (offset, _, ts) in tombstones.items():
            assert (offset, key, None, ts) in seen, f"{client}: tombstone of {key!r} at {offset}"

    consumer = Consumer({"bootstrap.servers": bp.bootstrap, "group.id": f"{topic}-reader",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen: list[tuple[int, bytes, bytes | None, int]] = []
        deadline = time.monotonic() + 30
        while (not seen or seen[-1][0] < end - 1) and time.monotonic() < deadline:
            for m in consumer.consume(num_messages=500, timeout=1.0):
                assert m.error() is None, m.error()
                seen.append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
        check(seen, "librdkafka")
    finally:
        consumer.close()

    from kafka import KafkaConsumer
    from kafka import TopicPartition as PyTopicPartition

    py_consumer = KafkaConsumer(bootstrap_servers=bp.bootstrap, enable_auto_commit=False,
                                consumer_timeout_ms=5_000)
    try:
        partition = PyTopicPartition(topic, 0)
        py_consumer.assign([partition])
        py_consumer.seek_to_beginning(partition)
        seen = []
        for m in py_consumer:
            seen.append((m.offset, m.key, m.value, m.timestamp))
            if m.offset >= end - 1:
                break
        check(seen, "kafka-python")
    finally:
        py_consumer.close()
