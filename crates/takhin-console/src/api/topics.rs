//! Topics: list (search, sort, paging), details, create, delete, configs
//! (incremental edits), add partitions, delete records, empty.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use kafka_protocol::messages::TopicName;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsRequest, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableTopic, CreatableTopicConfig, CreateTopicsRequest,
};
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsRequest, DeleteRecordsTopic,
};
use kafka_protocol::messages::delete_topics_request::{DeleteTopicState, DeleteTopicsRequest};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::AppState;
use super::cluster::{Config, config_view};
use super::extract::{Json, Path, Query};
use super::problem::{ApiResult, Problem};
use crate::client::ops::{self, RESOURCE_TOPIC, TopicPartition};
use crate::client::{
    ClientError, ClusterMetadata, KafkaClient, TopicInfo, check_with_message, single,
};

#[derive(OpenApi)]
#[openapi(
    paths(list_topics, create_topic, get_topic, delete_topic, get_topic_configs,
          alter_topic_configs, add_partitions, delete_records, empty_topic),
    components(schemas(TopicPage, TopicSummary, TopicDetails, PartitionDetails, CreateTopic,
                       AlterConfigs, AddPartitions, DeleteRecords, PartitionOffset,
                       DeleteRecordsResult, TopicSort, SortOrder)),
    tags((name = "topics", description = "Topics, their partitions and configs"))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/clusters/{cluster}/topics",
            get(list_topics).post(create_topic),
        )
        .route(
            "/clusters/{cluster}/topics/{topic}",
            get(get_topic).delete(delete_topic),
        )
        .route(
            "/clusters/{cluster}/topics/{topic}/configs",
            get(get_topic_configs).patch(alter_topic_configs),
        )
        .route(
            "/clusters/{cluster}/topics/{topic}/partitions",
            post(add_partitions),
        )
        .route(
            "/clusters/{cluster}/topics/{topic}/delete-records",
            post(delete_records),
        )
        .route(
            "/clusters/{cluster}/topics/{topic}/empty",
            post(empty_topic),
        )
}

/// Most topics one page may hold.
pub const PAGE_SIZE_MAX: usize = 1000;
/// Most partitions a topic may be created with or grown to through the console.
pub const PARTITIONS_MAX: i32 = 10_000;
/// Kafka's limit on topic name length.
pub const TOPIC_NAME_LENGTH_MAX: usize = 249;
/// How long the cluster may take to create or delete topics.
const ADMIN_TIMEOUT_MS: i32 = 30_000;

/// Checks a topic name as Kafka does: 1–249 of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() || name.len() > TOPIC_NAME_LENGTH_MAX {
        return Err(Problem::unprocessable(format!(
            "a topic name must be 1 to {TOPIC_NAME_LENGTH_MAX} characters long"
        )));
    }
    if name == "." || name == ".." {
        return Err(Problem::unprocessable("a topic name cannot be '.' or '..'"));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(Problem::unprocessable(format!(
            "a topic name may contain only ASCII letters, digits, '.', '_' and '-', not {bad:?}"
        )));
    }
    Ok(())
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// What the topic list can be sorted by.
#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum TopicSort {
    #[default]
    Name,
    Partitions,
    Size,
    Messages,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, ToSchema, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

/// Query of the topic list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopicListQuery {
    /// Case-insensitive substring of the topic name.
    pub search: Option<String>,
    #[param(inline)]
    pub sort: Option<TopicSort>,
    #[param(inline)]
    pub order: Option<SortOrder>,
    /// 1-based page number.
    #[param(minimum = 1)]
    pub page: Option<usize>,
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<usize>,
    /// Include internal topics such as `__consumer_offsets`.
    pub include_internal: Option<bool>,
}

/// A topic in the list.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TopicSummary {
    pub name: String,
    pub internal: bool,
    pub partition_count: usize,
    pub replication_factor: usize,
    /// Bytes on disk over all replicas; null when the brokers do not say.
    pub size_bytes: Option<i64>,
    /// End offset minus start offset over partitions: exact unless the
    /// topic is compacted or has transaction markers.
    pub message_count: Option<i64>,
    /// `delete`, `compact` or `compact,delete`.
    pub cleanup_policy: Option<String>,
}

