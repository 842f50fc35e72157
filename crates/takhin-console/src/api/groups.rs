//! Consumer groups: list with lag, details (members, assignments,
//! per-partition lag), delete, delete a topic's offsets, reset offsets, and
//! the groups consuming one topic.
//!
//! Groups live on their coordinators, so the list asks every broker
//! (ListGroups) and then each coordinator about its own groups, batched:
//! DescribeGroups for classic groups, ConsumerGroupDescribe (KIP-848) for
//! `consumer` groups when the broker serves it, and OffsetFetch for committed
//! offsets (all groups of a batch in one request from v8, one request per
//! group before). End offsets come from one ListOffsets per partition
//! leader. A failure that concerns one group (its coordinator is loading,
//! access denied) is a value in that group's row; only a failure to reach a
//! broker fails the whole answer.
//!
//! Lag of a partition is `end offset - committed offset`, at least 0 (a
//! commit past the end, e.g. after records were deleted, leaves nothing to
//! read). A group's total lag sums its committed partitions and is null
//! when it has none or when an end offset is unknown, so a number is never
//! an undercount.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use bytes::{Buf, Bytes};
use futures_util::future::{join, join_all};
use kafka_protocol::messages::consumer_group_describe_request::ConsumerGroupDescribeRequest;
use kafka_protocol::messages::delete_groups_request::DeleteGroupsRequest;
use kafka_protocol::messages::describe_groups_request::DescribeGroupsRequest;
use kafka_protocol::messages::list_groups_request::ListGroupsRequest;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequest, OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestGroup};
use kafka_protocol::messages::{ConsumerProtocolAssignment, GroupId, TopicName};
use kafka_protocol::protocol::{Decodable, Request, StrBytes};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::AppState;
use super::extract::{Json, Path, Query};
use super::problem::{ApiResult, Problem};
use crate::client::ops::{self, OffsetSpec, TopicPartition};
use crate::client::{ClientError, ClusterMetadata, KafkaClient, error_name};

#[derive(OpenApi)]
#[openapi(
    paths(list_groups, get_group, delete_group, delete_group_topic_offsets, reset_offsets,
          topic_consumers),
    components(schemas(GroupSummary, GroupType, GroupDetails, GroupMember, TopicAssignment,
                       GroupOffset, ResetOffsetsRequest, ResetStrategy, OffsetReset,
                       TopicConsumer, TopicConsumerPartition)),
    tags((name = "groups", description = "Consumer groups, their members, offsets and lag"))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clusters/{cluster}/groups", get(list_groups))
        .route(
            "/clusters/{cluster}/groups/{group}",
            get(get_group).delete(delete_group),
        )
        .route(
            "/clusters/{cluster}/groups/{group}/topics/{topic}",
            delete(delete_group_topic_offsets),
        )
        .route(
            "/clusters/{cluster}/groups/{group}/reset-offsets",
            post(reset_offsets),
        )
        .route(
            "/clusters/{cluster}/topics/{topic}/consumers",
            get(topic_consumers),
        )
}

/// Groups per DescribeGroups or ConsumerGroupDescribe request.
const DESCRIBE_BATCH_GROUPS_MAX: usize = 100;
/// Groups per OffsetFetch request (v8+), or OffsetFetch requests in flight
/// at once per coordinator (before v8, one group per request).
const OFFSET_FETCH_BATCH_GROUPS_MAX: usize = 50;
/// Kafka encodes a group id as a STRING: at most `i16::MAX` bytes.
pub const GROUP_ID_BYTES_MAX: usize = i16::MAX as usize;
/// Group states in which nothing consumes, so offsets may be reset.
const STOPPED_STATES: [&str; 2] = ["Empty", "Dead"];

// Kafka error codes this module tells apart.
const GROUP_ID_NOT_FOUND: i16 = 69;
const NON_EMPTY_GROUP: i16 = 68;
const GROUP_SUBSCRIBED_TO_TOPIC: i16 = 86;
const UNKNOWN_MEMBER_ID: i16 = 25;
const UNSUPPORTED_VERSION: i16 = 35;

// ---------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------

/// Which group protocol a group uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    /// JoinGroup/SyncGroup (the protocol of every client before KIP-848).
    Classic,
    /// KIP-848: the broker assigns partitions (`group.protocol=consumer`).
    Consumer,
}

/// A group in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupSummary {
    pub group_id: String,
    /// Kafka's state name: `Stable`, `Empty`, `PreparingRebalance`,
    /// `CompletingRebalance`, `Assigning`, `Reconciling`, `Dead`, or
    /// `Unknown` when the coordinator could not describe the group.
    pub state: String,
    /// `consumer` for consumer groups, `connect` for Connect workers, empty
    /// for groups that only commit offsets.
    pub protocol_type: String,
    /// The chosen assignor (`range`, `cooperative-sticky`, `uniform`...),
    /// empty when none.
    pub protocol: String,
    /// Number of members.
    pub members: usize,
    /// Sum of the lag of all committed partitions; null when the group has
    /// no committed offsets or an end offset could not be read.
    pub total_lag: Option<i64>,
    /// Node id of the group's coordinator.
    pub coordinator: i32,
    #[serde(rename = "type")]
    pub group_type: GroupType,
}

/// Partitions of one topic assigned to a member.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TopicAssignment {
    /// Topic name (the topic id when the cluster no longer knows the topic).
    pub topic: String,
    /// Partition numbers, ascending.
    pub partitions: Vec<i32>,
}

/// A member of a group.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct GroupMember {
    pub member_id: String,
    /// The static membership id (`group.instance.id`), if set.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// Where the member connects from, as the broker saw it (`/10.0.0.7`).
    pub client_host: String,
    /// What the member currently owns, by topic. Empty for members of
    /// classic groups whose protocol type is not `consumer` (the console
    /// cannot read other assignment formats).
    pub assignments: Vec<TopicAssignment>,
}

/// A committed offset of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    /// The next offset the group will read.
    pub committed_offset: i64,
    /// The partition's end offset (high watermark); null when unknown, e.g.
    /// the topic was deleted.
    pub end_offset: Option<i64>,
    /// `end_offset - committed_offset`, at least 0; null when the end is unknown.
    pub lag: Option<i64>,
    /// The metadata string committed with the offset.
    pub metadata: Option<String>,
    /// Leader epoch of the committed record, when the client sent one.
    pub leader_epoch: Option<i32>,
}

/// A group in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupDetails {
    pub group_id: String,
    /// Kafka's state name (see the list).
    pub state: String,
    #[serde(rename = "type")]
    pub group_type: GroupType,
    pub protocol_type: String,
    /// The chosen assignor; empty when none.
    pub protocol: String,
    /// Node id of the group's coordinator.
    pub coordinator: i32,
    pub members: Vec<GroupMember>,
    /// Committed offsets, by topic and partition.
    pub offsets: Vec<GroupOffset>,
    /// Sum of `offsets[].lag`; null when there are none or one is unknown.
    pub total_lag: Option<i64>,
}

