//! Retention on a live broker: topics created with small segments and
//! retention.ms / retention.bytes lose their old segments on the
//! `log.retention.check.interval.ms` tick; ListOffsets(earliest) and Fetch
//! below the new log start (OFFSET_OUT_OF_RANGE) are right, before and after a
//! restart; a compact-only topic keeps everything. Helpers are copied from
//! wire.rs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use takhin_broker::{Broker, BrokerConfig};
use takhin_storage::{BatchBuilderParams, Compression, Record, RecordHeader, TimestampType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

struct TestBroker {
    addr: SocketAddr,
    broker: Arc<Broker>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), takhin_broker::RunError>>,
}

async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> TestBroker {
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    values.insert("data.dir".into(), dir.display().to_string());
    values.insert("kafka.addr".into(), "127.0.0.1:0".into());
    values.insert("http.addr".into(), "127.0.0.1:0".into());
    for (k, v) in extra {
        values.insert(k.to_string(), v.to_string());
    }
    let config = BrokerConfig::from_map(values).unwrap();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = oneshot::channel();
    let task = tokio::spawn(takhin_broker::run(config, shutdown_rx, ready_tx));
    let (addr, broker) = ready_rx.await.expect("broker failed to start");
    TestBroker {
        addr,
        broker,
        shutdown,
        task,
    }
}

impl TestBroker {
    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

struct Client {
    stream: TcpStream,
    next_correlation_id: i32,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            next_correlation_id: 1,
        }
    }

    async fn send<R: Encodable + kafka_protocol::protocol::Request>(
        &mut self,
        version: i16,
        body: &R,
    ) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let api_key = ApiKey::try_from(R::KEY).unwrap();
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("wire-test")))
            .encode(&mut buf, api_key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        let length = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&length.to_be_bytes());
        self.stream.write_all(&buf).await.unwrap();
        correlation_id
    }

    async fn receive<R: kafka_protocol::protocol::Request>(
        &mut self,
        version: i16,
        correlation_id: i32,
    ) -> R::Response {
        let mut frame = self.read_frame().await.expect("connection closed");
        assert_eq!(frame.get_i32(), correlation_id, "responses out of order");
        let api_key = ApiKey::try_from(R::KEY).unwrap();
        let header_version = if api_key == ApiKey::ApiVersions {
            0
        } else {
            api_key.response_header_version(version)
        };
        if header_version >= 1 {
            // Empty tagged-field section.
            assert_eq!(frame.get_u8(), 0);
        }
        let response = R::Response::decode(&mut frame, version).unwrap();
        assert!(!frame.has_remaining(), "trailing bytes in response");
        response
    }

    async fn call<R: Encodable + kafka_protocol::protocol::Request>(
        &mut self,
        version: i16,
        body: &R,
    ) -> R::Response {
        let id = self.send(version, body).await;
        self.receive::<R>(version, id).await
    }

    async fn read_frame(&mut self) -> Option<Bytes> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

fn records(count: usize, start_ms: i64) -> Vec<Record> {
    (0..count)
        .map(|i| Record {
            offset: i as i64,
            timestamp: start_ms + i as i64,
            key: (i % 3 != 0).then(|| Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: vec![
                RecordHeader {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"1")),
                },
                RecordHeader {
                    key: "h".into(),
                    value: Some(Bytes::from_static(b"2")),
                },
            ],
        })
        .collect()
}

fn batch(records: &[Record], compression: Compression, producer: Option<(i64, i16, i32)>) -> Bytes {
    let (producer_id, producer_epoch, base_sequence) = producer.unwrap_or((-1, -1, -1));
    let params = BatchBuilderParams {
        base_offset: 0,
        compression,
        timestamp_type: TimestampType::CreateTime,
        producer_id,
        producer_epoch,
        base_sequence,
        is_transactional: false,
        partition_leader_epoch: -1,
    };
    takhin_storage::encode_batch(&params, records)
        .unwrap()
        .freeze()
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_current_leader_epoch(-1)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ])
}

fn produced(response: &ProduceResponse) -> &produce_response::PartitionProduceResponse {
    &response.responses[0].partition_responses[0]
}

/// Decodes all records of a fetched record set.
fn decode_all(mut records: Bytes) -> Vec<Record> {
    let mut out = Vec::new();
    while records.len() >= 12 {
        let length = i32::from_be_bytes(records[8..12].try_into().unwrap()) as usize + 12;
        let batch = records.split_to(length);
        let (_, decoded) = takhin_storage::decode_records(&batch, 1 << 24).unwrap();
        out.extend(decoded);
    }
    out
}

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
    assert_eq!(by_time.log.segment_count(), 3, "the recent segments stay");
    let by_size = broker
        .broker
        .topic("by-size")
        .unwrap()
        .partition(0)
        .unwrap();
    assert_eq!(by_size.log.segment_count(), 2);
    // Several more ticks change nothing: what is left is within retention.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(earliest_offset(&mut client, "by-time").await, first_recent);
    assert_eq!(earliest_offset(&mut client, "by-size").await, size_start);
    assert_eq!(earliest_offset(&mut client, "compact-only").await, 0);
    let compacted = broker.broker.topic("compact-only").unwrap();
    assert_eq!(compacted.partition(0).unwrap().log.segment_count(), 6);
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
