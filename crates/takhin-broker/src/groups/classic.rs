//! The classic group protocol (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup) as a state machine, one instance per group.
//!
//! States and transitions, as in Apache Kafka's `ClassicGroup`:
//!
//! ```text
//!  Empty ──join──▶ PreparingRebalance ──all joined / timeout──▶ CompletingRebalance
//!    ▲                 ▲      │                                     │ leader syncs
//!    │                 │      └── nobody left ──▶ Empty              ▼
//!    └── last member ──┴──── member joins/leaves/expires ─────── Stable
//! ```
//!
//! - A rebalance waits for every known member to (re)join, at most the
//!   longest `rebalance_timeout_ms`; members that did not rejoin are removed.
//!   A group starting from Empty waits `group.initial.rebalance.delay.ms`
//!   first (extended by each new member, bounded by the rebalance timeout) so
//!   that consumers starting together cause one rebalance, not many.
//! - New dynamic members get MEMBER_ID_REQUIRED with their id first (KIP-394)
//!   and join for real with it; static members (`group.instance.id`, KIP-345)
//!   keep their partitions across restarts: a static member that rejoins a
//!   Stable group with the same protocols gets the current generation back
//!   without a rebalance, and the previous member id is fenced.
//! - The leader (kept across generations while it stays) receives every
//!   member's metadata and sends the assignment in its SyncGroup; followers'
//!   SyncGroup calls wait for it.
//! - Members leave by LeaveGroup or by not heartbeating for
//!   `session_timeout_ms`; either starts a rebalance.
//!
//! Time is passed in (`now_ms`), so every transition is tested without
//! sleeping. Responses for waiting requests are delivered through oneshot
//! channels owned by the members.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinResult {
    pub error: Option<ResponseError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    pub member_id: String,
    /// Filled for the leader only: (member id, instance id, metadata).
    pub members: Vec<(String, Option<String>, Bytes)>,
    pub skip_assignment: bool,
}