/// A page of topics.
#[derive(Serialize, ToSchema)]
pub struct TopicPage {
    pub items: Vec<TopicSummary>,
    /// Topics matching the search, over all pages.
    pub total: usize,
    pub page: usize,
    pub page_size: usize,
}

/// Lists topics with their size, message count and cleanup policy.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/topics", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"), TopicListQuery),
    responses((status = 200, body = TopicPage), (status = 400, body = Problem),
               (status = 404, body = Problem), (status = 502, body = Problem)))]
pub async fn list_topics(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
    Query(query): Query<TopicListQuery>,
) -> ApiResult<Json<TopicPage>> {
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(50);
    if page == 0 {
        return Err(Problem::bad_request("page starts at 1"));
    }
    if page_size == 0 || page_size > PAGE_SIZE_MAX {
        return Err(Problem::bad_request(format!(
            "page_size must be between 1 and {PAGE_SIZE_MAX}"
        )));
    }
    let client = state.cluster(&cluster)?;
    let metadata = client.refresh_metadata().await?;
    let search = query.search.as_deref().map(str::to_lowercase);
    let include_internal = query.include_internal.unwrap_or(false);
    let topics: Vec<&TopicInfo> = metadata
        .topics
        .iter()
        .filter(|topic| include_internal || !topic.internal)
        .filter(|topic| {
            search
                .as_deref()
                .is_none_or(|s| topic.name.to_lowercase().contains(s))
        })
        .collect();
    let mut items = summarize(&client, &topics).await?;
    let sort = query.sort.unwrap_or_default();
    items.sort_by(|a, b| {
        match sort {
            TopicSort::Name => a.name.cmp(&b.name),
            TopicSort::Partitions => a.partition_count.cmp(&b.partition_count),
            TopicSort::Size => a.size_bytes.cmp(&b.size_bytes),
            TopicSort::Messages => a.message_count.cmp(&b.message_count),
        }
        .then_with(|| a.name.cmp(&b.name))
    });
    if query.order.unwrap_or_default() == SortOrder::Desc {
        items.reverse();
    }
    let total = items.len();
    let items = items
        .into_iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .collect();
    Ok(Json(TopicPage {
        items,
        total,
        page,
        page_size,
    }))
}

/// Sizes, offsets and cleanup policies of `topics`, with one round of
/// requests for all of them.
async fn summarize(
    client: &KafkaClient,
    topics: &[&TopicInfo],
) -> Result<Vec<TopicSummary>, ClientError> {
    let partitions: Vec<TopicPartition> = topics
        .iter()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .map(|p| (topic.name.clone(), p.partition))
        })
        .collect();
    let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
    let (usage, ranges, policies) = futures_util::future::join3(
        ops::log_dirs(client),
        ops::offset_ranges(client, &partitions),
        async {
            if names.is_empty() {
                return Ok(BTreeMap::new());
            }
            ops::describe_configs(client, RESOURCE_TOPIC, &names, Some(&["cleanup.policy"])).await
        },
    )
    .await;
    let usage = usage.ok();
    let ranges = ranges.unwrap_or_default();
    let policies = policies.unwrap_or_default();
    Ok(topics
        .iter()
        .map(|topic| {
            let message_count = topic
                .partitions
                .iter()
                .map(|p| match ranges.get(&(topic.name.clone(), p.partition)) {
                    Some((Some(start), Some(end))) => Some(end - start),
                    _ => None,
                })
                .sum::<Option<i64>>();
            let cleanup_policy = policies
                .get(&topic.name)
                .and_then(|result| result.as_ref().ok())
                .and_then(|entries| entries.iter().find(|e| e.name == "cleanup.policy"))
                .and_then(|entry| entry.value.clone());
            TopicSummary {
                name: topic.name.clone(),
                internal: topic.internal,
                partition_count: topic.partitions.len(),
                replication_factor: topic
                    .partitions
                    .iter()
                    .map(|p| p.replicas.len())
                    .max()
                    .unwrap_or(0),
                size_bytes: usage.as_ref().map(|u| u.topic_bytes(&topic.name)),
                message_count,
                cleanup_policy,
            }
        })
        .collect())
}

