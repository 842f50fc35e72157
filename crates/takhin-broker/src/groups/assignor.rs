//! Server-side partition assignors for the consumer group protocol (KIP-848,
//! `group.protocol=consumer`): given the members' subscriptions and current
//! assignments, and the topics that exist, compute the group's target
//! assignment. Pure functions, no I/O, deterministic: the same input (in any
//! member order) gives the same output.
//!
//! Both assignors follow Kafka's group-coordinator assignors
//! (`org.apache.kafka.coordinator.group.assignor.UniformAssignor` and
//! `RangeAssignor`) in their observable properties, not line by line.
//!
//! # What every assignment guarantees
//!
//! - Every partition of every topic that at least one member subscribes to
//!   (and that exists in `topics`) is assigned to exactly one member, and
//!   that member subscribes to the topic.
//! - Nothing else is assigned: no partition of a topic the member does not
//!   subscribe to, no partition beyond the topic's count.
//! - Every member appears in the result, with an empty map if it gets
//!   nothing; a topic maps to a non-empty set or is absent.
//! - Subscribed names with no entry in `topics` are ignored (the topic does
//!   not exist yet, or was deleted). Current assignments are only hints:
//!   entries for unknown or unsubscribed topics, out-of-range partitions, and
//!   partitions another member already keeps are dropped, never trusted.
//!
//! # Uniform ([`UNIFORM`], the default)
//!
//! Spreads partitions so that members hold as equal a number as their
//! subscriptions allow, moving as few partitions as possible from the
//! current assignment. As in Kafka, there are two strategies:
//!
//! - **Homogeneous** (every member subscribes to the same topics): with `P`
//!   partitions and `M` members each member gets `P / M` partitions and the
//!   first `P % M` get one more, so counts differ by at most one. Members
//!   keep up to their quota of what they hold (those over quota keep one
//!   extra while extras remain); the rest is handed out in (topic name,
//!   partition) order to members in member-id order. The number of moved
//!   partitions is the minimum: `Σ max(0, held − P/M) − min(P % M, #members
//!   holding more than P/M)`.
//! - **Heterogeneous** (general): members keep everything valid they hold;
//!   unassigned partitions go, topics with the fewest subscribers first, to
//!   the subscriber holding the fewest partitions; then, while a member can
//!   pass partitions along a chain of members (each handing one partition
//!   to the next, which subscribes to its topic) ending at a member holding
//!   at least two fewer, the shortest such chain is applied. When no chain
//!   is left the counts are as even as the subscriptions allow (no transfer
//!   of any length narrows a gap), which is what Kafka's general assignor
//!   aims for; the moves made are only those that narrow a gap.
//!
//! Either way an assignment that is already balanced is a fixed point: fed
//! back as the current assignment with the same members and topics, nothing
//! moves.
//!
//! # Range ([`RANGE`])
//!
//! Topic by topic, over the members subscribed to it sorted by member id:
//! with `P` partitions and `N` subscribers, each gets `P / N` and the first
//! `P % N` one more, as contiguous ranges in member order — so co-partitioned
//! topics (same subscribers, same partition count) give each member the same
//! partition numbers, which joins need. Like Kafka's server-side range
//! assignor it is sticky: a member keeps the lowest of its current
//! partitions up to its quota (plus one while extras remain), and only the
//! rest is redistributed in ranges. With no current assignment the result is
//! exactly the classic range layout.
//!
//! `rack_id` is carried for rack-aware assignment later; neither assignor
//! uses it yet.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Name of the uniform assignor (`group.consumer.assignors`, the client's
/// `group.remote.assignor`).
pub const UNIFORM: &str = "uniform";
/// Name of the range assignor.
pub const RANGE: &str = "range";

/// One member's input to an assignor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    pub member_id: String,
    pub rack_id: Option<String>,
    /// Topic names the member subscribes to (after regex resolution).
    pub subscribed_topics: BTreeSet<String>,
    /// What the member holds now, by topic id.
    pub current_assignment: BTreeMap<Uuid, BTreeSet<i32>>,
}

/// A topic that exists, as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TopicInfo {
    pub topic_id: Uuid,
    pub name: String,
    pub partitions: i32,
}

