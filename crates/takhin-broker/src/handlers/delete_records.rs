//! DeleteRecords (key 21): move partitions' log start offsets forward,
//! deleting the records below them.
//!
//! As in Kafka: offset -1 means the high watermark; an offset above the high
//! watermark, or negative other than -1, is OFFSET_OUT_OF_RANGE; an offset
//! at or below the current log start changes nothing. The answer's low
//! watermark is the log start offset afterwards. The log-start-offset
//! checkpoint is written before answering, so the new start survives a
//! restart (Kafka's log start checkpoint is periodic; we can afford the
//! write because DeleteRecords is rare and the guarantee is what the client
//! was told).

use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use takhin_storage::ReadError;
use tracing::warn;

use super::blocking;
use crate::broker::Broker;
use crate::partition::Partition;

/// "Delete up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

/// The offset to delete before, or why it is out of range.
fn target_offset(requested: i64, high_watermark: i64) -> Result<i64, ResponseError> {
    match requested {
        HIGH_WATERMARK => Ok(high_watermark),
        offset if offset < 0 || offset > high_watermark => Err(ResponseError::OffsetOutOfRange),
        offset => Ok(offset),
    }
}

fn delete_before(partition: &Partition, requested: i64) -> Result<i64, ResponseError> {
    let offset = target_offset(requested, partition.high_watermark())?;
    match partition.log().delete_records_before(offset) {
        Ok(log_start_offset) => Ok(log_start_offset),
        Err(ReadError::OffsetOutOfRange { .. }) => Err(ResponseError::OffsetOutOfRange),
        Err(e) => {
            warn!(topic = %partition.topic, partition = partition.index, "delete records: {e}");
            Err(ResponseError::KafkaStorageError)
        }
    }
}

struct Target {
    topic_index: usize,
    partition_index: i32,
    partition: Option<Arc<Partition>>,
    offset: i64,
}

pub async fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut targets = Vec::new();
    for (topic_index, wanted_topic) in request.topics.into_iter().enumerate() {
        let topic = broker.topic(wanted_topic.name.as_str());
        topics.push(DeleteRecordsTopicResult::default().with_name(wanted_topic.name));
        for wanted in wanted_topic.partitions {
            targets.push(Target {
                topic_index,
                partition_index: wanted.partition_index,
                partition: topic
                    .as_ref()
                    .and_then(|t| t.partition(wanted.partition_index)),
                offset: wanted.offset,
            });
        }
    }
    let targets = Arc::new(targets);
    let working = targets.clone();
    let checkpointer = broker.clone();
    let outcomes = blocking(move || {
        let mut outcomes = Vec::with_capacity(working.len());
        let mut moved = Vec::new();
        for (i, target) in working.iter().enumerate() {
            let outcome = match &target.partition {
                Some(partition) => delete_before(partition, target.offset),
                None => Err(ResponseError::UnknownTopicOrPartition),
            };
            if outcome.is_ok() {
                moved.push(i);
            }
            outcomes.push(outcome);
        }
        if !moved.is_empty()
            && let Err(e) = checkpointer.checkpoint()
        {
            // The records are gone from the segments that were deleted; only
            // the start offset within the first remaining segment could come
            // back after a crash. Report it rather than pretend.
            warn!("writing the log start checkpoint after delete records: {e}");
            for i in moved {
                outcomes[i] = Err(ResponseError::KafkaStorageError);
            }
        }
        outcomes
    })
    .await
    .unwrap_or_else(|error| vec![Err(error); targets.len()]);

    for (target, outcome) in targets.iter().zip(outcomes) {
        let result =
            DeleteRecordsPartitionResult::default().with_partition_index(target.partition_index);
        let result = match outcome {
            Ok(low_watermark) => result.with_error_code(0).with_low_watermark(low_watermark),
            Err(error) => result.with_error_code(error.code()).with_low_watermark(-1),
        };
        topics[target.topic_index].partitions.push(result);
    }
    DeleteRecordsResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };

    use crate::handlers::describe_configs::testing::{
        assert_encodes, open_broker, produce, topic_name,
    };

    #[test]
    fn minus_one_is_the_high_watermark_and_beyond_is_out_of_range() {
        assert_eq!(target_offset(-1, 10), Ok(10));
        assert_eq!(target_offset(10, 10), Ok(10));
        assert_eq!(target_offset(0, 10), Ok(0));
        assert_eq!(target_offset(11, 10), Err(ResponseError::OffsetOutOfRange));
        assert_eq!(target_offset(-2, 10), Err(ResponseError::OffsetOutOfRange));
    }

    #[tokio::test]
    async fn moves_the_log_start_and_refuses_what_is_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        broker
            .create_topic("t", 1, 1, std::collections::BTreeMap::new())
            .unwrap();
        produce(&broker, "t", 5, 0).await;
        let ask = |partitions: &[(i32, i64)]| {
            DeleteRecordsRequest::default().with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(topic_name("t"))
                    .with_partitions(
                        partitions
                            .iter()
                            .map(|(index, offset)| {
                                DeleteRecordsPartition::default()
                                    .with_partition_index(*index)
                                    .with_offset(*offset)
                            })
                            .collect(),
                    ),
            ])
        };
        let response = handle(&broker, 2, ask(&[(0, 2), (1, 2)])).await;
        let got: Vec<(i16, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.error_code, p.low_watermark))
            .collect();
        assert_eq!(
            got,
            vec![(0, 2), (ResponseError::UnknownTopicOrPartition.code(), -1)]
        );
        assert_encodes(&response, 0..=2);
        let response = handle(&broker, 2, ask(&[(0, 6)])).await;
        assert_eq!(
            response.topics[0].partitions[0].error_code,
            ResponseError::OffsetOutOfRange.code()
        );
        let response = handle(&broker, 2, ask(&[(0, -1)])).await;
        assert_eq!(response.topics[0].partitions[0].low_watermark, 5);
        // The new start survives a restart.
        drop(response);
        broker.close().unwrap();
        drop(broker);
        let reopened = open_broker(dir.path());
        let partition = reopened.topic("t").unwrap().partition(0).unwrap();
        assert_eq!(partition.log().log_start_offset(), 5);
    }
}