/// One partition of a topic.
#[derive(Serialize, ToSchema)]
pub struct PartitionDetails {
    pub partition: i32,
    /// Node id of the leader; -1 when offline.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    /// The first offset still in the log.
    pub log_start_offset: Option<i64>,
    /// The offset the next record will get (what consumers can read up to).
    pub high_watermark: Option<i64>,
    /// Bytes on disk over all replicas.
    pub size_bytes: Option<i64>,
    pub message_count: Option<i64>,
    /// Kafka's error name when metadata reports one for the partition.
    pub error: Option<String>,
}

/// A topic and its partitions.
#[derive(Serialize, ToSchema)]
pub struct TopicDetails {
    pub name: String,
    pub topic_id: String,
    pub internal: bool,
    pub partition_count: usize,
    pub replication_factor: usize,
    pub size_bytes: Option<i64>,
    pub message_count: Option<i64>,
    pub cleanup_policy: Option<String>,
    pub partitions: Vec<PartitionDetails>,
    /// Configs set on the topic itself (not defaults).
    pub overrides: BTreeMap<String, Option<String>>,
}

async fn describe_topic(client: &KafkaClient, name: &str) -> ApiResult<TopicDetails> {
    let metadata: ClusterMetadata = client.topic_metadata(&[name]).await?;
    let topic = metadata
        .topic(name)
        .ok_or_else(|| Problem::not_found(format!("topic '{name}' does not exist")))?;
    let partitions: Vec<TopicPartition> = topic
        .partitions
        .iter()
        .map(|p| (topic.name.clone(), p.partition))
        .collect();
    let (usage, ranges, configs) = futures_util::future::join3(
        ops::log_dirs(client),
        ops::offset_ranges(client, &partitions),
        ops::describe_configs(client, RESOURCE_TOPIC, &[name.to_string()], None),
    )
    .await;
    let usage = usage.ok();
    let ranges = ranges.unwrap_or_default();
    let configs = configs
        .ok()
        .and_then(|mut all| all.remove(name))
        .and_then(Result::ok)
        .unwrap_or_default();
    let partitions: Vec<PartitionDetails> = topic
        .partitions
        .iter()
        .map(|p| {
            let key = (topic.name.clone(), p.partition);
            let (start, end) = ranges.get(&key).copied().unwrap_or((None, None));
            PartitionDetails {
                partition: p.partition,
                leader: p.leader,
                leader_epoch: p.leader_epoch,
                replicas: p.replicas.clone(),
                isr: p.isr.clone(),
                offline_replicas: p.offline_replicas.clone(),
                log_start_offset: start,
                high_watermark: end,
                size_bytes: usage
                    .as_ref()
                    .map(|u| u.partition_bytes.get(&key).copied().unwrap_or(0)),
                message_count: start.zip(end).map(|(start, end)| end - start),
                error: (p.error_code != 0).then(|| crate::client::error_name(p.error_code)),
            }
        })
        .collect();
    Ok(TopicDetails {
        name: topic.name.clone(),
        topic_id: topic.topic_id.to_string(),
        internal: topic.internal,
        partition_count: partitions.len(),
        replication_factor: topic
            .partitions
            .iter()
            .map(|p| p.replicas.len())
            .max()
            .unwrap_or(0),
        size_bytes: partitions.iter().map(|p| p.size_bytes).sum(),
        message_count: partitions.iter().map(|p| p.message_count).sum(),
        cleanup_policy: configs
            .iter()
            .find(|c| c.name == "cleanup.policy")
            .and_then(|c| c.value.clone()),
        overrides: configs
            .iter()
            .filter(|c| c.source == 1)
            .map(|c| {
                (
                    c.name.clone(),
                    if c.sensitive { None } else { c.value.clone() },
                )
            })
            .collect(),
        partitions,
    })
}

/// A topic with its partitions: leaders, replicas, offsets and sizes.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/topics/{topic}", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    responses((status = 200, body = TopicDetails), (status = 404, body = Problem),
               (status = 502, body = Problem)))]
