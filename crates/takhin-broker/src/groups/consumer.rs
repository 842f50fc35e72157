//! The consumer group protocol of KIP-848 (`group.protocol=consumer`): the
//! broker computes the assignment, and members converge to it through
//! ConsumerGroupHeartbeat, one heartbeat at a time.
//!
//! - Every change of membership, subscriptions or subscribed topics' partition
//!   counts bumps the **group epoch**. When the group epoch is ahead of the
//!   **assignment epoch**, the server-side assignor ([`super::assignor`],
//!   `uniform` or `range`) computes a new target assignment.
//! - Each member then **reconciles** towards its target: partitions it holds
//!   but should not are revoked first (the member keeps its epoch until it
//!   reports, in a later heartbeat, that it let them go, or is fenced after
//!   its rebalance timeout); new partitions are handed over only once no other
//!   member still holds them; then the member moves to the assignment epoch.
//!   So no partition is ever owned by two members at once.
//! - A member that stops heartbeating for `group.consumer.session.timeout.ms`
//!   is removed. Epoch mismatches get FENCED_MEMBER_EPOCH (the client rejoins
//!   with epoch 0), unknown members UNKNOWN_MEMBER_ID.
//! - Static members (`group.instance.id`) leaving with epoch -2 keep their
//!   assignment for the session timeout; a new member with the same instance
//!   id takes it over without a rebalance.
//!
//! The group's state is persisted as one snapshot per change (see
//! `ConsumerGroup::snapshot_if_changed`), so members keep their epochs and
//! assignments across a broker restart.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::ResponseError;

use super::assignor::{self, MemberSubscription, TopicInfo};

/// Partitions by topic id.
pub type Partitions = BTreeMap<uuid::Uuid, BTreeSet<i32>>;

/// Member epoch that means "join"; -1 "leave"; -2 "static member leaves for
/// now".
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
    /// Assignor names; the first is the default.
    pub assignors: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberState {
    Stable,
    /// Must give partitions back before moving on.
    UnrevokedPartitions,
    /// Waiting for partitions other members still hold.
    UnreleasedPartitions,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topics: BTreeSet<String>,
    pub server_assignor: Option<String>,
    /// What the member may own (as last told), including partitions it was
    /// asked to revoke and has not confirmed yet.
    pub assigned: Partitions,
    /// Partitions being revoked (subset of `assigned`).
    pub revoking: Partitions,
    #[serde(skip)]
    session_deadline_ms: i64,
    #[serde(skip)]
    revocation_deadline_ms: Option<i64>,
    /// The assignment last sent, to send it again only when it changes.
    #[serde(skip)]
    last_sent: Option<Partitions>,
    /// Left with epoch -2: kept for its instance id until the session ends.
    static_left: bool,
}

/// A heartbeat, as the handler parsed it.
pub struct Heartbeat {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topics: Option<BTreeSet<String>>,
    pub server_assignor: Option<String>,
    /// Partitions the member reports it owns (null: unchanged).
    pub owned: Option<Partitions>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatResult {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent when it changed since the last response.
    pub assignment: Option<Partitions>,
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: BTreeMap<String, Partitions>,
    /// Topic id, name and partition count of the subscribed topics, as of the
    /// last assignment.
    pub topics: Vec<TopicInfo>,
    pub assignor: String,
    /// Set by changes during one heartbeat; the epoch moves once per request.
    #[serde(skip)]
    changed: bool,
    /// The snapshot last persisted, to write only when something changed.
    #[serde(skip)]
    persisted: Option<Vec<u8>>,
}

fn difference(a: &Partitions, b: &Partitions) -> Partitions {
    let mut out = Partitions::new();
    for (topic, partitions) in a {
        let other = b.get(topic);
        let rest: BTreeSet<i32> = partitions
            .iter()
            .copied()
            .filter(|p| other.is_none_or(|o| !o.contains(p)))
            .collect();
        if !rest.is_empty() {
            out.insert(*topic, rest);
        }
    }
    out
}

fn intersection(a: &Partitions, b: &Partitions) -> Partitions {
    let mut out = Partitions::new();
    for (topic, partitions) in a {
        if let Some(other) = b.get(topic) {
            let both: BTreeSet<i32> = partitions.intersection(other).copied().collect();
            if !both.is_empty() {
                out.insert(*topic, both);
            }
        }
    }
    out
}

fn is_empty(p: &Partitions) -> bool {
    p.values().all(BTreeSet::is_empty)
}

impl ConsumerGroup {
    pub fn new(default_assignor: &str) -> ConsumerGroup {
        ConsumerGroup {
            assignor: default_assignor.to_string(),
            ..Default::default()
        }
    }

