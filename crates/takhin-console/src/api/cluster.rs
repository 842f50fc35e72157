//! The cluster as a whole: configured clusters, overview (brokers, disks,
//! partition health), broker configs, the API versions brokers serve, and
//! what only Takhin can tell: throughput and storage health.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::AppState;
use super::extract::{Json, Path, Query};
use super::problem::{ApiResult, Problem};
use crate::client::ops::{self, ConfigEntry, RESOURCE_BROKER};
use crate::client::{ClientError, error_name};
use crate::storage_health::{
    DamageState, DamagedRangeView, PartitionDamage, PartitionRef, StorageHealth,
};

#[derive(OpenApi)]
#[openapi(
    paths(list_clusters, overview, broker_configs, api_versions, throughput, storage_health),
    components(schemas(ClusterSummary, Overview, Broker, LogDirView, Config, ConfigSynonym, ApiVersionView,
                       Throughput, crate::throughput::ThroughputPoint,
                       StorageHealth, PartitionDamage, DamagedRangeView, DamageState, PartitionRef)),
    tags((name = "cluster", description = "Clusters, brokers and their configs"))
)]
pub struct Doc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/clusters", get(list_clusters))
        .route("/clusters/{cluster}/overview", get(overview))
        .route(
            "/clusters/{cluster}/brokers/{broker_id}/configs",
            get(broker_configs),
        )
        .route("/clusters/{cluster}/api-versions", get(api_versions))
        .route("/clusters/{cluster}/throughput", get(throughput))
        .route("/clusters/{cluster}/storage-health", get(storage_health))
}

/// A configured cluster.
#[derive(Serialize, ToSchema)]
pub struct ClusterSummary {
    /// The name used in URLs.
    pub name: String,
    pub bootstrap_servers: Vec<String>,
    /// The cluster used when none is chosen.
    pub default: bool,
}

/// Lists the clusters the console is configured to manage.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "cluster",
    responses((status = 200, body = [ClusterSummary])))]
pub async fn list_clusters(State(state): State<AppState>) -> Json<Vec<ClusterSummary>> {
    Json(
        state
            .clusters()
            .enumerate()
            .map(|(index, (name, client))| ClusterSummary {
                name: name.to_string(),
                bootstrap_servers: client.bootstrap_servers().to_vec(),
                default: index == 0,
            })
            .collect(),
    )
}

/// A log directory of a broker.
#[derive(Serialize, ToSchema)]
pub struct LogDirView {
    pub path: String,
    /// Bytes of all partitions in the directory.
    pub size_bytes: i64,
    /// Size of the volume, when the broker reports it.
    pub total_bytes: Option<i64>,
    /// Free space on the volume, when the broker reports it.
    pub usable_bytes: Option<i64>,
    /// Kafka's error name if the directory is offline.
    pub error: Option<String>,
}

/// A broker of the cluster.
#[derive(Serialize, ToSchema)]
pub struct Broker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    pub is_controller: bool,
    pub log_dirs: Vec<LogDirView>,
    /// Why the log dirs could not be read, if they could not.
    pub log_dirs_error: Option<String>,
    /// Partitions this broker leads.
    pub leader_partitions: usize,
    /// Partition replicas this broker holds.
    pub replicas: usize,
}

/// The cluster at a glance.
#[derive(Serialize, ToSchema)]
pub struct Overview {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<Broker>,
    /// Topics, not counting internal ones.
    pub topic_count: usize,
    /// Internal topics only, such as `__consumer_offsets`.
    pub internal_topic_count: usize,
    /// Partitions of the topics counted in `topic_count`.
    pub partition_count: usize,
    /// Partitions of internal topics.
    pub internal_partition_count: usize,
    /// Partitions (of any topic) whose in-sync replicas are fewer than their replicas.
    pub under_replicated_partitions: usize,
    /// Partitions (of any topic) without a leader.
    pub offline_partitions: usize,
    /// Bytes of all partition replicas on all brokers.
    pub total_size_bytes: i64,
}

/// The cluster: brokers with disk usage, counts and partition health.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/overview", tag = "cluster",
    params(("cluster" = String, Path, description = "Cluster name")),
    responses((status = 200, body = Overview), (status = 404, body = Problem), (status = 502, body = Problem)))]
