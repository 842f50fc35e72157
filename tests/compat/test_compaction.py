"""A real client (librdkafka, through confluent-kafka) reads a compacted topic
from the beginning: it sees the latest value of every key in the cleaned part,
every record of the uncleaned part, and steps over the offset gaps compaction
leaves (Takhin only: the cleaner runs on a short backoff set by the test)."""
from __future__ import annotations

import time

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