    /// The group's state as persisted in `__consumer_offsets`, if it changed
    /// since the last call.
    pub fn snapshot_if_changed(&mut self) -> Option<bytes::Bytes> {
        let snapshot = serde_json::to_vec(self).ok()?;
        if self.persisted.as_ref() == Some(&snapshot) {
            return None;
        }
        self.persisted = Some(snapshot.clone());
        Some(bytes::Bytes::from(snapshot))
    }

    /// Rebuilds a group from its snapshot; sessions restart now.
    pub fn restore(snapshot: &[u8], config: &ConsumerConfig, now_ms: i64) -> Option<ConsumerGroup> {
        let mut group: ConsumerGroup = serde_json::from_slice(snapshot).ok()?;
        group.persisted = Some(snapshot.to_vec());
        for member in group.members.values_mut() {
            member.session_deadline_ms = now_ms + i64::from(config.session_timeout_ms);
            if member.state == MemberState::UnrevokedPartitions {
                member.revocation_deadline_ms =
                    Some(now_ms + i64::from(member.rebalance_timeout_ms));
            }
        }
        Some(group)
    }

    pub fn is_empty(&self) -> bool {
        self.members.values().all(|m| m.static_left) || self.members.is_empty()
    }

    /// Kafka's consumer group state names.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.state != MemberState::Stable || m.member_epoch != self.assignment_epoch)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// All topic names any member subscribes to.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed_topics.iter().cloned())
            .collect()
    }

    /// Validates a member's claim to its epoch (OffsetCommit from members).
    pub fn check_member_epoch(
        &self,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), ResponseError> {
        let member = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if member_epoch != member.member_epoch {
            return Err(ResponseError::StaleMemberEpoch);
        }
        Ok(())
    }

    /// Records that the group changed; [`Self::apply_changes`] bumps the
    /// group epoch once however many changes one request made.
    fn bump_epoch(&mut self) {
        self.changed = true;
    }

    fn apply_changes(&mut self) {
        if std::mem::take(&mut self.changed) {
            self.group_epoch += 1;
        }
    }