pub async fn get_topic(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
) -> ApiResult<Json<TopicDetails>> {
    let client = state.cluster(&cluster)?;
    validate_topic_name(&topic).map_err(|_| not_found(&topic))?;
    Ok(Json(describe_topic(&client, &topic).await?))
}

fn not_found(topic: &str) -> Problem {
    Problem::not_found(format!("topic '{topic}' does not exist"))
}

/// A topic to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopic {
    pub name: String,
    /// Partition count; the broker's `num.partitions` when absent.
    #[schema(minimum = 1, maximum = 10000)]
    pub partitions: Option<i32>,
    /// Replicas per partition; the broker's `default.replication.factor` when absent.
    #[schema(minimum = 1, maximum = 32767)]
    pub replication_factor: Option<i16>,
    /// Topic configs (`retention.ms`, `cleanup.policy`, ...).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
    /// Only check that the cluster would accept the topic.
    #[serde(default)]
    pub validate_only: bool,
}

/// Creates a topic with configs.
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/topics", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name")),
    request_body = CreateTopic,
    responses((status = 201, body = TopicDetails, description = "Created"),
               (status = 200, body = TopicDetails, description = "validate_only: the topic as it would be"),
               (status = 400, body = Problem), (status = 404, body = Problem),
               (status = 409, body = Problem, description = "The topic exists"),
               (status = 422, body = Problem, description = "The cluster refused a value")))]
pub async fn create_topic(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
    Json(body): Json<CreateTopic>,
) -> ApiResult<(StatusCode, Json<serde_json::Value>)> {
    validate_topic_name(&body.name)?;
    if let Some(partitions) = body.partitions
        && !(1..=PARTITIONS_MAX).contains(&partitions)
    {
        return Err(Problem::unprocessable(format!(
            "partitions must be between 1 and {PARTITIONS_MAX}"
        )));
    }
    if let Some(replication_factor) = body.replication_factor
        && replication_factor < 1
    {
        return Err(Problem::unprocessable(
            "replication_factor must be at least 1",
        ));
    }
    if let Some(key) = body.configs.keys().find(|k| k.is_empty()) {
        return Err(Problem::unprocessable(format!("empty config name {key:?}")));
    }
    let client = state.cluster(&cluster)?;
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(ADMIN_TIMEOUT_MS)
        .with_validate_only(body.validate_only)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic_name(&body.name))
                .with_num_partitions(body.partitions.unwrap_or(-1))
                .with_replication_factor(body.replication_factor.unwrap_or(-1))
                .with_configs(
                    body.configs
                        .iter()
                        .map(|(name, value)| {
                            CreatableTopicConfig::default()
                                .with_name(StrBytes::from_string(name.clone()))
                                .with_value(Some(StrBytes::from_string(value.clone())))
                        })
                        .collect(),
                ),
        ]);
    let response = client.send_any(&request).await?;
    let result = single(&response.topics, "CreateTopics")?;
    check_with_message(result.error_code, result.error_message.as_ref(), || {
        format!("creating topic '{}'", body.name)
    })?;
    if body.validate_only {
        return Ok((
            StatusCode::OK,
            Json(serde_json::json!({
                "name": body.name,
                "partition_count": result.num_partitions,
                "replication_factor": result.replication_factor,
            })),
        ));
    }
    client.invalidate_metadata();
    // Leaders are elected asynchronously in a cluster: wait briefly for the
    // topic to appear in metadata so the answer (and the next page) show it.
    let details = wait_for_topic(&client, &body.name).await?;
    let details = serde_json::to_value(details)
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((StatusCode::CREATED, Json(details)))
}

async fn wait_for_topic(client: &KafkaClient, name: &str) -> ApiResult<TopicDetails> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match describe_topic(client, name).await {
            Ok(details) if details.partitions.iter().all(|p| p.leader >= 0) => {
                return Ok(details);
            }
            Ok(details) if tokio::time::Instant::now() >= deadline => return Ok(details),
            Err(problem) if tokio::time::Instant::now() >= deadline => return Err(problem),
            _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
}

/// Deletes a topic and all its data.
#[utoipa::path(delete, path = "/api/v1/clusters/{cluster}/topics/{topic}", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem),
               (status = 403, body = Problem), (status = 502, body = Problem)))]
