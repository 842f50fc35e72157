//! The group coordinator: consumer groups (and any other classic-protocol
//! group: Connect workers, a client's own protocol) and their committed
//! offsets.
//!
//! State lives in memory, one [`Group`] per group id behind its own lock, and
//! every change that must survive a restart is first written to the internal,
//! compacted topic `__consumer_offsets` in Kafka's record format
//! ([`records`]), through the same log and group-commit fsync as user topics:
//! an OffsetCommit is acknowledged only once its records are durable. The
//! partition of a group is Kafka's `abs(hashCode(group)) % partitions`, so the
//! layout matches Kafka's.
//!
//! At start-up the coordinator replays `__consumer_offsets` in the background;
//! until it is done, group requests get COORDINATOR_LOAD_IN_PROGRESS (clients
//! retry). Groups come back with their committed offsets, and classic groups
//! with their members and assignments (their sessions restart), so a consumer
//! that keeps heartbeating through a broker restart stays in its generation.
//!
//! A background tick (every [`TICK_INTERVAL`]) expires sessions, completes
//! rebalances that timed out, and removes offsets of groups that stayed empty
//! longer than `offsets.retention.minutes`.

pub mod assignor;
pub mod classic;
pub mod consumer;
pub mod records;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use parking_lot::Mutex;
use takhin_storage::{AppendOptions, BatchBuilderParams, Compression, Record, TimestampType};
use tracing::{info, warn};

use self::classic::{ClassicConfig, ClassicGroup, GroupState, Persist};
use self::records::{GroupMemberRecord, GroupMetadataValue, GroupRecordKey, OffsetCommitValue};
use crate::broker::{Broker, TopicError};
use crate::partition::{LEADER_EPOCH, Topic};

/// The internal topic holding committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// How often sessions, rebalance deadlines and retention are checked.
pub const TICK_INTERVAL: Duration = Duration::from_millis(200);

/// How long a group with no members and no offsets is kept before it is
/// forgotten.
const IDLE_GROUP_FORGET_MS: i64 = 60_000;

/// Most bytes read from `__consumer_offsets` per read while loading.
const LOAD_READ_BYTES: usize = 4 * 1024 * 1024;

/// Largest decompressed batch accepted while loading.
const LOAD_MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Settings of the coordinator (Kafka's names; see docs/configuration.md).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub classic: ClassicConfig,
    pub consumer: consumer::ConsumerConfig,
    pub offsets_topic_partitions: i32,
    pub offsets_topic_segment_bytes: i64,
    pub offset_metadata_max_bytes: usize,
    pub offsets_retention_ms: i64,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// One group: its membership state machine and its committed offsets.
pub struct Group {
    pub classic: ClassicGroup,
    /// Set once a KIP-848 member joins: the group is then a consumer group.
    pub consumer: Option<consumer::ConsumerGroup>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Held across "snapshot under the group lock, then write": keeps one
    /// group's membership records in `__consumer_offsets` in the order their
    /// states were taken, so replay ends at the newest.
    pub persist_order: Arc<tokio::sync::Mutex<()>>,
}

impl Group {
    fn new(group_id: &str, now_ms: i64) -> Group {
        Group {
            classic: ClassicGroup::new(group_id.to_string(), now_ms),
            consumer: None,
            offsets: BTreeMap::new(),
            persist_order: Arc::default(),
        }
    }

    /// Kafka's group type name for ListGroups / DescribeGroups.
    pub fn group_type(&self) -> &'static str {
        if self.consumer.is_some() {
            "consumer"
        } else {
            "classic"
        }
    }

    /// Kafka's state name, whichever protocol the group uses.
    pub fn state_name(&self) -> &'static str {
        match &self.consumer {
            Some(consumer) => consumer.state_name(),
            None => self.classic.state.name(),
        }
    }

    /// Whether the group has no members (of either protocol).
    pub fn is_empty(&self) -> bool {
        self.classic.is_empty() && self.consumer.as_ref().is_none_or(|c| c.is_empty())
    }
}

pub type GroupHandle = Arc<Mutex<Group>>;

pub struct GroupCoordinator {
    pub config: GroupConfig,
    groups: Mutex<HashMap<String, GroupHandle>>,
    loaded: AtomicBool,
}

