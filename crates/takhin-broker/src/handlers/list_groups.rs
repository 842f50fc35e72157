//! ListGroups (key 16): every group with its protocol type, state (v4+) and
//! type (v5+), optionally filtered by state and type names
//! (case-insensitive, as Kafka matches them).

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    if let Err(error) = broker.groups.check_loaded() {
        return ListGroupsResponse::default().with_error_code(error.code());
    }
    let wanted = |filter: &[StrBytes], value: &str| {
        filter.is_empty()
            || filter
                .iter()
                .any(|f| f.as_str().eq_ignore_ascii_case(value))
    };
    let groups = broker
        .groups
        .groups()
        .into_iter()
        .filter_map(|(group_id, handle)| {
            let group = handle.lock();
            let state = group.state_name();
            let group_type = group.group_type();
            if !wanted(&request.states_filter, state) || !wanted(&request.types_filter, group_type)
            {
                return None;
            }
            Some(
                ListedGroup::default()
                    .with_group_id(GroupId(StrBytes::from_string(group_id)))
                    .with_protocol_type(StrBytes::from_string(
                        group.classic.protocol_type.clone().unwrap_or_default(),
                    ))
                    .with_group_state(StrBytes::from_static_str(state))
                    .with_group_type(StrBytes::from_static_str(group_type)),
            )
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
