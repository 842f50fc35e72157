"""Consume part of a topic in a group, commit, close; a new consumer instance in the same
group must resume exactly at the committed offsets (first offset consumed == committed
offset, per partition). The resuming consumer uses auto.offset.reset=latest, so a commit
the broker lost or never returned shows up as a wrong first offset (or nothing at all).

librdkafka (confluent-kafka, in process) and franz-go (kgo.ConsumerGroup via
`compat-go group-commit|group-resume`), each with the classic protocol and with KIP-848
(librdkafka group.protocol=consumer, franz-go ServerSideBalancer)."""
from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from groupkit import ValueProducer, needs_go, run_go
from test_librdkafka import create_topic
from workload import unique_topic

PARTS = 3
PER_PART = 40
COMMIT = {0: 7, 1: 13, 2: 21}   # deliberately not the consumed position


def setup_topic(broker, prefix):
    topic = unique_topic(prefix)
    create_topic(broker, topic, partitions=PARTS)
    ValueProducer(broker, topic).produce([(i % PARTS, f"v-{i}") for i in range(PARTS * PER_PART)])
    return topic


def rd_consumer(broker, group, protocol, reset):
    conf = {"bootstrap.servers": broker, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": reset, "enable.partition.eof": False}
    if protocol == "consumer":
        conf["group.protocol"] = "consumer"
    else:
        conf.update({"session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
                     "partition.assignment.strategy": "range"})
    return Consumer(conf)


def poll_until(c, done, timeout_s=40.0):
    seen: dict[int, list[int]] = {}
    end = time.monotonic() + timeout_s
    while not done(seen):
        assert time.monotonic() < end, f"timed out; consumed offsets so far: { {p: o[-1:] for p, o in seen.items()} }"
        for m in c.consume(num_messages=100, timeout=0.3):
            if m.error():
                assert m.error().code() == KafkaError._PARTITION_EOF, f"consume error: {m.error()}"
                continue
            seen.setdefault(m.partition(), []).append(m.offset())
    return seen


@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_groups_librdkafka_resume(broker, protocol):
    topic = setup_topic(broker, f"grp-rd-{protocol}")
    group = f"{topic}-g"
    tps = [TopicPartition(topic, p) for p in range(PARTS)]

    c1 = rd_consumer(broker, group, protocol, "earliest")
    try:
        c1.subscribe([topic])
        seen = poll_until(c1, lambda s: all(s.get(p) and s[p][-1] >= k - 1 for p, k in COMMIT.items()))
        for p, offs in seen.items():
            assert offs == list(range(len(offs))), f"p{p}: first consumer offsets {offs[:20]} not 0..n-1"
        res = c1.commit(offsets=[TopicPartition(topic, p, k) for p, k in COMMIT.items()], asynchronous=False)
        assert all(tp.error is None for tp in res), f"commit errors: {[(tp.partition, tp.error) for tp in res]}"
        got = {tp.partition: tp.offset for tp in c1.committed(tps, timeout=20)}
        assert got == COMMIT, f"committed() after commit: {got}"
    finally:
        c1.close()   # leaves the group

    c2 = rd_consumer(broker, group, protocol, "latest")
    try:
        got = {tp.partition: tp.offset for tp in c2.committed(tps, timeout=20)}
        assert got == COMMIT, f"committed() in a new instance: {got}"
        c2.subscribe([topic])
        seen = poll_until(c2, lambda s: len(s) == PARTS)
        first = {p: offs[0] for p, offs in seen.items()}
        assert first == COMMIT, f"resumed at {first}, committed {COMMIT}"
    finally:
        c2.close()


@needs_go
@pytest.mark.parametrize("protocol", ["classic", "consumer"])
def test_groups_franz_go_resume(broker, protocol):
    topic = setup_topic(broker, f"grp-franz-{protocol}")
    group = f"{topic}-g"
    spec = ",".join(f"{p}:{k}" for p, k in COMMIT.items())
    rc, doc, err = run_go("group-commit", broker, topic, group, protocol, spec)
    assert rc == 0 and doc is not None, f"compat-go group-commit exited {rc}:\n{err[-4000:]}"
    want = {str(p): k for p, k in COMMIT.items()}
    assert doc["committed"] == want, f"kadm.FetchOffsets after commit: {doc['committed']}"
    assert all(doc["consumedUpTo"][p] >= k - 1 for p, k in want.items()), doc["consumedUpTo"]

    rc, doc, err = run_go("group-resume", broker, topic, group, protocol, str(PARTS))
    assert rc == 0 and doc is not None, f"compat-go group-resume exited {rc}:\n{err[-4000:]}"
    assert doc["first"] == want, f"resumed at {doc['first']}, committed {want}"
    assert doc["committed"] == want, f"committed after resume (no new commit): {doc['committed']}"