pub async fn delete_topic(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let client = state.cluster(&cluster)?;
    validate_topic_name(&topic).map_err(|_| not_found(&topic))?;
    let connection = client.any().await?;
    let version = connection.version_for::<DeleteTopicsRequest>()?;
    let mut request = DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT_MS);
    if version >= 6 {
        request = request.with_topics(vec![
            DeleteTopicState::default().with_name(Some(topic_name(&topic))),
        ]);
    } else {
        request = request.with_topic_names(vec![topic_name(&topic)]);
    }
    let response = connection.send(&request).await?;
    let result = single(&response.responses, "DeleteTopics")?;
    check_with_message(result.error_code, result.error_message.as_ref(), || {
        format!("deleting topic '{topic}'")
    })?;
    client.invalidate_metadata();
    Ok(StatusCode::NO_CONTENT)
}

/// All configs of a topic: value, source, default and documentation.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/topics/{topic}/configs", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    responses((status = 200, body = [Config]), (status = 404, body = Problem)))]
pub async fn get_topic_configs(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
) -> ApiResult<Json<Vec<Config>>> {
    let client = state.cluster(&cluster)?;
    validate_topic_name(&topic).map_err(|_| not_found(&topic))?;
    Ok(Json(topic_configs(&client, &topic).await?))
}

async fn topic_configs(client: &KafkaClient, topic: &str) -> ApiResult<Vec<Config>> {
    let mut results =
        ops::describe_configs(client, RESOURCE_TOPIC, &[topic.to_string()], None).await?;
    let entries = results
        .remove(topic)
        .ok_or_else(|| ClientError::Decode("DescribeConfigs answered another resource".into()))?
        .map_err(|error| match error.kafka_code() {
            Some(3) => not_found(topic),
            _ => error.into(),
        })?;
    let mut configs: Vec<Config> = entries
        .into_iter()
        .map(|entry| config_view(entry, &[1]))
        .collect();
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(configs)
}

/// An incremental config change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlterConfigs {
    /// Configs to set on the topic.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Configs to remove from the topic (back to their defaults).
    #[serde(default)]
    pub delete: Vec<String>,
    /// Only check that the cluster would accept the change.
    #[serde(default)]
    pub validate_only: bool,
}

/// Changes some configs of a topic, leaving the others as they are; answers
/// all configs after the change.
#[utoipa::path(patch, path = "/api/v1/clusters/{cluster}/topics/{topic}/configs", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    request_body = AlterConfigs,
    responses((status = 200, body = [Config]), (status = 400, body = Problem),
               (status = 404, body = Problem),
               (status = 422, body = Problem, description = "Unknown config or invalid value")))]
