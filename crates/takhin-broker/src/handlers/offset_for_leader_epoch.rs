//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, which
//! consumers use after a leader change to detect log truncation (KIP-320)
//! and followers to truncate their logs.
//!
//! As in Kafka: `current_leader_epoch` is checked first (FENCED_LEADER_EPOCH
//! when older than ours, UNKNOWN_LEADER_EPOCH when newer); then the answer is
//! the largest epoch at or below the requested one with the offset where it
//! ended (the log end offset for the latest epoch), or -1/-1 when the log
//! knows no such epoch. An unknown topic or partition is
//! UNKNOWN_TOPIC_OR_PARTITION with -1/-1.

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::fetch::check_leader_epoch;
use crate::broker::Broker;

pub fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for wanted_topic in request.topics {
        let topic = broker.topic(wanted_topic.topic.as_str());
        let mut partitions = Vec::with_capacity(wanted_topic.partitions.len());
        for wanted in wanted_topic.partitions {
            let result = EpochEndOffset::default().with_partition(wanted.partition);
            let partition = topic
                .as_ref()
                .and_then(|topic| topic.partition(wanted.partition))
                .ok_or(ResponseError::UnknownTopicOrPartition)
                .and_then(|partition| {
                    check_leader_epoch(wanted.current_leader_epoch)?;
                    Ok(partition)
                });
            let result = match partition {
                Ok(partition) => {
                    let (leader_epoch, end_offset) =
                        partition.log().end_offset_for_epoch(wanted.leader_epoch);
                    result
                        .with_leader_epoch(leader_epoch)
                        .with_end_offset(end_offset)
                }
                Err(error) => result
                    .with_error_code(error.code())
                    .with_leader_epoch(-1)
                    .with_end_offset(-1),
            };
            partitions.push(result);
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(wanted_topic.topic)
                .with_partitions(partitions),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };

    use crate::handlers::describe_configs::testing::{
        assert_encodes, open_broker, produce, topic_name,
    };

    use super::*;

    #[tokio::test]
    async fn answers_the_end_of_the_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        broker.create_topic("t", 1, 1, Default::default()).unwrap();
        produce(&broker, "t", 3, 0).await;
        let ask = |partition: i32, current_leader_epoch: i32, leader_epoch: i32| {
            OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)
        };
        let request = OffsetForLeaderEpochRequest::default().with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![ask(0, -1, 0), ask(0, 1, 0), ask(5, -1, 0)]),
        ]);
        let response = handle(&broker, 4, request);
        assert_encodes(&response, 2..=4);
        let got: Vec<(i16, i32, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.leader_epoch, p.end_offset))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 0, 3),
                (ResponseError::UnknownLeaderEpoch.code(), -1, -1),
                (ResponseError::UnknownTopicOrPartition.code(), -1, -1),
            ]
        );
    }
}