/// The target assignment: member id → topic id → partitions.
pub type Assignment = BTreeMap<String, BTreeMap<Uuid, BTreeSet<i32>>>;

/// A partition of a topic.
type TopicPartition = (Uuid, i32);

/// The assignors' view of one member: subscriptions resolved to existing
/// topic ids.
struct Member<'a> {
    id: &'a str,
    topics: BTreeSet<Uuid>,
    current: &'a BTreeMap<Uuid, BTreeSet<i32>>,
}

/// Members sorted by id (duplicates dropped, first wins) and existing topics
/// in (name, id) order.
struct Group<'a> {
    members: Vec<Member<'a>>,
    /// Subscribed topics in (name, id) order with their partition counts.
    topics: Vec<(Uuid, i32)>,
}

impl<'a> Group<'a> {
    fn new(members: &'a [MemberSubscription], topics: &'a [TopicInfo]) -> Self {
        let mut sorted_topics: Vec<&TopicInfo> = topics.iter().collect();
        sorted_topics.sort_by(|a, b| (&a.name, a.topic_id).cmp(&(&b.name, b.topic_id)));
        let mut by_name: BTreeMap<&str, &TopicInfo> = BTreeMap::new();
        let mut seen_ids = BTreeSet::new();
        for topic in sorted_topics {
            // One id per name and one name per id; anything else is
            // inconsistent metadata and the first entry wins.
            if seen_ids.insert(topic.topic_id) {
                by_name.entry(topic.name.as_str()).or_insert(topic);
            }
        }

        let mut sorted_members: Vec<&MemberSubscription> = members.iter().collect();
        sorted_members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        sorted_members.dedup_by(|later, first| later.member_id == first.member_id);
        let members: Vec<Member<'a>> = sorted_members
            .into_iter()
            .map(|member| Member {
                id: member.member_id.as_str(),
                topics: member
                    .subscribed_topics
                    .iter()
                    .filter_map(|name| by_name.get(name.as_str()).map(|t| t.topic_id))
                    .collect(),
                current: &member.current_assignment,
            })
            .collect();

        let subscribed: BTreeSet<Uuid> = members
            .iter()
            .flat_map(|m| m.topics.iter().copied())
            .collect();
        let topics = by_name
            .values()
            .filter(|t| subscribed.contains(&t.topic_id))
            .map(|t| (t.topic_id, t.partitions.max(0)))
            .collect();
        Group { members, topics }
    }

    fn partition_count(&self, topic_id: Uuid) -> i32 {
        self.topics
            .iter()
            .find(|(id, _)| *id == topic_id)
            .map_or(0, |(_, count)| *count)
    }

    /// The member's current partitions that it may keep: the topic exists,
    /// the member subscribes to it, the partition is in range and nobody
    /// else has kept it. In (topic id, partition) order.
    fn keepable(
        &self,
        member: &Member<'_>,
        kept: &BTreeSet<TopicPartition>,
    ) -> Vec<TopicPartition> {
        let mut out = Vec::new();
        for (topic_id, partitions) in member.current {
            if !member.topics.contains(topic_id) {
                continue;
            }
            let count = self.partition_count(*topic_id);
            for &partition in partitions {
                if (0..count).contains(&partition) && !kept.contains(&(*topic_id, partition)) {
                    out.push((*topic_id, partition));
                }
            }
        }
        out
    }

    fn empty_assignment(&self) -> Assignment {
        self.members
            .iter()
            .map(|m| (m.id.to_owned(), BTreeMap::new()))
            .collect()
    }

    /// Turns per-member partition lists (indexed like `members`) into the
    /// result.
    fn assignment_from(&self, owned: Vec<Vec<TopicPartition>>) -> Assignment {
        let mut result = self.empty_assignment();
        for (member, partitions) in self.members.iter().zip(owned) {
            let entry = result.entry(member.id.to_owned()).or_default();
            for (topic_id, partition) in partitions {
                entry.entry(topic_id).or_default().insert(partition);
            }
        }
        result
    }
}

/// Kafka's uniform assignor: balanced and sticky. See the module docs.
pub fn assign_uniform(members: &[MemberSubscription], topics: &[TopicInfo]) -> Assignment {
    let group = Group::new(members, topics);
    let homogeneous = group
        .members
        .windows(2)
        .all(|pair| pair[0].topics == pair[1].topics);
    if homogeneous {
        uniform_homogeneous(&group)
    } else {
        uniform_heterogeneous(&group)
    }
}

