//! OffsetCommit (key 8): store a group's consumed positions.
//!
//! A member of a classic group commits with its generation and member id
//! (fenced with ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID,
//! refused with REBALANCE_IN_PROGRESS while the group completes a
//! rebalance); a consumer without a group membership (`assign`) commits with
//! generation -1 to an empty or new group. Partitions must exist
//! (UNKNOWN_TOPIC_OR_PARTITION) and metadata fit `offset.metadata.max.bytes`
//! (OFFSET_METADATA_TOO_LARGE). Accepted offsets are written to
//! `__consumer_offsets` and acknowledged once durable; only then do they
//! become visible to OffsetFetch.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::now_ms;
use crate::broker::Broker;
use crate::groups::classic::GroupState;
use crate::groups::records::{GroupRecordKey, OffsetCommitValue};
use crate::groups::{CommittedOffset, write_records};

fn all_partitions(request: &OffsetCommitRequest, error: ResponseError) -> OffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error.code())
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// Checks who is committing. Creates the group for a standalone commit.
fn check_committer(broker: &Broker, request: &OffsetCommitRequest) -> Result<(), ResponseError> {
    broker.groups.check_loaded()?;
    let group_id = request.group_id.as_str();
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    let generation = request.generation_id_or_member_epoch;
    let member_id = request.member_id.as_str();
    let handle = match broker.groups.group(group_id) {
        Some(handle) => handle,
        None if generation < 0 => broker.groups.group_or_create(group_id),
        None => return Err(ResponseError::UnknownMemberId),
    };
    let group = handle.lock();
    if generation < 0 && member_id.is_empty() {
        // A standalone consumer: only while no members use the group.
        return if group.is_empty() {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        };
    }
    if let Some(consumer) = &group.consumer {
        // KIP-848 members commit with their member epoch.
        return consumer.check_member_epoch(member_id, generation);
    }
    let instance_id = request.group_instance_id.as_ref().map(|i| i.to_string());
    group
        .classic
        .check_member(member_id, instance_id.as_deref())?;
    // Kafka checks the generation first: a member of the previous
    // generation is stale even while the next one completes.
    if generation != group.classic.generation_id {
        return Err(ResponseError::IllegalGeneration);
    }
    if group.classic.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress);
    }
    Ok(())
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    if let Err(error) = check_committer(broker, &request) {
        return all_partitions(&request, error);
    }
    let group_id = request.group_id.to_string();
    let now = now_ms();
    let max_metadata = broker.groups.config.offset_metadata_max_bytes;
    let mut records = Vec::new();
    let mut accepted = Vec::new();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let known = broker.topic(topic.name.as_str());
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for partition in &topic.partitions {
            let metadata = partition
                .committed_metadata
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default();
            let error = if known
                .as_ref()
                .is_none_or(|t| t.partition(partition.partition_index).is_none())
            {
                Some(ResponseError::UnknownTopicOrPartition)
            } else if metadata.len() > max_metadata {
                Some(ResponseError::OffsetMetadataTooLarge)
            } else {
                None
            };
            if error.is_none() {
                let key = GroupRecordKey::OffsetCommit {
                    group: group_id.clone(),
                    topic: topic.name.to_string(),
                    partition: partition.partition_index,
                };
                let committed = CommittedOffset {
                    offset: partition.committed_offset,
                    leader_epoch: partition.committed_leader_epoch,
                    metadata,
                    commit_timestamp_ms: now,
                };
                let value = OffsetCommitValue {
                    offset: committed.offset,
                    leader_epoch: committed.leader_epoch,
                    metadata: committed.metadata.clone(),
                    commit_timestamp_ms: now,
                    expire_timestamp_ms: -1,
                };
                records.push((key.encode(), Some(value.encode())));
                accepted.push((
                    (topic.name.to_string(), partition.partition_index),
                    committed,
                ));
            }
            partitions.push((partition.partition_index, error));
        }
        topics.push((topic.name.clone(), topic.topic_id, partitions));
    }
    let written = write_records(broker, &group_id, records).await;
    if written.is_ok() && !accepted.is_empty() {
        let handle = broker.groups.group_or_create(&group_id);
        let mut group = handle.lock();
        for (key, committed) in accepted {
            group.offsets.insert(key, committed);
        }
    }
    let topics = topics
        .into_iter()
        .map(|(name, topic_id, partitions)| {
            OffsetCommitResponseTopic::default()
                .with_name(name)
                .with_topic_id(topic_id)
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(index, error)| {
                            let error = error.or(written.err());
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(error.map_or(0, |e| e.code()))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
