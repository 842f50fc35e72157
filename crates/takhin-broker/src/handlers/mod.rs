//! One module per Kafka API. Each exposes `handle`, a pure function of the
//! broker state and the request; [`handle`] here is the dispatch table. The
//! version ranges live beside the message types, in
//! `takhin_protocol::api::SUPPORTED`.
//!
//! A partition's failure is a value: handlers fill per-partition (or
//! per-topic, per-resource) error codes and messages. `Err` is only for a
//! request that breaks the protocol so badly that the connection must close.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use takhin_protocol::{Reply, Request, RequestFrame, Response};
use tokio::sync::OwnedMutexGuard;

use crate::broker::{Broker, TopicError};

mod alter_configs;
mod api_versions;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_topic_partitions;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
pub(crate) mod produce;
mod sync_group;

/// A request the connection cannot survive.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}")]
    Protocol(String),
}

/// Who sent a request, as group members are described to admins.
pub struct RequestContext {
    pub client_id: String,
    /// Kafka's form: `/` followed by the peer's IP address.
    pub client_host: String,
}

/// Dispatches one request. `produce_turn` is held by Produce requests until
/// their batches are appended (see `server`).
pub async fn handle(
    broker: &Arc<Broker>,
    frame: RequestFrame,
    produce_turn: Option<OwnedMutexGuard<()>>,
    peer: std::net::SocketAddr,
) -> Result<Option<Reply>, HandlerError> {
    let version = frame.api_version;
    let context = RequestContext {
        client_id: frame.client_id.clone().unwrap_or_default(),
        client_host: format!("/{}", peer.ip()),
    };
    let response = match frame.body {
        Request::ApiVersions(r) => Response::ApiVersions(api_versions::handle(version, r)),
        Request::Metadata(r) => Response::Metadata(metadata::handle(broker, version, r).await),
        Request::Produce(r) => {
            return Ok(produce::handle(broker, version, r, produce_turn)
                .await?
                .map(|response| Response::Produce(response).into()));
        }
        Request::Fetch(r) => return Ok(Some(fetch::handle(broker, version, r).await)),
        Request::JoinGroup(r) => {
            Response::JoinGroup(join_group::handle(broker, version, r, &context).await)
        }
        Request::SyncGroup(r) => Response::SyncGroup(sync_group::handle(broker, version, r).await),
        Request::Heartbeat(r) => Response::Heartbeat(heartbeat::handle(broker, version, r)),
        Request::LeaveGroup(r) => {
            Response::LeaveGroup(leave_group::handle(broker, version, r).await)
        }
        Request::OffsetCommit(r) => {
            Response::OffsetCommit(offset_commit::handle(broker, version, r).await)
        }
        Request::OffsetFetch(r) => Response::OffsetFetch(offset_fetch::handle(broker, version, r)),
        Request::ListGroups(r) => Response::ListGroups(list_groups::handle(broker, version, r)),
        Request::DescribeGroups(r) => {
            Response::DescribeGroups(describe_groups::handle(broker, version, r))
        }
        Request::DeleteGroups(r) => {
            Response::DeleteGroups(delete_groups::handle(broker, version, r).await)
        }
        Request::OffsetDelete(r) => {
            Response::OffsetDelete(offset_delete::handle(broker, version, r).await)
        }
        Request::ConsumerGroupHeartbeat(r) => Response::ConsumerGroupHeartbeat(
            consumer_group_heartbeat::handle(broker, version, r, &context).await,
        ),
        Request::ConsumerGroupDescribe(r) => {
            Response::ConsumerGroupDescribe(consumer_group_describe::handle(broker, version, r))
        }
        Request::FindCoordinator(r) => {
            Response::FindCoordinator(find_coordinator::handle(broker, version, r))
        }
        Request::ListOffsets(r) => {
            Response::ListOffsets(list_offsets::handle(broker, version, r).await)
        }
        Request::CreateTopics(r) => {
            Response::CreateTopics(create_topics::handle(broker, version, r).await)
        }
        Request::DeleteTopics(r) => {
            Response::DeleteTopics(delete_topics::handle(broker, version, r).await)
        }
        Request::CreatePartitions(r) => {
            Response::CreatePartitions(create_partitions::handle(broker, version, r).await)
        }
        Request::DescribeConfigs(r) => {
            Response::DescribeConfigs(describe_configs::handle(broker, version, r))
        }
        Request::AlterConfigs(r) => {
            Response::AlterConfigs(alter_configs::handle(broker, version, r).await)
        }
        Request::IncrementalAlterConfigs(r) => Response::IncrementalAlterConfigs(
            incremental_alter_configs::handle(broker, version, r).await,
        ),
        Request::DeleteRecords(r) => {
            Response::DeleteRecords(delete_records::handle(broker, version, r).await)
        }
        Request::DescribeCluster(r) => {
            Response::DescribeCluster(describe_cluster::handle(broker, version, r))
        }
        Request::DescribeLogDirs(r) => {
            Response::DescribeLogDirs(describe_log_dirs::handle(broker, version, r))
        }
        Request::OffsetForLeaderEpoch(r) => {
            Response::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, version, r))
        }
        Request::InitProducerId(r) => {
            Response::InitProducerId(init_producer_id::handle(broker, version, r).await)
        }
        Request::DescribeTopicPartitions(r) => {
            Response::DescribeTopicPartitions(describe_topic_partitions::handle(broker, version, r))
        }
    };
    Ok(Some(response.into()))
}