/// Where to move a group's offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResetStrategy {
    /// The log start offset.
    Earliest,
    /// The log end offset (skip everything not yet consumed).
    Latest,
    /// The first record at or after `value` (ms since the epoch); the end
    /// offset when there is none.
    Timestamp,
    /// Offset `value` (clamped to the log).
    Offset,
    /// The committed offset moved by `value` (negative: back); partitions
    /// must have a committed offset.
    Shift,
}

impl ResetStrategy {
    fn name(self) -> &'static str {
        match self {
            ResetStrategy::Earliest => "earliest",
            ResetStrategy::Latest => "latest",
            ResetStrategy::Timestamp => "timestamp",
            ResetStrategy::Offset => "offset",
            ResetStrategy::Shift => "shift",
        }
    }

    fn needs_value(self) -> bool {
        matches!(
            self,
            ResetStrategy::Timestamp | ResetStrategy::Offset | ResetStrategy::Shift
        )
    }
}

/// A reset of a group's offsets on one topic, as `kafka-consumer-groups.sh
/// --reset-offsets` does it. The group must have no active members.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetOffsetsRequest {
    /// The topic whose offsets move.
    pub topic: String,
    /// Partitions to reset; all partitions of the topic when absent.
    pub partitions: Option<Vec<i32>>,
    pub strategy: ResetStrategy,
    /// Milliseconds since the epoch for `timestamp`, an offset for
    /// `offset`, a signed count for `shift`; not allowed for `earliest` and
    /// `latest`.
    pub value: Option<i64>,
    /// Only compute the new offsets, commit nothing.
    pub dry_run: bool,
}

/// The outcome of a reset for one partition.
#[derive(Debug, Serialize, ToSchema)]
pub struct OffsetReset {
    pub topic: String,
    pub partition: i32,
    /// The committed offset before; null when the group had none.
    pub previous_offset: Option<i64>,
    /// The offset committed (or, in a dry run, that would be), clamped to
    /// the partition's log start and end offsets.
    pub new_offset: i64,
}

/// A partition of a topic as one group consumes it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicConsumerPartition {
    pub partition: i32,
    /// Null when the partition is assigned but nothing was committed.
    pub committed_offset: Option<i64>,
    /// Null when unknown.
    pub end_offset: Option<i64>,
    /// Null when either offset is unknown.
    pub lag: Option<i64>,
}

/// A group that consumes a topic: it has committed offsets for it or a
/// member is assigned some of its partitions.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicConsumer {
    pub group_id: String,
    pub state: String,
    /// Number of members of the group (of any topic).
    pub members: usize,
    /// Sum of the topic's committed partitions' lag; null when none is
    /// committed or an end offset is unknown.
    pub lag: Option<i64>,
    /// Committed or assigned partitions of the topic, ascending.
    pub partitions: Vec<TopicConsumerPartition>,
}

/// Filters of the group list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupListQuery {
    /// Case-insensitive substring of the group id.
    pub search: Option<String>,
    /// Only groups in this state (case-insensitive), e.g. `Stable` or `Empty`.
    pub state: Option<String>,
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

/// Lists consumer groups of every coordinator with state, members and lag.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/groups", tag = "groups",
    params(("cluster" = String, Path, description = "Cluster name"), GroupListQuery),
    responses((status = 200, body = [GroupSummary]),
              (status = 400, body = Problem, description = "Bad query"),
              (status = 404, body = Problem, description = "No such cluster"),
              (status = 502, body = Problem, description = "A broker failed or is unreachable"),
              (status = 503, body = Problem, description = "A coordinator is loading")))]
pub async fn list_groups(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
    Query(query): Query<GroupListQuery>,
) -> ApiResult<Json<Vec<GroupSummary>>> {
    let client = state.cluster(&cluster)?;
    let metadata = client.refresh_metadata().await?;
    let search = query.search.as_deref().map(str::to_lowercase);
    let listed: Vec<Listed> = list_all_groups(&client, &metadata)
        .await?
        .into_iter()
        .filter(|group| {
            search
                .as_deref()
                .is_none_or(|s| group.group_id.to_lowercase().contains(s))
        })
        .collect();
    let groups = inspect(&client, &metadata, listed).await?;
    let ends = end_offsets(
        &client,
        committed_partitions(
            groups
                .iter()
                .filter_map(|group| group.offsets.as_ref().ok())
                .flatten(),
        ),
    )
    .await?;
    let mut summaries: Vec<GroupSummary> = groups
        .into_iter()
        .map(|group| {
            let offsets = group.offsets.as_deref().ok();
            let total_lag = offsets.and_then(|offsets| total_lag(offsets, &ends));
            let view = group.view();
            GroupSummary {
                group_id: group.listed.group_id,
                state: view.state,
                protocol_type: view.protocol_type,
                protocol: view.protocol,
                members: view.members,
                total_lag,
                coordinator: group.listed.coordinator,
                group_type: view.group_type,
            }
        })
        .filter(|summary| {
            query
                .state
                .as_deref()
                .is_none_or(|s| summary.state.eq_ignore_ascii_case(s))
        })
        .collect();
    summaries.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    Ok(Json(summaries))
}

/// A group's members with their assignments, and its committed offsets
/// with end offsets and lag.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/groups/{group}", tag = "groups",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("group" = String, Path, description = "Group id")),
    responses((status = 200, body = GroupDetails),
              (status = 404, body = Problem, description = "No such cluster or group"),
              (status = 422, body = Problem, description = "Not a valid group id"),
              (status = 502, body = Problem, description = "A broker failed or is unreachable"),
              (status = 503, body = Problem, description = "The coordinator is not available")))]
pub async fn get_group(
    State(state): State<AppState>,
    Path((cluster, group_id)): Path<(String, String)>,
) -> ApiResult<Json<GroupDetails>> {
    let client = state.cluster(&cluster)?;
    validate_group_id(&group_id)?;
    let metadata = client.metadata().await?;
    let Inspected {
        listed,
        description,
        offsets,
    } = inspect_one(&client, &metadata, &group_id).await?;
    let (description, offsets) = (description?, offsets?);
    let description = match description {
        Some(description) => description,
        None if offsets.is_empty() => return Err(group_not_found(&group_id)),
        // Offsets without a live group (described as Dead).
        None => Description::dead(),
    };
    let ends = end_offsets(&client, committed_partitions(&offsets)).await?;
    let offsets: Vec<GroupOffset> = offsets
        .into_iter()
        .map(|committed| {
            let end_offset = ends
                .get(&(committed.topic.clone(), committed.partition))
                .copied()
                .flatten();
            GroupOffset {
                lag: lag(committed.offset, end_offset),
                topic: committed.topic,
                partition: committed.partition,
                committed_offset: committed.offset,
                end_offset,
                metadata: committed.metadata,
                leader_epoch: committed.leader_epoch,
            }
        })
        .collect();
    let total_lag = sum_lags(offsets.iter().map(|o| o.lag));
    Ok(Json(GroupDetails {
        group_id,
        state: description.state,
        group_type: description.group_type,
        protocol_type: description.protocol_type,
        protocol: description.protocol,
        coordinator: listed.coordinator,
        members: description.members,
        offsets,
        total_lag,
    }))
}