pub async fn alter_topic_configs(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
    Json(body): Json<AlterConfigs>,
) -> ApiResult<Json<Vec<Config>>> {
    let client = state.cluster(&cluster)?;
    validate_topic_name(&topic).map_err(|_| not_found(&topic))?;
    if body.set.is_empty() && body.delete.is_empty() {
        return Err(Problem::unprocessable(
            "nothing to change: set and delete are empty",
        ));
    }
    if let Some(name) = body.delete.iter().find(|name| body.set.contains_key(*name)) {
        return Err(Problem::unprocessable(format!(
            "config '{name}' is both set and deleted"
        )));
    }
    if let Some(name) = body
        .set
        .keys()
        .chain(body.delete.iter())
        .find(|n| n.is_empty())
    {
        return Err(Problem::unprocessable(format!(
            "empty config name {name:?}"
        )));
    }
    let mut configs: Vec<AlterableConfig> = body
        .set
        .iter()
        .map(|(name, value)| {
            AlterableConfig::default()
                .with_name(StrBytes::from_string(name.clone()))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(value.clone())))
        })
        .collect();
    configs.extend(body.delete.iter().map(|name| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.clone()))
            .with_config_operation(1)
            .with_value(None)
    }));
    let request = IncrementalAlterConfigsRequest::default()
        .with_validate_only(body.validate_only)
        .with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_string(topic.clone()))
                .with_configs(configs),
        ]);
    let response = client.send_any(&request).await?;
    let result = single(&response.responses, "IncrementalAlterConfigs")?;
    check_with_message(result.error_code, result.error_message.as_ref(), || {
        format!("changing configs of topic '{topic}'")
    })?;
    if body.validate_only {
        return Ok(Json(topic_configs(&client, &topic).await?));
    }
    // In a KRaft cluster the change reaches brokers asynchronously: answer
    // once DescribeConfigs shows it (or after a short deadline), so the
    // caller never sees its own change missing.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let configs = topic_configs(&client, &topic).await?;
        let applied = body.set.iter().all(|(name, value)| {
            configs.iter().any(|c| {
                &c.name == name && (c.sensitive || c.value.as_deref() == Some(value.trim()))
            })
        }) && body
            .delete
            .iter()
            .all(|name| configs.iter().all(|c| &c.name != name || c.is_default));
        if applied || tokio::time::Instant::now() >= deadline {
            return Ok(Json(configs));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The new partition count.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartitions {
    /// The total partition count after the change; larger than today's.
    #[schema(minimum = 1, maximum = 10000)]
    pub count: i32,
    #[serde(default)]
    pub validate_only: bool,
}

/// Adds partitions to a topic (partitions cannot be removed).
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/topics/{topic}/partitions", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    request_body = AddPartitions,
    responses((status = 200, body = TopicDetails), (status = 404, body = Problem),
               (status = 422, body = Problem, description = "Count not larger than today's")))]
pub async fn add_partitions(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
    Json(body): Json<AddPartitions>,
) -> ApiResult<Json<TopicDetails>> {
    let client = state.cluster(&cluster)?;
    validate_topic_name(&topic).map_err(|_| not_found(&topic))?;
    if !(1..=PARTITIONS_MAX).contains(&body.count) {
        return Err(Problem::unprocessable(format!(
            "count must be between 1 and {PARTITIONS_MAX}"
        )));
    }
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(ADMIN_TIMEOUT_MS)
        .with_validate_only(body.validate_only)
        .with_topics(vec![
            CreatePartitionsTopic::default()
                .with_name(topic_name(&topic))
                .with_count(body.count)
                .with_assignments(None),
        ]);
    let response = client.send_any(&request).await?;
    let result = single(&response.results, "CreatePartitions")?;
    check_with_message(result.error_code, result.error_message.as_ref(), || {
        format!("adding partitions to topic '{topic}'")
    })?;
    client.invalidate_metadata();
    Ok(Json(wait_for_topic(&client, &topic).await?))
}

/// Where to cut a partition.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartitionOffset {
    pub partition: i32,
    /// Records before this offset are deleted; -1 means the high watermark
    /// (everything).
    pub offset: i64,
}

/// Which records to delete.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRecords {
    pub partitions: Vec<PartitionOffset>,
}

/// A partition after DeleteRecords.
#[derive(Serialize, ToSchema)]
pub struct DeleteRecordsResult {
    pub partition: i32,
    /// The new log start offset.
    pub low_watermark: Option<i64>,
    /// Kafka's error name if this partition failed.
    pub error: Option<String>,
}

/// Deletes records before an offset, per partition (moves the log start).
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/topics/{topic}/delete-records", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    request_body = DeleteRecords,
    responses((status = 200, body = [DeleteRecordsResult]), (status = 404, body = Problem),
               (status = 422, body = Problem)))]
pub async fn delete_records(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
    Json(body): Json<DeleteRecords>,
) -> ApiResult<Json<Vec<DeleteRecordsResult>>> {
    let client = state.cluster(&cluster)?;
    validate_topic_name(&topic).map_err(|_| not_found(&topic))?;
    if body.partitions.is_empty() {
        return Err(Problem::unprocessable("no partitions given"));
    }
    let metadata = client.topic_metadata(&[&topic]).await?;
    let info = metadata.topic(&topic).ok_or_else(|| not_found(&topic))?;
    let mut seen = std::collections::HashSet::new();
    for cut in &body.partitions {
        if !info.partitions.iter().any(|p| p.partition == cut.partition) {
            return Err(Problem::unprocessable(format!(
                "topic '{topic}' has no partition {}",
                cut.partition
            )));
        }
        if cut.offset < -1 {
            return Err(Problem::unprocessable(format!(
                "offset {} of partition {} is negative (-1 means the high watermark)",
                cut.offset, cut.partition
            )));
        }
        if !seen.insert(cut.partition) {
            return Err(Problem::unprocessable(format!(
                "partition {} is given twice",
                cut.partition
            )));
        }
    }
    let cuts: Vec<(i32, i64)> = body
        .partitions
        .iter()
        .map(|c| (c.partition, c.offset))
        .collect();
    Ok(Json(delete_before(&client, &topic, &cuts).await?))
}