/// All members subscribe to the same topics: quotas are exact.
fn uniform_homogeneous(group: &Group<'_>) -> Assignment {
    let member_count = group.members.len();
    if member_count == 0 {
        return Assignment::new();
    }
    let all: Vec<TopicPartition> = group
        .topics
        .iter()
        .flat_map(|&(topic_id, count)| (0..count).map(move |partition| (topic_id, partition)))
        .collect();
    let quota_min = all.len() / member_count;
    let mut extras = all.len() % member_count;

    // Pass 1: keep up to quota, one more while extras remain.
    let mut kept = BTreeSet::new();
    let mut owned: Vec<Vec<TopicPartition>> = Vec::with_capacity(member_count);
    for member in &group.members {
        let mut keepable = group.keepable(member, &kept);
        let keep = if keepable.len() > quota_min && extras > 0 {
            extras -= 1;
            quota_min + 1
        } else {
            keepable.len().min(quota_min)
        };
        keepable.truncate(keep);
        kept.extend(keepable.iter().copied());
        owned.push(keepable);
    }

    // Pass 2: fill everyone to the minimum quota, then hand out the extras
    // to members at the minimum, in member order.
    let mut unassigned = all.into_iter().filter(|tp| !kept.contains(tp));
    for partitions in &mut owned {
        while partitions.len() < quota_min {
            let Some(tp) = unassigned.next() else { break };
            partitions.push(tp);
        }
    }
    for partitions in &mut owned {
        if extras == 0 {
            break;
        }
        if partitions.len() == quota_min
            && let Some(tp) = unassigned.next()
        {
            partitions.push(tp);
            extras -= 1;
        }
    }
    debug_assert!(
        unassigned.next().is_none(),
        "homogeneous uniform left partitions unassigned"
    );
    group.assignment_from(owned)
}

/// Members subscribe to different topics: keep, place greedily, rebalance by
/// single moves.
fn uniform_heterogeneous(group: &Group<'_>) -> Assignment {
    let member_count = group.members.len();
    // Subscriber indices per topic, in member order.
    let subscribers: BTreeMap<Uuid, Vec<usize>> = group
        .topics
        .iter()
        .map(|&(topic_id, _)| {
            let indices = (0..member_count)
                .filter(|&index| group.members[index].topics.contains(&topic_id))
                .collect();
            (topic_id, indices)
        })
        .collect();

    // Pass 1: keep everything valid.
    let mut owner: BTreeMap<TopicPartition, usize> = BTreeMap::new();
    let mut counts = vec![0usize; member_count];
    let mut kept = BTreeSet::new();
    for (index, member) in group.members.iter().enumerate() {
        for tp in group.keepable(member, &kept) {
            kept.insert(tp);
            owner.insert(tp, index);
            counts[index] += 1;
        }
    }

    // Pass 2: place the rest, most constrained topics first.
    let mut order: Vec<(usize, usize, Uuid, i32)> = group
        .topics
        .iter()
        .enumerate()
        .map(|(position, &(topic_id, count))| {
            let subscriber_count = subscribers.get(&topic_id).map_or(0, Vec::len);
            (subscriber_count, position, topic_id, count)
        })
        .collect();
    order.sort();
    for &(_, _, topic_id, count) in &order {
        let candidates = subscribers.get(&topic_id).map_or(&[][..], Vec::as_slice);
        for partition in 0..count {
            if owner.contains_key(&(topic_id, partition)) {
                continue;
            }
            if let Some(target) = least_loaded(candidates, &counts) {
                owner.insert((topic_id, partition), target);
                counts[target] += 1;
            }
        }
    }

    let mut owned: Vec<BTreeSet<TopicPartition>> = vec![BTreeSet::new(); member_count];
    for (tp, index) in owner {
        owned[index].insert(tp);
    }

    // Pass 3: while some member can pass partitions along a chain ending at
    // a member holding at least two fewer, do it. Each chain lowers
    // Σ count², so this ends; when no chain exists the counts are as even
    // as the subscriptions allow.
    'improve: loop {
        let mut sources: Vec<usize> = (0..member_count).collect();
        sources.sort_by_key(|&index| (std::cmp::Reverse(owned[index].len()), index));
        for source in sources {
            if let Some(chain) = improving_chain(source, &owned, &subscribers) {
                for (from, to, tp) in chain {
                    owned[from].remove(&tp);
                    owned[to].insert(tp);
                }
                continue 'improve;
            }
        }
        break;
    }

    group.assignment_from(
        owned
            .into_iter()
            .map(|set| set.into_iter().collect())
            .collect(),
    )
}