pub async fn overview(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
) -> ApiResult<Json<Overview>> {
    let client = state.cluster(&cluster)?;
    let metadata = client.refresh_metadata().await?;
    let usage = ops::log_dirs(&client).await?;
    let mut partition_count = 0;
    let mut internal_partition_count = 0;
    let mut under_replicated = 0;
    let mut offline = 0;
    let mut leaders = std::collections::HashMap::<i32, usize>::new();
    let mut replicas = std::collections::HashMap::<i32, usize>::new();
    for topic in &metadata.topics {
        for partition in &topic.partitions {
            if topic.internal {
                internal_partition_count += 1;
            } else {
                partition_count += 1;
            }
            if partition.leader < 0 {
                offline += 1;
            } else {
                *leaders.entry(partition.leader).or_default() += 1;
            }
            if partition.isr.len() < partition.replicas.len() {
                under_replicated += 1;
            }
            for replica in &partition.replicas {
                *replicas.entry(*replica).or_default() += 1;
            }
        }
    }
    let mut brokers: Vec<Broker> = metadata
        .brokers
        .iter()
        .map(|broker| {
            let (log_dirs, log_dirs_error) = match usage.by_broker.get(&broker.node_id) {
                Some(Ok(dirs)) => (dirs.iter().map(log_dir_view).collect(), None),
                Some(Err(error)) => (Vec::new(), Some(error.clone())),
                None => (Vec::new(), None),
            };
            Broker {
                node_id: broker.node_id,
                host: broker.host.clone(),
                port: broker.port,
                rack: broker.rack.clone(),
                is_controller: broker.node_id == metadata.controller_id,
                log_dirs,
                log_dirs_error,
                leader_partitions: leaders.get(&broker.node_id).copied().unwrap_or(0),
                replicas: replicas.get(&broker.node_id).copied().unwrap_or(0),
            }
        })
        .collect();
    brokers.sort_by_key(|broker| broker.node_id);
    Ok(Json(Overview {
        cluster_id: metadata.cluster_id.clone(),
        controller_id: metadata.controller_id,
        brokers,
        topic_count: metadata.topics.iter().filter(|t| !t.internal).count(),
        internal_topic_count: metadata.topics.iter().filter(|t| t.internal).count(),
        partition_count,
        internal_partition_count,
        under_replicated_partitions: under_replicated,
        offline_partitions: offline,
        total_size_bytes: usage.partition_bytes.values().sum(),
    }))
}

fn log_dir_view(dir: &ops::LogDir) -> LogDirView {
    LogDirView {
        path: dir.path.clone(),
        size_bytes: dir.size_bytes,
        total_bytes: (dir.total_bytes >= 0).then_some(dir.total_bytes),
        usable_bytes: (dir.usable_bytes >= 0).then_some(dir.usable_bytes),
        error: (dir.error_code != 0).then(|| error_name(dir.error_code)),
    }
}

/// A config entry of a broker or topic.
#[derive(Serialize, ToSchema)]
pub struct Config {
    pub name: String,
    /// Null when sensitive or unset.
    pub value: Option<String>,
    /// Where the value comes from: `DYNAMIC_TOPIC_CONFIG`, `STATIC_BROKER_CONFIG`, `DEFAULT_CONFIG`, ...
    pub source: String,
    /// True when the value is the default (not set on this resource).
    pub is_default: bool,
    pub read_only: bool,
    pub sensitive: bool,
    /// BOOLEAN, STRING, INT, SHORT, LONG, DOUBLE, LIST, CLASS, PASSWORD or UNKNOWN.
    #[serde(rename = "type")]
    pub config_type: String,
    pub documentation: Option<String>,
    /// The value this resource would have without its own setting.
    pub default_value: Option<String>,
    /// Values from every level, highest precedence first.
    pub synonyms: Vec<ConfigSynonym>,
}

/// One level of a config's precedence chain.
#[derive(Serialize, ToSchema)]
pub struct ConfigSynonym {
    pub name: String,
    pub value: Option<String>,
    pub source: String,
}

pub fn config_source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

fn config_type_name(config_type: i8) -> &'static str {
    match config_type {
        1 => "BOOLEAN",
        2 => "STRING",
        3 => "INT",
        4 => "SHORT",
        5 => "LONG",
        6 => "DOUBLE",
        7 => "LIST",
        8 => "CLASS",
        9 => "PASSWORD",
        _ => "UNKNOWN",
    }
}

/// A DescribeConfigs entry as the API shows it. `own_source` is the source
/// that means "set on this resource" (topic or per-broker dynamic config).
pub fn config_view(entry: ConfigEntry, own_sources: &[i8]) -> Config {
    let is_default = !own_sources.contains(&entry.source);
    let default_value = entry
        .synonyms
        .iter()
        .find(|(_, _, source)| !own_sources.contains(source))
        .and_then(|(_, value, _)| value.clone())
        .or_else(|| {
            if is_default {
                entry.value.clone()
            } else {
                None
            }
        });
    Config {
        name: entry.name,
        value: entry.value,
        source: config_source_name(entry.source).to_string(),
        is_default,
        read_only: entry.read_only,
        sensitive: entry.sensitive,
        config_type: config_type_name(entry.config_type).to_string(),
        documentation: entry.documentation.filter(|d| !d.is_empty()),
        default_value,
        synonyms: entry
            .synonyms
            .into_iter()
            .map(|(name, value, source)| ConfigSynonym {
                name,
                value,
                source: config_source_name(source).to_string(),
            })
            .collect(),
    }
}

