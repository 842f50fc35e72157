//! DescribeGroups (key 15): state, protocol, and members with their client
//! id and host, subscription metadata and assignment. An unknown group is
//! described as Dead (v0-v5) or GROUP_ID_NOT_FOUND (v6+), as Kafka does; so
//! is a KIP-848 consumer group, which only ConsumerGroupDescribe describes.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::metadata::{ALL_GROUP_OPERATIONS, OPERATIONS_NOT_REQUESTED};
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let operations = if request.include_authorized_operations {
        ALL_GROUP_OPERATIONS
    } else {
        OPERATIONS_NOT_REQUESTED
    };
    let groups = request
        .groups
        .into_iter()
        .map(|group_id| {
            let described = DescribedGroup::default()
                .with_group_id(group_id.clone())
                .with_authorized_operations(operations);
            if let Err(error) = broker.groups.check_loaded() {
                return described.with_error_code(error.code());
            }
            // An unknown group, and a KIP-848 group (described only by
            // ConsumerGroupDescribe), are both "not found" here, as in Kafka
            // 4: the admin client falls back from one API to the other on
            // GROUP_ID_NOT_FOUND.
            let not_found = |described: DescribedGroup, message: String| {
                let described = described.with_group_state(StrBytes::from_static_str("Dead"));
                if version >= 6 {
                    described
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(StrBytes::from_string(message)))
                } else {
                    described
                }
            };
            let Some(handle) = broker.groups.group(group_id.as_str()) else {
                return not_found(described, format!("Group {} not found.", group_id.as_str()));
            };
            let group = handle.lock();
            if group.consumer.is_some() {
                return not_found(
                    described,
                    format!("Group {} is not a classic group.", group_id.as_str()),
                );
            }
            let classic = &group.classic;
            let protocol = classic.protocol_name.clone().unwrap_or_default();
            let members = classic
                .members
                .values()
                .map(|m| {
                    DescribedGroupMember::default()
                        .with_member_id(StrBytes::from_string(m.member_id.clone()))
                        .with_group_instance_id(
                            m.group_instance_id.clone().map(StrBytes::from_string),
                        )
                        .with_client_id(StrBytes::from_string(m.client_id.clone()))
                        .with_client_host(StrBytes::from_string(m.client_host.clone()))
                        .with_member_metadata(
                            m.protocols
                                .iter()
                                .find(|(name, _)| *name == protocol)
                                .map(|(_, metadata)| metadata.clone())
                                .unwrap_or_default(),
                        )
                        .with_member_assignment(m.assignment.clone())
                })
                .collect();
            described
                .with_group_state(StrBytes::from_static_str(classic.state.name()))
                .with_protocol_type(StrBytes::from_string(
                    classic.protocol_type.clone().unwrap_or_default(),
                ))
                .with_protocol_data(StrBytes::from_string(protocol))
                .with_members(members)
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