/// Deletes a group and its committed offsets. Only a group without active
/// members can be deleted.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/groups/{group}", tag = "groups",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("group" = String, Path, description = "Group id")),
    responses((status = 204, description = "Deleted"),
              (status = 404, body = Problem, description = "No such cluster or group (GROUP_ID_NOT_FOUND)"),
              (status = 409, body = Problem, description = "The group has active members (NON_EMPTY_GROUP)"),
              (status = 422, body = Problem, description = "Not a valid group id"),
              (status = 502, body = Problem, description = "A broker failed or is unreachable"),
              (status = 503, body = Problem, description = "The coordinator is not available")))]
pub async fn delete_group(
    State(state): State<AppState>,
    Path((cluster, group_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let client = state.cluster(&cluster)?;
    validate_group_id(&group_id)?;
    let coordinator = client.coordinator_id(&group_id).await?;
    let (response, _) = send_versioned(&client, coordinator, |_| {
        DeleteGroupsRequest::default().with_groups_names(vec![group_name(&group_id)])
    })
    .await?;
    let code = response
        .results
        .iter()
        .find(|result| result.group_id.as_str() == group_id)
        .map(|result| result.error_code)
        .ok_or_else(|| ClientError::Decode("DeleteGroups answered about another group".into()))?;
    let context = format!("deleting group '{group_id}'");
    match code {
        0 => Ok(StatusCode::NO_CONTENT),
        NON_EMPTY_GROUP => Err(kafka_error(
            code,
            context,
            "the group has active members; stop its consumers first",
        )
        .into()),
        GROUP_ID_NOT_FOUND => Err(kafka_error(code, context, "the group does not exist").into()),
        code => Err(ClientError::kafka(code, context).into()),
    }
}

/// Deletes the group's committed offsets of every partition of a topic, so
/// the group no longer consumes it (and its lag no longer shows). Refused
/// while active members are subscribed to the topic.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/groups/{group}/topics/{topic}", tag = "groups",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("group" = String, Path, description = "Group id"),
           ("topic" = String, Path, description = "Topic name")),
    responses((status = 204, description = "Deleted"),
              (status = 404, body = Problem, description = "No such cluster or group, or the group has no offsets for the topic"),
              (status = 409, body = Problem, description = "Members are subscribed to the topic (GROUP_SUBSCRIBED_TO_TOPIC)"),
              (status = 422, body = Problem, description = "Not a valid group id"),
              (status = 502, body = Problem, description = "A broker failed or is unreachable"),
              (status = 503, body = Problem, description = "The coordinator is not available")))]
pub async fn delete_group_topic_offsets(
    State(state): State<AppState>,
    Path((cluster, group_id, topic)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let client = state.cluster(&cluster)?;
    validate_group_id(&group_id)?;
    let coordinator = client.coordinator_id(&group_id).await?;
    let committed = fetch_offsets(&client, coordinator, std::slice::from_ref(&group_id))
        .await?
        .remove(&group_id)
        .unwrap_or_else(|| Ok(Vec::new()))?;
    let partitions: Vec<i32> = committed
        .iter()
        .filter(|c| c.topic == topic)
        .map(|c| c.partition)
        .collect();
    if partitions.is_empty() {
        return Err(Problem::not_found(format!(
            "group '{group_id}' has no committed offsets for topic '{topic}'"
        )));
    }
    let (response, _) = send_versioned(&client, coordinator, |_| {
        OffsetDeleteRequest::default()
            .with_group_id(group_name(&group_id))
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteRequestPartition::default().with_partition_index(*p)
                            })
                            .collect(),
                    ),
            ])
    })
    .await?;
    let context = format!("deleting offsets of topic '{topic}' from group '{group_id}'");
    if response.error_code == GROUP_ID_NOT_FOUND {
        return Err(kafka_error(response.error_code, context, "the group does not exist").into());
    }
    if response.error_code != 0 {
        return Err(ClientError::kafka(response.error_code, context).into());
    }
    let failed = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .find(|p| p.error_code != 0);
    match failed.map(|p| p.error_code) {
        None => Ok(StatusCode::NO_CONTENT),
        Some(GROUP_SUBSCRIBED_TO_TOPIC) => Err(kafka_error(
            GROUP_SUBSCRIBED_TO_TOPIC,
            context,
            "active members are subscribed to the topic; stop the consumers first",
        )
        .into()),
        Some(code) => Err(ClientError::kafka(code, context).into()),
    }
}

/// Moves a stopped group's offsets on one topic (or some of its
/// partitions) to the earliest or latest offset, a timestamp, an offset, or
/// by N, clamped to each partition's log start and end offsets. With
/// `dry_run` nothing is committed and the answer shows what would be.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/groups/{group}/reset-offsets", tag = "groups",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("group" = String, Path, description = "Group id; a group that does not exist yet is created with these offsets")),
    request_body = ResetOffsetsRequest,
    responses((status = 200, body = [OffsetReset], description = "The new offsets, by partition"),
              (status = 400, body = Problem, description = "Malformed JSON"),
              (status = 404, body = Problem, description = "No such cluster or topic"),
              (status = 409, body = Problem, description = "The group has active members"),
              (status = 415, body = Problem, description = "Not JSON"),
              (status = 422, body = Problem, description = "Invalid request: unknown strategy, missing or invalid value, partition not in the topic, nothing committed to shift from"),
              (status = 502, body = Problem, description = "A broker failed or is unreachable"),
              (status = 503, body = Problem, description = "The coordinator or a partition leader is not available")))]
pub async fn reset_offsets(
    State(state): State<AppState>,
    Path((cluster, group_id)): Path<(String, String)>,
    Json(request): Json<ResetOffsetsRequest>,
) -> ApiResult<Json<Vec<OffsetReset>>> {
    let client = state.cluster(&cluster)?;
    validate_group_id(&group_id)?;
    let value = validate_reset_value(&request)?;
    let mut metadata = client.metadata().await?;
    if metadata.topic(&request.topic).is_none() {
        metadata = client.refresh_metadata().await?;
    }
    let topic = metadata
        .topic(&request.topic)
        .ok_or_else(|| Problem::not_found(format!("topic '{}' does not exist", request.topic)))?;
    let partitions = reset_partitions(&request, topic.partitions.iter().map(|p| p.partition))?;

    let found = inspect_one(&client, &metadata, &group_id).await?;
    let description = found.description.map_err(Problem::from)?;
    if let Some(description) = &description {
        ensure_stopped(&group_id, description)?;
    }
    let committed: HashMap<i32, i64> = found
        .offsets
        .map_err(Problem::from)?
        .into_iter()
        .filter(|c| c.topic == request.topic)
        .map(|c| (c.partition, c.offset))
        .collect();

    let plan = plan_reset(&client, &request, value, &partitions, &committed).await?;
    if !request.dry_run {
        commit_offsets(
            &client,
            found.listed.coordinator,
            &group_id,
            &request.topic,
            &plan,
        )
        .await?;
    }
    Ok(Json(plan))
}