fn now_ms() -> i64 {
    crate::handlers::now_ms()
}

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> GroupCoordinator {
        GroupCoordinator {
            config,
            groups: Mutex::new(HashMap::new()),
            loaded: AtomicBool::new(false),
        }
    }

    /// COORDINATOR_LOAD_IN_PROGRESS until start-up replay is done.
    pub fn check_loaded(&self) -> Result<(), ResponseError> {
        if self.loaded.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(ResponseError::CoordinatorLoadInProgress)
        }
    }

    pub fn group(&self, group_id: &str) -> Option<GroupHandle> {
        self.groups.lock().get(group_id).cloned()
    }

    /// The group, created (Empty) if it does not exist.
    pub fn group_or_create(&self, group_id: &str) -> GroupHandle {
        self.groups
            .lock()
            .entry(group_id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Group::new(group_id, now_ms()))))
            .clone()
    }

    pub fn groups(&self) -> Vec<(String, GroupHandle)> {
        let mut groups: Vec<_> = self
            .groups
            .lock()
            .iter()
            .map(|(id, g)| (id.clone(), g.clone()))
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
    }

    pub fn remove_group(&self, group_id: &str) {
        self.groups.lock().remove(group_id);
    }

    /// Replays `__consumer_offsets` (blocking). Called once at start-up.
    pub fn load(&self, broker: &Broker) {
        let started = std::time::Instant::now();
        let mut metadata: HashMap<String, GroupMetadataValue> = HashMap::new();
        let mut offsets: HashMap<String, BTreeMap<(String, i32), CommittedOffset>> = HashMap::new();
        let mut consumers: HashMap<String, Bytes> = HashMap::new();
        let mut records_read = 0u64;
        if let Some(topic) = broker.topic(OFFSETS_TOPIC) {
            for partition in topic.partitions() {
                let log = partition.log();
                let end = partition.high_watermark();
                let mut offset = log.log_start_offset();
                while offset < end {
                    let read = match log.read(offset, LOAD_READ_BYTES, end, true) {
                        Ok(read) => read.records,
                        Err(e) => {
                            warn!(partition = partition.index, "reading {OFFSETS_TOPIC}: {e}");
                            break;
                        }
                    };
                    if read.is_empty() {
                        break;
                    }
                    let mut rest = read;
                    let mut next = offset;
                    while rest.len() >= takhin_storage::BatchHeader::SIZE {
                        let Ok(header) = takhin_storage::BatchHeader::parse(&rest) else {
                            break;
                        };
                        let size = header.total_size();
                        if size > rest.len() {
                            break;
                        }
                        let batch = rest.split_to(size);
                        next = header.last_offset() + 1;
                        let Ok((_, decoded)) =
                            takhin_storage::decode_records(&batch, LOAD_MAX_BATCH_BYTES)
                        else {
                            warn!(
                                partition = partition.index,
                                offset = header.base_offset,
                                "skipping undecodable batch in {OFFSETS_TOPIC}"
                            );
                            continue;
                        };
                        for record in decoded {
                            records_read += 1;
                            apply_record(&record, &mut metadata, &mut offsets, &mut consumers);
                        }
                    }
                    if next <= offset {
                        break;
                    }
                    offset = next;
                }
            }
        }
        let now = now_ms();
        let mut groups = self.groups.lock();
        let mut ids: Vec<String> = metadata.keys().cloned().collect();
        ids.extend(offsets.keys().cloned());
        ids.extend(consumers.keys().cloned());
        ids.sort();
        ids.dedup();
        for group_id in ids {
            let classic = match metadata.remove(&group_id) {
                Some(value) => restore_classic(&group_id, value, now),
                None => ClassicGroup::new(group_id.clone(), now),
            };
            let consumer = consumers.remove(&group_id).and_then(|snapshot| {
                consumer::ConsumerGroup::restore(&snapshot, &self.config.consumer, now)
            });
            let group = Group {
                classic,
                consumer,
                offsets: offsets.remove(&group_id).unwrap_or_default(),
                persist_order: Arc::default(),
            };
            groups.insert(group_id, Arc::new(Mutex::new(group)));
        }
        info!(
            groups = groups.len(),
            records = records_read,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "group coordinator loaded {OFFSETS_TOPIC}"
        );
        drop(groups);
        self.loaded.store(true, Ordering::Release);
    }

    /// Time passes for every group; returns groups whose metadata changed.
    /// Groups with nothing left (no members, no offsets) are forgotten, as
    /// Kafka forgets them.
    pub fn tick(&self) -> Vec<(String, GroupHandle)> {
        let now = now_ms();
        let mut changed = Vec::new();
        self.groups.lock().retain(|_, handle| {
            let mut group = handle.lock();
            let forgettable = group.classic.is_idle()
                && group.classic.state_since_ms + IDLE_GROUP_FORGET_MS <= now
                && group.offsets.is_empty()
                && group.consumer.as_ref().is_none_or(|c| c.members.is_empty());
            if forgettable {
                // A request that fetched this handle just before sees Dead
                // and retries (COORDINATOR_NOT_AVAILABLE) on a fresh group.
                group.classic.mark_dead(now);
            }
            !forgettable
        });
        for (group_id, handle) in self.groups() {
            let mut group = handle.lock();
            let consumer_changed = group.consumer.as_mut().is_some_and(|c| c.tick(now));
            if group.classic.tick(now) == Persist::GroupMetadata || consumer_changed {
                drop(group);
                changed.push((group_id, handle));
            }
        }
        changed
    }

    /// Offsets of groups empty for longer than the retention: (group, keys).
    pub fn expired_offsets(&self) -> Vec<(String, Vec<(String, i32)>)> {
        self.expired_offsets_at(now_ms())
    }

    fn expired_offsets_at(&self, now: i64) -> Vec<(String, Vec<(String, i32)>)> {
        let mut expired = Vec::new();
        for (group_id, handle) in self.groups() {
            let group = handle.lock();
            if group.classic.state != GroupState::Empty
                || !group.is_empty()
                || group.offsets.is_empty()
            {
                continue;
            }
            let empty_since = group.classic.state_since_ms;
            let keys: Vec<(String, i32)> = group
                .offsets
                .iter()
                .filter(|(_, o)| {
                    empty_since.max(o.commit_timestamp_ms) + self.config.offsets_retention_ms <= now
                })
                .map(|(k, _)| k.clone())
                .collect();
            if !keys.is_empty() {
                expired.push((group_id, keys));
            }
        }
        expired
    }
}

