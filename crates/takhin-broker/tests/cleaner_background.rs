//! The background log cleaner end to end, with ratio scheduling
//! (min.cleanable.dirty.ratio=0.01): a compacted topic ends up with the latest
//! value per key in its closed segments (merged as they shrink), with offset
//! gaps that fetches step over. Copied from compaction.rs, waiting until every
//! closed segment is compacted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use takhin_broker::BrokerConfig;
use takhin_storage::{BatchBuilderParams, Compression, Record, TimestampType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{oneshot, watch};

async fn call<R: Encodable + kafka_protocol::protocol::Request>(
    stream: &mut TcpStream,
    version: i16,
    body: &R,
) -> R::Response {
    let api_key = ApiKey::try_from(R::KEY).unwrap();
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(1)
        .encode(&mut buf, api_key.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let length = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&length.to_be_bytes());
    stream.write_all(&buf).await.unwrap();
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).await.unwrap();
    let mut frame = vec![0u8; i32::from_be_bytes(length) as usize];
    stream.read_exact(&mut frame).await.unwrap();
    let mut frame = Bytes::from(frame);
    frame.advance(4);
    if api_key.response_header_version(version) >= 1 {
        frame.advance(1);
    }
    R::Response::decode(&mut frame, version).unwrap()
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

#[tokio::test]
async fn the_background_cleaner_compacts_every_closed_segment_of_a_hot_partition() {
    let dir = tempfile::tempdir().unwrap();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    values.insert("data.dir".into(), dir.path().display().to_string());
    values.insert("kafka.addr".into(), "127.0.0.1:0".into());
    values.insert("http.addr".into(), "127.0.0.1:0".into());
    values.insert("log.cleaner.backoff.ms".into(), "50".into());
    let config = BrokerConfig::from_map(values).unwrap();
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = oneshot::channel();
    let task = tokio::spawn(takhin_broker::run(config, shutdown_rx, ready_tx));
    let (addr, broker) = ready_rx.await.unwrap();
    let mut stream = TcpStream::connect(addr).await.unwrap();

    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(name("compacted"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_value(Some(StrBytes::from_static_str("compact"))),
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("segment.bytes"))
                    .with_value(Some(StrBytes::from_static_str("1024"))),
                // Whatever the timing of the passes, the tail left dirty after production gets
                // cleaned (with the default 0.5 it may wait for more data, as in Kafka).
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("min.cleanable.dirty.ratio"))
                    .with_value(Some(StrBytes::from_static_str("0.01"))),
            ]),
    ]);
    let created = call(&mut stream, 7, &create).await;
    assert_eq!(created.topics[0].error_code, 0);

    // 120 records over 5 keys, one per batch: many closed segments.
    let mut latest: HashMap<String, (i64, String)> = HashMap::new();
    for i in 0..120i64 {
        let key = format!("key-{}", i % 5);
        let value = format!("value-{i}");
        let record = Record {
            offset: 0,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(key.clone())),
            value: Some(Bytes::from(value.clone())),
            headers: vec![],
        };
        let params = BatchBuilderParams {
            base_offset: 0,
            compression: if i % 2 == 0 {
                Compression::None
            } else {
                Compression::Lz4
            },
            timestamp_type: TimestampType::CreateTime,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            is_transactional: false,
            partition_leader_epoch: -1,
        };
        let batch = takhin_storage::encode_batch(&params, &[record])
            .unwrap()
            .freeze();
        let produce = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(5000)
            .with_topic_data(vec![
                produce_request::TopicProduceData::default()
                    .with_name(name("compacted"))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch)),
                    ]),
            ]);
        let response = call(&mut stream, 9, &produce).await;
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0);
        latest.insert(key, (partition.base_offset, value));
    }
    let log = broker
        .topic("compacted")
        .unwrap()
        .partition(0)
        .unwrap()
        .log();
    let active_base = *log.segment_base_offsets().last().unwrap();
    assert!(active_base > 20, "the test needs several closed segments");

    // Wait (bounded) for the cleaner to compact the closed segments.
    let mut records = Vec::new();
    for _ in 0..200 {
        let fetch = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_bytes(1 << 20)
            .with_topics(vec![
                fetch_request::FetchTopic::default()
                    .with_topic(name("compacted"))
                    .with_partitions(vec![
                        fetch_request::FetchPartition::default()
                            .with_partition(0)
                            .with_fetch_offset(0)
                            .with_current_leader_epoch(-1)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let response = call(&mut stream, 12, &fetch).await;
        let mut set = response.responses[0].partitions[0].records.clone().unwrap();
        records.clear();
        while set.len() >= 12 {
            let length = i32::from_be_bytes(set[8..12].try_into().unwrap()) as usize + 12;
            let batch = set.split_to(length);
            records.extend(takhin_storage::decode_records(&batch, 1 << 20).unwrap().1);
        }
        // Done once every closed segment is compacted: each key at most once below the
        // active segment (tests/compaction.rs stops at the first partial clean, a race).
        let mut below: Vec<&Bytes> = records
            .iter()
            .filter(|r| r.offset < active_base)
            .map(|r| r.key.as_ref().unwrap())
            .collect();
        let count = below.len();
        below.sort();
        below.dedup();
        if records.len() < 120 && below.len() == count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(records.len() < 120, "nothing was compacted");
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert!(
        offsets.windows(2).all(|w| w[0] < w[1]),
        "offsets must increase: {offsets:?}"
    );
    assert_eq!(
        *offsets.last().unwrap(),
        119,
        "the active segment is untouched"
    );
    // In the cleaned range, each key appears once: at its latest offset.
    let mut seen: HashMap<Bytes, i64> = HashMap::new();
    for record in records.iter().filter(|r| r.offset < active_base) {
        assert!(
            seen.insert(record.key.clone().unwrap(), record.offset)
                .is_none(),
            "key kept twice below {active_base}"
        );
    }
    for (key, (offset, value)) in &latest {
        let found = records.iter().find(|r| r.offset == *offset).unwrap();
        assert_eq!(found.key.as_deref(), Some(key.as_bytes()));
        assert_eq!(found.value.as_deref(), Some(value.as_bytes()));
    }
    drop(stream);
    shutdown.send(true).unwrap();
    task.await.unwrap().unwrap();
}