/// Groups that consume a topic, with the lag of each on it.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/topics/{topic}/consumers", tag = "groups",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    responses((status = 200, body = [TopicConsumer]),
              (status = 404, body = Problem, description = "No such cluster or topic"),
              (status = 502, body = Problem, description = "A broker failed or is unreachable"),
              (status = 503, body = Problem, description = "A coordinator is loading")))]
pub async fn topic_consumers(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
) -> ApiResult<Json<Vec<TopicConsumer>>> {
    let client = state.cluster(&cluster)?;
    let metadata = client.refresh_metadata().await?;
    let topic_info = metadata
        .topic(&topic)
        .ok_or_else(|| Problem::not_found(format!("topic '{topic}' does not exist")))?;
    let all_partitions: Vec<TopicPartition> = topic_info
        .partitions
        .iter()
        .map(|p| (topic.clone(), p.partition))
        .collect();
    let listed = list_all_groups(&client, &metadata).await?;
    let groups = inspect(&client, &metadata, listed).await?;
    let ends = end_offsets(&client, all_partitions.into_iter().collect()).await?;
    let mut consumers = Vec::new();
    for group in groups {
        let committed: BTreeMap<i32, i64> = group
            .offsets
            .as_deref()
            .unwrap_or_default()
            .iter()
            .filter(|c| c.topic == topic)
            .map(|c| (c.partition, c.offset))
            .collect();
        let assigned: BTreeSet<i32> = match &group.description {
            Ok(Some(description)) => description
                .members
                .iter()
                .flat_map(|m| m.assignments.iter())
                .filter(|a| a.topic == topic)
                .flat_map(|a| a.partitions.iter().copied())
                .collect(),
            _ => BTreeSet::new(),
        };
        if committed.is_empty() && assigned.is_empty() {
            continue;
        }
        let numbers: BTreeSet<i32> = committed.keys().copied().chain(assigned).collect();
        let partitions: Vec<TopicConsumerPartition> = numbers
            .into_iter()
            .map(|partition| {
                let committed_offset = committed.get(&partition).copied();
                let end_offset = ends.get(&(topic.clone(), partition)).copied().flatten();
                TopicConsumerPartition {
                    partition,
                    committed_offset,
                    end_offset,
                    lag: committed_offset.and_then(|c| lag(c, end_offset)),
                }
            })
            .collect();
        let lag = if committed.is_empty() {
            None
        } else {
            sum_lags(
                partitions
                    .iter()
                    .filter(|p| p.committed_offset.is_some())
                    .map(|p| p.lag),
            )
        };
        let view = group.view();
        consumers.push(TopicConsumer {
            group_id: group.listed.group_id,
            state: view.state,
            members: view.members,
            lag,
            partitions,
        });
    }
    consumers.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    Ok(Json(consumers))
}

// ---------------------------------------------------------------------------
// Validation and the reset plan
// ---------------------------------------------------------------------------

fn validate_group_id(group_id: &str) -> Result<(), Problem> {
    if group_id.is_empty() || group_id.len() > GROUP_ID_BYTES_MAX {
        return Err(Problem::unprocessable(format!(
            "a group id must be 1 to {GROUP_ID_BYTES_MAX} bytes long"
        )));
    }
    Ok(())
}

/// The `value` of a reset, checked against its strategy.
fn validate_reset_value(request: &ResetOffsetsRequest) -> Result<Option<i64>, Problem> {
    let strategy = request.strategy.name();
    match (request.strategy.needs_value(), request.value) {
        (true, None) => Err(Problem::unprocessable(format!(
            "strategy '{strategy}' needs a value ({})",
            match request.strategy {
                ResetStrategy::Timestamp => "milliseconds since the epoch",
                ResetStrategy::Offset => "the offset",
                _ => "how many offsets to move, negative to go back",
            }
        ))),
        (false, Some(_)) => Err(Problem::unprocessable(format!(
            "strategy '{strategy}' takes no value"
        ))),
        (_, Some(value))
            if value < 0
                && matches!(
                    request.strategy,
                    ResetStrategy::Timestamp | ResetStrategy::Offset
                ) =>
        {
            Err(Problem::unprocessable(format!(
                "the value of strategy '{strategy}' cannot be negative (got {value})"
            )))
        }
        (_, value) => Ok(value),
    }
}

/// The partitions a reset covers: those asked for (each must exist), or all.
fn reset_partitions(
    request: &ResetOffsetsRequest,
    existing: impl Iterator<Item = i32>,
) -> Result<Vec<i32>, Problem> {
    let existing: BTreeSet<i32> = existing.collect();
    let Some(asked) = &request.partitions else {
        return Ok(existing.into_iter().collect());
    };
    if asked.is_empty() {
        return Err(Problem::unprocessable(
            "partitions is empty; leave it out to reset all partitions of the topic",
        ));
    }
    let mut chosen = BTreeSet::new();
    for partition in asked {
        if !existing.contains(partition) {
            return Err(Problem::unprocessable(format!(
                "topic '{}' has no partition {partition} (it has {})",
                request.topic,
                existing.len()
            )));
        }
        chosen.insert(*partition);
    }
    Ok(chosen.into_iter().collect())
}

/// Offsets may only be reset while nothing consumes them, as Kafka's tool
/// requires: otherwise the members overwrite the reset with their next commit.
fn ensure_stopped(group_id: &str, description: &Description) -> Result<(), Problem> {
    let members = description.members.len();
    if members > 0 || !STOPPED_STATES.contains(&description.state.as_str()) {
        return Err(Problem::conflict(format!(
            "group '{group_id}' is {} and has {members} active member{}; stop the consumers first",
            description.state,
            if members == 1 { "" } else { "s" }
        )));
    }
    Ok(())
}

