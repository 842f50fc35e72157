//! The console's Kafka client: just enough of a client to operate a cluster.
//!
//! It speaks the Kafka protocol (the `kafka-protocol` message types) to any
//! Kafka-compatible cluster, Takhin or Apache Kafka alike, and never calls
//! broker internals. It keeps:
//!
//! - one pipelined [`Connection`] per broker, opened on first use and
//!   replaced when it fails;
//! - a metadata cache (brokers, controller, topics and partition leaders)
//!   refreshed when older than [`METADATA_MAX_AGE`] or on demand after an
//!   error that says it is stale;
//! - routing: [`KafkaClient::leader`] for partition requests,
//!   [`KafkaClient::coordinator`] for group requests, [`KafkaClient::any`]
//!   for cluster-wide ones.

pub mod connection;
pub mod ops;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::metadata_request::{MetadataRequest, MetadataRequestTopic};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::sync::Mutex as AsyncMutex;

pub use connection::Connection;

/// How long cached metadata is trusted.
pub const METADATA_MAX_AGE: Duration = Duration::from_secs(5);

/// Errors talking to a cluster. Kafka error codes are kept so the REST layer
/// can name them.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection to {0} is closed")]
    Closed(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("encoding request: {0}")]
    Encode(String),
    #[error("decoding response: {0}")]
    Decode(String),
    #[error("the cluster does not support API key {0} at any version the console knows")]
    UnsupportedApi(i16),
    #[error("no broker of the cluster is reachable (bootstrap: {0})")]
    NoBroker(String),
    #[error("{context}: {name}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        code: i16,
        name: String,
        context: String,
        message: Option<String>,
    },
    #[error("{0}")]
    NotFound(String),
}

impl ClientError {
    /// A Kafka error code returned by the cluster.
    pub fn kafka(code: i16, context: impl Into<String>) -> ClientError {
        ClientError::Kafka {
            code,
            name: error_name(code),
            context: context.into(),
            message: None,
        }
    }

    /// A Kafka error code with the broker's error message.
    pub fn kafka_with_message(
        code: i16,
        context: impl Into<String>,
        message: Option<&StrBytes>,
    ) -> ClientError {
        ClientError::Kafka {
            code,
            name: error_name(code),
            context: context.into(),
            message: message.map(|m| m.to_string()).filter(|m| !m.is_empty()),
        }
    }

    /// The Kafka error code, if the cluster answered with one.
    pub fn kafka_code(&self) -> Option<i16> {
        match self {
            ClientError::Kafka { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Kafka's upper-snake-case name for an error code (`UNKNOWN_TOPIC_OR_PARTITION`).
pub fn error_name(code: i16) -> String {
    match ResponseError::try_from_code(code) {
        None | Some(ResponseError::Unknown(_)) => format!("UNKNOWN_ERROR_CODE_{code}"),
        Some(error) => to_upper_snake(&format!("{error:?}")),
    }
}

fn to_upper_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (index, ch) in camel.chars().enumerate() {
        if ch.is_ascii_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_uppercase());
    }
    out
}

/// Turns a non-zero error code into an error.
pub fn check(code: i16, context: impl FnOnce() -> String) -> Result<(), ClientError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::kafka(code, context()))
    }
}

/// Turns a non-zero error code with the broker's message into an error.
pub fn check_with_message(
    code: i16,
    message: Option<&StrBytes>,
    context: impl FnOnce() -> String,
) -> Result<(), ClientError> {
    if code == 0 {
        Ok(())
    } else {
        Err(ClientError::kafka_with_message(code, context(), message))
    }
}

/// The only result of a request about one resource.
pub fn single<'a, T>(results: &'a [T], api: &str) -> Result<&'a T, ClientError> {
    results
        .first()
        .ok_or_else(|| ClientError::Decode(format!("{api} answered nothing")))
}

/// A broker as metadata describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

impl BrokerInfo {
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// One partition as metadata describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    pub error_code: i16,
}

/// One topic as metadata describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct TopicInfo {
    pub name: String,
    pub topic_id: uuid::Uuid,
    pub internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

/// The cluster as one Metadata response described it.
#[derive(Clone, Debug, Default)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    pub brokers: Vec<BrokerInfo>,
    pub topics: Vec<TopicInfo>,
}

