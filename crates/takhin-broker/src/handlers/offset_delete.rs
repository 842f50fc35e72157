//! OffsetDelete (key 47): removes committed offsets of some partitions of a
//! group. Refused per partition with GROUP_SUBSCRIBED_TO_TOPIC while the
//! group has members subscribed to the topic (for the `consumer` protocol
//! type, whose subscriptions the broker can read), and with
//! UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist, as Kafka does.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, OffsetDeleteRequest, OffsetDeleteResponse,
};
use kafka_protocol::protocol::Decodable;

use crate::broker::Broker;
use crate::groups::classic::ClassicGroup;
use crate::groups::records::GroupRecordKey;
use crate::groups::write_records;

/// Topics the members of a `consumer` group subscribe to.
fn subscribed_topics(group: &ClassicGroup) -> BTreeSet<String> {
    let mut topics = BTreeSet::new();
    if group.protocol_type.as_deref() != Some("consumer") {
        return topics;
    }
    let protocol = group.protocol_name.clone().unwrap_or_default();
    for member in group.members.values() {
        let Some((_, metadata)) = member.protocols.iter().find(|(n, _)| *n == protocol) else {
            continue;
        };
        let mut buf = metadata.clone();
        if buf.len() < 2 {
            continue;
        }
        let version = i16::from_be_bytes([buf[0], buf[1]]);
        let _ = bytes::Buf::get_i16(&mut buf);
        if let Ok(subscription) =
            ConsumerProtocolSubscription::decode(&mut buf, version.clamp(0, 3))
        {
            topics.extend(subscription.topics.iter().map(|t| t.to_string()));
        }
    }
    topics
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if let Err(error) = broker.groups.check_loaded() {
        return OffsetDeleteResponse::default().with_error_code(error.code());
    }
    let group_id = request.group_id.to_string();
    let Some(handle) = broker.groups.group(&group_id) else {
        return OffsetDeleteResponse::default()
            .with_error_code(ResponseError::GroupIdNotFound.code());
    };
    let (subscribed, in_use) = {
        let group = handle.lock();
        let mut subscribed = subscribed_topics(&group.classic);
        if let Some(consumer) = &group.consumer {
            subscribed.extend(consumer.subscribed_topics());
        }
        (subscribed, !group.is_empty())
    };
    let mut tombstones = Vec::new();
    let mut deleted = Vec::new();
    let mut topics = Vec::new();
    for topic in request.topics {
        let name = topic.name.to_string();
        // Kafka checks the topic against its metadata before the group:
        // offsets of a topic that does not exist are not deleted here.
        let refusal = if broker.topic(&name).is_none() {
            Some(ResponseError::UnknownTopicOrPartition)
        } else if in_use && subscribed.contains(&name) {
            Some(ResponseError::GroupSubscribedToTopic)
        } else {
            None
        };
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let error = refusal;
                if error.is_none() {
                    let key = GroupRecordKey::OffsetCommit {
                        group: group_id.clone(),
                        topic: name.clone(),
                        partition: p.partition_index,
                    };
                    tombstones.push((key.encode(), None));
                    deleted.push((name.clone(), p.partition_index));
                }
                (p.partition_index, error)
            })
            .collect::<Vec<_>>();
        topics.push((topic.name, partitions));
    }
    if let Err(error) = write_records(broker, &group_id, tombstones).await {
        return OffsetDeleteResponse::default().with_error_code(error.code());
    }
    {
        let mut group = handle.lock();
        for key in &deleted {
            group.offsets.remove(key);
        }
    }
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            OffsetDeleteResponseTopic::default()
                .with_name(name)
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(index, error)| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(error.map_or(0, |e| e.code()))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