fn apply_record(
    record: &Record,
    metadata: &mut HashMap<String, GroupMetadataValue>,
    offsets: &mut HashMap<String, BTreeMap<(String, i32), CommittedOffset>>,
    consumers: &mut HashMap<String, Bytes>,
) {
    let Some(key) = &record.key else { return };
    let Ok(key) = GroupRecordKey::decode(key) else {
        return;
    };
    match key {
        GroupRecordKey::OffsetCommit {
            group,
            topic,
            partition,
        } => {
            let entry = offsets.entry(group).or_default();
            match record.value.as_ref().map(|v| OffsetCommitValue::decode(v)) {
                Some(Ok(value)) => {
                    entry.insert(
                        (topic, partition),
                        CommittedOffset {
                            offset: value.offset,
                            leader_epoch: value.leader_epoch,
                            metadata: value.metadata,
                            commit_timestamp_ms: value.commit_timestamp_ms,
                        },
                    );
                }
                Some(Err(_)) => {}
                None => {
                    entry.remove(&(topic, partition));
                }
            }
        }
        GroupRecordKey::TakhinConsumerGroup { group } => match &record.value {
            Some(snapshot) => {
                consumers.insert(group, snapshot.clone());
            }
            None => {
                consumers.remove(&group);
            }
        },
        GroupRecordKey::GroupMetadata { group } => {
            match record.value.as_ref().map(|v| GroupMetadataValue::decode(v)) {
                Some(Ok(value)) => {
                    metadata.insert(group, value);
                }
                Some(Err(_)) => {}
                None => {
                    metadata.remove(&group);
                }
            }
        }
    }
}

fn restore_classic(group_id: &str, value: GroupMetadataValue, now: i64) -> ClassicGroup {
    let protocol = value.protocol.clone().unwrap_or_default();
    let members = value
        .members
        .into_iter()
        .map(|m| {
            ClassicGroup::restored_member(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.session_timeout_ms,
                m.rebalance_timeout_ms,
                value.protocol_type.clone(),
                vec![(protocol.clone(), m.subscription)],
                m.assignment,
            )
        })
        .collect();
    ClassicGroup::restore(
        group_id.to_string(),
        value.protocol_type,
        value.generation,
        value.protocol,
        value.leader,
        members,
        now,
    )
}