impl ClusterMetadata {
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.iter().find(|topic| topic.name == name)
    }
    pub fn broker(&self, node_id: i32) -> Option<&BrokerInfo> {
        self.brokers.iter().find(|broker| broker.node_id == node_id)
    }
}

/// Connection settings of a cluster client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub bootstrap_servers: Vec<String>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl ClientConfig {
    pub fn new(bootstrap_servers: Vec<String>) -> ClientConfig {
        ClientConfig {
            bootstrap_servers,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A client for one cluster. Cheap to share behind an `Arc`.
pub struct KafkaClient {
    config: ClientConfig,
    /// Connections by broker node id; bootstrap connections use negative ids.
    connections: AsyncMutex<HashMap<i32, Arc<Connection>>>,
    metadata: parking_lot::Mutex<Option<(Instant, Arc<ClusterMetadata>)>>,
    /// Serialises metadata refreshes so a burst of requests makes one.
    refresh: AsyncMutex<()>,
}

impl std::fmt::Debug for KafkaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaClient")
            .field("bootstrap", &self.config.bootstrap_servers)
            .finish_non_exhaustive()
    }
}

impl KafkaClient {
    pub fn new(config: ClientConfig) -> KafkaClient {
        KafkaClient {
            config,
            connections: AsyncMutex::new(HashMap::new()),
            metadata: parking_lot::Mutex::new(None),
            refresh: AsyncMutex::new(()),
        }
    }

    pub fn bootstrap_servers(&self) -> &[String] {
        &self.config.bootstrap_servers
    }

    /// A connection to `node_id`, opened if needed.
    pub async fn broker(&self, node_id: i32) -> Result<Arc<Connection>, ClientError> {
        if let Some(connection) = self.live_connection(node_id).await {
            return Ok(connection);
        }
        let metadata = self.metadata().await?;
        let address = match metadata.broker(node_id) {
            Some(broker) => broker.address(),
            None => {
                // Maybe a broker that just joined.
                let metadata = self.refresh_metadata().await?;
                metadata
                    .broker(node_id)
                    .map(BrokerInfo::address)
                    .ok_or_else(|| ClientError::NotFound(format!("broker {node_id} not found")))?
            }
        };
        self.open(node_id, &address).await
    }

    /// A connection to any reachable broker: a known broker first, then the
    /// bootstrap servers in order.
    pub async fn any(&self) -> Result<Arc<Connection>, ClientError> {
        {
            let connections = self.connections.lock().await;
            let mut live: Vec<_> = connections
                .iter()
                .filter(|(_, connection)| !connection.is_closed())
                .collect();
            live.sort_by_key(|(id, _)| **id);
            if let Some((_, connection)) = live.into_iter().find(|(id, _)| **id >= 0) {
                return Ok(connection.clone());
            }
        }
        self.bootstrap().await
    }

    async fn bootstrap(&self) -> Result<Arc<Connection>, ClientError> {
        let mut last_error = None;
        for (index, address) in self.config.bootstrap_servers.iter().enumerate() {
            let pseudo_id = -1 - index as i32;
            if let Some(connection) = self.live_connection(pseudo_id).await {
                return Ok(connection);
            }
            match self.open(pseudo_id, address).await {
                Ok(connection) => return Ok(connection),
                Err(error) => last_error = Some(error),
            }
        }
        match last_error {
            Some(error @ ClientError::Connect { .. }) | Some(error @ ClientError::Timeout(_)) => {
                tracing::debug!(%error, "bootstrap failed");
                Err(ClientError::NoBroker(
                    self.config.bootstrap_servers.join(","),
                ))
            }
            Some(error) => Err(error),
            None => Err(ClientError::NoBroker(String::new())),
        }
    }

    async fn live_connection(&self, id: i32) -> Option<Arc<Connection>> {
        let connections = self.connections.lock().await;
        connections
            .get(&id)
            .filter(|connection| !connection.is_closed())
            .cloned()
    }

    async fn open(&self, id: i32, address: &str) -> Result<Arc<Connection>, ClientError> {
        let connection = Arc::new(
            Connection::connect(
                address,
                self.config.connect_timeout,
                self.config.request_timeout,
            )
            .await?,
        );
        let mut connections = self.connections.lock().await;
        // Another caller may have connected meanwhile; keep theirs if live.
        if let Some(existing) = connections.get(&id).filter(|c| !c.is_closed()) {
            return Ok(existing.clone());
        }
        connections.insert(id, connection.clone());
        Ok(connection)
    }

