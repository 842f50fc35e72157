//! ConsumerGroupHeartbeat (key 68): the KIP-848 consumer protocol. Joins
//! (epoch 0), leaves (-1, or -2 for a static member), and every heartbeat in
//! between, answered with the member's epoch and, when it changed, its
//! assignment. The logic is in `groups::consumer`.
//!
//! A group id in use by classic members cannot switch protocols while they
//! are there (GROUP_ID_NOT_FOUND, as Kafka answers for a group of another
//! type); an empty classic group (e.g. only committed offsets) becomes a
//! consumer group and keeps its offsets.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, now_ms};
use crate::broker::Broker;
use crate::groups::assignor::TopicInfo;
use crate::groups::consumer::{ConsumerGroup, Heartbeat, JOIN_EPOCH, Partitions};
use crate::groups::{consumer_snapshot_record, write_records};

fn error(error: ResponseError, message: &str) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(error.code())
        .with_error_message(Some(StrBytes::from_string(message.to_string())))
        .with_member_epoch(-1)
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: ConsumerGroupHeartbeatRequest,
    context: &RequestContext,
) -> ConsumerGroupHeartbeatResponse {
    if let Err(e) = broker.groups.check_loaded() {
        return error(e, "the group coordinator is loading");
    }
    let group_id = request.group_id.to_string();
    if group_id.is_empty() {
        return error(ResponseError::InvalidRequest, "group id is empty");
    }
    if request.member_epoch == JOIN_EPOCH && request.rebalance_timeout_ms <= 0 {
        return error(
            ResponseError::InvalidRequest,
            "rebalance timeout must be set when joining",
        );
    }
    if request.subscribed_topic_regex.is_some() && request.subscribed_topic_names.is_none() {
        return error(
            ResponseError::InvalidRequest,
            "regular-expression subscriptions are not supported yet; subscribe to topic names",
        );
    }
    let mut member_id = request.member_id.to_string();
    if member_id.is_empty() {
        if request.member_epoch != JOIN_EPOCH {
            return error(ResponseError::UnknownMemberId, "member id is required");
        }
        member_id = uuid::Uuid::new_v4().simple().to_string();
    }
    let handle = broker.groups.group_or_create(&group_id);
    let config = &broker.groups.config;
    let heartbeat = Heartbeat {
        member_id,
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|i| i.to_string()),
        rack_id: request.rack_id.map(|r| r.to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topics: request
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.to_string()).collect()),
        server_assignor: request.server_assignor.map(|a| a.to_string()),
        owned: request.topic_partitions.map(|topics| {
            topics
                .into_iter()
                .map(|t| (t.topic_id, t.partitions.into_iter().collect()))
                .collect()
        }),
        client_id: context.client_id.clone(),
        client_host: context.client_host.clone(),
    };
    let resolve = |names: &BTreeSet<String>| -> Vec<TopicInfo> {
        names
            .iter()
            .filter_map(|name| broker.topic(name))
            .map(|topic| TopicInfo {
                topic_id: topic.topic_id,
                name: topic.name.to_string(),
                partitions: topic.partition_count(),
            })
            .collect()
    };
    let order = handle.lock().persist_order.clone();
    let _turn = order.lock().await;
    let (response, snapshot) = {
        let mut group = handle.lock();
        let response = heartbeat_locked(&mut group, heartbeat, &resolve, config);
        let snapshot = group
            .consumer
            .as_mut()
            .and_then(|consumer| consumer_snapshot_record(&group_id, consumer));
        (response, snapshot)
    };
    // Membership changes are durable before the member acts on them.
    if let Some(record) = snapshot
        && let Err(e) = write_records(broker, &group_id, vec![record]).await
    {
        return error(e, "persisting the group failed");
    }
    response
}

fn heartbeat_locked(
    group: &mut crate::groups::Group,
    heartbeat: Heartbeat,
    resolve: &dyn Fn(&BTreeSet<String>) -> Vec<TopicInfo>,
    config: &crate::groups::GroupConfig,
) -> ConsumerGroupHeartbeatResponse {
    if group.classic.state == crate::groups::classic::GroupState::Dead {
        return error(
            ResponseError::CoordinatorNotAvailable,
            "the group was just removed; retry",
        );
    }
    if group.consumer.is_none() {
        if !group.classic.is_empty() {
            return error(
                ResponseError::GroupIdNotFound,
                "the group has classic-protocol members; it cannot use the consumer protocol until they leave",
            );
        }
        group.consumer = Some(ConsumerGroup::new(
            config
                .consumer
                .assignors
                .first()
                .map_or("uniform", String::as_str),
        ));
    }
    let Some(consumer) = group.consumer.as_mut() else {
        return error(ResponseError::UnknownServerError, "group state lost");
    };
    match consumer.heartbeat(heartbeat, resolve, &config.consumer, now_ms()) {
        Err(e) => error(e, &e.to_string()),
        Ok(result) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(StrBytes::from_string(result.member_id)))
            .with_member_epoch(result.member_epoch)
            .with_heartbeat_interval_ms(config.consumer.heartbeat_interval_ms)
            .with_assignment(result.assignment.map(to_assignment)),
    }
}

fn to_assignment(partitions: Partitions) -> Assignment {
    Assignment::default().with_topic_partitions(
        partitions
            .into_iter()
            .map(|(topic_id, partitions)| {
                TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_partitions(partitions.into_iter().collect())
            })
            .collect(),
    )
}
