"""Three Java consumers (separate JVMs, `compat.jar group-member`) share a 6-partition topic.

Phase 1 (no failures): once the group is stable with 2 partitions each, 600 unique records
are produced; between them the members consume every record exactly once (each member
commits exactly what it processed with commitSync, and no rebalance happens meanwhile).

Phase 2: one member is killed with SIGKILL (no LeaveGroup) while 600 more records are
produced; after the session timeout the broker must hand its partitions to the two others,
and every record must be consumed (at least once: duplicates are allowed only on the dead
member's partitions, re-read from its last commit). After a clean shutdown the committed
offsets equal the end offsets.

Variants: classic RangeAssignor, classic CooperativeStickyAssignor, KIP-848
group.protocol=consumer with the uniform and the range server-side assignors (their
session timeout is the broker's group.consumer.session.timeout.ms, 45 s by default).

test_groups_java_static_membership: classic static members (group.instance.id); one is
killed and restarted within the session timeout: it gets the same partitions back and the
other members see no rebalance at all (no revoke/assign callbacks).
"""
from __future__ import annotations

import collections
import threading
import time

import pytest

from groupkit import Member, ValueProducer, committed_offsets, needs_jar, wait_for
from test_librdkafka import create_topic
from workload import unique_topic

pytestmark = needs_jar

PARTS = 6
N = 600

RANGE = "org.apache.kafka.clients.consumer.RangeAssignor"
COOP = "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"
CLASSIC_TIMEOUTS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}

VARIANTS = {
    "classic-range": ({"partition.assignment.strategy": RANGE, **CLASSIC_TIMEOUTS}, 6),
    "classic-cooperative-sticky": ({"partition.assignment.strategy": COOP, **CLASSIC_TIMEOUTS}, 6),
    "consumer-uniform": ({"group.protocol": "consumer", "group.remote.assignor": "uniform"}, 45),
    "consumer-range": ({"group.protocol": "consumer", "group.remote.assignor": "range"}, 45),
}


def values(tag: str, start: int, n: int) -> list[tuple[int, str]]:
    return [(i % PARTS, f"{tag}-{i}") for i in range(start, start + n)]