/// Computes the new offset of each partition, clamped to its log.
async fn plan_reset(
    client: &KafkaClient,
    request: &ResetOffsetsRequest,
    value: Option<i64>,
    partitions: &[i32],
    committed: &HashMap<i32, i64>,
) -> Result<Vec<OffsetReset>, Problem> {
    if request.strategy == ResetStrategy::Shift {
        let missing: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !committed.contains_key(p))
            .collect();
        if !missing.is_empty() {
            return Err(Problem::unprocessable(format!(
                "cannot shift partitions {missing:?} of '{}': the group has no committed offset there",
                request.topic
            )));
        }
    }
    let tps: Vec<TopicPartition> = partitions
        .iter()
        .map(|p| (request.topic.clone(), *p))
        .collect();
    let by_time = async {
        match (request.strategy, value) {
            (ResetStrategy::Timestamp, Some(ms)) => {
                ops::list_offsets(client, &tps, OffsetSpec::Timestamp(ms))
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        }
    };
    let (ranges, by_time) = join(
        join(
            ops::list_offsets(client, &tps, OffsetSpec::Earliest),
            ops::list_offsets(client, &tps, OffsetSpec::Latest),
        ),
        by_time,
    )
    .await;
    let (mut starts, mut ends) = (ranges.0?, ranges.1?);
    let mut by_time = by_time?;
    let mut plan = Vec::with_capacity(tps.len());
    for tp in tps {
        let start = required_offset(starts.remove(&tp), &tp, "log start")?;
        let end = required_offset(ends.remove(&tp), &tp, "log end")?;
        let previous = committed.get(&tp.1).copied();
        let target = match request.strategy {
            ResetStrategy::Earliest => start,
            ResetStrategy::Latest => end,
            ResetStrategy::Timestamp => {
                let found = by_time
                    .as_mut()
                    .and_then(|offsets| offsets.remove(&tp))
                    .transpose()
                    .map_err(Problem::from)?
                    .flatten();
                // After the last record: the end, as Kafka's tool does.
                found.unwrap_or(end)
            }
            ResetStrategy::Offset => value.unwrap_or(start),
            ResetStrategy::Shift => previous.unwrap_or(start).saturating_add(value.unwrap_or(0)),
        };
        plan.push(OffsetReset {
            topic: tp.0,
            partition: tp.1,
            previous_offset: previous,
            new_offset: target.max(start).min(end.max(start)),
        });
    }
    Ok(plan)
}

fn required_offset(
    found: Option<Result<Option<i64>, ClientError>>,
    tp: &TopicPartition,
    what: &str,
) -> Result<i64, Problem> {
    match found {
        Some(Ok(Some(offset))) => Ok(offset),
        Some(Err(error)) => Err(error.into()),
        Some(Ok(None)) | None => Err(ClientError::Decode(format!(
            "the cluster did not report the {what} offset of {}-{}",
            tp.0, tp.1
        ))
        .into()),
    }
}

/// Commits `plan` as an admin does: generation -1 and no member id, which
/// a coordinator accepts only while the group has no members.
async fn commit_offsets(
    client: &KafkaClient,
    coordinator: i32,
    group_id: &str,
    topic: &str,
    plan: &[OffsetReset],
) -> Result<(), Problem> {
    let (response, _) = send_versioned(client, coordinator, |_| {
        OffsetCommitRequest::default()
            .with_group_id(group_name(group_id))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(StrBytes::default())
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(
                        plan.iter()
                            .map(|reset| {
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(reset.partition)
                                    .with_committed_offset(reset.new_offset)
                                    .with_committed_leader_epoch(-1)
                                    .with_committed_metadata(Some(StrBytes::default()))
                            })
                            .collect(),
                    ),
            ])
    })
    .await?;
    let failed = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t, p)))
        .find(|(_, p)| p.error_code != 0);
    let Some((failed_topic, partition)) = failed else {
        return Ok(());
    };
    let context = format!(
        "committing offset of {}-{} for group '{group_id}'",
        failed_topic.name.as_str(),
        partition.partition_index
    );
    Err(match partition.error_code {
        // The coordinator refuses an admin commit while the group has members.
        UNKNOWN_MEMBER_ID => kafka_error(
            UNKNOWN_MEMBER_ID,
            context,
            "the group has active members again; stop the consumers first",
        )
        .into(),
        code => ClientError::kafka(code, context).into(),
    })
}

// ---------------------------------------------------------------------------
// What the coordinators say about groups
// ---------------------------------------------------------------------------

/// A group as ListGroups named it (or as FindCoordinator located it).
#[derive(Clone, Debug)]
struct Listed {
    group_id: String,
    coordinator: i32,
    /// Known from ListGroups v5+ only.
    group_type: Option<GroupType>,
    protocol_type: String,
    /// Known from ListGroups v4+ only.
    state: Option<String>,
}

/// A group as DescribeGroups or ConsumerGroupDescribe described it.
#[derive(Clone, Debug)]
struct Description {
    state: String,
    group_type: GroupType,
    protocol_type: String,
    protocol: String,
    members: Vec<GroupMember>,
}

impl Description {
    fn dead() -> Description {
        Description {
            state: "Dead".to_string(),
            group_type: GroupType::Classic,
            protocol_type: String::new(),
            protocol: String::new(),
            members: Vec::new(),
        }
    }
}

/// A committed offset.
#[derive(Clone, Debug)]
struct Committed {
    topic: String,
    partition: i32,
    offset: i64,
    leader_epoch: Option<i32>,
    metadata: Option<String>,
}

/// Everything the coordinator said about one group. `Ok(None)`: the
/// coordinator does not know the group.
struct Inspected {
    listed: Listed,
    description: Result<Option<Description>, ClientError>,
    offsets: Result<Vec<Committed>, ClientError>,
}

/// The columns shared by the list views.
struct View {
    state: String,
    protocol_type: String,
    protocol: String,
    members: usize,
    group_type: GroupType,
}

impl Inspected {
    fn view(&self) -> View {
        match &self.description {
            Ok(Some(description)) => View {
                state: description.state.clone(),
                protocol_type: description.protocol_type.clone(),
                protocol: description.protocol.clone(),
                members: description.members.len(),
                group_type: description.group_type,
            },
            // Not described: what the listing said.
            _ => View {
                state: match &self.description {
                    Ok(None) => "Dead".to_string(),
                    _ => self
                        .listed
                        .state
                        .clone()
                        .unwrap_or_else(|| "Unknown".to_string()),
                },
                protocol_type: self.listed.protocol_type.clone(),
                protocol: String::new(),
                members: 0,
                group_type: self.listed.group_type.unwrap_or(GroupType::Classic),
            },
        }
    }
}

/// Sends a request built for the version the broker will receive it at,
/// retrying once on a fresh connection if the old one had died.
async fn send_versioned<R: Request>(
    client: &KafkaClient,
    node_id: i32,
    build: impl Fn(i16) -> R,
) -> Result<(R::Response, i16), ClientError> {
    let mut retried = false;
    loop {
        let connection = client.broker(node_id).await?;
        let version = connection.version_for::<R>()?;
        match connection.send(&build(version)).await {
            Err(ClientError::Closed(_) | ClientError::Io(_)) if !retried => retried = true,
            result => return result.map(|response| (response, version)),
        }
    }
}