/// The persisted form of a group's membership.
pub fn group_metadata_record(group: &ClassicGroup) -> (Bytes, Option<Bytes>) {
    let key = GroupRecordKey::GroupMetadata {
        group: group.group_id.clone(),
    }
    .encode();
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let members = if group.state == GroupState::Stable {
        group
            .members
            .values()
            .map(|m| GroupMemberRecord {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                rebalance_timeout_ms: m.rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                subscription: m
                    .protocols
                    .iter()
                    .find(|(name, _)| *name == protocol)
                    .map(|(_, metadata)| metadata.clone())
                    .unwrap_or_default(),
                assignment: m.assignment.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let value = GroupMetadataValue {
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        generation: group.generation_id,
        protocol: group.protocol_name.clone(),
        leader: group.leader_id.clone(),
        current_state_timestamp_ms: group.state_since_ms,
        members,
    };
    (key, Some(value.encode()))
}

/// The persisted form of a consumer group's membership, if it changed.
pub fn consumer_snapshot_record(
    group_id: &str,
    consumer: &mut consumer::ConsumerGroup,
) -> Option<(Bytes, Option<Bytes>)> {
    let snapshot = consumer.snapshot_if_changed()?;
    let key = GroupRecordKey::TakhinConsumerGroup {
        group: group_id.to_string(),
    };
    Some((key.encode(), Some(snapshot)))
}

/// Creates `__consumer_offsets` on first use (compacted, Kafka's defaults).
pub async fn offsets_topic(broker: &Arc<Broker>) -> Result<Arc<Topic>, ResponseError> {
    if let Some(topic) = broker.topic(OFFSETS_TOPIC) {
        return Ok(topic);
    }
    let creator = broker.clone();
    let created = crate::handlers::blocking(move || {
        let config = &creator.groups.config;
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            (
                "segment.bytes".to_string(),
                config.offsets_topic_segment_bytes.to_string(),
            ),
            ("compression.type".to_string(), "producer".to_string()),
        ]);
        creator.create_topic(OFFSETS_TOPIC, config.offsets_topic_partitions, 1, configs)
    })
    .await?;
    match created {
        Ok(topic) => Ok(topic),
        Err(TopicError::AlreadyExists(_)) => broker
            .topic(OFFSETS_TOPIC)
            .ok_or(ResponseError::CoordinatorNotAvailable),
        Err(e) => {
            warn!("creating {OFFSETS_TOPIC}: {e}");
            Err(ResponseError::CoordinatorNotAvailable)
        }
    }
}

/// Appends records (key, value or tombstone) for `group_id` to its
/// `__consumer_offsets` partition and waits until they are durable.
pub async fn write_records(
    broker: &Arc<Broker>,
    group_id: &str,
    records: Vec<(Bytes, Option<Bytes>)>,
) -> Result<(), ResponseError> {
    if records.is_empty() {
        return Ok(());
    }
    let topic = offsets_topic(broker).await?;
    let index = records::partition_for_group(group_id, topic.partition_count());
    let partition = topic
        .partition(index)
        .ok_or(ResponseError::CoordinatorNotAvailable)?;
    let now = now_ms();
    let records: Vec<Record> = records
        .into_iter()
        .enumerate()
        .map(|(i, (key, value))| Record {
            offset: i as i64,
            timestamp: now,
            key: Some(key),
            value,
            headers: Vec::new(),
        })
        .collect();
    let params = BatchBuilderParams {
        base_offset: 0,
        compression: Compression::None,
        timestamp_type: TimestampType::CreateTime,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        is_transactional: false,
        partition_leader_epoch: LEADER_EPOCH,
    };
    let encoded = takhin_storage::encode_batch(&params, &records).map_err(|e| {
        warn!("encoding {OFFSETS_TOPIC} records: {e}");
        ResponseError::UnknownServerError
    })?;
    let batches = takhin_storage::validate(encoded).map_err(|e| {
        warn!("validating {OFFSETS_TOPIC} records: {e}");
        ResponseError::UnknownServerError
    })?;
    let written = crate::handlers::blocking(move || {
        let log = partition.log();
        let outcome = log.append(
            batches,
            AppendOptions {
                now_ms: now,
                leader_epoch: LEADER_EPOCH,
            },
        )?;
        partition.sync_blocking(&log, outcome.last_offset + 1)
    })
    .await?;
    if let Err(e) = written {
        warn!(group = group_id, "writing {OFFSETS_TOPIC}: {e}");
        return Err(ResponseError::CoordinatorNotAvailable);
    }
    Ok(())
}

/// Persists a group's membership after a transition asked for it.
pub async fn persist_group(broker: &Arc<Broker>, group_id: &str, handle: &GroupHandle) {
    let order = handle.lock().persist_order.clone();
    let _turn = order.lock().await;
    let records = {
        let mut group = handle.lock();
        match group.consumer.as_mut() {
            Some(consumer) => consumer_snapshot_record(group_id, consumer)
                .into_iter()
                .collect(),
            None => vec![group_metadata_record(&group.classic)],
        }
    };
    if let Err(error) = write_records(broker, group_id, records).await {
        warn!(group = group_id, ?error, "persisting group metadata failed");
    }
}

/// The coordinator's periodic work; runs until the broker stops.
pub async fn run_background(broker: Arc<Broker>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let loader = broker.clone();
    let _ = tokio::task::spawn_blocking(move || loader.groups.load(&loader)).await;
    let mut tick = tokio::time::interval(TICK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retention_check = tokio::time::interval(Duration::from_secs(60));
    retention_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                for (group_id, handle) in broker.groups.tick() {
                    persist_group(&broker, &group_id, &handle).await;
                }
            }
            _ = retention_check.tick() => expire_offsets(&broker).await,
        }
    }
}

