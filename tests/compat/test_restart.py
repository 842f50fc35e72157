"""Data survives a clean broker restart (SIGTERM, start again on the same data dir and
ports), and offsets continue where they left off. Needs a Takhin binary: skipped when
COMPAT_BOOTSTRAP points at an external broker. Also a worked example of BrokerProcess
for crash tests (kill9() instead of stop())."""
from __future__ import annotations

from test_librdkafka import consume_all, create_topic, produce
from workload import assert_same, make_records, unique_topic


def test_restart_keeps_data(broker_process_factory):
    bp = broker_process_factory()
    bp.start()
    topic = unique_topic("restart")
    parts = 2
    create_topic(bp.bootstrap, topic, partitions=parts)
    first = make_records(n=60, partitions=parts)
    produce(bp.bootstrap, topic, "zstd", first)

    bp.restart()  # SIGTERM, wait, start again on the same dir and ports

    counts = {p: sum(1 for r in first if r.partition == p) for p in range(parts)}
    assert_same(first, consume_all(bp.bootstrap, topic, counts), partitions=parts)

    # Appends after the restart continue the offsets.
    second = make_records(n=40, partitions=parts, base_ts=first[-1].timestamp + 1000)
    produce(bp.bootstrap, topic, "lz4", second)
    both = first + second
    counts = {p: sum(1 for r in both if r.partition == p) for p in range(parts)}
    assert_same(both, consume_all(bp.bootstrap, topic, counts), partitions=parts)
    bp.stop()