/// ListGroups on every broker, concurrently: each lists the groups it
/// coordinates. Only classic and consumer groups (not share or streams
/// groups), filtered by the broker from ListGroups v5.
async fn list_all_groups(
    client: &KafkaClient,
    metadata: &ClusterMetadata,
) -> Result<Vec<Listed>, ClientError> {
    let requests = metadata.brokers.iter().map(|broker| async move {
        let result = send_versioned(client, broker.node_id, |version| {
            let request = ListGroupsRequest::default();
            if version >= 5 {
                request.with_types_filter(vec![
                    StrBytes::from_static_str("classic"),
                    StrBytes::from_static_str("consumer"),
                ])
            } else {
                request
            }
        })
        .await;
        (broker.node_id, result)
    });
    let mut seen = BTreeSet::new();
    let mut listed = Vec::new();
    for (node_id, result) in join_all(requests).await {
        let (response, version) = result?;
        if response.error_code != 0 {
            return Err(ClientError::kafka(
                response.error_code,
                format!("listing the groups of broker {node_id}"),
            ));
        }
        for group in response.groups {
            let group_type = if version >= 5 {
                match group.group_type.to_ascii_lowercase().as_str() {
                    "classic" => Some(GroupType::Classic),
                    "consumer" => Some(GroupType::Consumer),
                    // Share or streams groups of a broker that ignored the filter.
                    _ => continue,
                }
            } else {
                None
            };
            let group_id = group.group_id.to_string();
            // A coordinator moving may list a group twice, briefly.
            if !seen.insert(group_id.clone()) {
                continue;
            }
            listed.push(Listed {
                group_id,
                coordinator: node_id,
                group_type,
                protocol_type: group.protocol_type.to_string(),
                state: (version >= 4).then(|| group.group_state.to_string()),
            });
        }
    }
    Ok(listed)
}

/// Describes and fetches the offsets of `groups`, each from its coordinator,
/// all coordinators concurrently.
async fn inspect(
    client: &KafkaClient,
    metadata: &ClusterMetadata,
    groups: Vec<Listed>,
) -> Result<Vec<Inspected>, ClientError> {
    let mut by_coordinator: BTreeMap<i32, Vec<Listed>> = BTreeMap::new();
    for group in groups {
        by_coordinator
            .entry(group.coordinator)
            .or_default()
            .push(group);
    }
    let requests = by_coordinator
        .into_iter()
        .map(|(coordinator, groups)| async move {
            let ids: Vec<String> = groups.iter().map(|g| g.group_id.clone()).collect();
            let (descriptions, offsets) = join(
                describe_groups(client, metadata, coordinator, &groups),
                fetch_offsets(client, coordinator, &ids),
            )
            .await;
            let (mut descriptions, mut offsets) = (descriptions?, offsets?);
            let inspected: Vec<Inspected> = groups
                .into_iter()
                .map(|listed| Inspected {
                    description: descriptions.remove(&listed.group_id).unwrap_or(Ok(None)),
                    offsets: offsets
                        .remove(&listed.group_id)
                        .unwrap_or_else(|| Ok(Vec::new())),
                    listed,
                })
                .collect();
            Ok::<_, ClientError>(inspected)
        });
    let mut all = Vec::new();
    for inspected in join_all(requests).await {
        all.extend(inspected?);
    }
    Ok(all)
}

/// Finds the coordinator of one group, then describes it and fetches its
/// offsets.
async fn inspect_one(
    client: &KafkaClient,
    metadata: &ClusterMetadata,
    group_id: &str,
) -> Result<Inspected, ClientError> {
    let coordinator = client.coordinator_id(group_id).await?;
    let listed = Listed {
        group_id: group_id.to_string(),
        coordinator,
        group_type: None,
        protocol_type: String::new(),
        state: None,
    };
    inspect(client, metadata, vec![listed])
        .await?
        .pop()
        .ok_or_else(|| ClientError::Decode(format!("group '{group_id}' was not inspected")))
}

type Descriptions = HashMap<String, Result<Option<Description>, ClientError>>;

/// Describes groups of one coordinator. Consumer groups (KIP-848) are asked
/// with ConsumerGroupDescribe when the broker serves it, which is the only
/// way to see their assignments (Kafka answers DescribeGroups about them
/// with GROUP_ID_NOT_FOUND); groups of unknown type are asked both ways at
/// once, and the consumer answer wins when there is one.
async fn describe_groups(
    client: &KafkaClient,
    metadata: &ClusterMetadata,
    coordinator: i32,
    groups: &[Listed],
) -> Result<Descriptions, ClientError> {
    let connection = client.broker(coordinator).await?;
    let consumer_describe = connection
        .version_for::<ConsumerGroupDescribeRequest>()
        .is_ok();
    let mut classic_ids = Vec::new();
    let mut consumer_ids = Vec::new();
    for group in groups {
        let id = group.group_id.clone();
        match (group.group_type, consumer_describe) {
            (Some(GroupType::Consumer), true) => consumer_ids.push(id),
            (None, true) => {
                consumer_ids.push(id.clone());
                classic_ids.push(id);
            }
            _ => classic_ids.push(id),
        }
    }
    let (classic, consumer) = join(
        describe_classic(client, coordinator, &classic_ids),
        describe_consumer(client, metadata, coordinator, &consumer_ids),
    )
    .await;
    let mut described = classic?;
    for (group_id, result) in consumer? {
        let found = matches!(result, Ok(Some(_)));
        if found || !described.contains_key(&group_id) {
            described.insert(group_id, result);
        }
    }
    Ok(described)
}

/// DescribeGroups, in batches. Unknown groups (GROUP_ID_NOT_FOUND, or Dead
/// without members before v6) are `Ok(None)`.
async fn describe_classic(
    client: &KafkaClient,
    coordinator: i32,
    group_ids: &[String],
) -> Result<Descriptions, ClientError> {
    let mut described = HashMap::new();
    for batch in group_ids.chunks(DESCRIBE_BATCH_GROUPS_MAX) {
        let (response, _) = send_versioned(client, coordinator, |_| {
            DescribeGroupsRequest::default()
                .with_groups(batch.iter().map(|id| group_name(id)).collect())
        })
        .await?;
        for group in response.groups {
            let group_id = group.group_id.to_string();
            let result = match group.error_code {
                0 if group.group_state.as_str() == "Dead" && group.members.is_empty() => Ok(None),
                0 => {
                    let protocol_type = group.protocol_type.to_string();
                    let members = group
                        .members
                        .iter()
                        .map(|member| GroupMember {
                            member_id: member.member_id.to_string(),
                            group_instance_id: member
                                .group_instance_id
                                .as_ref()
                                .map(|i| i.to_string()),
                            client_id: member.client_id.to_string(),
                            client_host: member.client_host.to_string(),
                            assignments: if protocol_type == "consumer" {
                                decode_assignment(&member.member_assignment)
                            } else {
                                Vec::new()
                            },
                        })
                        .collect();
                    Ok(Some(Description {
                        state: group.group_state.to_string(),
                        group_type: GroupType::Classic,
                        protocol_type,
                        protocol: group.protocol_data.to_string(),
                        members,
                    }))
                }
                GROUP_ID_NOT_FOUND => Ok(None),
                code => Err(ClientError::kafka_with_message(
                    code,
                    format!("describing group '{group_id}'"),
                    group.error_message.as_ref(),
                )),
            };
            described.insert(group_id, result);
        }
    }
    Ok(described)
}

