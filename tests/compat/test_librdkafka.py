"""librdkafka (confluent-kafka-python) round trip: idempotent produce with every codec,
assign-based consume from the beginning, exact comparison."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import (TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer,
                             KafkaError, Producer, TopicPartition, OFFSET_BEGINNING)
from confluent_kafka.admin import AdminClient, NewTopic

from workload import CODECS, NUM_PARTITIONS, Rec, assert_same, make_records, unique_topic

TS_TYPES = {TIMESTAMP_CREATE_TIME: "CreateTime", TIMESTAMP_LOG_APPEND_TIME: "LogAppendTime"}


def create_topic(bootstrap: str, topic: str, partitions: int = NUM_PARTITIONS, config=None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                       config=config or {})], request_timeout=20)
    fs[topic].result(timeout=30)
    # Wait until metadata shows all partitions with a leader (backoff, bounded).
    delay, end = 0.05, time.monotonic() + 20
    while time.monotonic() < end:
        md = admin.list_topics(topic=topic, timeout=5).topics.get(topic)
        if md is not None and md.error is None and len(md.partitions) == partitions and \
                all(p.leader >= 0 for p in md.partitions.values()):
            return
        time.sleep(delay)
        delay = min(delay * 2, 0.5)
    raise AssertionError(f"topic {topic} has no leaders for all {partitions} partitions after 20s")


def produce(bootstrap: str, topic: str, codec: str, records: list[Rec]) -> None:
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": codec,
        "linger.ms": 5,
        "message.max.bytes": 4 * 1024 * 1024,
    })
    errors: list[str] = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(f"p{msg.partition()}: {err}")

    for r in records:
        while True:
            try:
                p.produce(topic, value=r.value, key=r.key, partition=r.partition,
                          headers=list(r.headers), timestamp=r.timestamp, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(30)
    assert left == 0, f"{left} messages not delivered within 30s"
    assert not errors, f"delivery errors: {errors[:10]}"


def consume_all(bootstrap: str, topic: str, counts: dict[int, int], timeout_s: float = 30.0) -> list[Rec]:
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "unused-assign-only",   # required by librdkafka even without subscribe()
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "auto.offset.reset": "earliest",
    })
    out: list[Rec] = []
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in counts])
        got = {p: 0 for p in counts}
        end = time.monotonic() + timeout_s
        while any(got[p] < counts[p] for p in counts) and time.monotonic() < end:
            for m in c.consume(num_messages=500, timeout=0.25):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consume error: {m.error()}")
                ts_type, ts = m.timestamp()
                out.append(Rec(partition=m.partition(), offset=m.offset(), key=m.key(), value=m.value(),
                               headers=[(k, v) for k, v in (m.headers() or [])],
                               timestamp=ts, timestamp_type=TS_TYPES.get(ts_type, str(ts_type))))
                got[m.partition()] = got.get(m.partition(), 0) + 1
        for p, n in counts.items():
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assert (lo, hi) == (0, n), f"p{p}: watermarks {(lo, hi)} != {(0, n)}"
    finally:
        c.close()
    return out


@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_roundtrip(broker, codec):
    topic = unique_topic(f"rdkafka-{codec}")
    create_topic(broker, topic)
    records = make_records()
    produce(broker, topic, codec, records)
    counts = {p: sum(1 for r in records if r.partition == p) for p in range(NUM_PARTITIONS)}
    consumed = consume_all(broker, topic, counts)
    assert_same(records, consumed)
