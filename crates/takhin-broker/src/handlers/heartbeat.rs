//! Heartbeat (key 12): keeps a member's session alive and tells it when a
//! rebalance is under way (REBALANCE_IN_PROGRESS: rejoin).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::now_ms;
use crate::broker::Broker;

pub fn handle(broker: &Arc<Broker>, _version: i16, request: HeartbeatRequest) -> HeartbeatResponse {
    let result = broker.groups.check_loaded().and_then(|()| {
        let handle = broker
            .groups
            .group(request.group_id.as_str())
            .ok_or(ResponseError::UnknownMemberId)?;
        let instance_id = request.group_instance_id.as_ref().map(|id| id.to_string());
        handle.lock().classic.heartbeat(
            request.member_id.as_str(),
            instance_id.as_deref(),
            request.generation_id,
            now_ms(),
        )
    });
    HeartbeatResponse::default().with_error_code(result.err().map_or(0, |e| e.code()))
}
