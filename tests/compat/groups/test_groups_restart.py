"""Committed offsets live in __consumer_offsets and survive a broker restart: commit (Java
commitSync with OffsetAndMetadata metadata strings, one classic and one KIP-848 group),
then (a) SIGTERM + restart, (b) kill -9 + restart on the same data dir and ports; a new
consumer reads the same offsets and metadata with committed() and, with
auto.offset.reset=none, starts exactly at the committed offsets.

Needs a broker this test starts itself (broker_process_factory): skipped when
COMPAT_BOOTSTRAP is set. To run it against Apache Kafka, point TAKHIN_BIN at a wrapper
that runs Kafka with Takhin's flags (ORACLE.md section 4)."""
from __future__ import annotations

import pytest

from groupkit import ValueProducer, needs_jar, run_jar
from test_librdkafka import create_topic
from workload import unique_topic

pytestmark = needs_jar

PARTS = 3
PER_PART = 30
COMMITS = {0: (5, "meta-0-ünïcødé:with:colons"), 1: (11, "meta-1"), 2: (29, "")}
GROUPS = {"classic": [], "consumer": ["group.protocol=consumer"]}


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_groups_offsets_survive_restart(broker_process_factory, how):
    bp = broker_process_factory()
    bp.start()
    topic = unique_topic(f"grp-restart-{how}")
    create_topic(bp.bootstrap, topic, partitions=PARTS)
    ValueProducer(bp.bootstrap, topic).produce([(i % PARTS, f"v-{i}") for i in range(PARTS * PER_PART)])
    want = {str(p): [o, m] for p, (o, m) in COMMITS.items()}
    spec = [f"{p}:{o}:{m}" for p, (o, m) in COMMITS.items()]

    for kind, extra in GROUPS.items():
        rc, doc, err = run_jar("group-commit", bp.bootstrap, topic, f"{topic}-{kind}", str(PARTS), *spec,
                               "--", *extra)
        assert rc == 0 and doc is not None, f"{kind}: group-commit exited {rc}:\n{err[-3000:]}\n{bp.log_tail(3000)}"
        assert doc["committed"] == want, f"{kind}: committed() right after commitSync"

    bp.restart(hard=(how == "kill9"))

    for kind, extra in GROUPS.items():
        rc, doc, err = run_jar("group-resume", bp.bootstrap, topic, f"{topic}-{kind}", str(PARTS), *extra)
        assert rc == 0 and doc is not None, f"{kind}: group-resume exited {rc}:\n{err[-3000:]}\n{bp.log_tail(3000)}"
        assert doc["committed"] == want, f"{kind}: committed offsets/metadata after {how} + restart"
        assert doc["error"] is None, f"{kind}: consumer error after restart: {doc['error']}"
        assert doc["first"] == {p: o for p, (o, _m) in want.items()}, \
            f"{kind}: resumed at {doc['first']} after {how} + restart"
    bp.stop()
