//! ConsumerGroupDescribe (key 69): a KIP-848 group's epochs, assignor, and
//! members with their subscriptions, current and target assignments. A
//! classic group (or none) answers GROUP_ID_NOT_FOUND, which tells admin
//! clients to fall back to DescribeGroups.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::metadata::{ALL_GROUP_OPERATIONS, OPERATIONS_NOT_REQUESTED};
use crate::broker::Broker;
use crate::groups::consumer::Partitions;

/// KIP-1099 member type of a consumer-protocol member.
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn assignment(broker: &Broker, partitions: &Partitions) -> Assignment {
    Assignment::default().with_topic_partitions(
        partitions
            .iter()
            .map(|(topic_id, partitions)| {
                let name = broker
                    .topic_by_id(topic_id)
                    .map(|t| t.name.to_string())
                    .unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(*topic_id)
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(partitions.iter().copied().collect())
            })
            .collect(),
    )
}

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let operations = if request.include_authorized_operations {
        ALL_GROUP_OPERATIONS
    } else {
        OPERATIONS_NOT_REQUESTED
    };
    let groups = request
        .group_ids
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_authorized_operations(operations);
            if let Err(error) = broker.groups.check_loaded() {
                return described.with_error_code(error.code());
            }
            let handle = broker.groups.group(group_id.as_str());
            let group = handle.as_ref().map(|h| h.lock());
            let Some(consumer) = group.as_ref().and_then(|g| g.consumer.as_ref()) else {
                return described
                    .with_error_code(ResponseError::GroupIdNotFound.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "group {} is not a consumer-protocol group",
                        group_id.as_str()
                    ))));
            };
            let members = consumer
                .members
                .values()
                .map(|m| {
                    let target = consumer
                        .target
                        .get(&m.member_id)
                        .cloned()
                        .unwrap_or_default();
                    let member = Member::default()
                        .with_member_id(StrBytes::from_string(m.member_id.clone()))
                        .with_instance_id(m.instance_id.clone().map(StrBytes::from_string))
                        .with_rack_id(m.rack_id.clone().map(StrBytes::from_string))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(StrBytes::from_string(m.client_id.clone()))
                        .with_client_host(StrBytes::from_string(m.client_host.clone()))
                        .with_subscribed_topic_names(
                            m.subscribed_topics
                                .iter()
                                .map(|t| TopicName(StrBytes::from_string(t.clone())))
                                .collect(),
                        )
                        .with_assignment(assignment(broker, &m.assigned))
                        .with_target_assignment(assignment(broker, &target));
                    if version >= 1 {
                        member.with_member_type(MEMBER_TYPE_CONSUMER)
                    } else {
                        member
                    }
                })
                .collect();
            described
                .with_group_state(StrBytes::from_static_str(consumer.state_name()))
                .with_group_epoch(consumer.group_epoch)
                .with_assignment_epoch(consumer.assignment_epoch)
                .with_assignor_name(StrBytes::from_string(consumer.assignor.clone()))
                .with_members(members)
        })
        .collect();
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