/// A chain of single-partition moves `(from, to, partition)` that takes one
/// partition off `source` and gives one to a member holding at least two
/// fewer, every member in between keeping its count. Breadth first, so the
/// chain is as short as possible; among reachable members the least loaded
/// (then lowest id) is the end.
fn improving_chain(
    source: usize,
    owned: &[BTreeSet<TopicPartition>],
    subscribers: &BTreeMap<Uuid, Vec<usize>>,
) -> Option<Vec<(usize, usize, TopicPartition)>> {
    let source_count = owned[source].len();
    if source_count < 2 {
        return None;
    }
    let mut parent: Vec<Option<(usize, TopicPartition)>> = vec![None; owned.len()];
    let mut visited = vec![false; owned.len()];
    visited[source] = true;
    let mut queue = std::collections::VecDeque::from([source]);
    while let Some(holder) = queue.pop_front() {
        for &tp in &owned[holder] {
            for &taker in subscribers.get(&tp.0).map_or(&[][..], Vec::as_slice) {
                if !visited[taker] {
                    visited[taker] = true;
                    parent[taker] = Some((holder, tp));
                    queue.push_back(taker);
                }
            }
        }
    }
    let end = (0..owned.len())
        .filter(|&index| {
            index != source && visited[index] && owned[index].len() + 2 <= source_count
        })
        .min_by_key(|&index| (owned[index].len(), index))?;
    let mut chain = Vec::new();
    let mut at = end;
    while let Some((holder, tp)) = parent[at] {
        chain.push((holder, at, tp));
        at = holder;
    }
    Some(chain)
}

/// The candidate with the fewest partitions; ties go to the earliest (lowest
/// member id).
fn least_loaded(candidates: &[usize], counts: &[usize]) -> Option<usize> {
    candidates
        .iter()
        .copied()
        .min_by_key(|&index| (counts[index], index))
}

/// Kafka's server-side range assignor: per-topic contiguous ranges, sticky.
/// See the module docs.
pub fn assign_range(members: &[MemberSubscription], topics: &[TopicInfo]) -> Assignment {
    let group = Group::new(members, topics);
    let mut owned: Vec<Vec<TopicPartition>> = vec![Vec::new(); group.members.len()];
    for &(topic_id, count) in &group.topics {
        let subscribers: Vec<usize> = (0..group.members.len())
            .filter(|&index| group.members[index].topics.contains(&topic_id))
            .collect();
        range_topic(&group, topic_id, count, &subscribers, &mut owned);
    }
    group.assignment_from(owned)
}