/// ConsumerGroupDescribe (KIP-848 groups), in batches. Groups that are not
/// consumer groups, or unknown, are `Ok(None)`.
async fn describe_consumer(
    client: &KafkaClient,
    metadata: &ClusterMetadata,
    coordinator: i32,
    group_ids: &[String],
) -> Result<Descriptions, ClientError> {
    let topic_names: HashMap<uuid::Uuid, &str> = metadata
        .topics
        .iter()
        .map(|t| (t.topic_id, t.name.as_str()))
        .collect();
    let mut described = HashMap::new();
    for batch in group_ids.chunks(DESCRIBE_BATCH_GROUPS_MAX) {
        let (response, _) = send_versioned(client, coordinator, |_| {
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(batch.iter().map(|id| group_name(id)).collect())
        })
        .await?;
        for group in response.groups {
            let group_id = group.group_id.to_string();
            let result = match group.error_code {
                0 => {
                    let members = group
                        .members
                        .iter()
                        .map(|member| GroupMember {
                            member_id: member.member_id.to_string(),
                            group_instance_id: member.instance_id.as_ref().map(|i| i.to_string()),
                            client_id: member.client_id.to_string(),
                            client_host: member.client_host.to_string(),
                            assignments: sorted_assignments(
                                member.assignment.topic_partitions.iter().map(|t| {
                                    let name = if t.topic_name.is_empty() {
                                        topic_names
                                            .get(&t.topic_id)
                                            .map(|n| n.to_string())
                                            .unwrap_or_else(|| t.topic_id.to_string())
                                    } else {
                                        t.topic_name.to_string()
                                    };
                                    (name, t.partitions.clone())
                                }),
                            ),
                        })
                        .collect();
                    Ok(Some(Description {
                        state: group.group_state.to_string(),
                        group_type: GroupType::Consumer,
                        protocol_type: "consumer".to_string(),
                        protocol: group.assignor_name.to_string(),
                        members,
                    }))
                }
                // Not a consumer group (or none), or a broker that lists
                // the API without serving it: DescribeGroups answers.
                GROUP_ID_NOT_FOUND | UNSUPPORTED_VERSION => Ok(None),
                code => Err(ClientError::kafka_with_message(
                    code,
                    format!("describing group '{group_id}'"),
                    group.error_message.as_ref(),
                )),
            };
            described.insert(group_id, result);
        }
    }
    Ok(described)
}

/// A classic consumer's assignment: the ConsumerProtocolAssignment bytes,
/// an `i16` version followed by the struct. Newer versions than the console
/// knows are read as the newest it knows, as Kafka's clients do; bytes that
/// do not parse give no assignments rather than an error.
fn decode_assignment(bytes: &Bytes) -> Vec<TopicAssignment> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Vec::new();
    }
    let version = buf.get_i16();
    if version < 0 {
        return Vec::new();
    }
    match ConsumerProtocolAssignment::decode(&mut buf, version.min(3)) {
        Ok(assignment) => sorted_assignments(
            assignment
                .assigned_partitions
                .into_iter()
                .map(|t| (t.topic.to_string(), t.partitions)),
        ),
        Err(_) => Vec::new(),
    }
}

/// Assignments merged by topic, topics and partitions ascending.
fn sorted_assignments(topics: impl Iterator<Item = (String, Vec<i32>)>) -> Vec<TopicAssignment> {
    let mut merged: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for (topic, partitions) in topics {
        merged.entry(topic).or_default().extend(partitions);
    }
    merged
        .into_iter()
        .map(|(topic, partitions)| TopicAssignment {
            topic,
            partitions: partitions.into_iter().collect(),
        })
        .collect()
}

type GroupsOffsets = HashMap<String, Result<Vec<Committed>, ClientError>>;

/// Committed offsets of groups of one coordinator: from OffsetFetch v8 a
/// batch of groups per request, before that one request per group (a
/// bounded number at a time).
async fn fetch_offsets(
    client: &KafkaClient,
    coordinator: i32,
    group_ids: &[String],
) -> Result<GroupsOffsets, ClientError> {
    let mut fetched = HashMap::new();
    if group_ids.is_empty() {
        return Ok(fetched);
    }
    let version = client
        .broker(coordinator)
        .await?
        .version_for::<OffsetFetchRequest>()?;
    if version >= 8 {
        for batch in group_ids.chunks(OFFSET_FETCH_BATCH_GROUPS_MAX) {
            let (response, _) = send_versioned(client, coordinator, |_| {
                OffsetFetchRequest::default().with_groups(
                    batch
                        .iter()
                        .map(|id| {
                            OffsetFetchRequestGroup::default()
                                .with_group_id(group_name(id))
                                .with_topics(None)
                        })
                        .collect(),
                )
            })
            .await?;
            for group in response.groups {
                let group_id = group.group_id.to_string();
                let result = if group.error_code != 0 {
                    Err(ClientError::kafka(
                        group.error_code,
                        format!("fetching the offsets of group '{group_id}'"),
                    ))
                } else {
                    Ok(committed_offsets(group.topics.into_iter().flat_map(|t| {
                        let topic = t.name.to_string();
                        t.partitions.into_iter().map(move |p| {
                            (
                                topic.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata,
                                p.error_code,
                            )
                        })
                    })))
                };
                fetched.insert(group_id, result);
            }
        }
        return Ok(fetched);
    }
    for batch in group_ids.chunks(OFFSET_FETCH_BATCH_GROUPS_MAX) {
        let requests = batch.iter().map(|group_id| async move {
            let result = send_versioned(client, coordinator, |_| {
                OffsetFetchRequest::default()
                    .with_group_id(group_name(group_id))
                    .with_topics(None)
            })
            .await;
            (group_id, result)
        });
        for (group_id, result) in join_all(requests).await {
            let (response, _) = result?;
            let result = if response.error_code != 0 {
                Err(ClientError::kafka(
                    response.error_code,
                    format!("fetching the offsets of group '{group_id}'"),
                ))
            } else {
                Ok(committed_offsets(response.topics.into_iter().flat_map(
                    |t| {
                        let topic = t.name.to_string();
                        t.partitions.into_iter().map(move |p| {
                            (
                                topic.clone(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.metadata,
                                p.error_code,
                            )
                        })
                    },
                )))
            };
            fetched.insert(group_id.clone(), result);
        }
    }
    Ok(fetched)
}

/// OffsetFetch partitions (topic, partition, offset, leader epoch,
/// metadata, error) as committed offsets, sorted. Partitions without a
/// commit (offset -1) or with an error are left out.
fn committed_offsets(
    partitions: impl Iterator<Item = (String, i32, i64, i32, Option<StrBytes>, i16)>,
) -> Vec<Committed> {
    let mut committed: Vec<Committed> = partitions
        .filter(|(_, _, offset, _, _, error)| *error == 0 && *offset >= 0)
        .map(
            |(topic, partition, offset, leader_epoch, metadata, _)| Committed {
                topic,
                partition,
                offset,
                leader_epoch: (leader_epoch >= 0).then_some(leader_epoch),
                metadata: metadata.map(|m| m.to_string()),
            },
        )
        .collect();
    committed.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    committed
}

fn committed_partitions<'a>(
    offsets: impl IntoIterator<Item = &'a Committed>,
) -> BTreeSet<TopicPartition> {
    offsets
        .into_iter()
        .map(|c| (c.topic.clone(), c.partition))
        .collect()
}

