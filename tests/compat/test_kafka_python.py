"""kafka-python round trip: KafkaAdminClient.create_topics, KafkaProducer with every codec,
KafkaConsumer with assign() from the beginning, exact comparison."""
from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from workload import CODECS, NUM_PARTITIONS, Rec, assert_same, make_records, unique_topic

# timestamp_type in ConsumerRecord: 0 = CreateTime, 1 = LogAppendTime
TS_TYPES = {0: "CreateTime", 1: "LogAppendTime"}


def create_topic(bootstrap: str, topic: str, partitions: int = NUM_PARTITIONS) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                            timeout_ms=20000)
        # Wait until the topic is visible with all partitions (bounded backoff).
        delay, end = 0.05, time.monotonic() + 20
        while time.monotonic() < end:
            desc = admin.describe_topics([topic])
            if desc and desc[0].get("error_code", 0) == 0 and len(desc[0].get("partitions", [])) == partitions \
                    and all(p.get("leader_id", -1) >= 0 for p in desc[0]["partitions"]):
                return
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        raise AssertionError(f"topic {topic} not ready: {desc}")
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, codec: str, records: list[Rec]) -> None:
    p = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,  # kafka-python 3.x default; explicit so InitProducerId is exercised
        compression_type=None if codec == "none" else codec,
        linger_ms=5,
        max_request_size=4 * 1024 * 1024,
        max_in_flight_requests_per_connection=1,
        retries=5,
    )
    try:
        futs = [p.send(topic, value=r.value, key=r.key, partition=r.partition,
                       headers=list(r.headers), timestamp_ms=r.timestamp) for r in records]
        p.flush(timeout=30)
        for r, f in zip(records, futs):
            md = f.get(timeout=30)
            assert md.partition == r.partition
    finally:
        p.close(timeout=10)


def consume_all(bootstrap: str, topic: str, counts: dict[int, int], timeout_s: float = 30.0) -> list[Rec]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", max_partition_fetch_bytes=2 * 1024 * 1024)
    out: list[Rec] = []
    try:
        tps = [TopicPartition(topic, p) for p in counts]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got = {p: 0 for p in counts}
        end = time.monotonic() + timeout_s
        while any(got[p] < counts[p] for p in counts) and time.monotonic() < end:
            for tp, msgs in c.poll(timeout_ms=1000).items():
                for m in msgs:
                    out.append(Rec(partition=m.partition, offset=m.offset, key=m.key, value=m.value,
                                   headers=[(k, v) for k, v in (m.headers or [])],
                                   timestamp=m.timestamp,
                                   timestamp_type=TS_TYPES.get(m.timestamp_type, str(m.timestamp_type))))
                    got[m.partition] += 1
        ends = c.end_offsets(tps)
        begins = c.beginning_offsets(tps)
        for tp in tps:
            assert (begins[tp], ends[tp]) == (0, counts[tp.partition]), \
                f"p{tp.partition}: offsets {(begins[tp], ends[tp])} != {(0, counts[tp.partition])}"
    finally:
        c.close()
    return out


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_roundtrip(broker, codec):
    topic = unique_topic(f"kpy-{codec}")
    create_topic(broker, topic)
    # kafka-python refuses (client-side) null header values and records whose key
    # and value are both null.
    records = make_records(null_header_values=False, null_key_and_value=False)
    produce(broker, topic, codec, records)
    counts = {p: sum(1 for r in records if r.partition == p) for p in range(NUM_PARTITIONS)}
    consumed = consume_all(broker, topic, counts)
    assert_same(records, consumed)