impl JoinResult {
    pub fn error(error: ResponseError, member_id: &str) -> JoinResult {
        JoinResult {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader_id: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncResult {
    pub error: Option<ResponseError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    pub fn error(error: ResponseError) -> SyncResult {
        SyncResult {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// Either an answer now or one to wait for.
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups / ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Limits and timings of the classic protocol (Kafka's broker settings).
#[derive(Debug, Clone)]
pub struct ClassicConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i32,
    pub max_size: usize,
}

pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    /// (name, metadata) in the member's order of preference.
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    join_order: u64,
    session_deadline_ms: i64,
    join_waiter: Option<oneshot::Sender<JoinResult>>,
    sync_waiter: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    fn awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }
}

/// What a JoinGroup request carries.
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new dynamic member must first learn its id (KIP-394).
    pub require_known_member_id: bool,
}

/// Something the coordinator must persist after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    Nothing,
    GroupMetadata,
}

pub struct ClassicGroup {
    pub group_id: String,
    pub state: GroupState,
    pub state_since_ms: i64,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub generation_id: i32,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, and their deadline.
    pending_members: HashMap<String, i64>,
    rebalance_deadline_ms: i64,
    /// While a group from Empty waits for more members to arrive.
    initial_delay_ends_ms: Option<i64>,
    sync_deadline_ms: i64,
    next_join_order: u64,
}

impl ClassicGroup {
    pub fn new(group_id: String, now_ms: i64) -> ClassicGroup {
        ClassicGroup {
            group_id,
            state: GroupState::Empty,
            state_since_ms: now_ms,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            rebalance_deadline_ms: 0,
            initial_delay_ends_ms: None,
            sync_deadline_ms: 0,
            next_join_order: 0,
        }
    }

    /// Rebuilds a group from its persisted metadata (after a restart): Stable
    /// with its members, whose sessions start now, or Empty.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        group_id: String,
        protocol_type: String,
        generation_id: i32,
        protocol_name: Option<String>,
        leader_id: Option<String>,
        members: Vec<Member>,
        now_ms: i64,
    ) -> ClassicGroup {
        let mut group = ClassicGroup::new(group_id, now_ms);
        group.protocol_type = (!protocol_type.is_empty()).then_some(protocol_type);
        group.generation_id = generation_id;
        group.protocol_name = protocol_name;
        for mut member in members {
            member.join_order = group.next_join_order;
            group.next_join_order += 1;
            member.session_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
            if let Some(instance) = &member.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.member_id.clone());
            }
            group.members.insert(member.member_id.clone(), member);
        }
        if group.members.is_empty() {
            group.leader_id = None;
        } else {
            group.leader_id = leader_id.filter(|l| group.members.contains_key(l));
            if group.leader_id.is_none() {
                group.leader_id = group.first_member();
            }
            group.state = GroupState::Stable;
        }
        group
    }

    /// A member as restored from disk.
    #[allow(clippy::too_many_arguments)]
    pub fn restored_member(
        member_id: String,
        group_instance_id: Option<String>,
        client_id: String,
        client_host: String,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        protocol_type: String,
        protocols: Vec<(String, Bytes)>,
        assignment: Bytes,
    ) -> Member {
        Member {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            session_timeout_ms,
            rebalance_timeout_ms,
            protocol_type,
            protocols,
            assignment,
            join_order: 0,
            session_deadline_ms: 0,
            join_waiter: None,
            sync_waiter: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Empty with no member ids handed out either: nothing would notice if
    /// the group were forgotten.
    pub fn is_idle(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
    }

    fn first_member(&self) -> Option<String> {
        self.members
            .values()
            .min_by_key(|m| m.join_order)
            .map(|m| m.member_id.clone())
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    /// Protocol names every member supports.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for member in members {
            candidates.retain(|c| member.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(name, _)| candidates.contains(name))
    }

    /// Each member votes for its most preferred candidate; most votes wins
    /// (ties go to the protocol listed first by the first member).
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(String, usize)> = candidates.iter().map(|c| (c.clone(), 0)).collect();
        for member in self.members.values() {
            if let Some((name, _)) = member
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(n))
                && let Some(vote) = votes.iter_mut().find(|(c, _)| c == name)
            {
                vote.1 += 1;
            }
        }
        let best = votes.iter().map(|(_, count)| *count).max()?;
        votes
            .into_iter()
            .find(|(_, count)| *count == best)
            .map(|(name, _)| name)
    }

    fn max_rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn add_member(
        &mut self,
        request: &JoinRequest,
        member_id: String,
        now_ms: i64,
    ) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(request.protocol_type.clone());
        }
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        let member = Member {
            member_id: member_id.clone(),
            group_instance_id: request.group_instance_id.clone(),
            client_id: request.client_id.clone(),
            client_host: request.client_host.clone(),
            session_timeout_ms: request.session_timeout_ms,
            rebalance_timeout_ms: request.rebalance_timeout_ms,
            protocol_type: request.protocol_type.clone(),
            protocols: request.protocols.clone(),
            assignment: Bytes::new(),
            join_order: self.next_join_order,
            session_deadline_ms: now_ms + i64::from(request.session_timeout_ms),
            join_waiter: Some(tx),
            sync_waiter: None,
        };
        self.next_join_order += 1;
        self.members.insert(member_id, member);
        rx
    }

    /// Moves to PreparingRebalance (no-op if already there).
    fn prepare_rebalance(&mut self, now_ms: i64) {
        match self.state {
            GroupState::PreparingRebalance | GroupState::Dead => return,
            GroupState::CompletingRebalance => {
                // The assignment being completed is void: tell waiting followers.
                for member in self.members.values_mut() {
                    member.assignment = Bytes::new();
                    if let Some(waiter) = member.sync_waiter.take() {
                        let _ = waiter.send(SyncResult::error(ResponseError::RebalanceInProgress));
                    }
                }
            }
            GroupState::Empty | GroupState::Stable => {}
        }
        let from_empty = self.state == GroupState::Empty;
        self.transition(GroupState::PreparingRebalance, now_ms);
        let rebalance_timeout_ms = self.max_rebalance_timeout_ms();
        self.rebalance_deadline_ms = now_ms + rebalance_timeout_ms;
        self.initial_delay_ends_ms = None;
        if from_empty {
            // Wait for others starting at the same time (Kafka's InitialDelayedJoin).
            self.initial_delay_ends_ms = Some(now_ms);
        }
    }

    /// Extends the initial delay when a member joins a group that is still
    /// gathering its first members.
    fn extend_initial_delay(&mut self, config: &ClassicConfig, now_ms: i64) {
        let limit = self.state_since_ms + self.max_rebalance_timeout_ms();
        if let Some(ends) = &mut self.initial_delay_ends_ms {
            let wanted = now_ms + i64::from(config.initial_rebalance_delay_ms);
            *ends = wanted.min(limit).max(*ends);
        }
    }

    /// Handles a JoinGroup request.
    pub fn join(
        &mut self,
        request: JoinRequest,
        config: &ClassicConfig,
        now_ms: i64,
    ) -> (Reply<JoinResult>, Persist) {
        let member_id = request.member_id.clone();
        if request.session_timeout_ms < config.min_session_timeout_ms
            || request.session_timeout_ms > config.max_session_timeout_ms
        {
            return (
                Reply::Now(JoinResult::error(
                    ResponseError::InvalidSessionTimeout,
                    &member_id,
                )),
                Persist::Nothing,
            );
        }
        if self.state == GroupState::Dead {
            return (
                Reply::Now(JoinResult::error(
                    ResponseError::CoordinatorNotAvailable,
                    &member_id,
                )),
                Persist::Nothing,
            );
        }
        if !self.supports(&request.protocol_type, &request.protocols) {
            return (
                Reply::Now(JoinResult::error(
                    ResponseError::InconsistentGroupProtocol,
                    &member_id,
                )),
                Persist::Nothing,
            );
        }
        if member_id.is_empty() {
            return self.join_unknown_member(request, config, now_ms);
        }
        self.join_known_member(request, config, now_ms)
    }

    fn new_member_id(request: &JoinRequest) -> String {
        let prefix = request
            .group_instance_id
            .as_deref()
            .unwrap_or(&request.client_id);
        format!("{prefix}-{}", uuid::Uuid::new_v4())
    }

    fn join_unknown_member(
        &mut self,
        request: JoinRequest,
        config: &ClassicConfig,
        now_ms: i64,
    ) -> (Reply<JoinResult>, Persist) {
        let new_member_id = Self::new_member_id(&request);
        if let Some(instance) = request.group_instance_id.clone()
            && let Some(old_member_id) = self.static_members.get(&instance).cloned()
        {
            return self.replace_static_member(
                request,
                old_member_id,
                new_member_id,
                config,
                now_ms,
            );
        }
        if self.members.len() + self.pending_members.len() >= config.max_size {
            return (
                Reply::Now(JoinResult::error(ResponseError::GroupMaxSizeReached, "")),
                Persist::Nothing,
            );
        }
        if request.group_instance_id.is_none() && request.require_known_member_id {
            self.pending_members.insert(
                new_member_id.clone(),
                now_ms + i64::from(request.session_timeout_ms),
            );
            return (
                Reply::Now(JoinResult::error(
                    ResponseError::MemberIdRequired,
                    &new_member_id,
                )),
                Persist::Nothing,
            );
        }
        let receiver = self.add_member(&request, new_member_id, now_ms);
        self.prepare_rebalance(now_ms);
        self.extend_initial_delay(config, now_ms);
        (Reply::Later(receiver), Persist::Nothing)
    }

    /// A static member restarted: its old member id is fenced and the new
    /// one takes its place (KIP-345).
    fn replace_static_member(
        &mut self,
        request: JoinRequest,
        old_member_id: String,
        new_member_id: String,
        config: &ClassicConfig,
        now_ms: i64,
    ) -> (Reply<JoinResult>, Persist) {
        let Some(mut member) = self.members.remove(&old_member_id) else {
            self.static_members
                .remove(request.group_instance_id.as_deref().unwrap_or_default());
            return self.join_unknown_member(request, config, now_ms);
        };
        if let Some(waiter) = member.join_waiter.take() {
            let _ = waiter.send(JoinResult::error(
                ResponseError::FencedInstanceId,
                &old_member_id,
            ));
        }
        if let Some(waiter) = member.sync_waiter.take() {
            let _ = waiter.send(SyncResult::error(ResponseError::FencedInstanceId));
        }
        let protocols_unchanged = member.protocols == request.protocols;
        member.member_id = new_member_id.clone();
        member.client_id = request.client_id.clone();
        member.client_host = request.client_host.clone();
        member.session_timeout_ms = request.session_timeout_ms;
        member.rebalance_timeout_ms = request.rebalance_timeout_ms;
        member.session_deadline_ms = now_ms + i64::from(request.session_timeout_ms);
        if let Some(instance) = &request.group_instance_id {
            self.static_members
                .insert(instance.clone(), new_member_id.clone());
        }
        if self.leader_id.as_deref() == Some(old_member_id.as_str()) {
            self.leader_id = Some(new_member_id.clone());
        }
        if self.state == GroupState::Stable && protocols_unchanged {
            self.members.insert(new_member_id.clone(), member);
            let is_leader = self.leader_id.as_deref() == Some(new_member_id.as_str());
            let mut result = self.join_result_for(&new_member_id, is_leader);
            result.skip_assignment = is_leader;
            return (Reply::Now(result), Persist::GroupMetadata);
        }
        member.protocols = request.protocols.clone();
        let (tx, rx) = oneshot::channel();
        member.join_waiter = Some(tx);
        self.members.insert(new_member_id, member);
        self.prepare_rebalance(now_ms);
        (Reply::Later(rx), Persist::Nothing)
    }

    fn join_known_member(
        &mut self,
        request: JoinRequest,
        config: &ClassicConfig,
        now_ms: i64,
    ) -> (Reply<JoinResult>, Persist) {
        let member_id = request.member_id.clone();
        if self.pending_members.remove(&member_id).is_some() {
            let receiver = self.add_member(&request, member_id, now_ms);
            self.prepare_rebalance(now_ms);
            self.extend_initial_delay(config, now_ms);
            return (Reply::Later(receiver), Persist::Nothing);
        }
        if let Err(error) = self.check_member(&member_id, request.group_instance_id.as_deref()) {
            return (
                Reply::Now(JoinResult::error(error, &member_id)),
                Persist::Nothing,
            );
        }
        let is_leader = self.leader_id.as_deref() == Some(member_id.as_str());
        let Some(member) = self.members.get_mut(&member_id) else {
            return (
                Reply::Now(JoinResult::error(
                    ResponseError::UnknownMemberId,
                    &member_id,
                )),
                Persist::Nothing,
            );
        };
        let protocols_unchanged = member.protocols == request.protocols;
        member.session_deadline_ms = now_ms + i64::from(request.session_timeout_ms);
        match self.state {
            GroupState::CompletingRebalance | GroupState::Stable
                if protocols_unchanged && !(self.state == GroupState::Stable && is_leader) =>
            {
                // Already part of this generation (e.g. a retried join).
                (
                    Reply::Now(self.join_result_for(&member_id, is_leader)),
                    Persist::Nothing,
                )
            }
            GroupState::Empty | GroupState::Dead => (
                Reply::Now(JoinResult::error(
                    ResponseError::UnknownMemberId,
                    &member_id,
                )),
                Persist::Nothing,
            ),
            _ => {
                let (tx, rx) = oneshot::channel();
                member.protocols = request.protocols;
                member.session_timeout_ms = request.session_timeout_ms;
                member.rebalance_timeout_ms = request.rebalance_timeout_ms;
                member.client_id = request.client_id;
                member.client_host = request.client_host;
                member.join_waiter = Some(tx);
                self.prepare_rebalance(now_ms);
                (Reply::Later(rx), Persist::Nothing)
            }
        }
    }

    /// The join answer for a member of the current generation.
    fn join_result_for(&self, member_id: &str, is_leader: bool) -> JoinResult {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if is_leader {
            let mut ordered: Vec<&Member> = self.members.values().collect();
            ordered.sort_by_key(|m| m.join_order);
            ordered
                .into_iter()
                .map(|m| {
                    (
                        m.member_id.clone(),
                        m.group_instance_id.clone(),
                        m.metadata_for(&protocol),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: self.leader_id.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    /// Fences unknown members and stale static instances.
    pub fn check_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = group_instance_id
            && let Some(current) = self.static_members.get(instance)
            && current != member_id
        {
            return Err(ResponseError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// Completes the join phase if every member rejoined (and any initial
    /// delay is over), or the rebalance timed out. Returns what to persist.
    pub fn maybe_complete_join(&mut self, now_ms: i64) -> Persist {
        if self.state != GroupState::PreparingRebalance {
            return Persist::Nothing;
        }
        let all_joined =
            self.members.values().all(Member::awaiting_join) && self.pending_members.is_empty();
        let delay_over = self.initial_delay_ends_ms.is_none_or(|ends| now_ms >= ends);
        let timed_out = now_ms >= self.rebalance_deadline_ms;
        if !((all_joined && delay_over) || timed_out) {
            return Persist::Nothing;
        }
        self.initial_delay_ends_ms = None;
        self.pending_members.clear();
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join())
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in gone {
            self.remove_member(&member_id);
        }
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader_id = None;
            self.transition(GroupState::Empty, now_ms);
            return Persist::GroupMetadata;
        }
        self.protocol_name = self.select_protocol();
        if self
            .leader_id
            .as_ref()
            .is_none_or(|l| !self.members.contains_key(l))
        {
            self.leader_id = self.first_member();
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        self.sync_deadline_ms = now_ms + self.max_rebalance_timeout_ms();
        let leader = self.leader_id.clone().unwrap_or_default();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for member_id in ids {
            let result = self.join_result_for(&member_id, member_id == leader);
            if let Some(member) = self.members.get_mut(&member_id) {
                member.session_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
                if let Some(waiter) = member.join_waiter.take() {
                    let _ = waiter.send(result);
                }
            }
        }
        Persist::Nothing
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(mut member) = self.members.remove(member_id) {
            if let Some(instance) = &member.group_instance_id
                && self.static_members.get(instance).map(String::as_str) == Some(member_id)
            {
                self.static_members.remove(instance);
            }
            if let Some(waiter) = member.join_waiter.take() {
                let _ = waiter.send(JoinResult::error(ResponseError::UnknownMemberId, member_id));
            }
            if let Some(waiter) = member.sync_waiter.take() {
                let _ = waiter.send(SyncResult::error(ResponseError::UnknownMemberId));
            }
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = None;
        }
    }

    /// Handles a SyncGroup request.
    pub fn sync(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        protocol: (Option<&str>, Option<&str>),
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> (Reply<SyncResult>, Persist) {
        if let Err(error) = self.check_member(member_id, group_instance_id) {
            return (Reply::Now(SyncResult::error(error)), Persist::Nothing);
        }
        if generation_id != self.generation_id {
            return (
                Reply::Now(SyncResult::error(ResponseError::IllegalGeneration)),
                Persist::Nothing,
            );
        }
        let (protocol_type, protocol_name) = protocol;
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return (
                Reply::Now(SyncResult::error(ResponseError::InconsistentGroupProtocol)),
                Persist::Nothing,
            );
        }
        let is_leader = self.leader_id.as_deref() == Some(member_id);
        if let Some(member) = self.members.get_mut(member_id) {
            member.session_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => (
                Reply::Now(SyncResult::error(ResponseError::UnknownMemberId)),
                Persist::Nothing,
            ),
            GroupState::PreparingRebalance => (
                Reply::Now(SyncResult::error(ResponseError::RebalanceInProgress)),
                Persist::Nothing,
            ),
            GroupState::Stable => (
                Reply::Now(self.sync_result_for(member_id)),
                Persist::Nothing,
            ),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(member) = self.members.get_mut(member_id) {
                    member.sync_waiter = Some(tx);
                }
                if !is_leader {
                    return (Reply::Later(rx), Persist::Nothing);
                }
                let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                for member in self.members.values_mut() {
                    member.assignment = assignments.remove(&member.member_id).unwrap_or_default();
                }
                self.transition(GroupState::Stable, now_ms);
                let ids: Vec<String> = self.members.keys().cloned().collect();
                for id in ids {
                    let result = self.sync_result_for(&id);
                    if let Some(waiter) =
                        self.members.get_mut(&id).and_then(|m| m.sync_waiter.take())
                    {
                        let _ = waiter.send(result);
                    }
                }
                (Reply::Later(rx), Persist::GroupMetadata)
            }
        }
    }

    fn sync_result_for(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// Handles a Heartbeat request.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        self.check_member(member_id, group_instance_id)?;
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        if let Some(member) = self.members.get_mut(member_id) {
            member.session_deadline_ms = now_ms + i64::from(member.session_timeout_ms);
        }
        match self.state {
            GroupState::PreparingRebalance => Err(ResponseError::RebalanceInProgress),
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
        }
    }

    /// Handles one member of a LeaveGroup request. A static member may leave
    /// by instance id alone (member id empty).
    pub fn leave(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(), ResponseError> {
        let member_id = match group_instance_id {
            Some(instance) => {
                let current = self
                    .static_members
                    .get(instance)
                    .cloned()
                    .ok_or(ResponseError::UnknownMemberId)?;
                if !member_id.is_empty() && member_id != current {
                    return Err(ResponseError::FencedInstanceId);
                }
                current
            }
            None => member_id.to_string(),
        };
        if self.pending_members.remove(&member_id).is_some() {
            return Ok(());
        }
        if !self.members.contains_key(&member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        self.remove_member(&member_id);
        self.after_membership_change(now_ms);
        Ok(())
    }

    fn after_membership_change(&mut self, now_ms: i64) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.generation_id += 1;
                    self.protocol_name = None;
                    self.leader_id = None;
                    self.transition(GroupState::Empty, now_ms);
                } else {
                    self.prepare_rebalance(now_ms);
                }
            }
            GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Time passes: expires sessions and pending members, completes joins
    /// that timed out, and voids syncs the leader never sent.
    pub fn tick(&mut self, now_ms: i64) -> Persist {
        let was_empty = self.state == GroupState::Empty;
        self.pending_members
            .retain(|_, deadline| *deadline > now_ms);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline_ms <= now_ms && !m.awaiting_join() && m.sync_waiter.is_none()
            })
            .map(|m| m.member_id.clone())
            .collect();
        for member_id in &expired {
            tracing::info!(group = %self.group_id, member = %member_id, "member session expired; removing it");
            self.remove_member(member_id);
        }
        if !expired.is_empty() {
            self.after_membership_change(now_ms);
        }
        if self.state == GroupState::CompletingRebalance && now_ms >= self.sync_deadline_ms {
            let not_synced: Vec<String> = self
                .members
                .values()
                .filter(|m| m.sync_waiter.is_none())
                .map(|m| m.member_id.clone())
                .collect();
            tracing::info!(group = %self.group_id, "leader did not send the assignment in time; rebalancing");
            for member_id in not_synced {
                self.remove_member(&member_id);
            }
            self.after_membership_change(now_ms);
        }
        let persist = self.maybe_complete_join(now_ms);
        if persist == Persist::GroupMetadata || (!was_empty && self.state == GroupState::Empty) {
            return Persist::GroupMetadata;
        }
        Persist::Nothing
    }

    pub fn mark_dead(&mut self, now_ms: i64) {
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            self.remove_member(&id);
        }
        self.transition(GroupState::Dead, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClassicConfig {
        ClassicConfig {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 0,
            max_size: 100,
        }
    }

    fn join_request(member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.into(),
            group_instance_id: instance.map(String::from),
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            require_known_member_id: true,
        }
    }

    fn now<T>(reply: Reply<T>) -> T {
        match reply {
            Reply::Now(value) => value,
            Reply::Later(_) => panic!("expected an immediate reply"),
        }
    }

    fn later<T>(reply: Reply<T>) -> oneshot::Receiver<T> {
        match reply {
            Reply::Later(rx) => rx,
            Reply::Now(_) => panic!("expected a delayed reply"),
        }
    }

    /// Joins a new dynamic member the KIP-394 way; returns its id and the
    /// pending join.
    fn join_new(group: &mut ClassicGroup, now_ms: i64) -> (String, oneshot::Receiver<JoinResult>) {
        let first = now(group.join(join_request("", None), &config(), now_ms).0);
        assert_eq!(first.error, Some(ResponseError::MemberIdRequired));
        let rx = later(
            group
                .join(join_request(&first.member_id, None), &config(), now_ms)
                .0,
        );
        (first.member_id, rx)
    }

    #[test]
    fn two_members_rebalance_sync_and_heartbeat() {
        let mut group = ClassicGroup::new("g".into(), 0);
        let (a, mut a_join) = join_new(&mut group, 0);
        group.maybe_complete_join(0);
        let a_result = a_join.try_recv().unwrap();
        assert_eq!(
            (a_result.generation_id, a_result.leader_id.as_str()),
            (1, a.as_str())
        );
        assert_eq!(a_result.members.len(), 1);
        let mut a_sync = later(
            group
                .sync(
                    &a,
                    None,
                    1,
                    (None, None),
                    vec![(a.clone(), Bytes::from_static(b"all"))],
                    1,
                )
                .0,
        );
        assert_eq!(
            a_sync.try_recv().unwrap().assignment,
            Bytes::from_static(b"all")
        );
        assert_eq!(group.state, GroupState::Stable);

        let (b, mut b_join) = join_new(&mut group, 2);
        assert_eq!(group.state, GroupState::PreparingRebalance);
        assert_eq!(
            group.heartbeat(&a, None, 1, 3),
            Err(ResponseError::RebalanceInProgress)
        );
        let mut a_join = later(group.join(join_request(&a, None), &config(), 3).0);
        group.maybe_complete_join(3);
        let a_result = a_join.try_recv().unwrap();
        let b_result = b_join.try_recv().unwrap();
        assert_eq!((a_result.generation_id, b_result.generation_id), (2, 2));
        assert_eq!(a_result.leader_id, a, "the leader stays the leader");
        assert_eq!(a_result.members.len(), 2);
        assert!(
            b_result.members.is_empty(),
            "only the leader sees member metadata"
        );

        let mut b_sync = later(group.sync(&b, None, 2, (None, None), vec![], 4).0);
        assert!(b_sync.try_recv().is_err(), "followers wait for the leader");
        let assignments = vec![
            (a.clone(), Bytes::from_static(b"p0")),
            (b.clone(), Bytes::from_static(b"p1")),
        ];
        let (reply, persist) = group.sync(
            &a,
            None,
            2,
            (Some("consumer"), Some("range")),
            assignments,
            5,
        );
        assert_eq!(persist, Persist::GroupMetadata);
        assert_eq!(
            later(reply).try_recv().unwrap().assignment,
            Bytes::from_static(b"p0")
        );
        assert_eq!(
            b_sync.try_recv().unwrap().assignment,
            Bytes::from_static(b"p1")
        );
        assert_eq!(group.heartbeat(&b, None, 2, 6), Ok(()));
        assert_eq!(
            group.heartbeat(&b, None, 1, 6),
            Err(ResponseError::IllegalGeneration)
        );
        assert_eq!(
            group.heartbeat("nobody", None, 2, 6),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn a_silent_member_expires_and_the_rest_rebalance() {
        let mut group = ClassicGroup::new("g".into(), 0);
        let (a, _a_join) = join_new(&mut group, 0);
        let (b, _b_join) = join_new(&mut group, 0);
        group.maybe_complete_join(0);
        let leader = group.leader_id.clone().unwrap();
        let _ = group.sync(&leader, None, 1, (None, None), vec![], 0);
        let _ = group.sync(
            if leader == a { &b } else { &a },
            None,
            1,
            (None, None),
            vec![],
            0,
        );
        assert_eq!(group.state, GroupState::Stable);
        // Only `a` heartbeats past b's session timeout.
        assert_eq!(group.heartbeat(&a, None, 1, 9_000), Ok(()));
        group.tick(10_001);
        assert!(!group.members.contains_key(&b));
        assert_eq!(group.state, GroupState::PreparingRebalance);
        let mut a_join = later(group.join(join_request(&a, None), &config(), 10_002).0);
        group.maybe_complete_join(10_002);
        let result = a_join.try_recv().unwrap();
        assert_eq!((result.generation_id, result.leader_id), (2, a));
    }

    #[test]
    fn a_member_that_does_not_rejoin_is_dropped_at_the_rebalance_timeout() {
        let mut group = ClassicGroup::new("g".into(), 0);
        let (a, _) = join_new(&mut group, 0);
        let (b, _) = join_new(&mut group, 0);
        group.maybe_complete_join(0);
        let leader = group.leader_id.clone().unwrap();
        let _ = group.sync(&leader, None, 1, (None, None), vec![], 0);
        let (_c, mut c_join) = join_new(&mut group, 1_000);
        let mut a_join = later(group.join(join_request(&a, None), &config(), 1_000).0);
        // b keeps heartbeating but never rejoins: it is dropped when the
        // rebalance times out, not before.
        for at in [9_000, 18_000, 27_000] {
            assert_eq!(
                group.heartbeat(&b, None, 1, at),
                Err(ResponseError::RebalanceInProgress)
            );
            group.tick(at + 1);
            assert_eq!(group.state, GroupState::PreparingRebalance);
        }
        group.tick(31_001);
        assert!(!group.members.contains_key(&b));
        assert_eq!(a_join.try_recv().unwrap().generation_id, 2);
        assert_eq!(c_join.try_recv().unwrap().generation_id, 2);
    }

    #[test]
    fn a_static_member_rejoining_a_stable_group_keeps_its_assignment_without_rebalance() {
        let mut group = ClassicGroup::new("g".into(), 0);
        let mut join = later(
            group
                .join(join_request("", Some("instance-1")), &config(), 0)
                .0,
        );
        group.maybe_complete_join(0);
        let old_id = join.try_recv().unwrap().member_id;
        let _ = group.sync(
            &old_id,
            Some("instance-1"),
            1,
            (None, None),
            vec![(old_id.clone(), Bytes::from_static(b"mine"))],
            0,
        );
        let (reply, persist) = group.join(join_request("", Some("instance-1")), &config(), 100);
        let result = now(reply);
        assert_eq!(persist, Persist::GroupMetadata);
        assert_eq!(result.error, None);
        assert_eq!(result.generation_id, 1, "no new generation");
        assert_ne!(result.member_id, old_id);
        assert_eq!(group.state, GroupState::Stable);
        let sync = now(group
            .sync(
                &result.member_id,
                Some("instance-1"),
                1,
                (None, None),
                vec![],
                101,
            )
            .0);
        assert_eq!(sync.assignment, Bytes::from_static(b"mine"));
        // The previous incarnation is fenced.
        assert_eq!(
            group.heartbeat(&old_id, Some("instance-1"), 1, 102),
            Err(ResponseError::FencedInstanceId)
        );
    }

    #[test]
    fn leave_group_and_protocol_checks() {
        let mut group = ClassicGroup::new("g".into(), 0);
        let (a, _) = join_new(&mut group, 0);
        group.maybe_complete_join(0);
        let _ = group.sync(&a, None, 1, (None, None), vec![], 0);
        let mut other = join_request("", None);
        other.protocol_type = "connect".into();
        assert_eq!(
            now(group.join(other, &config(), 1).0).error,
            Some(ResponseError::InconsistentGroupProtocol)
        );
        let mut short = join_request("", None);
        short.session_timeout_ms = 10;
        assert_eq!(
            now(group.join(short, &config(), 1).0).error,
            Some(ResponseError::InvalidSessionTimeout)
        );
        assert_eq!(group.leave(&a, None, 2), Ok(()));
        assert_eq!(group.state, GroupState::Empty);
        assert_eq!(
            group.leave(&a, None, 3),
            Err(ResponseError::UnknownMemberId)
        );
    }

    #[test]
    fn the_protocol_most_members_prefer_wins() {
        let mut group = ClassicGroup::new("g".into(), 0);
        let both = vec![
            ("range".to_string(), Bytes::new()),
            ("roundrobin".to_string(), Bytes::new()),
        ];
        let prefer_rr = vec![
            ("roundrobin".to_string(), Bytes::new()),
            ("range".to_string(), Bytes::new()),
        ];
        for protocols in [prefer_rr.clone(), prefer_rr, both] {
            let mut request = join_request("", None);
            request.protocols = protocols;
            request.require_known_member_id = false;
            let _ = group.join(request, &config(), 0);
        }
        group.maybe_complete_join(0);
        assert_eq!(group.protocol_name.as_deref(), Some("roundrobin"));
    }

    #[test]
    fn initial_delay_gathers_members_starting_together() {
        let mut cfg = config();
        cfg.initial_rebalance_delay_ms = 3_000;
        let mut group = ClassicGroup::new("g".into(), 0);
        let mut request = join_request("", None);
        request.require_known_member_id = false;
        let _first = group.join(request, &cfg, 0);
        assert_eq!(group.maybe_complete_join(100), Persist::Nothing);
        assert_eq!(group.state, GroupState::PreparingRebalance);
        let mut second = join_request("", None);
        second.require_known_member_id = false;
        let _second = group.join(second, &cfg, 2_000);
        group.maybe_complete_join(4_000);
        assert_eq!(
            group.state,
            GroupState::PreparingRebalance,
            "delay extended by the second member"
        );
        group.maybe_complete_join(5_000);
        assert_eq!(group.state, GroupState::CompletingRebalance);
        assert_eq!(group.members.len(), 2);
    }
}
