//! Shared by the broker's integration tests: a real broker in-process on an
//! ephemeral port, and a raw Kafka client built from `kafka-protocol` types.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use takhin_broker::{Broker, BrokerConfig};
use takhin_storage::{BatchBuilderParams, Compression, Record, RecordHeader, TimestampType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

pub struct TestBroker {
    pub addr: SocketAddr,
    pub broker: Arc<Broker>,
    pub shutdown: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<Result<(), takhin_broker::RunError>>,
}

pub async fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> TestBroker {
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
    pub async fn stop(self) {
        self.shutdown.send(true).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

pub struct Client {
    pub stream: TcpStream,
    pub next_correlation_id: i32,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        Client {
            stream: TcpStream::connect(addr).await.unwrap(),
            next_correlation_id: 1,
        }
    }

    pub async fn send<R: Encodable + kafka_protocol::protocol::Request>(
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

    pub async fn receive<R: kafka_protocol::protocol::Request>(
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

    pub async fn call<R: Encodable + kafka_protocol::protocol::Request>(
        &mut self,
        version: i16,
        body: &R,
    ) -> R::Response {
        let id = self.send(version, body).await;
        self.receive::<R>(version, id).await
    }

    pub async fn read_frame(&mut self) -> Option<Bytes> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(length) as usize];
        self.stream.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    }

    pub async fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// True when the broker closed the connection.
    pub async fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub fn records(count: usize, start_ms: i64) -> Vec<Record> {
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

pub fn batch(
    records: &[Record],
    compression: Compression,
    producer: Option<(i64, i16, i32)>,
) -> Bytes {
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

pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
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

pub fn fetch_request(topic: &str, offset: i64, max_wait_ms: i32) -> FetchRequest {
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

pub fn produced(response: &ProduceResponse) -> &produce_response::PartitionProduceResponse {
    &response.responses[0].partition_responses[0]
}

/// Decodes all records of a fetched record set.
pub fn decode_all(mut records: Bytes) -> Vec<Record> {
    let mut out = Vec::new();
    while records.len() >= 12 {
        let length = i32::from_be_bytes(records[8..12].try_into().unwrap()) as usize + 12;
        let batch = records.split_to(length);
        let (_, decoded) = takhin_storage::decode_records(&batch, 1 << 24).unwrap();
        out.extend(decoded);
    }
    out
}
