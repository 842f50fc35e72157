//! CreateTopics (key 19): create topics, or with `validate_only` check that
//! they could be created.
//!
//! Copies Kafka's checks, in Kafka's order, each failing only its topic:
//! - A name given twice in one request: INVALID_REQUEST for that name.
//! - A config with a null value: INVALID_CONFIG, "Null value not supported
//!   for topic configs: a,b".
//! - Manual `assignments` together with `num_partitions` or
//!   `replication_factor` other than -1: INVALID_REQUEST.
//! - Assignments must place each partition on this node alone and number
//!   the partitions 0..n: otherwise INVALID_REPLICA_ASSIGNMENT. The topic
//!   then has as many partitions as assignments.
//! - -1 partitions / replication factor take `num.partitions` /
//!   `default.replication.factor`.
//! - Name, count, replication factor and configs are then checked by the
//!   broker (INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS,
//!   INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR, INVALID_CONFIG).
//!
//! v5+ responses carry the partition count, replication factor and every
//! topic config with its source, as DescribeConfigs would report it; v7+
//! the topic id.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{BrokerId, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::describe_configs::topic_entries;
use super::{blocking, topic_error};
use crate::broker::Broker;

/// A topic the request asks for, with defaults and assignments resolved.
#[derive(Debug, PartialEq, Eq)]
struct Plan {
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
}

/// Checks the request's own consistency (no broker state involved).
fn plan(
    topic: &CreatableTopic,
    node_id: i32,
    default_partitions: i32,
    default_replication_factor: i16,
) -> Result<Plan, (ResponseError, String)> {
    let null_configs: Vec<&str> = topic
        .configs
        .iter()
        .filter(|config| config.value.is_none())
        .map(|config| config.name.as_str())
        .collect();
    if !null_configs.is_empty() {
        return Err((
            ResponseError::InvalidConfig,
            format!(
                "Null value not supported for topic configs: {}",
                null_configs.join(",")
            ),
        ));
    }
    let configs = topic
        .configs
        .iter()
        .filter_map(|config| {
            let value = config.value.as_ref()?;
            Some((config.name.to_string(), value.to_string()))
        })
        .collect();
    if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions == -1 {
            default_partitions
        } else {
            topic.num_partitions
        };
        let replication_factor = if topic.replication_factor == -1 {
            default_replication_factor
        } else {
            topic.replication_factor
        };
        return Ok(Plan {
            partitions,
            replication_factor,
            configs,
        });
    }
    if topic.num_partitions != -1 || topic.replication_factor != -1 {
        return Err((
            ResponseError::InvalidRequest,
            "Both numPartitions or replicationFactor and replicasAssignments were set. \
             Both cannot be used at the same time."
                .to_string(),
        ));
    }
    check_assignments(&topic.assignments, node_id)?;
    Ok(Plan {
        partitions: i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX),
        replication_factor: 1,
        configs,
    })
}

/// One node holds every replica: each partition on exactly this node, and
/// partitions numbered 0..n.
fn check_assignments(
    assignments: &[CreatableReplicaAssignment],
    node_id: i32,
) -> Result<(), (ResponseError, String)> {
    let mut indexes: Vec<i32> = assignments.iter().map(|a| a.partition_index).collect();
    indexes.sort_unstable();
    if indexes
        .iter()
        .zip(0..)
        .any(|(index, expected)| *index != expected)
    {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            "Partitions should be a consecutive 0-based integer sequence".to_string(),
        ));
    }
    for assignment in assignments {
        if assignment.broker_ids != [BrokerId(node_id)] {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "partition {} must be assigned to broker {node_id} alone, the only broker",
                    assignment.partition_index
                ),
            ));
        }
    }
    Ok(())
}

fn config_results(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    topic_entries(&broker.config, overrides)
        .into_iter()
        .map(|entry| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_static_str(entry.name))
                .with_value(Some(StrBytes::from_string(entry.value)))
                .with_read_only(entry.read_only)
                .with_config_source(entry.source)
                .with_is_sensitive(false)
        })
        .collect()
}

