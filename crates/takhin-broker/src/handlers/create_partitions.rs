//! CreatePartitions (key 37): grow topics to a larger partition count, or
//! with `validate_only` check that they could grow.
//!
//! As in Kafka: a topic named twice in one request is INVALID_REQUEST; an
//! unknown topic UNKNOWN_TOPIC_OR_PARTITION; a count not above the current
//! one INVALID_PARTITIONS. Manual `assignments` must give one entry per new
//! partition (INVALID_REPLICA_ASSIGNMENT otherwise) and, on a single node,
//! each must be exactly this node.

use std::collections::HashMap;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{BrokerId, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{blocking, topic_error};
use crate::broker::Broker;

/// Checks manual assignments for the partitions being added (`current` is
/// the topic's partition count now).
fn check_assignments(
    assignments: &[CreatePartitionsAssignment],
    count: i32,
    current: i32,
    node_id: i32,
) -> Result<(), (ResponseError, String)> {
    let added = i64::from(count) - i64::from(current);
    if added > 0 && assignments.len() as i64 != added {
        return Err((
            ResponseError::InvalidReplicaAssignment,
            format!(
                "Attempted to add {added} additional partitions, but only {} assignments were supplied.",
                assignments.len()
            ),
        ));
    }
    for assignment in assignments {
        if assignment.broker_ids != [BrokerId(node_id)] {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "every new partition must be assigned to broker {node_id} alone, the only broker"
                ),
            ));
        }
    }
    Ok(())
}

async fn grow(
    broker: &Arc<Broker>,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    if let Some(assignments) = &topic.assignments {
        // An unknown topic is reported by the broker below.
        if let Some(existing) = broker.topic(topic.name.as_str()) {
            check_assignments(
                assignments,
                topic.count,
                existing.partition_count(),
                broker.config.node_id,
            )?;
        }
    }
    let grower = broker.clone();
    let name = topic.name.to_string();
    let count = topic.count;
    blocking(move || grower.create_partitions(&name, count, validate_only))
        .await
        .map_err(|e| (e, "partition creation was interrupted".to_string()))?
        .map_err(|e| topic_error(&e))
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *counts.entry(topic.name.as_str()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let outcome = if counts.get(topic.name.as_str()).copied().unwrap_or(0) > 1 {
            Err((
                ResponseError::InvalidRequest,
                "Duplicate topic name.".to_string(),
            ))
        } else {
            grow(broker, topic, request.validate_only).await
        };
        let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        results.push(match outcome {
            Ok(()) => result.with_error_code(0).with_error_message(None),
            Err((error, message)) => result
                .with_error_code(error.code())
                .with_error_message(Some(StrBytes::from_string(message))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker, topic_name};

    use super::*;

    fn on(brokers: &[i32]) -> CreatePartitionsAssignment {
        CreatePartitionsAssignment::default()
            .with_broker_ids(brokers.iter().map(|b| BrokerId(*b)).collect())
    }

    #[test]
    fn one_assignment_per_new_partition_on_this_node() {
        assert!(check_assignments(&[on(&[1]), on(&[1])], 3, 1, 1).is_ok());
        assert_eq!(
            check_assignments(&[on(&[1])], 3, 1, 1).unwrap_err().0,
            ResponseError::InvalidReplicaAssignment
        );
        assert_eq!(
            check_assignments(&[on(&[2])], 2, 1, 1).unwrap_err().0,
            ResponseError::InvalidReplicaAssignment
        );
        // A count that does not grow is left to the broker (INVALID_PARTITIONS).
        assert!(check_assignments(&[], 1, 1, 1).is_ok());
    }

    #[tokio::test]
    async fn grows_topics() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        broker.create_topic("t", 1, 1, Default::default()).unwrap();
        broker.create_topic("d", 1, 1, Default::default()).unwrap();
        let grow = |name: &str, count| {
            CreatePartitionsTopic::default()
                .with_name(topic_name(name))
                .with_count(count)
                .with_assignments(None)
        };
        let request = CreatePartitionsRequest::default().with_topics(vec![
            grow("t", 3),
            grow("d", 2),
            grow("d", 2),
            grow("missing", 2),
        ]);
        let response = handle(&broker, 3, request).await;
        assert_encodes(&response, 0..=3);
        let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
        assert_eq!(
            codes,
            vec![
                0,
                ResponseError::InvalidRequest.code(),
                ResponseError::InvalidRequest.code(),
                ResponseError::UnknownTopicOrPartition.code()
            ]
        );
        assert_eq!(broker.topic("t").unwrap().partition_count(), 3);
        let shrink = CreatePartitionsRequest::default().with_topics(vec![grow("t", 2)]);
        let response = handle(&broker, 3, shrink).await;
        assert_eq!(
            response.results[0].error_code,
            ResponseError::InvalidPartitions.code()
        );
    }
}