    /// Cached metadata of all topics, refreshed when stale.
    pub async fn metadata(&self) -> Result<Arc<ClusterMetadata>, ClientError> {
        if let Some((fetched, metadata)) = self.metadata.lock().as_ref()
            && fetched.elapsed() < METADATA_MAX_AGE
        {
            return Ok(metadata.clone());
        }
        self.refresh_metadata().await
    }

    /// Forgets cached metadata (after a change the console made itself).
    pub fn invalidate_metadata(&self) {
        *self.metadata.lock() = None;
    }

    /// Fetches metadata of all topics now.
    pub async fn refresh_metadata(&self) -> Result<Arc<ClusterMetadata>, ClientError> {
        let started = Instant::now();
        let _guard = self.refresh.lock().await;
        // Someone refreshed while we waited for the lock.
        if let Some((fetched, metadata)) = self.metadata.lock().as_ref()
            && *fetched >= started
        {
            return Ok(metadata.clone());
        }
        let connection = self.any().await?;
        let request = MetadataRequest::default()
            .with_topics(None)
            .with_allow_auto_topic_creation(false);
        let response = match connection.send(&request).await {
            Ok(response) => response,
            Err(error) => {
                // A dead connection: retry once on a fresh one.
                if !matches!(error, ClientError::Closed(_) | ClientError::Io(_)) {
                    return Err(error);
                }
                self.any().await?.send(&request).await?
            }
        };
        let metadata = Arc::new(metadata_from_response(response));
        *self.metadata.lock() = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    /// Metadata of the named topics only, fresh from the cluster.
    pub async fn topic_metadata(&self, names: &[&str]) -> Result<ClusterMetadata, ClientError> {
        let request = MetadataRequest::default()
            .with_topics(Some(
                names
                    .iter()
                    .map(|name| {
                        MetadataRequestTopic::default()
                            .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
                    })
                    .collect(),
            ))
            .with_allow_auto_topic_creation(false);
        let response = self.any().await?.send(&request).await?;
        Ok(metadata_from_response(response))
    }

    /// The leader of `topic`/`partition`, from fresh-enough metadata.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        let metadata = self.metadata().await?;
        let found = metadata
            .topic(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
            .map(|p| p.leader);
        let leader = match found {
            Some(leader) if leader >= 0 => leader,
            _ => {
                let metadata = self.refresh_metadata().await?;
                let topic_info = metadata
                    .topic(topic)
                    .ok_or_else(|| ClientError::kafka(3, format!("topic {topic}")))?;
                topic_info
                    .partitions
                    .iter()
                    .find(|p| p.partition == partition)
                    .ok_or_else(|| ClientError::kafka(3, format!("partition {topic}-{partition}")))?
                    .leader
            }
        };
        if leader < 0 {
            return Err(ClientError::kafka(
                5,
                format!("partition {topic}-{partition}"),
            ));
        }
        Ok(leader)
    }

    /// The node id of the coordinator of consumer group `group_id`.
    pub async fn coordinator_id(&self, group_id: &str) -> Result<i32, ClientError> {
        let connection = self.any().await?;
        let version = connection.version_for::<FindCoordinatorRequest>()?;
        let key = StrBytes::from_string(group_id.to_string());
        // v4 (KIP-699) batches keys; older versions take one.
        let request = if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![key])
        } else {
            FindCoordinatorRequest::default().with_key(key)
        };
        let response = connection.send(&request).await?;
        let (code, message, node_id) = if version >= 4 {
            let coordinator = response.coordinators.into_iter().next().ok_or_else(|| {
                ClientError::Decode("FindCoordinator without coordinators".into())
            })?;
            (
                coordinator.error_code,
                coordinator.error_message,
                coordinator.node_id,
            )
        } else {
            (
                response.error_code,
                response.error_message,
                response.node_id,
            )
        };
        check_with_message(code, message.as_ref(), || {
            format!("finding the coordinator of group '{group_id}'")
        })?;
        Ok(node_id.0)
    }

    /// A connection to the coordinator of consumer group `group_id`.
    pub async fn coordinator(&self, group_id: &str) -> Result<Arc<Connection>, ClientError> {
        let node_id = self.coordinator_id(group_id).await?;
        self.broker(node_id).await
    }

    /// Sends `request` to the broker `node_id`, retrying once on a fresh
    /// connection if the old one had died.
    pub async fn send_to<R: Request>(
        &self,
        node_id: i32,
        request: &R,
    ) -> Result<R::Response, ClientError> {
        let connection = self.broker(node_id).await?;
        match connection.send(request).await {
            Err(error) if may_retry(R::KEY, &error) => {
                self.broker(node_id).await?.send(request).await
            }
            other => other,
        }
    }

    /// Sends `request` to any broker (cluster-wide requests; the receiving
    /// broker forwards to the controller where needed).
    pub async fn send_any<R: Request>(&self, request: &R) -> Result<R::Response, ClientError> {
        match self.any().await?.send(request).await {
            Err(error) if may_retry(R::KEY, &error) => self.any().await?.send(request).await,
            other => other,
        }
    }
}

