//! SyncGroup (key 14): the leader sends the assignment; every member
//! (leader included) receives its own part once the leader's arrives.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::now_ms;
use crate::broker::Broker;
use crate::groups::classic::{Persist, Reply, SyncResult};
use crate::groups::persist_group;

fn response(result: SyncResult) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_error_code(result.error.map_or(0, |e| e.code()))
        .with_protocol_type(result.protocol_type.map(StrBytes::from_string))
        .with_protocol_name(result.protocol_name.map(StrBytes::from_string))
        .with_assignment(result.assignment)
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    if let Err(e) = broker.groups.check_loaded() {
        return response(SyncResult::error(e));
    }
    let group_id = request.group_id.to_string();
    let Some(handle) = broker.groups.group(&group_id) else {
        return response(SyncResult::error(ResponseError::UnknownMemberId));
    };
    let member_id = request.member_id.to_string();
    let instance_id = request.group_instance_id.as_ref().map(|id| id.to_string());
    let protocol_type = request.protocol_type.as_ref().map(|p| p.to_string());
    let protocol_name = request.protocol_name.as_ref().map(|p| p.to_string());
    let assignments = request
        .assignments
        .into_iter()
        .map(|a| (a.member_id.to_string(), a.assignment))
        .collect();
    let (reply, persist) = handle.lock().classic.sync(
        &member_id,
        instance_id.as_deref(),
        request.generation_id,
        (protocol_type.as_deref(), protocol_name.as_deref()),
        assignments,
        now_ms(),
    );
    if persist == Persist::GroupMetadata {
        persist_group(broker, &group_id, &handle).await;
    }
    match reply {
        Reply::Now(result) => response(result),
        Reply::Later(receiver) => match receiver.await {
            Ok(result) => response(result),
            Err(_) => response(SyncResult::error(ResponseError::RebalanceInProgress)),
        },
    }
}
