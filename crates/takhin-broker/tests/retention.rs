//! Retention on a live broker: topics created with small segments and
//! retention.ms / retention.bytes lose their old segments on the
//! `log.retention.check.interval.ms` tick; ListOffsets(earliest) and Fetch
//! below the new log start (OFFSET_OUT_OF_RANGE) are right, before and after a
//! restart; a compact-only topic keeps everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use takhin_storage::Compression;

mod common;
use common::*;

const RECORDS_PER_BATCH: usize = 5;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn batch_at(timestamp_ms: i64) -> Bytes {
    batch(
        &records(RECORDS_PER_BATCH, timestamp_ms),
        Compression::None,
        None,
    )
}

fn config(name: &'static str, value: String) -> CreatableTopicConfig {
    CreatableTopicConfig::default()
        .with_name(StrBytes::from_static_str(name))
        .with_value(Some(StrBytes::from_string(value)))
}

async fn create_topic(client: &mut Client, name: &str, configs: Vec<CreatableTopicConfig>) {
    let response = client
        .call(
            7,
            &CreateTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(topic_name(name))
                        .with_num_partitions(1)
                        .with_replication_factor(1)
                        .with_configs(configs),
                ]),
        )
        .await;
    assert_eq!(
        response.topics[0].error_code, 0,
        "{:?}",
        response.topics[0].error_message
    );
}

async fn produce(client: &mut Client, topic: &str, records: Bytes) -> i64 {
    let response = client
        .call(9, &produce_request(topic, 0, records, -1))
        .await;
    assert_eq!(produced(&response).error_code, 0);
    produced(&response).base_offset
}

/// ListOffsets with timestamp -2 (EARLIEST): the log start offset.
async fn earliest_offset(client: &mut Client, topic: &str) -> i64 {
    let response = client
        .call(
            7,
            &ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    list_offsets_request::ListOffsetsTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![
                            list_offsets_request::ListOffsetsPartition::default()
                                .with_partition_index(0)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(-2),
                        ]),
                ]),
        )
        .await;
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    partition.offset
}

/// Polls (bounded) until ListOffsets(earliest) reaches `expected`.
async fn wait_for_earliest(client: &mut Client, topic: &str, expected: i64) {
    let mut earliest = -1;
    for _ in 0..200 {
        earliest = earliest_offset(client, topic).await;
        if earliest == expected {
            return;
        }
        assert!(
            earliest < expected,
            "{topic}: retention went too far ({earliest} > {expected})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{topic}: log start stayed at {earliest}, expected {expected} after retention");
}

/// Fetch below the log start is OFFSET_OUT_OF_RANGE; at it, the first batch
/// starts there and the response reports the log start.
async fn assert_log_starts_at(client: &mut Client, topic: &str, log_start_offset: i64) {
    assert_eq!(earliest_offset(client, topic).await, log_start_offset);
    for below in [0, log_start_offset - 1] {
        let response = client.call(12, &fetch_request(topic, below, 0)).await;
        let partition = &response.responses[0].partitions[0];
        assert_eq!(
            partition.error_code,
            ResponseError::OffsetOutOfRange.code(),
            "{topic}: fetch at {below} below the log start {log_start_offset}"
        );
        assert_eq!(partition.log_start_offset, log_start_offset);
    }
    let response = client
        .call(12, &fetch_request(topic, log_start_offset, 0))
        .await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.log_start_offset, log_start_offset);
    let records = decode_all(partition.records.clone().unwrap());
    assert_eq!(records.first().unwrap().offset, log_start_offset);
}

#[tokio::test]
async fn retention_by_time_and_size_moves_the_log_start_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [("log.retention.check.interval.ms", "100")];
    let broker = start(dir.path(), &settings).await;
    let mut client = Client::connect(broker.addr).await;
    // One batch per segment: each produce after the first rolls.
    let batch_bytes = batch_at(now_ms()).len();
    let segment_bytes = || config("segment.bytes", (batch_bytes + batch_bytes / 2).to_string());

    create_topic(
        &mut client,
        "by-time",
        vec![segment_bytes(), config("retention.ms", "3600000".into())],
    )
    .await;
    create_topic(
        &mut client,
        "by-size",
        vec![
            segment_bytes(),
            config("retention.bytes", (2 * batch_bytes).to_string()),
        ],
    )
    .await;
    // Compact-only: retention does not apply, however small retention.bytes is.
    create_topic(
        &mut client,
        "compact-only",
        vec![
            segment_bytes(),
            config("cleanup.policy", "compact".into()),
            config("retention.bytes", "1".into()),
            config("retention.ms", "1".into()),
        ],
    )
    .await;

    // by-time: three batches two days old, then three recent ones (the last
    // in the active segment). Only the old segments expire.
    let two_days_ago = now_ms() - 2 * 24 * 3_600_000;
    for _ in 0..3 {
        produce(&mut client, "by-time", batch_at(two_days_ago)).await;
    }
    let first_recent = produce(&mut client, "by-time", batch_at(now_ms())).await;
    for _ in 0..2 {
        produce(&mut client, "by-time", batch_at(now_ms())).await;
    }
    assert_eq!(first_recent, 3 * RECORDS_PER_BATCH as i64);

    // by-size: six recent segments of one batch; keeping at least 2 batches'
    // bytes leaves the last two.
    for _ in 0..6 {
        produce(&mut client, "by-size", batch_at(now_ms())).await;
    }
    let size_start = 4 * RECORDS_PER_BATCH as i64;
    for _ in 0..6 {
        produce(&mut client, "compact-only", batch_at(two_days_ago)).await;
    }

    wait_for_earliest(&mut client, "by-time", first_recent).await;
    wait_for_earliest(&mut client, "by-size", size_start).await;
    assert_log_starts_at(&mut client, "by-time", first_recent).await;
    assert_log_starts_at(&mut client, "by-size", size_start).await;
    let by_time = broker
        .broker
        .topic("by-time")
        .unwrap()
        .partition(0)
        .unwrap();
    assert_eq!(by_time.log().segment_count(), 3, "the recent segments stay");
    let by_size = broker
        .broker
        .topic("by-size")
        .unwrap()
        .partition(0)
        .unwrap();
    assert_eq!(by_size.log().segment_count(), 2);
    // Several more ticks change nothing: what is left is within retention.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(earliest_offset(&mut client, "by-time").await, first_recent);
    assert_eq!(earliest_offset(&mut client, "by-size").await, size_start);
    assert_eq!(earliest_offset(&mut client, "compact-only").await, 0);
    let compacted = broker.broker.topic("compact-only").unwrap();
    assert_eq!(compacted.partition(0).unwrap().log().segment_count(), 6);
    assert!(
        std::fs::read_to_string(dir.path().join("log-start-offset-checkpoint"))
            .unwrap()
            .contains(&format!("by-time 0 {first_recent}\n")),
        "retention writes the log start checkpoint"
    );
    drop((client, by_time, by_size, compacted));
    broker.stop().await;

    // After a restart (retention effectively off, so only what is on disk
    // counts) the log starts are where retention left them.
    let broker = start(
        dir.path(),
        &[("log.retention.check.interval.ms", "3600000")],
    )
    .await;
    let mut client = Client::connect(broker.addr).await;
    assert_log_starts_at(&mut client, "by-time", first_recent).await;
    assert_log_starts_at(&mut client, "by-size", size_start).await;
    assert_eq!(earliest_offset(&mut client, "compact-only").await, 0);
    let next = produce(&mut client, "by-size", batch_at(now_ms())).await;
    assert_eq!(next, 6 * RECORDS_PER_BATCH as i64);
    drop(client);
    broker.stop().await;
}
