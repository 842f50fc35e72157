//! ListOffsets (key 2): an offset per partition for a timestamp or for one
//! of the special "timestamps" consumers use to reset and admins to inspect.
//!
//! Copies Kafka's `UnifiedLog.fetchOffsetByTimestamp` and
//! `Partition.fetchOffsetForTimestamp`:
//! - `-2` EARLIEST and `-4` EARLIEST_LOCAL: the log start offset (there is
//!   no remote tier, so the local log start is the log start).
//! - `-1` LATEST: the high watermark, for read_uncommitted and read_committed
//!   alike (no transactions yet, so the last stable offset is the high
//!   watermark).
//! - `-5` LATEST_TIERED: offset -1, timestamp -1, leader epoch -1 and no
//!   error, Kafka's answer when remote storage is off.
//! - `-3` MAX_TIMESTAMP and any other value (including negatives Kafka does
//!   not name, which Kafka also treats as a timestamp search): the first
//!   record with the largest timestamp / with a timestamp at or above it.
//!   A result at or above the high watermark is not yet visible to
//!   consumers and is answered offset -1, timestamp -1, like Kafka.
//! - A partition named twice in one request is INVALID_REQUEST (Kafka's
//!   `duplicatePartitions`); an unknown topic or partition
//!   UNKNOWN_TOPIC_OR_PARTITION; a stale or future `current_leader_epoch`
//!   FENCED_LEADER_EPOCH / UNKNOWN_LEADER_EPOCH.
//! - The leader epoch answered is this node's (0) when an offset is found,
//!   -1 otherwise.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use takhin_storage::ReadError;
use tracing::warn;

use super::blocking;
use super::fetch::check_leader_epoch;
use crate::broker::Broker;
use crate::partition::{LEADER_EPOCH, Partition};

pub const EARLIEST_TIMESTAMP: i64 = -2;
pub const LATEST_TIMESTAMP: i64 = -1;
pub const MAX_TIMESTAMP: i64 = -3;
pub const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
pub const LATEST_TIERED_TIMESTAMP: i64 = -5;

/// One requested partition, resolved before the blocking lookups.
struct Target {
    topic_index: usize,
    partition_index: i32,
    partition: Result<Arc<Partition>, ResponseError>,
    timestamp: i64,
}

/// What ListOffsets answers for one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Answer {
    error: Option<ResponseError>,
    timestamp: i64,
    offset: i64,
    leader_epoch: i32,
}

impl Answer {
    const NOT_FOUND: Answer = Answer {
        error: None,
        timestamp: -1,
        offset: -1,
        leader_epoch: -1,
    };

    fn error(error: ResponseError) -> Answer {
        Answer {
            error: Some(error),
            ..Answer::NOT_FOUND
        }
    }

    fn found(timestamp: i64, offset: i64) -> Answer {
        Answer {
            error: None,
            timestamp,
            offset,
            leader_epoch: LEADER_EPOCH,
        }
    }
}

/// A (offset, timestamp) from the log, hidden when consumers cannot read it
/// yet.
fn visible(found: Option<(i64, i64)>, high_watermark: i64) -> Answer {
    match found {
        Some((offset, timestamp)) if offset < high_watermark => Answer::found(timestamp, offset),
        _ => Answer::NOT_FOUND,
    }
}