/// Runs blocking broker work (file I/O, fsync) on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ResponseError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ResponseError::UnknownServerError)
}

/// The Kafka error code and message for a topic administration failure.
pub(crate) fn topic_error(error: &TopicError) -> (ResponseError, String) {
    let code = match error {
        TopicError::InvalidName(_) => ResponseError::InvalidTopicException,
        TopicError::AlreadyExists(_) => ResponseError::TopicAlreadyExists,
        TopicError::Unknown(_) => ResponseError::UnknownTopicOrPartition,
        TopicError::InvalidPartitions(_) => ResponseError::InvalidPartitions,
        TopicError::InvalidReplicationFactor(_) => ResponseError::InvalidReplicationFactor,
        TopicError::InvalidConfig(_) => ResponseError::InvalidConfig,
        TopicError::InvalidRequest(_) => ResponseError::InvalidRequest,
        TopicError::Storage(_) => ResponseError::KafkaStorageError,
        TopicError::Metadata(_) => ResponseError::KafkaStorageError,
    };
    (code, error.to_string())
}

/// Finds a topic by name, creating it when auto-creation is on and the
/// caller allows it. Returns the Kafka error for a name that is invalid or
/// unknown.
pub(crate) async fn find_or_create_topic(
    broker: &Arc<Broker>,
    name: &str,
    allow_auto_create: bool,
) -> Result<Arc<crate::partition::Topic>, ResponseError> {
    if let Some(topic) = broker.topic(name) {
        return Ok(topic);
    }
    if crate::metadata::validate_topic_name(name).is_err() {
        return Err(ResponseError::InvalidTopicException);
    }
    if !(allow_auto_create && broker.config.auto_create_topics) {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    let creator = broker.clone();
    let name_owned = name.to_string();
    let created = blocking(move || {
        creator.create_topic(
            &name_owned,
            creator.config.num_partitions,
            creator.config.default_replication_factor,
            Default::default(),
        )
    })
    .await?;
    match created {
        Ok(topic) => Ok(topic),
        // Another request created it first.
        Err(TopicError::AlreadyExists(_)) => broker
            .topic(name)
            .ok_or(ResponseError::UnknownTopicOrPartition),
        Err(e) => Err(topic_error(&e).0),
    }
}

/// Current time in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