async fn delete_before(
    client: &KafkaClient,
    topic: &str,
    cuts: &[(i32, i64)],
) -> ApiResult<Vec<DeleteRecordsResult>> {
    let mut by_leader: BTreeMap<i32, Vec<(i32, i64)>> = BTreeMap::new();
    let mut results: HashMap<i32, DeleteRecordsResult> = HashMap::new();
    for (partition, offset) in cuts {
        match client.leader(topic, *partition).await {
            Ok(leader) => by_leader
                .entry(leader)
                .or_default()
                .push((*partition, *offset)),
            Err(error) => {
                results.insert(
                    *partition,
                    DeleteRecordsResult {
                        partition: *partition,
                        low_watermark: None,
                        error: Some(error.to_string()),
                    },
                );
            }
        }
    }
    let requests = by_leader.into_iter().map(|(leader, cuts)| async move {
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(ADMIN_TIMEOUT_MS)
            .with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(
                        cuts.iter()
                            .map(|(partition, offset)| {
                                DeleteRecordsPartition::default()
                                    .with_partition_index(*partition)
                                    .with_offset(*offset)
                            })
                            .collect(),
                    ),
            ]);
        (cuts, client.send_to(leader, &request).await)
    });
    for (cuts, response) in futures_util::future::join_all(requests).await {
        match response {
            Ok(response) => {
                for topic_result in response.topics {
                    for p in topic_result.partitions {
                        results.insert(
                            p.partition_index,
                            DeleteRecordsResult {
                                partition: p.partition_index,
                                low_watermark: (p.error_code == 0).then_some(p.low_watermark),
                                error: (p.error_code != 0)
                                    .then(|| crate::client::error_name(p.error_code)),
                            },
                        );
                    }
                }
            }
            Err(error) => {
                for (partition, _) in cuts {
                    results.insert(
                        partition,
                        DeleteRecordsResult {
                            partition,
                            low_watermark: None,
                            error: Some(error.to_string()),
                        },
                    );
                }
            }
        }
    }
    let mut results: Vec<DeleteRecordsResult> = results.into_values().collect();
    results.sort_by_key(|r| r.partition);
    Ok(results)
}

/// Deletes every record of every partition (the topic stays).
#[utoipa::path(post, path = "/api/v1/clusters/{cluster}/topics/{topic}/empty", tag = "topics",
    params(("cluster" = String, Path, description = "Cluster name"),
           ("topic" = String, Path, description = "Topic name")),
    responses((status = 200, body = [DeleteRecordsResult]), (status = 404, body = Problem)))]
pub async fn empty_topic(
    State(state): State<AppState>,
    Path((cluster, topic)): Path<(String, String)>,
) -> ApiResult<Json<Vec<DeleteRecordsResult>>> {
    let client = state.cluster(&cluster)?;
    validate_topic_name(&topic).map_err(|_| not_found(&topic))?;
    let metadata = client.topic_metadata(&[&topic]).await?;
    let info = metadata.topic(&topic).ok_or_else(|| not_found(&topic))?;
    let cuts: Vec<(i32, i64)> = info.partitions.iter().map(|p| (p.partition, -1)).collect();
    Ok(Json(delete_before(&client, &topic, &cuts).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_eu-west").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name(".").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("has space").is_err());
        assert!(validate_topic_name("ünïcode").is_err());
        assert!(validate_topic_name(&"a".repeat(249)).is_ok());
        assert!(validate_topic_name(&"a".repeat(250)).is_err());
    }
}