    /// Handles one heartbeat. `topics` resolves subscribed topic names to
    /// their current id and partition count.
    pub fn heartbeat(
        &mut self,
        request: Heartbeat,
        topics: &dyn Fn(&BTreeSet<String>) -> Vec<TopicInfo>,
        config: &ConsumerConfig,
        now_ms: i64,
    ) -> Result<HeartbeatResult, ResponseError> {
        if let Some(assignor) = &request.server_assignor
            && !config.assignors.iter().any(|a| a == assignor)
        {
            return Err(ResponseError::UnsupportedAssignor);
        }
        match request.member_epoch {
            LEAVE_EPOCH | STATIC_LEAVE_EPOCH => return Ok(self.leave(&request, now_ms, config)),
            JOIN_EPOCH => self.join(&request, config, now_ms)?,
            epoch => self.check_epoch(&request.member_id, epoch, request.owned.as_ref())?,
        }
        let member_id = match request.member_epoch {
            JOIN_EPOCH => self.joined_member_id(&request),
            _ => request.member_id.clone(),
        };
        let Some(member) = self.members.get_mut(&member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        member.session_deadline_ms = now_ms + i64::from(config.session_timeout_ms);
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        if request.rebalance_timeout_ms > 0 {
            member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        }
        let mut changed = false;
        if let Some(subscribed) = &request.subscribed_topics
            && *subscribed != member.subscribed_topics
        {
            member.subscribed_topics = subscribed.clone();
            changed = true;
        }
        if request.server_assignor.is_some() && request.server_assignor != member.server_assignor {
            member.server_assignor = request.server_assignor.clone();
            changed = true;
        }
        if changed {
            self.bump_epoch();
        }
        self.refresh_target(topics, config);
        let owned = request.owned.clone();
        let result = self.reconcile(&member_id, owned.as_ref(), now_ms);
        Ok(result)
    }

    fn joined_member_id(&self, request: &Heartbeat) -> String {
        if let Some(instance) = &request.instance_id
            && let Some(member) = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance))
        {
            return member.member_id.clone();
        }
        request.member_id.clone()
    }

    fn join(
        &mut self,
        request: &Heartbeat,
        config: &ConsumerConfig,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        if request.subscribed_topics.is_none() {
            return Err(ResponseError::InvalidRequest);
        }
        if let Some(instance) = &request.instance_id
            && let Some(existing) = self
                .members
                .values()
                .find(|m| m.instance_id.as_deref() == Some(instance))
                .cloned()
        {
            if !existing.static_left {
                return Err(ResponseError::UnreleasedInstanceId);
            }
            // The restarted static member takes over: same assignment, no rebalance.
            let mut member = existing;
            self.members.remove(&member.member_id);
            let old_id = std::mem::replace(&mut member.member_id, request.member_id.clone());
            if let Some(target) = self.target.remove(&old_id) {
                self.target.insert(member.member_id.clone(), target);
            }
            member.static_left = false;
            member.last_sent = None;
            member.session_deadline_ms = now_ms + i64::from(config.session_timeout_ms);
            self.members.insert(member.member_id.clone(), member);
            return Ok(());
        }
        if self.members.contains_key(&request.member_id) {
            // A rejoin of a fenced member: it starts again from nothing.
            self.remove_member(&request.member_id);
        }
        let member = ConsumerMember {
            member_id: request.member_id.clone(),
            instance_id: request.instance_id.clone(),
            rack_id: request.rack_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            member_epoch: 0,
            previous_member_epoch: -1,
            state: MemberState::Stable,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            subscribed_topics: BTreeSet::new(),
            server_assignor: None,
            assigned: Partitions::new(),
            revoking: Partitions::new(),
            session_deadline_ms: now_ms + i64::from(config.session_timeout_ms),
            revocation_deadline_ms: None,
            last_sent: None,
            static_left: false,
        };
        self.members.insert(request.member_id.clone(), member);
        self.bump_epoch();
        Ok(())
    }

    fn check_epoch(
        &self,
        member_id: &str,
        epoch: i32,
        owned: Option<&Partitions>,
    ) -> Result<(), ResponseError> {
        let member = self
            .members
            .get(member_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        if member.static_left {
            return Err(ResponseError::UnknownMemberId);
        }
        if epoch == member.member_epoch {
            return Ok(());
        }
        // A lost response: the member is one epoch behind but owns nothing it
        // should not.
        let caught_up = epoch == member.previous_member_epoch
            && owned.is_some_and(|owned| is_empty(&difference(owned, &member.assigned)));
        if caught_up {
            return Ok(());
        }
        Err(ResponseError::FencedMemberEpoch)
    }

    fn leave(
        &mut self,
        request: &Heartbeat,
        now_ms: i64,
        config: &ConsumerConfig,
    ) -> HeartbeatResult {
        let member_id = self.joined_member_id(request);
        let epoch = request.member_epoch;
        if epoch == STATIC_LEAVE_EPOCH && request.instance_id.is_some() {
            if let Some(member) = self.members.get_mut(&member_id) {
                member.static_left = true;
                member.session_deadline_ms = now_ms + i64::from(config.session_timeout_ms);
            }
        } else if self.members.contains_key(&member_id) {
            self.remove_member(&member_id);
            self.bump_epoch();
            self.apply_changes();
        }
        HeartbeatResult {
            member_id: request.member_id.clone(),
            member_epoch: epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }

    fn remove_member(&mut self, member_id: &str) {
        self.members.remove(member_id);
        self.target.remove(member_id);
    }

    /// Recomputes the target assignment when the group epoch moved, or when a
    /// subscribed topic's partitions changed.
    fn refresh_target(
        &mut self,
        topics: &dyn Fn(&BTreeSet<String>) -> Vec<TopicInfo>,
        config: &ConsumerConfig,
    ) {
        let current_topics = topics(&self.subscribed_topics());
        let topics_changed = current_topics.len() != self.topics.len()
            || current_topics
                .iter()
                .zip(&self.topics)
                .any(|(a, b)| a.topic_id != b.topic_id || a.partitions != b.partitions);
        if topics_changed {
            self.bump_epoch();
        }
        self.apply_changes();
        if self.group_epoch <= self.assignment_epoch {
            return;
        }
        self.topics = current_topics;
        self.assignor = self
            .members
            .values()
            .find_map(|m| m.server_assignor.clone())
            .or_else(|| config.assignors.first().cloned())
            .unwrap_or_else(|| assignor::UNIFORM.to_string());
        let subscriptions: Vec<MemberSubscription> = self
            .members
            .values()
            .map(|m| MemberSubscription {
                member_id: m.member_id.clone(),
                rack_id: m.rack_id.clone(),
                subscribed_topics: m.subscribed_topics.clone(),
                current_assignment: self.target.get(&m.member_id).cloned().unwrap_or_default(),
            })
            .collect();
        self.target = if self.assignor == assignor::RANGE {
            assignor::assign_range(&subscriptions, &self.topics)
        } else {
            assignor::assign_uniform(&subscriptions, &self.topics)
        };
        self.assignment_epoch = self.group_epoch;
    }

    /// Partitions other members still hold.
    fn held_by_others(&self, member_id: &str) -> Partitions {
        let mut held = Partitions::new();
        for member in self.members.values() {
            if member.member_id == member_id {
                continue;
            }
            for (topic, partitions) in &member.assigned {
                held.entry(*topic)
                    .or_default()
                    .extend(partitions.iter().copied());
            }
        }
        held
    }

    /// Moves one member towards its target (see the module docs).
    fn reconcile(
        &mut self,
        member_id: &str,
        owned: Option<&Partitions>,
        now_ms: i64,
    ) -> HeartbeatResult {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let held_by_others = self.held_by_others(member_id);
        let assignment_epoch = self.assignment_epoch;
        let Some(member) = self.members.get_mut(member_id) else {
            return HeartbeatResult {
                member_id: member_id.to_string(),
                member_epoch: -1,
                heartbeat_interval_ms: 0,
                assignment: None,
            };
        };
        let to_revoke = difference(&member.assigned, &target);
        if !is_empty(&to_revoke) {
            let confirmed = owned.is_some_and(|owned| is_empty(&intersection(owned, &to_revoke)));
            if confirmed {
                member.assigned = intersection(&member.assigned, &target);
                member.revoking.clear();
                member.revocation_deadline_ms = None;
            } else {
                member.state = MemberState::UnrevokedPartitions;
                member.revoking = to_revoke;
                if member.revocation_deadline_ms.is_none() {
                    member.revocation_deadline_ms =
                        Some(now_ms + i64::from(member.rebalance_timeout_ms));
                }
                let keep = intersection(&member.assigned, &target);
                return Self::result(member, keep);
            }
        }
        let grantable = difference(&target, &held_by_others);
        member.assigned = grantable.clone();
        if member.member_epoch != assignment_epoch {
            member.previous_member_epoch = member.member_epoch;
            member.member_epoch = assignment_epoch;
        }
        member.state = if grantable == target {
            MemberState::Stable
        } else {
            MemberState::UnreleasedPartitions
        };
        Self::result(member, grantable)
    }

    fn result(member: &mut ConsumerMember, assignment: Partitions) -> HeartbeatResult {
        let changed = member.last_sent.as_ref() != Some(&assignment);
        if changed {
            member.last_sent = Some(assignment.clone());
        }
        HeartbeatResult {
            member_id: member.member_id.clone(),
            member_epoch: member.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: changed.then_some(assignment),
        }
    }

    /// Expires silent members and members that did not revoke in time.
    /// Returns true if membership changed.
    pub fn tick(&mut self, now_ms: i64) -> bool {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline_ms <= now_ms
                    || m.revocation_deadline_ms.is_some_and(|d| d <= now_ms)
            })
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in &expired {
            tracing::info!(member = %member_id, "consumer group member expired (session or revocation timeout); removing it");
            self.remove_member(member_id);
        }
        if !expired.is_empty() {
            self.bump_epoch();
            self.apply_changes();
        }
        !expired.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ConsumerConfig {
        ConsumerConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            assignors: vec!["uniform".into(), "range".into()],
        }
    }

    fn topic_id() -> uuid::Uuid {
        uuid::Uuid::from_u128(7)
    }

    fn topics(names: &BTreeSet<String>) -> Vec<TopicInfo> {
        names
            .iter()
            .filter(|n| *n == "orders")
            .map(|n| TopicInfo {
                topic_id: topic_id(),
                name: n.clone(),
                partitions: 4,
            })
            .collect()
    }

    fn beat(member_id: &str, epoch: i32, owned: Option<Vec<i32>>) -> Heartbeat {
        Heartbeat {
            member_id: member_id.into(),
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: 30_000,
            subscribed_topics: (epoch == 0).then(|| BTreeSet::from(["orders".to_string()])),
            server_assignor: None,
            owned: owned.map(|p| Partitions::from([(topic_id(), p.into_iter().collect())])),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn partitions(result: &HeartbeatResult) -> Vec<i32> {
        result
            .assignment
            .as_ref()
            .and_then(|a| a.get(&topic_id()))
            .map(|p| p.iter().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_second_member_gets_partitions_only_after_the_first_revokes_them() {
        let mut group = ConsumerGroup::new("uniform");
        let a = group
            .heartbeat(beat("a", 0, Some(vec![])), &topics, &config(), 0)
            .unwrap();
        assert_eq!(a.member_epoch, 1);
        assert_eq!(partitions(&a), vec![0, 1, 2, 3]);

        let b = group
            .heartbeat(beat("b", 0, Some(vec![])), &topics, &config(), 10)
            .unwrap();
        assert_eq!(b.member_epoch, 2);
        assert!(partitions(&b).is_empty(), "a still holds everything");
        assert_eq!(group.state_name(), "Reconciling");

        // a is told to keep only its half; its epoch holds until it confirms.
        let a = group
            .heartbeat(beat("a", 1, None), &topics, &config(), 20)
            .unwrap();
        assert_eq!(a.member_epoch, 1);
        let kept = partitions(&a);
        assert_eq!(kept.len(), 2);
        let a = group
            .heartbeat(beat("a", 1, Some(kept.clone())), &topics, &config(), 30)
            .unwrap();
        assert_eq!(a.member_epoch, 2);
        assert!(
            a.assignment.is_none(),
            "unchanged assignments are not resent"
        );

        let b = group
            .heartbeat(beat("b", 2, None), &topics, &config(), 40)
            .unwrap();
        let given = partitions(&b);
        assert_eq!(given.len(), 2);
        assert!(
            given.iter().all(|p| !kept.contains(p)),
            "no partition is owned twice"
        );
        assert_eq!(group.state_name(), "Stable");
    }

    #[test]
    fn silent_members_expire_and_epochs_fence() {
        let mut group = ConsumerGroup::new("uniform");
        group
            .heartbeat(beat("a", 0, Some(vec![])), &topics, &config(), 0)
            .unwrap();
        group
            .heartbeat(beat("b", 0, Some(vec![])), &topics, &config(), 0)
            .unwrap();
        assert_eq!(
            group.heartbeat(beat("a", 7, None), &topics, &config(), 1),
            Err(ResponseError::FencedMemberEpoch)
        );
        assert_eq!(
            group.heartbeat(beat("zed", 3, None), &topics, &config(), 1),
            Err(ResponseError::UnknownMemberId)
        );
        // Only b keeps heartbeating.
        group
            .heartbeat(beat("b", 2, None), &topics, &config(), 40_000)
            .unwrap();
        assert!(group.tick(45_001));
        assert!(!group.members.contains_key("a"));
        let b = group
            .heartbeat(beat("b", 2, Some(vec![])), &topics, &config(), 45_002)
            .unwrap();
        assert_eq!(partitions(&b), vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_snapshot_restores_members_epochs_and_assignments() {
        let mut group = ConsumerGroup::new("uniform");
        group
            .heartbeat(beat("a", 0, Some(vec![])), &topics, &config(), 0)
            .unwrap();
        let snapshot = group.snapshot_if_changed().unwrap();
        assert!(
            group.snapshot_if_changed().is_none(),
            "unchanged state is not rewritten"
        );
        let mut restored = ConsumerGroup::restore(&snapshot, &config(), 1_000).unwrap();
        assert_eq!(restored.group_epoch, group.group_epoch);
        assert_eq!(restored.members["a"].assigned, group.members["a"].assigned);
        // The member carries on with its epoch after the restart.
        let beat_again = restored
            .heartbeat(beat("a", 1, None), &topics, &config(), 2_000)
            .unwrap();
        assert_eq!(beat_again.member_epoch, 1);
        assert!(!restored.tick(40_000), "the session restarted at restore");
    }

    #[test]
    fn leaving_rebalances_the_rest() {
        let mut group = ConsumerGroup::new("uniform");
        group
            .heartbeat(beat("a", 0, Some(vec![])), &topics, &config(), 0)
            .unwrap();
        let left = group
            .heartbeat(beat("a", LEAVE_EPOCH, None), &topics, &config(), 1)
            .unwrap();
        assert_eq!(left.member_epoch, LEAVE_EPOCH);
        assert_eq!(group.state_name(), "Empty");
    }
}