/// Requests that change the cluster: sent twice, they act twice (a
/// produced record written again, an offset committed over a newer one).
const MUTATING_API_KEYS: [i16; 10] = [
    0,  // Produce
    8,  // OffsetCommit
    19, // CreateTopics
    20, // DeleteTopics
    21, // DeleteRecords
    33, // AlterConfigs
    37, // CreatePartitions
    42, // DeleteGroups
    44, // IncrementalAlterConfigs
    47, // OffsetDelete
];

/// Whether a request that failed with `error` on a dead connection may be
/// sent again on a fresh one. Reads may always; a change only when it never
/// left this process (`Closed`): after an I/O error it may have been applied.
fn may_retry(api_key: i16, error: &ClientError) -> bool {
    match error {
        ClientError::Closed(_) => true,
        ClientError::Io(_) => !MUTATING_API_KEYS.contains(&api_key),
        _ => false,
    }
}

fn metadata_from_response(response: kafka_protocol::messages::MetadataResponse) -> ClusterMetadata {
    let brokers = response
        .brokers
        .iter()
        .map(|broker| BrokerInfo {
            node_id: broker.node_id.0,
            host: broker.host.to_string(),
            port: broker.port,
            rack: broker.rack.as_ref().map(|rack| rack.to_string()),
        })
        .collect();
    let topics = response
        .topics
        .iter()
        .filter_map(|topic| {
            let name = topic.name.as_ref()?.to_string();
            if topic.error_code != 0 && topic.partitions.is_empty() {
                return None;
            }
            let mut partitions: Vec<PartitionInfo> = topic
                .partitions
                .iter()
                .map(|partition| PartitionInfo {
                    partition: partition.partition_index,
                    leader: partition.leader_id.0,
                    leader_epoch: partition.leader_epoch,
                    replicas: partition.replica_nodes.iter().map(|id| id.0).collect(),
                    isr: partition.isr_nodes.iter().map(|id| id.0).collect(),
                    offline_replicas: partition.offline_replicas.iter().map(|id| id.0).collect(),
                    error_code: partition.error_code,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            Some(TopicInfo {
                name,
                topic_id: topic.topic_id,
                internal: topic.is_internal,
                partitions,
            })
        })
        .collect();
    ClusterMetadata {
        cluster_id: response.cluster_id.map(|id| id.to_string()),
        controller_id: response.controller_id.0,
        brokers,
        topics,
    }
}

/// Broker ids as the protocol types want them.
pub fn broker_id(id: i32) -> BrokerId {
    BrokerId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_never_resent_after_they_may_have_been_applied() {
        let lost = ClientError::Io("reset by peer".into());
        let unsent = ClientError::Closed("b:9092".into());
        let produce = 0;
        let fetch = 1;
        let offset_commit = 8;
        assert!(!may_retry(produce, &lost));
        assert!(!may_retry(offset_commit, &lost));
        assert!(may_retry(produce, &unsent));
        assert!(may_retry(fetch, &lost));
        assert!(!may_retry(fetch, &ClientError::Timeout("t".into())));
        assert!(!may_retry(fetch, &ClientError::kafka(6, "x")));
    }

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(36), "TOPIC_ALREADY_EXISTS");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
    }
}
