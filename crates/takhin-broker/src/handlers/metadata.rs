//! Metadata (key 3): brokers, cluster id, controller, and topics with their
//! partitions, leaders and replicas. Auto-creates requested topics when
//! `auto.create.topics.enable` is on and the client allows it (always for
//! v0-v3, which predate the flag).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::find_or_create_topic;
use crate::broker::Broker;
use crate::partition::{LEADER_EPOCH, Topic};

/// "Authorized operations not requested" in Kafka's responses.
pub(crate) const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// Every topic operation (READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS): no ACLs yet, so everything is allowed.
pub(crate) const ALL_TOPIC_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// READ, DELETE, DESCRIBE on a group (no ACLs yet).
pub(crate) const ALL_GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// Every cluster operation (CREATE, ALTER, DESCRIBE, CLUSTER_ACTION,
/// DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE).
pub(crate) const ALL_CLUSTER_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub(crate) fn this_broker(broker: &Broker) -> MetadataResponseBroker {
    MetadataResponseBroker::default()
        .with_node_id(BrokerId(broker.config.node_id))
        .with_host(StrBytes::from_string(broker.config.advertised_host.clone()))
        .with_port(i32::from(broker.config.advertised_port))
        .with_rack(None)
}

fn partitions_of(broker: &Broker, topic: &Topic) -> Vec<MetadataResponsePartition> {
    let node = BrokerId(broker.config.node_id);
    (0..topic.partition_count())
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(LEADER_EPOCH)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
                .with_offline_replicas(vec![])
        })
        .collect()
}

fn topic_response(
    broker: &Broker,
    topic: &Topic,
    include_operations: bool,
) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(
            topic.name.to_string(),
        ))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions_of(broker, topic))
        .with_topic_authorized_operations(if include_operations {
            ALL_TOPIC_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        })
}

fn error_topic(
    name: Option<TopicName>,
    topic_id: uuid::Uuid,
    error: ResponseError,
) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name)
        .with_topic_id(topic_id)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}

pub async fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: MetadataRequest,
) -> MetadataResponse {
    let include_operations = request.include_topic_authorized_operations;
    let allow_auto_create = version < 4 || request.allow_auto_topic_creation;
    let topics = match request.topics {
        None => broker
            .topics()
            .iter()
            .map(|topic| topic_response(broker, topic, include_operations))
            .collect(),
        // v0 used an empty list for "all topics"; later versions use null.
        Some(requested) if requested.is_empty() && version == 0 => broker
            .topics()
            .iter()
            .map(|topic| topic_response(broker, topic, include_operations))
            .collect(),
        Some(requested) => {
            let mut topics = Vec::with_capacity(requested.len());
            for wanted in requested {
                let response = match &wanted.name {
                    Some(name) => {
                        match find_or_create_topic(broker, name.as_str(), allow_auto_create).await {
                            Ok(topic) => topic_response(broker, &topic, include_operations),
                            Err(error) => error_topic(Some(name.clone()), wanted.topic_id, error),
                        }
                    }
                    None => match broker.topic_by_id(&wanted.topic_id) {
                        Some(topic) => topic_response(broker, &topic, include_operations),
                        None => error_topic(None, wanted.topic_id, ResponseError::UnknownTopicId),
                    },
                };
                topics.push(response);
            }
            topics
        }
    };
    MetadataResponse::default()
        .with_brokers(vec![this_broker(broker)])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
        .with_controller_id(BrokerId(broker.config.node_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            ALL_CLUSTER_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        })
}