fn lookup(partition: &Partition, timestamp: i64) -> Answer {
    let high_watermark = partition.high_watermark();
    let log = partition.log();
    let found = match timestamp {
        EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => {
            return Answer::found(-1, log.log_start_offset());
        }
        LATEST_TIMESTAMP => return Answer::found(-1, high_watermark),
        LATEST_TIERED_TIMESTAMP => return Answer::NOT_FOUND,
        MAX_TIMESTAMP => log.max_timestamp(),
        _ => log.offset_for_timestamp(timestamp),
    };
    match found {
        Ok(found) => visible(found, high_watermark),
        Err(ReadError::OffsetOutOfRange { .. }) => Answer::error(ResponseError::OffsetOutOfRange),
        Err(e) => {
            warn!(topic = %partition.topic, partition = partition.index, "list offsets: {e}");
            Answer::error(ResponseError::KafkaStorageError)
        }
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    version: i16,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut targets = Vec::new();
    let mut seen = HashSet::new();
    let mut duplicates = HashSet::new();
    for topic in &request.topics {
        for partition in &topic.partitions {
            if !seen.insert((topic.name.as_str(), partition.partition_index)) {
                duplicates.insert((topic.name.as_str(), partition.partition_index));
            }
        }
    }
    for (topic_index, wanted_topic) in request.topics.iter().enumerate() {
        let topic = broker.topic(wanted_topic.name.as_str());
        topics.push(ListOffsetsTopicResponse::default().with_name(wanted_topic.name.clone()));
        for wanted in &wanted_topic.partitions {
            let key = (wanted_topic.name.as_str(), wanted.partition_index);
            let partition = if duplicates.contains(&key) {
                Err(ResponseError::InvalidRequest)
            } else {
                topic
                    .as_ref()
                    .and_then(|topic| topic.partition(wanted.partition_index))
                    .ok_or(ResponseError::UnknownTopicOrPartition)
                    .and_then(|partition| {
                        check_leader_epoch(wanted.current_leader_epoch)?;
                        Ok(partition)
                    })
            };
            targets.push(Target {
                topic_index,
                partition_index: wanted.partition_index,
                partition,
                timestamp: wanted.timestamp,
            });
        }
    }

    let targets = Arc::new(targets);
    let reading = targets.clone();
    let answers = blocking(move || {
        reading
            .iter()
            .map(|target| match &target.partition {
                Ok(partition) => lookup(partition, target.timestamp),
                Err(error) => Answer::error(*error),
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_else(|error| vec![Answer::error(error); targets.len()]);

    for (target, answer) in targets.iter().zip(answers) {
        topics[target.topic_index].partitions.push(
            ListOffsetsPartitionResponse::default()
                .with_partition_index(target.partition_index)
                .with_error_code(answer.error.map_or(0, |e| e.code()))
                .with_timestamp(answer.timestamp)
                .with_offset(answer.offset)
                .with_leader_epoch(if version >= 4 {
                    answer.leader_epoch
                } else {
                    // Not in v1-v3; the encoder refuses anything but -1.
                    -1
                }),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use kafka_protocol::messages::BrokerId;
    use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};

    use crate::handlers::describe_configs::testing::{
        assert_encodes, open_broker, produce, topic_name,
    };

    #[test]
    fn offsets_at_or_above_the_high_watermark_are_hidden() {
        assert_eq!(visible(Some((4, 100)), 5), Answer::found(100, 4));
        assert_eq!(visible(Some((5, 100)), 5), Answer::NOT_FOUND);
        assert_eq!(visible(None, 5), Answer::NOT_FOUND);
        assert_eq!(Answer::found(100, 4).leader_epoch, LEADER_EPOCH);
        assert_eq!(Answer::NOT_FOUND.leader_epoch, -1);
    }

    #[tokio::test]
    async fn answers_every_kind_of_timestamp() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        broker.create_topic("t", 1, 1, BTreeMap::new()).unwrap();
        produce(&broker, "t", 5, 1_000).await;
        let ask = |partitions: &[(i32, i64)]| {
            ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    ListOffsetsTopic::default()
                        .with_name(topic_name("t"))
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|(index, timestamp)| {
                                    ListOffsetsPartition::default()
                                        .with_partition_index(*index)
                                        .with_current_leader_epoch(-1)
                                        .with_timestamp(*timestamp)
                                })
                                .collect(),
                        ),
                ])
        };
        let mut got = Vec::new();
        for timestamp in [-2, -1, -3, -4, -5, 1_002, 5_000, -7] {
            let response = handle(&broker, 10, ask(&[(0, timestamp), (7, -1)])).await;
            assert_encodes(&response, 4..=10);
            let partitions = &response.topics[0].partitions;
            assert_eq!(
                partitions[1].error_code,
                ResponseError::UnknownTopicOrPartition.code()
            );
            let p = &partitions[0];
            got.push((p.error_code, p.timestamp, p.offset, p.leader_epoch));
        }
        assert_eq!(
            got,
            vec![
                (0, -1, 0, 0),
                (0, -1, 5, 0),
                (0, 1_004, 4, 0),
                (0, -1, 0, 0),
                (0, -1, -1, -1),
                (0, 1_002, 2, 0),
                (0, -1, -1, -1),
                // An unnamed negative is a timestamp search, as in Kafka.
                (0, 1_000, 0, 0),
            ]
        );
        let old = handle(&broker, 1, ask(&[(0, -1)])).await;
        assert_eq!(old.topics[0].partitions[0].offset, 5);
        assert_encodes(&old, 1..=3);
        let twice = handle(&broker, 10, ask(&[(0, -1), (0, -2)])).await;
        assert!(
            twice.topics[0]
                .partitions
                .iter()
                .all(|p| p.error_code == ResponseError::InvalidRequest.code())
        );
    }
}
