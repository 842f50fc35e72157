"""Java AdminClient over consumer groups, and the OffsetCommit errors the Java consumer
surfaces. Both run as compat.jar subcommands that record {name, ok, expected, actual}
checks (see java/src/main/java/takhin/compat/GroupChecks.java for the exact sequence)."""
from __future__ import annotations

from groupkit import failed_checks, needs_jar, run_jar
from workload import unique_topic

pytestmark = needs_jar


def test_groups_java_admin(broker):
    """listConsumerGroups (all / state filter / type filter), describeConsumerGroups for a
    classic (range), a KIP-848 (uniform) and an empty group (members, assignment, state,
    type, assignor, coordinator, epochs), listConsumerGroupOffsets (+ metadata, subset,
    unknown group), lag = end - committed, alterConsumerGroupOffsets (non-empty group ->
    UnknownMemberIdException; empty group ok), deleteConsumerGroupOffsets (ok; subscribed
    topic -> GroupSubscribedToTopicException), deleteConsumerGroups (non-empty ->
    GroupNotEmptyException, unknown -> GroupIdNotFoundException, empty ok), and after the
    members close: Empty, offsets kept, deletable."""
    rc, doc, err = run_jar("group-admin", broker, unique_topic("grp-admin"))
    assert doc is not None, f"compat.jar group-admin exited {rc} without a result:\n{err[-4000:]}"
    assert doc["ok"] and rc == 0, "group admin checks failed:\n  " + failed_checks(doc) + f"\n{err[-2000:]}"


def test_groups_java_commit_errors(broker):
    """OffsetCommit errors: unknown topic / partition -> UnknownTopicOrPartitionException
    (via commitAsync; commitSync retries it), metadata of 4096 bytes accepted and read
    back, 4097 -> OffsetMetadataTooLarge and not applied, a static member replaced by a
    new instance with the same group.instance.id -> FencedInstanceIdException, a member
    dropped after the rebalance timeout -> CommitFailedException while the other member
    gets every partition."""
    rc, doc, err = run_jar("group-errors", broker, unique_topic("grp-err"))
    assert doc is not None, f"compat.jar group-errors exited {rc} without a result:\n{err[-4000:]}"
    assert doc["ok"] and rc == 0, "commit error checks failed:\n  " + failed_checks(doc) + f"\n{err[-2000:]}"
