//! LeaveGroup (key 13): members leave at once instead of waiting for their
//! session to expire. v0-v2 name one member; v3+ a batch (KIP-345), where a
//! static member may be named by its instance id alone.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::now_ms;
use crate::broker::Broker;
use crate::groups::classic::GroupState;
use crate::groups::persist_group;

pub async fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    let error_response = |e: ResponseError| LeaveGroupResponse::default().with_error_code(e.code());
    if let Err(e) = broker.groups.check_loaded() {
        return error_response(e);
    }
    let group_id = request.group_id.to_string();
    let Some(handle) = broker.groups.group(&group_id) else {
        return error_response(ResponseError::UnknownMemberId);
    };
    let members: Vec<(String, Option<String>)> = if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let (results, now_empty) = {
        let mut group = handle.lock();
        let now = now_ms();
        let was_empty = group.classic.state == GroupState::Empty;
        let results: Vec<_> = members
            .iter()
            .map(|(member_id, instance_id)| {
                group.classic.leave(member_id, instance_id.as_deref(), now)
            })
            .collect();
        group.classic.maybe_complete_join(now);
        (
            results,
            !was_empty && group.classic.state == GroupState::Empty,
        )
    };
    if now_empty {
        persist_group(broker, &group_id, &handle).await;
    }
    if version < 3 {
        return LeaveGroupResponse::default()
            .with_error_code(results[0].err().map_or(0, |e| e.code()));
    }
    let responses = members
        .into_iter()
        .zip(results)
        .map(|((member_id, instance_id), result)| {
            MemberResponse::default()
                .with_member_id(member_id.into())
                .with_group_instance_id(instance_id.map(Into::into))
                .with_error_code(result.err().map_or(0, |e| e.code()))
        })
        .collect();
    LeaveGroupResponse::default().with_members(responses)
}
