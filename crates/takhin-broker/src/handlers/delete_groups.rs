//! DeleteGroups (key 42): removes empty groups and their committed offsets
//! (tombstones in `__consumer_offsets`). A group with members gets
//! NON_EMPTY_GROUP; an unknown one GROUP_ID_NOT_FOUND.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::now_ms;
use crate::broker::Broker;
use crate::groups::records::GroupRecordKey;
use crate::groups::{OFFSETS_TOPIC, write_records};

async fn delete(broker: &Arc<Broker>, group_id: &str) -> Result<(), ResponseError> {
    broker.groups.check_loaded()?;
    let handle = broker
        .groups
        .group(group_id)
        .ok_or(ResponseError::GroupIdNotFound)?;
    let tombstones = {
        let group = handle.lock();
        if !group.is_empty() {
            return Err(ResponseError::NonEmptyGroup);
        }
        let mut tombstones: Vec<_> = group
            .offsets
            .keys()
            .map(|(topic, partition)| {
                let key = GroupRecordKey::OffsetCommit {
                    group: group_id.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key.encode(), None)
            })
            .collect();
        tombstones.push((
            GroupRecordKey::TakhinConsumerGroup {
                group: group_id.to_string(),
            }
            .encode(),
            None,
        ));
        tombstones.push((
            GroupRecordKey::GroupMetadata {
                group: group_id.to_string(),
            }
            .encode(),
            None,
        ));
        tombstones
    };
    if broker.topic(OFFSETS_TOPIC).is_some() {
        write_records(broker, group_id, tombstones).await?;
    }
    {
        let mut group = handle.lock();
        if !group.is_empty() {
            // A member joined while the tombstones were written: it wins.
            return Err(ResponseError::NonEmptyGroup);
        }
        group.classic.mark_dead(now_ms());
        group.offsets.clear();
    }
    broker.groups.remove_group(group_id);
    tracing::info!(group = group_id, "deleted group");
    Ok(())
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group_id in request.groups_names {
        let result = delete(broker, group_id.as_str()).await;
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(result.err().map_or(0, |e| e.code())),
        );
    }
    DeleteGroupsResponse::default().with_results(results)
}