def balanced(members: list[Member]):
    """All members own PARTS/len(members) partitions each, disjoint, covering the topic.
    A member that exited fails the wait at once."""
    for m in members:
        if not m.alive():
            raise AssertionError(f"member {m.name} exited with {m.proc.returncode}:\n{m.stderr_tail(1500)}")
    asg = [m.assignment() for m in members]
    ok = sorted(len(a) for a in asg) == [PARTS // len(members)] * len(members) and \
        set().union(*asg) == set(range(PARTS))
    return asg if ok else None


def consumed_values(members: list[Member]) -> collections.Counter:
    return collections.Counter(v for m in members for (_p, _o, v) in m.records())


def describe(members: list[Member]) -> str:
    return "\n".join(f"{m.name}: alive={m.alive()} assignment={sorted(m.assignment())} "
                     f"records={len(m.records())} rebalances={m.rebalance_events()[-6:]}\n"
                     f"  stderr: {m.stderr_tail(800)}" for m in members)


def start_members(broker, topic, group, props, tmp_path, names) -> list[Member]:
    return [Member(broker, topic, group, props, tmp_path, n) for n in names]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_groups_java_three_members_kill(broker, tmp_path, variant):
    props, session_s = VARIANTS[variant]
    topic = unique_topic(f"grp-{variant}")
    group = f"{topic}-g"
    create_topic(broker, topic, partitions=PARTS)
    members = start_members(broker, topic, group, props, tmp_path, ["m0", "m1", "m2"])
    try:
        try:
            wait_for(lambda: balanced(members), 60, "3 members with 2 partitions each")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{describe(members)}") from None

        # Phase 1: exactly once between the three members.
        prod = ValueProducer(broker, topic)
        phase1 = values("a", 0, N)
        prod.produce(phase1)
        want1 = {v for _p, v in phase1}
        wait_for(lambda: want1 <= set(consumed_values(members)), 30, "phase 1 consumed")
        time.sleep(0.5)  # nothing more should arrive
        counts = consumed_values(members)
        dups = {v: c for v, c in counts.items() if c > 1}
        assert not dups, f"duplicates without any failure: {list(dups.items())[:10]}\n{describe(members)}"
        assert set(counts) == want1, f"unexpected values: {sorted(set(counts) - want1)[:10]}"
        for m in members:  # records only from the member's own partitions, offsets in order per partition
            own = m.assignment()
            by_part = collections.defaultdict(list)
            for p, o, _v in m.records():
                by_part[p].append(o)
            assert set(by_part) <= own, f"{m.name} consumed partitions {sorted(by_part)} but owns {sorted(own)}"
            for p, offs in by_part.items():
                assert offs == list(range(len(offs))), f"{m.name} p{p}: offsets {offs[:20]} not 0..n-1"
        stable_events = {m.name: len(m.rebalance_events()) for m in members}

        # Phase 2: SIGKILL one member while producing continues.
        victim, survivors = members[0], members[1:]
        victim_parts = victim.assignment()
        assert victim_parts, "victim owns no partition"
        owner_before = {p: m.name for m in members for p in m.assignment()}
        phase2 = values("b", N, N)
        t_kill = time.time()
        victim.kill9()
        th = threading.Thread(target=lambda: [prod.produce(phase2[i:i + 60]) or time.sleep(0.3)
                                              for i in range(0, N, 60)])
        th.start()
        want = want1 | {v for _p, v in phase2}
        try:
            wait_for(lambda: want <= set(consumed_values(members)) and balanced(survivors),
                     session_s + 35, "survivors to take over and consume everything", interval=0.5)
        except AssertionError as e:
            missing = want - set(consumed_values(members))
            raise AssertionError(f"{e}: {len(missing)} records never consumed, e.g. {sorted(missing)[:5]}\n"
                                 f"{describe(members)}") from None
        finally:
            th.join(60)

        takeovers = [e["t"] / 1000 - t_kill for m in survivors for e in m.rebalance_events()[stable_events[m.name]:]
                     if e["ev"] == "assigned" and set(e["parts"]) & victim_parts]
        assert takeovers, f"no survivor was assigned the victim's partitions {victim_parts}\n{describe(members)}"
        takeover_s = min(takeovers)
        print(f"{variant}: victim partitions {sorted(victim_parts)} reassigned {takeover_s:.1f}s after kill -9")
        assert takeover_s < session_s + 20, f"takeover after {takeover_s:.1f}s (session timeout {session_s}s)"

        counts = consumed_values(members)
        dup_parts = {int(v.split("-")[1]) % PARTS for v, c in counts.items() if c > 1}
        # Redelivery (at-least-once) is expected only where a partition changed owner: the
        # victim's uncommitted work, or a partition moved between survivors by a 3 -> 2
        # reassignment. A partition that stayed with the same survivor must have none.
        owner_after = {p: m.name for m in survivors for p in m.assignment()}
        moved = {p for p in range(PARTS) if owner_before[p] != owner_after.get(p)}
        assert victim_parts <= moved
        assert dup_parts <= moved, \
            f"duplicates on partitions {sorted(dup_parts - moved)} that never changed owner\n{describe(members)}"

        # Clean shutdown: both leave, exit 0; everything is committed.
        for m in survivors:
            rc = m.stop()
            assert rc == 0, f"{m.name} exited {rc}\n{m.stderr_tail()}"
            assert m.events()[-1]["ev"] == "closed"
        committed = committed_offsets(broker, group, topic, PARTS)
        assert committed == {p: 2 * N // PARTS for p in range(PARTS)}, "committed offsets != end offsets"
    finally:
        for m in members:
            m.kill9()


def test_groups_java_static_membership(broker, tmp_path):
    topic = unique_topic("grp-static")
    group = f"{topic}-g"
    create_topic(broker, topic, partitions=PARTS)
    base = {"partition.assignment.strategy": RANGE, "session.timeout.ms": "30000",
            "heartbeat.interval.ms": "1000"}
    members = [Member(broker, topic, group, {**base, "group.instance.id": f"inst-{i}"}, tmp_path, f"s{i}")
               for i in range(3)]
    restarted = None
    try:
        try:
            wait_for(lambda: balanced(members), 60, "3 static members with 2 partitions each")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{describe(members)}") from None
        prod = ValueProducer(broker, topic)
        phase1 = values("a", 0, N)
        prod.produce(phase1)
        want1 = {v for _p, v in phase1}
        wait_for(lambda: want1 <= set(consumed_values(members)), 30, "phase 1 consumed")
        time.sleep(1.0)
        before = {m.name: m.rebalance_events() for m in members[1:]}
        victim = members[0]
        victim_parts = victim.assignment()

        # kill -9 and restart with the same group.instance.id well within session.timeout.ms.
        t_kill = time.time()
        victim.kill9()
        restarted = Member(broker, topic, group, {**base, "group.instance.id": "inst-0"}, tmp_path, "s0-restarted")
        wait_for(lambda: restarted.assignment(), 40, "restarted static member assignment")
        t_back = time.time() - t_kill
        assert t_back < 30, f"restarted member took {t_back:.1f}s (>= session timeout)"
        assert restarted.assignment() == victim_parts, \
            f"restarted static member got {sorted(restarted.assignment())}, had {sorted(victim_parts)}"

        phase2 = values("b", N, N)
        prod.produce(phase2)
        everyone = members + [restarted]
        want = want1 | {v for _p, v in phase2}
        wait_for(lambda: want <= set(consumed_values(everyone)), 30, "phase 2 consumed")
        time.sleep(1.0)
        for m in members[1:]:
            assert m.rebalance_events() == before[m.name], \
                f"{m.name} saw a rebalance after the static member restarted: {m.rebalance_events()[len(before[m.name]):]}"
            assert m.alive()
        restarted_evs = restarted.rebalance_events()
        assert [e["ev"] for e in restarted_evs] == ["assigned"], f"restarted member callbacks: {restarted_evs}"
        counts = consumed_values(everyone)
        dup_parts = {int(v.split("-")[1]) % PARTS for v, c in counts.items() if c > 1}
        assert dup_parts <= victim_parts, f"duplicates on partitions {sorted(dup_parts - victim_parts)}"
        for m in members[1:] + [restarted]:
            assert m.stop() == 0, m.stderr_tail()
        assert committed_offsets(broker, group, topic, PARTS) == {p: 2 * N // PARTS for p in range(PARTS)}
    finally:
        for m in members + ([restarted] if restarted else []):
            m.kill9()
