//! JoinGroup (key 11): a member joins (or rejoins) a classic group and waits
//! until the rebalance completes; the leader receives every member's
//! metadata. See `groups::classic` for the state machine.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, now_ms};
use crate::broker::Broker;
use crate::groups::classic::{JoinRequest, JoinResult, Persist, Reply};
use crate::groups::persist_group;

fn response(result: JoinResult) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(result.error.map_or(0, |e| e.code()))
        .with_generation_id(result.generation_id)
        .with_protocol_type(result.protocol_type.map(StrBytes::from_string))
        .with_protocol_name(result.protocol_name.map(StrBytes::from_string))
        .with_leader(StrBytes::from_string(result.leader_id))
        .with_skip_assignment(result.skip_assignment)
        .with_member_id(StrBytes::from_string(result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|(member_id, instance_id, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(StrBytes::from_string(member_id))
                        .with_group_instance_id(instance_id.map(StrBytes::from_string))
                        .with_metadata(metadata)
                })
                .collect(),
        )
}

pub async fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: JoinGroupRequest,
    context: &RequestContext,
) -> JoinGroupResponse {
    let member_id = request.member_id.to_string();
    let error = |e: ResponseError| response(JoinResult::error(e, request.member_id.as_str()));
    if let Err(e) = broker.groups.check_loaded() {
        return error(e);
    }
    let group_id = request.group_id.to_string();
    if group_id.is_empty() {
        return error(ResponseError::InvalidGroupId);
    }
    let handle = if member_id.is_empty() {
        broker.groups.group_or_create(&group_id)
    } else {
        match broker.groups.group(&group_id) {
            Some(handle) => handle,
            None => return error(ResponseError::UnknownMemberId),
        }
    };
    if handle
        .lock()
        .consumer
        .as_ref()
        .is_some_and(|c| !c.is_empty())
    {
        return error(ResponseError::InconsistentGroupProtocol);
    }
    let join = JoinRequest {
        member_id,
        group_instance_id: request.group_instance_id.map(|id| id.to_string()),
        client_id: context.client_id.clone(),
        client_host: context.client_host.clone(),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: it equals the session timeout.
        rebalance_timeout_ms: if version == 0 {
            request.session_timeout_ms
        } else {
            request.rebalance_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let (reply, persist) = {
        let mut group = handle.lock();
        let now = now_ms();
        let (reply, persist) = group.classic.join(join, &broker.groups.config.classic, now);
        // A join may be the last one a rebalance waits for.
        let completed = group.classic.maybe_complete_join(now);
        let persist = if persist == Persist::GroupMetadata || completed == Persist::GroupMetadata {
            Persist::GroupMetadata
        } else {
            Persist::Nothing
        };
        (reply, persist)
    };
    if persist == Persist::GroupMetadata {
        persist_group(broker, &group_id, &handle).await;
    }
    let mut result = match reply {
        Reply::Now(result) => response(result),
        Reply::Later(receiver) => match receiver.await {
            Ok(result) => response(result),
            Err(_) => error(ResponseError::UnknownMemberId),
        },
    };
    if version < 7 {
        result.protocol_type = None;
    }
    result
}