async fn create_one(
    broker: &Arc<Broker>,
    plan: Plan,
    name: &str,
    validate_only: bool,
) -> Result<(uuid::Uuid, Plan), (ResponseError, String)> {
    if validate_only {
        broker
            .validate_new_topic(
                name,
                plan.partitions,
                plan.replication_factor,
                &plan.configs,
            )
            .map_err(|e| topic_error(&e))?;
        return Ok((uuid::Uuid::nil(), plan));
    }
    let creator = broker.clone();
    let name = name.to_string();
    let configs = plan.configs.clone();
    let (partitions, replication_factor) = (plan.partitions, plan.replication_factor);
    let created =
        blocking(move || creator.create_topic(&name, partitions, replication_factor, configs))
            .await
            .map_err(|e| (e, "topic creation was interrupted".to_string()))?;
    let topic = created.map_err(|e| topic_error(&e))?;
    // Report what was stored (values are trimmed on the way in).
    let stored = broker.topic_overrides(&topic.name).unwrap_or(plan.configs);
    Ok((
        topic.topic_id,
        Plan {
            configs: stored,
            ..plan
        },
    ))
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *counts.entry(topic.name.as_str()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let result = CreatableTopicResult::default().with_name(topic.name.clone());
        let outcome = if counts.get(topic.name.as_str()).copied().unwrap_or(0) > 1 {
            Err((
                ResponseError::InvalidRequest,
                format!(
                    "Found multiple entries for topic {} in the request",
                    topic.name.as_str()
                ),
            ))
        } else {
            match plan(
                topic,
                broker.config.node_id,
                broker.config.num_partitions,
                broker.config.default_replication_factor,
            ) {
                Ok(plan) => {
                    create_one(broker, plan, topic.name.as_str(), request.validate_only).await
                }
                Err(error) => Err(error),
            }
        };
        let result = match outcome {
            Ok((topic_id, plan)) => result
                .with_topic_id(topic_id)
                .with_error_code(0)
                .with_error_message(None)
                .with_num_partitions(plan.partitions)
                .with_replication_factor(plan.replication_factor)
                .with_configs(Some(config_results(broker, &plan.configs))),
            Err((error, message)) => result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_configs(None),
        };
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::create_topics_request::CreatableTopicConfig;

    use super::*;
    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker, topic_name};

    fn topic(partitions: i32, replication_factor: i16) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("t")))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
    }

    fn assignment(index: i32, brokers: &[i32]) -> CreatableReplicaAssignment {
        CreatableReplicaAssignment::default()
            .with_partition_index(index)
            .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
    }

    #[test]
    fn minus_one_takes_the_broker_defaults() {
        let plan = plan(&topic(-1, -1), 1, 3, 1).unwrap();
        assert_eq!((plan.partitions, plan.replication_factor), (3, 1));
        let plan = super::plan(&topic(5, 2), 1, 3, 1).unwrap();
        assert_eq!((plan.partitions, plan.replication_factor), (5, 2));
    }

    #[test]
    fn null_config_values_are_invalid_config() {
        let t = topic(-1, -1).with_configs(vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(None),
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("segment.ms"))
                .with_value(None),
        ]);
        let (error, message) = plan(&t, 1, 1, 1).unwrap_err();
        assert_eq!(error, ResponseError::InvalidConfig);
        assert_eq!(
            message,
            "Null value not supported for topic configs: retention.ms,segment.ms"
        );
    }

    #[test]
    fn assignments_decide_the_partition_count() {
        let t = topic(-1, -1).with_assignments(vec![assignment(1, &[1]), assignment(0, &[1])]);
        let plan = plan(&t, 1, 9, 1).unwrap();
        assert_eq!((plan.partitions, plan.replication_factor), (2, 1));
    }

    #[test]
    fn assignments_with_a_count_are_invalid_request() {
        let t = topic(2, -1).with_assignments(vec![assignment(0, &[1])]);
        assert_eq!(
            plan(&t, 1, 1, 1).unwrap_err().0,
            ResponseError::InvalidRequest
        );
    }

    #[test]
    fn assignments_elsewhere_or_with_gaps_are_invalid() {
        let other_node = topic(-1, -1).with_assignments(vec![assignment(0, &[2])]);
        assert_eq!(
            plan(&other_node, 1, 1, 1).unwrap_err().0,
            ResponseError::InvalidReplicaAssignment
        );
        let two_replicas = topic(-1, -1).with_assignments(vec![assignment(0, &[1, 1])]);
        assert_eq!(
            plan(&two_replicas, 1, 1, 1).unwrap_err().0,
            ResponseError::InvalidReplicaAssignment
        );
        let gap = topic(-1, -1).with_assignments(vec![assignment(0, &[1]), assignment(2, &[1])]);
        assert_eq!(
            plan(&gap, 1, 1, 1).unwrap_err().0,
            ResponseError::InvalidReplicaAssignment
        );
    }

    #[tokio::test]
    async fn creates_validates_and_reports_configs() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        let retention = vec![
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("retention.ms"))
                .with_value(Some(StrBytes::from_static_str("1000"))),
        ];
        let request = |validate_only| {
            CreateTopicsRequest::default()
                .with_validate_only(validate_only)
                .with_topics(vec![
                    topic(2, -1).with_configs(retention.clone()),
                    topic(1, 1).with_name(topic_name("dup")),
                    topic(1, 1).with_name(topic_name("dup")),
                    topic(1, 3).with_name(topic_name("three")),
                ])
        };
        let checked = handle(&broker, 7, request(true)).await;
        assert_eq!(checked.topics[0].error_code, 0);
        assert!(broker.topic("t").is_none());
        let response = handle(&broker, 7, request(false)).await;
        assert_encodes(&response, 2..=7);
        let created = &response.topics[0];
        assert_eq!(created.error_code, 0);
        assert_eq!(created.error_message, None);
        assert_eq!((created.num_partitions, created.replication_factor), (2, 1));
        assert_eq!(created.topic_id, broker.topic("t").unwrap().topic_id);
        let configs = created.configs.as_ref().unwrap();
        let retention = configs
            .iter()
            .find(|c| c.name.as_str() == "retention.ms")
            .unwrap();
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(
            retention.config_source,
            super::super::describe_configs::DYNAMIC_TOPIC_CONFIG
        );
        let codes: Vec<i16> = response.topics.iter().map(|t| t.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidReplicationFactor.code()
            ]
        );
        let again = handle(&broker, 7, request(false)).await;
        assert_eq!(
            again.topics[0].error_code,
            ResponseError::TopicAlreadyExists.code()
        );
    }
}
