//! OffsetFetch (key 9): a group's committed offsets, for the partitions asked
//! or (topics null) all of them. v8+ asks for several groups at once.
//! Partitions without a commit answer offset -1.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::groups::CommittedOffset;

/// One group's answer: per topic, per partition, a committed offset or none.
type GroupOffsets = Vec<(String, Vec<(i32, Option<CommittedOffset>)>)>;

fn lookup(
    broker: &Broker,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
) -> Result<GroupOffsets, ResponseError> {
    broker.groups.check_loaded()?;
    let handle = broker.groups.group(group_id);
    let group = handle.as_ref().map(|h| h.lock());
    let offsets = group.as_ref().map(|g| &g.offsets);
    Ok(match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, partitions)| {
                let found = partitions
                    .into_iter()
                    .map(|p| (p, offsets.and_then(|o| o.get(&(topic.clone(), p)).cloned())))
                    .collect();
                (topic, found)
            })
            .collect(),
        None => {
            let mut all: GroupOffsets = Vec::new();
            for ((topic, partition), committed) in offsets.into_iter().flatten() {
                match all.last_mut() {
                    Some((last, partitions)) if last == topic => {
                        partitions.push((*partition, Some(committed.clone())))
                    }
                    _ => all.push((topic.clone(), vec![(*partition, Some(committed.clone()))])),
                }
            }
            all
        }
    })
}

fn values(committed: &Option<CommittedOffset>) -> (i64, i32, Option<StrBytes>) {
    match committed {
        Some(c) => (
            c.offset,
            c.leader_epoch,
            Some(StrBytes::from_string(c.metadata.clone())),
        ),
        None => (-1, -1, Some(StrBytes::default())),
    }
}

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if version >= 8 {
        let groups = request
            .groups
            .into_iter()
            .map(|group| {
                let wanted = group.topics.map(|topics| {
                    topics
                        .into_iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes))
                        .collect()
                });
                let response =
                    OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
                match lookup(broker, group.group_id.as_str(), wanted) {
                    Err(error) => response.with_error_code(error.code()),
                    Ok(found) => response.with_topics(
                        found
                            .into_iter()
                            .map(|(topic, partitions)| {
                                OffsetFetchResponseTopics::default()
                                    .with_name(TopicName(StrBytes::from_string(topic)))
                                    .with_partitions(
                                        partitions
                                            .into_iter()
                                            .map(|(index, committed)| {
                                                let (offset, epoch, metadata) = values(&committed);
                                                OffsetFetchResponsePartitions::default()
                                                    .with_partition_index(index)
                                                    .with_committed_offset(offset)
                                                    .with_committed_leader_epoch(epoch)
                                                    .with_metadata(metadata)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
                }
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let group_id: GroupId = request.group_id;
    let wanted = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect()
    });
    match lookup(broker, group_id.as_str(), wanted) {
        Err(error) => OffsetFetchResponse::default().with_error_code(error.code()),
        Ok(found) => OffsetFetchResponse::default().with_topics(
            found
                .into_iter()
                .map(|(topic, partitions)| {
                    OffsetFetchResponseTopic::default()
                        .with_name(TopicName(StrBytes::from_string(topic)))
                        .with_partitions(
                            partitions
                                .into_iter()
                                .map(|(index, committed)| {
                                    let (offset, epoch, metadata) = values(&committed);
                                    OffsetFetchResponsePartition::default()
                                        .with_partition_index(index)
                                        .with_committed_offset(offset)
                                        .with_committed_leader_epoch(epoch)
                                        .with_metadata(metadata)
                                })
                                .collect(),
                        )
                })
                .collect(),
        ),
    }
}