/// The configs of one broker, with sources and documentation.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/brokers/{broker_id}/configs", tag = "cluster",
    params(("cluster" = String, Path, description = "Cluster name"), ("broker_id" = i32, Path, description = "Broker node id")),
    responses((status = 200, body = [Config]), (status = 404, body = Problem)))]
pub async fn broker_configs(
    State(state): State<AppState>,
    Path((cluster, broker_id)): Path<(String, i32)>,
) -> ApiResult<Json<Vec<Config>>> {
    let client = state.cluster(&cluster)?;
    let metadata = client.metadata().await?;
    if metadata.broker(broker_id).is_none() {
        return Err(Problem::not_found(format!(
            "broker {broker_id} is not in the cluster"
        )));
    }
    let mut results =
        ops::describe_configs(&client, RESOURCE_BROKER, &[broker_id.to_string()], None).await?;
    let entries = results
        .remove(&broker_id.to_string())
        .ok_or_else(|| ClientError::Decode("DescribeConfigs answered another resource".into()))??;
    // Dynamic per-broker and static configs are this broker's own.
    let mut configs: Vec<Config> = entries
        .into_iter()
        .map(|entry| config_view(entry, &[2, 4]))
        .collect();
    configs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(configs))
}

/// An API a broker serves and its version range.
#[derive(Serialize, ToSchema)]
pub struct ApiVersionView {
    pub api_key: i16,
    /// Kafka's name of the API (`Produce`, `Fetch`, ...).
    pub name: String,
    pub min_version: i16,
    pub max_version: i16,
}

/// The API versions the cluster serves (as a broker reports them).
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/api-versions", tag = "cluster",
    params(("cluster" = String, Path, description = "Cluster name")),
    responses((status = 200, body = [ApiVersionView]), (status = 404, body = Problem)))]
pub async fn api_versions(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
) -> ApiResult<Json<Vec<ApiVersionView>>> {
    let client = state.cluster(&cluster)?;
    let connection = client.any().await?;
    Ok(Json(
        connection
            .all_broker_versions()
            .into_iter()
            .map(|(api_key, min_version, max_version)| ApiVersionView {
                api_key,
                name: kafka_protocol::messages::ApiKey::try_from(api_key)
                    .map(|key| format!("{key:?}"))
                    .unwrap_or_else(|_| format!("Unknown({api_key})")),
                min_version,
                max_version,
            })
            .collect(),
    ))
}

/// Throughput over the last hour.
#[derive(Serialize, ToSchema)]
pub struct Throughput {
    /// False when the console has no metrics source for this cluster (the
    /// Kafka protocol carries none; `takhin serve` gives its own broker's).
    pub available: bool,
    /// Seconds between points.
    pub interval_seconds: u64,
    /// Oldest first; each point holds rates over the interval ending at it.
    pub points: Vec<crate::throughput::ThroughputPoint>,
}

/// Bytes in/out, records in and requests per second over the last hour.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/throughput", tag = "cluster",
    params(("cluster" = String, Path, description = "Cluster name")),
    responses((status = 200, body = Throughput), (status = 404, body = Problem)))]
pub async fn throughput(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
) -> ApiResult<Json<Throughput>> {
    state.cluster(&cluster)?;
    let interval_seconds = crate::throughput::SAMPLE_INTERVAL.as_secs();
    Ok(Json(match state.throughput(&cluster) {
        Some(history) => Throughput {
            available: true,
            interval_seconds,
            points: history.points(),
        },
        None => Throughput {
            available: false,
            interval_seconds,
            points: Vec::new(),
        },
    }))
}

/// Query of the storage health.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StorageHealthQuery {
    /// Only this topic's partitions.
    pub topic: Option<String>,
}

/// Damaged data found in closed log segments (moved out by recovery, or
/// found by the scrubber and still served) and partitions whose log is
/// offline. Known only for a cluster Takhin runs (`takhin serve`); for any
/// other the answer is `available: false`.
#[utoipa::path(get, path = "/api/v1/clusters/{cluster}/storage-health", tag = "cluster",
    params(("cluster" = String, Path, description = "Cluster name"), StorageHealthQuery),
    responses((status = 200, body = StorageHealth), (status = 404, body = Problem)))]
pub async fn storage_health(
    State(state): State<AppState>,
    Path(cluster): Path<String>,
    Query(query): Query<StorageHealthQuery>,
) -> ApiResult<Json<StorageHealth>> {
    state.cluster(&cluster)?;
    let read = state.storage_health(&cluster).map(|source| source.read());
    Ok(Json(match read {
        Some(Some(partitions)) => {
            StorageHealth::from_partitions(partitions, query.topic.as_deref())
        }
        // A source that cannot be read (its broker shutting down) knows nothing either.
        Some(None) | None => StorageHealth::unavailable(),
    }))
}