/// Assigns one topic's partitions among `subscribers` (member indices in
/// member-id order).
fn range_topic(
    group: &Group<'_>,
    topic_id: Uuid,
    count: i32,
    subscribers: &[usize],
    owned: &mut [Vec<TopicPartition>],
) {
    if subscribers.is_empty() {
        return;
    }
    let partitions = usize::try_from(count).unwrap_or(0);
    let quota_min = partitions / subscribers.len();
    let mut extras = partitions % subscribers.len();

    // Keep the lowest current partitions up to quota (one more while extras
    // remain); remember who still needs how many.
    let mut kept: BTreeSet<i32> = BTreeSet::new();
    let mut needing: Vec<(usize, usize)> = Vec::new();
    for &index in subscribers {
        let current: Vec<i32> = group.members[index]
            .current
            .get(&topic_id)
            .into_iter()
            .flatten()
            .copied()
            .filter(|p| (0..count).contains(p) && !kept.contains(p))
            .collect();
        let keep = if current.len() > quota_min && extras > 0 {
            extras -= 1;
            quota_min + 1
        } else {
            current.len().min(quota_min)
        };
        for &partition in &current[..keep] {
            kept.insert(partition);
            owned[index].push((topic_id, partition));
        }
        if keep <= quota_min {
            needing.push((index, quota_min - keep));
        }
    }

    // Hand out the rest in ascending ranges; the first members still in
    // need take the remaining extras.
    let mut unassigned = (0..count).filter(|p| !kept.contains(p));
    for (index, mut wanted) in needing {
        if extras > 0 {
            wanted += 1;
            extras -= 1;
        }
        for _ in 0..wanted {
            let Some(partition) = unassigned.next() else {
                break;
            };
            owned[index].push((topic_id, partition));
        }
    }
    debug_assert!(
        unassigned.next().is_none(),
        "range left partitions unassigned"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn topic(index: u128, partitions: i32) -> TopicInfo {
        TopicInfo {
            topic_id: Uuid::from_u128(index + 1),
            name: format!("t{index}"),
            partitions,
        }
    }

    fn id(index: u128) -> Uuid {
        Uuid::from_u128(index + 1)
    }

    fn member(member_id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: member_id.into(),
            rack_id: None,
            subscribed_topics: topics.iter().map(|t| (*t).to_owned()).collect(),
            current_assignment: BTreeMap::new(),
        }
    }

    fn holding(
        mut subscription: MemberSubscription,
        topic_id: Uuid,
        partitions: &[i32],
    ) -> MemberSubscription {
        subscription
            .current_assignment
            .entry(topic_id)
            .or_default()
            .extend(partitions.iter().copied());
        subscription
    }

    fn partitions_of(assignment: &Assignment, member_id: &str, topic_id: Uuid) -> Vec<i32> {
        assignment
            .get(member_id)
            .and_then(|topics| topics.get(&topic_id))
            .map(|set| set.iter().copied().collect())
            .unwrap_or_default()
    }

    fn count(assignment: &Assignment, member_id: &str) -> usize {
        assignment
            .get(member_id)
            .map_or(0, |t| t.values().map(BTreeSet::len).sum())
    }

    /// Feeds `assignment` back as every member's current assignment.
    fn with_current(
        members: &[MemberSubscription],
        assignment: &Assignment,
    ) -> Vec<MemberSubscription> {
        members
            .iter()
            .map(|m| MemberSubscription {
                current_assignment: assignment.get(&m.member_id).cloned().unwrap_or_default(),
                ..m.clone()
            })
            .collect()
    }

    #[test]
    fn range_gives_contiguous_ranges_extras_first() {
        let members = [
            member("c", &["t0"]),
            member("a", &["t0"]),
            member("b", &["t0"]),
        ];
        let result = assign_range(&members, &[topic(0, 7)]);
        assert_eq!(partitions_of(&result, "a", id(0)), vec![0, 1, 2]);
        assert_eq!(partitions_of(&result, "b", id(0)), vec![3, 4]);
        assert_eq!(partitions_of(&result, "c", id(0)), vec![5, 6]);
    }

    #[test]
    fn range_co_partitions_topics_with_equal_counts() {
        let members = [member("a", &["t0", "t1"]), member("b", &["t0", "t1"])];
        let result = assign_range(&members, &[topic(0, 5), topic(1, 5)]);
        for member_id in ["a", "b"] {
            assert_eq!(
                partitions_of(&result, member_id, id(0)),
                partitions_of(&result, member_id, id(1))
            );
        }
        assert_eq!(partitions_of(&result, "a", id(0)), vec![0, 1, 2]);
    }

    #[test]
    fn range_honours_each_members_subscription() {
        let members = [
            member("a", &["t0"]),
            member("b", &["t0", "t1"]),
            member("c", &["t1"]),
        ];
        let result = assign_range(&members, &[topic(0, 4), topic(1, 3)]);
        assert_eq!(partitions_of(&result, "a", id(0)), vec![0, 1]);
        assert_eq!(partitions_of(&result, "b", id(0)), vec![2, 3]);
        assert_eq!(partitions_of(&result, "b", id(1)), vec![0, 1]);
        assert_eq!(partitions_of(&result, "c", id(1)), vec![2]);
        assert!(partitions_of(&result, "a", id(1)).is_empty());
    }

    #[test]
    fn range_is_sticky_when_a_member_joins() {
        // a held 0..3, b held 3..6; c joins: each keeps its lowest two.
        let members = [
            holding(member("a", &["t0"]), id(0), &[0, 1, 2]),
            holding(member("b", &["t0"]), id(0), &[3, 4, 5]),
            member("c", &["t0"]),
        ];
        let result = assign_range(&members, &[topic(0, 6)]);
        assert_eq!(partitions_of(&result, "a", id(0)), vec![0, 1]);
        assert_eq!(partitions_of(&result, "b", id(0)), vec![3, 4]);
        assert_eq!(partitions_of(&result, "c", id(0)), vec![2, 5]);
    }

    #[test]
    fn uniform_homogeneous_balances_across_topics() {
        let members = [
            member("a", &["t0", "t1"]),
            member("b", &["t0", "t1"]),
            member("c", &["t0", "t1"]),
        ];
        let result = assign_uniform(&members, &[topic(0, 4), topic(1, 3)]);
        let counts: Vec<usize> = ["a", "b", "c"].iter().map(|m| count(&result, m)).collect();
        assert_eq!(counts, vec![3, 2, 2]);
    }

    #[test]
    fn uniform_homogeneous_moves_only_what_a_joiner_needs() {
        let members = [
            holding(member("a", &["t0"]), id(0), &[0, 1, 2]),
            holding(member("b", &["t0"]), id(0), &[3, 4, 5]),
            member("c", &["t0"]),
        ];
        let result = assign_uniform(&members, &[topic(0, 6)]);
        assert_eq!(partitions_of(&result, "a", id(0)), vec![0, 1]);
        assert_eq!(partitions_of(&result, "b", id(0)), vec![3, 4]);
        assert_eq!(partitions_of(&result, "c", id(0)), vec![2, 5]);
    }

    #[test]
    fn uniform_heterogeneous_balances_within_subscriptions() {
        // a can only take t0; b and c share t1. 6 + 6 partitions: a takes
        // t0 only if it must; b and c should end with 4 each, a with 4.
        let members = [
            member("a", &["t0"]),
            member("b", &["t0", "t1"]),
            member("c", &["t1"]),
        ];
        let result = assign_uniform(&members, &[topic(0, 6), topic(1, 6)]);
        assert_eq!(count(&result, "a"), 4);
        assert_eq!(count(&result, "b"), 4);
        assert_eq!(count(&result, "c"), 4);
        assert!(partitions_of(&result, "a", id(1)).is_empty());
        assert!(partitions_of(&result, "c", id(0)).is_empty());
    }

    #[test]
    fn garbage_current_assignments_are_ignored() {
        let members = [
            // Out of range, unsubscribed topic, unknown topic, and a
            // partition both members claim.
            holding(
                holding(
                    holding(member("a", &["t0"]), id(0), &[-1, 0, 99]),
                    id(1),
                    &[0],
                ),
                Uuid::from_u128(999),
                &[0],
            ),
            holding(member("b", &["t0", "ghost"]), id(0), &[0, 1]),
        ];
        let topics = [topic(0, 2), topic(1, 1)];
        for result in [
            assign_uniform(&members, &topics),
            assign_range(&members, &topics),
        ] {
            assert_eq!(count(&result, "a") + count(&result, "b"), 2);
            assert!(partitions_of(&result, "a", id(1)).is_empty());
            assert_eq!(result.len(), 2);
        }
    }

    #[test]
    fn empty_inputs() {
        assert!(assign_uniform(&[], &[topic(0, 3)]).is_empty());
        assert!(assign_range(&[], &[topic(0, 3)]).is_empty());
        let members = [member("a", &["missing"]), member("b", &[])];
        for result in [
            assign_uniform(&members, &[topic(0, 3)]),
            assign_range(&members, &[topic(0, 3)]),
        ] {
            assert_eq!(result.len(), 2);
            assert!(result.values().all(BTreeMap::is_empty));
        }
    }

    // ---- properties ----

    const TOPICS_MAX: usize = 4;

    fn arb_topics() -> impl Strategy<Value = Vec<TopicInfo>> {
        proptest::collection::vec(0i32..12, 0..=TOPICS_MAX).prop_map(|counts| {
            counts
                .into_iter()
                .enumerate()
                .map(|(i, c)| topic(i as u128, c))
                .collect()
        })
    }

    /// Topic names a member may subscribe to, including one that never exists.
    fn arb_subscription() -> impl Strategy<Value = BTreeSet<String>> {
        proptest::collection::btree_set(
            prop_oneof![
                (0..TOPICS_MAX).prop_map(|i| format!("t{i}")),
                Just("ghost".to_owned())
            ],
            0..=TOPICS_MAX,
        )
    }

    fn arb_current() -> impl Strategy<Value = BTreeMap<Uuid, BTreeSet<i32>>> {
        proptest::collection::btree_map(
            (0..TOPICS_MAX as u128 + 1).prop_map(id),
            proptest::collection::btree_set(-1i32..14, 0..6),
            0..3,
        )
    }

    fn arb_members(homogeneous: bool) -> impl Strategy<Value = Vec<MemberSubscription>> {
        (
            arb_subscription(),
            proptest::collection::vec((arb_subscription(), arb_current()), 0..7),
        )
            .prop_map(move |(shared, each)| {
                each.into_iter()
                    .enumerate()
                    .map(|(i, (own, current))| MemberSubscription {
                        member_id: format!("m{i}"),
                        rack_id: None,
                        subscribed_topics: if homogeneous { shared.clone() } else { own },
                        current_assignment: current,
                    })
                    .collect()
            })
    }

    /// The guarantees every assignor gives (see the module docs).
    fn check_valid(
        members: &[MemberSubscription],
        topics: &[TopicInfo],
        result: &Assignment,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(result.len(), members.len());
        let mut owners: BTreeMap<TopicPartition, usize> = BTreeMap::new();
        for member in members {
            let assigned = result.get(&member.member_id);
            prop_assert!(assigned.is_some(), "member {} missing", member.member_id);
            for (topic_id, partitions) in assigned.into_iter().flatten() {
                prop_assert!(!partitions.is_empty());
                let topic = topics.iter().find(|t| t.topic_id == *topic_id);
                prop_assert!(topic.is_some());
                let Some(topic) = topic else { continue };
                prop_assert!(
                    member.subscribed_topics.contains(&topic.name),
                    "{} not subscribed to {}",
                    member.member_id,
                    topic.name
                );
                for &partition in partitions {
                    prop_assert!((0..topic.partitions).contains(&partition));
                    *owners.entry((*topic_id, partition)).or_default() += 1;
                }
            }
        }
        for topic in topics {
            let subscribed = members
                .iter()
                .any(|m| m.subscribed_topics.contains(&topic.name));
            for partition in 0..topic.partitions {
                let times = owners
                    .get(&(topic.topic_id, partition))
                    .copied()
                    .unwrap_or(0);
                prop_assert_eq!(
                    times,
                    usize::from(subscribed),
                    "{}-{}",
                    topic.name,
                    partition
                );
            }
        }
        Ok(())
    }

    fn counts(result: &Assignment) -> Vec<usize> {
        result.keys().map(|m| count(result, m)).collect()
    }

    proptest! {
        #[test]
        fn uniform_is_valid_deterministic_and_sticky(members in arb_members(false), topics in arb_topics()) {
            let result = assign_uniform(&members, &topics);
            check_valid(&members, &topics, &result)?;
            let mut reversed = members.clone();
            reversed.reverse();
            prop_assert_eq!(&assign_uniform(&reversed, &topics), &result);
            // Balanced output is a fixed point.
            prop_assert_eq!(&assign_uniform(&with_current(&members, &result), &topics), &result);
        }

        #[test]
        fn uniform_has_no_improving_chain(members in arb_members(false), topics in arb_topics()) {
            // From every member, every member reachable by handing partitions
            // along (each to a subscriber of its topic) holds at most one fewer.
            let result = assign_uniform(&members, &topics);
            let topic_name: BTreeMap<Uuid, &str> = topics.iter().map(|t| (t.topic_id, t.name.as_str())).collect();
            for start in result.keys() {
                let mut reached = BTreeSet::from([start.clone()]);
                let mut frontier = vec![start.clone()];
                while let Some(holder) = frontier.pop() {
                    for topic_id in result.get(&holder).into_iter().flat_map(BTreeMap::keys) {
                        let Some(name) = topic_name.get(topic_id) else { continue };
                        for taker in members.iter().filter(|m| m.subscribed_topics.contains(*name)) {
                            if reached.insert(taker.member_id.clone()) {
                                frontier.push(taker.member_id.clone());
                            }
                        }
                    }
                }
                for other in &reached {
                    prop_assert!(count(&result, other) + 1 >= count(&result, start), "{} -> {}", start, other);
                }
            }
        }

        #[test]
        fn uniform_homogeneous_is_balanced(members in arb_members(true), topics in arb_topics()) {
            let result = assign_uniform(&members, &topics);
            check_valid(&members, &topics, &result)?;
            let counts = counts(&result);
            if let (Some(max), Some(min)) = (counts.iter().max(), counts.iter().min()) {
                prop_assert!(max - min <= 1, "counts {:?}", counts);
            }
        }

        #[test]
        fn uniform_homogeneous_moves_the_minimum_on_membership_change(
            size_before in 1usize..7,
            leaving in proptest::collection::btree_set(0usize..7, 0..3),
            joining in 0usize..4,
            topics in arb_topics(),
        ) {
            let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let before: Vec<MemberSubscription> = (0..size_before).map(|i| member(&format!("m{i}"), &names)).collect();
            let previous = assign_uniform(&before, &topics);
            let mut after: Vec<MemberSubscription> = with_current(&before, &previous)
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !leaving.contains(i))
                .map(|(_, m)| m)
                .collect();
            after.extend((0..joining).map(|i| member(&format!("new{i}"), &names)));
            let result = assign_uniform(&after, &topics);
            check_valid(&after, &topics, &result)?;
            if after.is_empty() {
                return Ok(());
            }
            let total: usize = topics.iter().map(|t| t.partitions.max(0) as usize).sum();
            let quota_min = total / after.len();
            let extras = total % after.len();
            let held: Vec<usize> = after.iter().map(|m| count(&previous, &m.member_id)).collect();
            let over = held.iter().filter(|&&h| h > quota_min).count();
            let bound: usize = held.iter().map(|&h| h.saturating_sub(quota_min)).sum::<usize>() - extras.min(over);
            // Partitions a surviving member held and no longer holds.
            let mut moved = 0;
            for m in &after {
                for (topic_id, partitions) in previous.get(&m.member_id).into_iter().flatten() {
                    for p in partitions {
                        if !result.get(&m.member_id).and_then(|t| t.get(topic_id)).is_some_and(|s| s.contains(p)) {
                            moved += 1;
                        }
                    }
                }
            }
            prop_assert_eq!(moved, bound);
        }

        #[test]
        fn range_is_valid_deterministic_and_sticky(members in arb_members(false), topics in arb_topics()) {
            let result = assign_range(&members, &topics);
            check_valid(&members, &topics, &result)?;
            let mut reversed = members.clone();
            reversed.reverse();
            prop_assert_eq!(&assign_range(&reversed, &topics), &result);
            prop_assert_eq!(&assign_range(&with_current(&members, &result), &topics), &result);
        }

        #[test]
        fn range_without_history_is_the_classic_layout(members in arb_members(false), topics in arb_topics()) {
            let fresh: Vec<MemberSubscription> = members
                .iter()
                .map(|m| MemberSubscription { current_assignment: BTreeMap::new(), ..m.clone() })
                .collect();
            let result = assign_range(&fresh, &topics);
            for topic in &topics {
                // `fresh` is already sorted by member id (m0..m6).
                let subscribers: Vec<&MemberSubscription> =
                    fresh.iter().filter(|m| m.subscribed_topics.contains(&topic.name)).collect();
                if subscribers.is_empty() {
                    continue;
                }
                let n = subscribers.len() as i32;
                let mut start = 0;
                for (k, m) in subscribers.iter().enumerate() {
                    let size = topic.partitions / n + i32::from((k as i32) < topic.partitions % n);
                    let expected: Vec<i32> = (start..start + size).collect();
                    prop_assert_eq!(partitions_of(&result, &m.member_id, topic.topic_id), expected);
                    start += size;
                }
            }
        }
    }
}