/// End offsets of `partitions`, `None` where unknown. Partitions of topics
/// the cluster no longer has (offsets outlive topics) are not asked for.
async fn end_offsets(
    client: &KafkaClient,
    partitions: BTreeSet<TopicPartition>,
) -> Result<HashMap<TopicPartition, Option<i64>>, ClientError> {
    if partitions.is_empty() {
        return Ok(HashMap::new());
    }
    let exists = |metadata: &ClusterMetadata, (topic, partition): &TopicPartition| {
        metadata
            .topic(topic)
            .is_some_and(|t| t.partitions.iter().any(|p| p.partition == *partition))
    };
    let mut metadata = client.metadata().await?;
    if partitions.iter().any(|tp| !exists(&metadata, tp)) {
        // Maybe a topic newer than the cached metadata: refresh once.
        metadata = client.refresh_metadata().await?;
    }
    let known: Vec<TopicPartition> = partitions
        .iter()
        .filter(|tp| exists(&metadata, tp))
        .cloned()
        .collect();
    let mut found = ops::list_offsets(client, &known, OffsetSpec::Latest).await?;
    Ok(partitions
        .into_iter()
        .map(|tp| {
            let end = found.remove(&tp).and_then(|result| result.ok()).flatten();
            (tp, end)
        })
        .collect())
}

fn lag(committed: i64, end: Option<i64>) -> Option<i64> {
    end.map(|end| end.saturating_sub(committed).max(0))
}

/// The sum of lags; `None` when there are none or one is unknown.
fn sum_lags(lags: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    let mut total: Option<i64> = None;
    for lag in lags {
        total = Some(total.unwrap_or(0).saturating_add(lag?));
    }
    total
}

fn total_lag(offsets: &[Committed], ends: &HashMap<TopicPartition, Option<i64>>) -> Option<i64> {
    sum_lags(offsets.iter().map(|c| {
        let end = ends.get(&(c.topic.clone(), c.partition)).copied().flatten();
        lag(c.offset, end)
    }))
}

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

fn group_name(group_id: &str) -> GroupId {
    GroupId(StrBytes::from_string(group_id.to_string()))
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn group_not_found(group_id: &str) -> Problem {
    Problem::not_found(format!("group '{group_id}' does not exist"))
}

/// A Kafka error with the console's explanation of what it means here.
fn kafka_error(code: i16, context: String, explanation: &str) -> ClientError {
    ClientError::Kafka {
        code,
        name: error_name(code),
        context,
        message: Some(explanation.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
    use kafka_protocol::protocol::Encodable;

    fn encoded(version: i16, topics: &[(&str, &[i32])]) -> Bytes {
        let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
            topics
                .iter()
                .map(|(topic, partitions)| {
                    AssignedTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions.to_vec())
                })
                .collect(),
        );
        let mut buf = bytes::BytesMut::new();
        buf.put_i16(version);
        assignment.encode(&mut buf, version.min(3)).unwrap();
        buf.freeze()
    }

    #[test]
    fn assignments_decode_every_version_and_sort() {
        for version in 0..=3 {
            let bytes = encoded(version, &[("b", &[2, 0]), ("a", &[1])]);
            let decoded = decode_assignment(&bytes);
            assert_eq!(decoded.len(), 2);
            assert_eq!(decoded[0].topic, "a");
            assert_eq!(decoded[1].topic, "b");
            assert_eq!(decoded[1].partitions, vec![0, 2]);
        }
    }

    #[test]
    fn a_newer_assignment_version_reads_as_the_newest_known() {
        let bytes = encoded(7, &[("t", &[0])]);
        assert_eq!(decode_assignment(&bytes)[0].partitions, vec![0]);
    }

    #[test]
    fn garbage_assignments_are_empty_not_errors() {
        assert!(decode_assignment(&Bytes::new()).is_empty());
        assert!(decode_assignment(&Bytes::from_static(b"\x00")).is_empty());
        assert!(decode_assignment(&Bytes::from_static(b"partition-0")).is_empty());
        assert!(decode_assignment(&Bytes::from_static(b"\xff\xff\x00\x00")).is_empty());
        // A huge claimed array length with no bytes behind it.
        assert!(decode_assignment(&Bytes::from_static(b"\x00\x00\x7f\xff\xff\xff")).is_empty());
    }

    #[test]
    fn lag_is_never_negative_and_sums_are_null_when_unknown() {
        assert_eq!(lag(5, Some(10)), Some(5));
        assert_eq!(lag(12, Some(10)), Some(0));
        assert_eq!(lag(5, None), None);
        assert_eq!(sum_lags([Some(1), Some(2)].into_iter()), Some(3));
        assert_eq!(sum_lags([Some(1), None].into_iter()), None);
        assert_eq!(sum_lags(std::iter::empty()), None);
        assert_eq!(
            sum_lags([Some(i64::MAX), Some(1)].into_iter()),
            Some(i64::MAX)
        );
    }

    fn request(strategy: ResetStrategy, value: Option<i64>) -> ResetOffsetsRequest {
        ResetOffsetsRequest {
            topic: "t".into(),
            partitions: None,
            strategy,
            value,
            dry_run: true,
        }
    }

    #[test]
    fn reset_values_are_checked_against_the_strategy() {
        assert!(validate_reset_value(&request(ResetStrategy::Earliest, None)).is_ok());
        assert!(validate_reset_value(&request(ResetStrategy::Latest, Some(1))).is_err());
        assert!(validate_reset_value(&request(ResetStrategy::Offset, None)).is_err());
        assert!(validate_reset_value(&request(ResetStrategy::Offset, Some(-1))).is_err());
        assert!(validate_reset_value(&request(ResetStrategy::Timestamp, Some(-5))).is_err());
        assert_eq!(
            validate_reset_value(&request(ResetStrategy::Shift, Some(-5))).unwrap(),
            Some(-5)
        );
    }

    #[test]
    fn reset_partitions_must_exist() {
        let mut asked = request(ResetStrategy::Earliest, None);
        assert_eq!(reset_partitions(&asked, 0..3).unwrap(), vec![0, 1, 2]);
        asked.partitions = Some(vec![2, 0, 2]);
        assert_eq!(reset_partitions(&asked, 0..3).unwrap(), vec![0, 2]);
        asked.partitions = Some(vec![3]);
        assert_eq!(
            reset_partitions(&asked, 0..3).unwrap_err().status,
            StatusCode::UNPROCESSABLE_ENTITY.as_u16()
        );
        asked.partitions = Some(vec![]);
        assert!(reset_partitions(&asked, 0..3).is_err());
    }
}
