//! Cluster operations built from several requests: offsets of many
//! partitions (one ListOffsets per leader), log sizes (one DescribeLogDirs
//! per broker), configs. Used by the REST layer; no HTTP here.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;
use kafka_protocol::messages::describe_configs_request::{
    DescribeConfigsRequest, DescribeConfigsResource,
};
use kafka_protocol::messages::describe_log_dirs_request::DescribeLogDirsRequest;
use kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsRequest, ListOffsetsTopic,
};
use kafka_protocol::messages::{BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ClientError, KafkaClient};

/// A partition of a topic.
pub type TopicPartition = (String, i32);

/// Which offset ListOffsets should find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at or after this (ms since epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    fn timestamp(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

/// Offsets of `partitions` per `spec`; one request per leader, concurrently.
/// A partition whose lookup failed maps to its error; a timestamp after the
/// last record maps to `Ok(None)`.
pub async fn list_offsets(
    client: &KafkaClient,
    partitions: &[TopicPartition],
    spec: OffsetSpec,
) -> Result<HashMap<TopicPartition, Result<Option<i64>, ClientError>>, ClientError> {
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
    let mut results = HashMap::new();
    for (topic, partition) in partitions {
        match client.leader(topic, *partition).await {
            Ok(leader) => by_leader
                .entry(leader)
                .or_default()
                .entry(topic.clone())
                .or_default()
                .push(*partition),
            Err(error) => {
                results.insert((topic.clone(), *partition), Err(error));
            }
        }
    }
    let requests = by_leader.into_iter().map(|(leader, topics)| async move {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(
                topics
                    .iter()
                    .map(|(topic, partitions)| {
                        ListOffsetsTopic::default()
                            .with_name(TopicName(StrBytes::from_string(topic.clone())))
                            .with_partitions(
                                partitions
                                    .iter()
                                    .map(|p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(*p)
                                            .with_timestamp(spec.timestamp())
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        (topics, client.send_to(leader, &request).await)
    });
    for (asked, response) in join_all(requests).await {
        match response {
            Ok(response) => {
                for topic in response.topics {
                    for partition in topic.partitions {
                        let key = (topic.name.to_string(), partition.partition_index);
                        let value = if partition.error_code != 0 {
                            Err(ClientError::kafka(
                                partition.error_code,
                                format!("offsets of {}-{}", key.0, key.1),
                            ))
                        } else if partition.offset < 0 {
                            Ok(None)
                        } else {
                            Ok(Some(partition.offset))
                        };
                        results.insert(key, value);
                    }
                }
            }
            Err(error) => {
                let message = error.to_string();
                for (topic, partitions) in asked {
                    for partition in partitions {
                        results.insert(
                            (topic.clone(), partition),
                            Err(ClientError::Io(message.clone())),
                        );
                    }
                }
            }
        }
    }
    Ok(results)
}

/// Start and end offsets of `partitions`, each `None` where unknown.
pub async fn offset_ranges(
    client: &KafkaClient,
    partitions: &[TopicPartition],
) -> Result<HashMap<TopicPartition, (Option<i64>, Option<i64>)>, ClientError> {
    let (earliest, latest) = futures_util::future::join(
        list_offsets(client, partitions, OffsetSpec::Earliest),
        list_offsets(client, partitions, OffsetSpec::Latest),
    )
    .await;
    let (earliest, latest) = (earliest?, latest?);
    Ok(partitions
        .iter()
        .map(|tp| {
            let start = earliest
                .get(tp)
                .and_then(|r| r.as_ref().ok().copied().flatten());
            let end = latest
                .get(tp)
                .and_then(|r| r.as_ref().ok().copied().flatten());
            (tp.clone(), (start, end))
        })
        .collect())
}

/// One log directory of one broker.
#[derive(Clone, Debug, Default)]
pub struct LogDir {
    pub path: String,
    pub error_code: i16,
    pub size_bytes: i64,
    /// -1 when the broker does not report it.
    pub total_bytes: i64,
    pub usable_bytes: i64,
}

/// What DescribeLogDirs told, across brokers.
#[derive(Clone, Debug, Default)]
pub struct LogDirUsage {
    pub by_broker: BTreeMap<i32, Result<Vec<LogDir>, String>>,
    /// Size of each partition replica, summed over replicas.
    pub partition_bytes: HashMap<TopicPartition, i64>,
}

impl LogDirUsage {
    pub fn topic_bytes(&self, topic: &str) -> i64 {
        self.partition_bytes
            .iter()
            .filter(|((name, _), _)| name == topic)
            .map(|(_, size)| *size)
            .sum()
    }
}

/// DescribeLogDirs of every broker, concurrently.
pub async fn log_dirs(client: &KafkaClient) -> Result<LogDirUsage, ClientError> {
    let metadata = client.metadata().await?;
    let requests = metadata.brokers.iter().map(|broker| async move {
        let request = DescribeLogDirsRequest::default().with_topics(None);
        (
            broker.node_id,
            client.send_to(broker.node_id, &request).await,
        )
    });
    let mut usage = LogDirUsage::default();
    for (node_id, response) in join_all(requests).await {
        match response {
            Ok(response) => {
                let mut dirs = Vec::new();
                for result in response.results {
                    let mut size_bytes = 0;
                    for topic in &result.topics {
                        for partition in &topic.partitions {
                            if partition.is_future_key {
                                continue;
                            }
                            size_bytes += partition.partition_size;
                            *usage
                                .partition_bytes
                                .entry((topic.name.to_string(), partition.partition_index))
                                .or_default() += partition.partition_size;
                        }
                    }
                    dirs.push(LogDir {
                        path: result.log_dir.to_string(),
                        error_code: result.error_code,
                        size_bytes,
                        total_bytes: result.total_bytes,
                        usable_bytes: result.usable_bytes,
                    });
                }
                usage.by_broker.insert(node_id, Ok(dirs));
            }
            Err(error) => {
                usage.by_broker.insert(node_id, Err(error.to_string()));
            }
        }
    }
    Ok(usage)
}

/// Config resource types of DescribeConfigs/AlterConfigs.
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;

/// One config entry as DescribeConfigs reports it.
#[derive(Clone, Debug)]
pub struct ConfigEntry {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: i8,
    pub documentation: Option<String>,
    /// (name, value, source) in precedence order.
    pub synonyms: Vec<(String, Option<String>, i8)>,
}

/// Describes configs of resources; `keys` limits which configs (None: all).
/// Broker resources must go to that broker; topic ones go anywhere.
pub async fn describe_configs(
    client: &KafkaClient,
    resource_type: i8,
    names: &[String],
    keys: Option<&[&str]>,
) -> Result<BTreeMap<String, Result<Vec<ConfigEntry>, ClientError>>, ClientError> {
    let resources: Vec<DescribeConfigsResource> = names
        .iter()
        .map(|name| {
            DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(StrBytes::from_string(name.clone()))
                .with_configuration_keys(keys.map(|keys| {
                    keys.iter()
                        .map(|key| StrBytes::from_string(key.to_string()))
                        .collect()
                }))
        })
        .collect();
    let request = DescribeConfigsRequest::default()
        .with_resources(resources)
        .with_include_synonyms(true)
        .with_include_documentation(true);
    let response = if resource_type == RESOURCE_BROKER && names.len() == 1 {
        let node_id = names[0]
            .parse::<i32>()
            .map_err(|_| ClientError::NotFound(format!("broker {} not found", names[0])))?;
        client.send_to(node_id, &request).await?
    } else {
        client.send_any(&request).await?
    };
    let mut out = BTreeMap::new();
    for result in response.results {
        let name = result.resource_name.to_string();
        if result.error_code != 0 {
            out.insert(
                name.clone(),
                Err(ClientError::kafka_with_message(
                    result.error_code,
                    format!("configs of {name}"),
                    result.error_message.as_ref(),
                )),
            );
            continue;
        }
        let entries = result
            .configs
            .into_iter()
            .map(|config| ConfigEntry {
                name: config.name.to_string(),
                value: config.value.map(|v| v.to_string()),
                source: config.config_source,
                read_only: config.read_only,
                sensitive: config.is_sensitive,
                config_type: config.config_type,
                documentation: config.documentation.map(|d| d.to_string()),
                synonyms: config
                    .synonyms
                    .into_iter()
                    .map(|s| (s.name.to_string(), s.value.map(|v| v.to_string()), s.source))
                    .collect(),
            })
            .collect();
        out.insert(name, Ok(entries));
    }
    Ok(out)
}