async fn expire_offsets(broker: &Arc<Broker>) {
    for (group_id, keys) in broker.groups.expired_offsets() {
        let tombstones = keys
            .iter()
            .map(|(topic, partition)| {
                let key = GroupRecordKey::OffsetCommit {
                    group: group_id.clone(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key.encode(), None)
            })
            .collect();
        if write_records(broker, &group_id, tombstones).await.is_err() {
            continue;
        }
        info!(group = %group_id, offsets = keys.len(), "expired offsets of a group empty past offsets.retention.minutes");
        if let Some(handle) = broker.groups.group(&group_id) {
            let mut group = handle.lock();
            for key in &keys {
                group.offsets.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GroupConfig {
        GroupConfig {
            classic: ClassicConfig {
                min_session_timeout_ms: 6000,
                max_session_timeout_ms: 1_800_000,
                initial_rebalance_delay_ms: 0,
                max_size: 100,
            },
            consumer: consumer::ConsumerConfig {
                session_timeout_ms: 45_000,
                heartbeat_interval_ms: 5_000,
                assignors: vec!["uniform".into()],
            },
            offsets_topic_partitions: 1,
            offsets_topic_segment_bytes: 1 << 20,
            offset_metadata_max_bytes: 4096,
            offsets_retention_ms: 60_000,
        }
    }

    fn committed(at_ms: i64) -> CommittedOffset {
        CommittedOffset {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: at_ms,
        }
    }

    #[test]
    fn offsets_expire_only_when_the_group_stayed_empty_past_the_retention() {
        let coordinator = GroupCoordinator::new(config());
        let handle = coordinator.group_or_create("standalone");
        {
            let mut group = handle.lock();
            group.classic = ClassicGroup::new("standalone".into(), 0);
            group.offsets.insert(("t".into(), 0), committed(1_000));
            group.offsets.insert(("t".into(), 1), committed(50_000));
        }
        assert!(coordinator.expired_offsets_at(60_999).is_empty());
        assert_eq!(
            coordinator.expired_offsets_at(61_000),
            vec![("standalone".to_string(), vec![("t".to_string(), 0)])]
        );
        assert_eq!(coordinator.expired_offsets_at(110_000)[0].1.len(), 2);

        // A group with members keeps its offsets however old they are.
        let members = ClassicGroup::restore(
            "standalone".into(),
            "consumer".into(),
            3,
            Some("range".into()),
            None,
            vec![ClassicGroup::restored_member(
                "m".into(),
                None,
                "c".into(),
                "/h".into(),
                10_000,
                10_000,
                "consumer".into(),
                vec![("range".into(), bytes::Bytes::new())],
                bytes::Bytes::new(),
            )],
            0,
        );
        handle.lock().classic = members;
        assert!(coordinator.expired_offsets_at(1_000_000).is_empty());
    }
}
