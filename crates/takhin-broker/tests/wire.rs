//! Wire tests: a real broker in-process on an ephemeral port, spoken to with
//! raw Kafka frames built from `kafka-protocol` types. One test (at least)
//! per API behaviour a client relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use takhin_storage::{Compression, Record};

mod common;
use common::*;

#[tokio::test]
async fn api_versions_lists_every_api_and_answers_future_versions_with_v0() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    for version in 0..=4 {
        let response = client.call(version, &ApiVersionsRequest::default()).await;
        assert_eq!(response.error_code, 0);
        assert_eq!(
            response.api_keys.len(),
            takhin_protocol::api::SUPPORTED.len()
        );
        let produce = response.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!((produce.min_version, produce.max_version), (0, 13));
    }
    // KIP-511: a version we do not know is answered in v0 with our ranges.
    let mut raw = BytesMut::new();
    raw.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(18)
        .with_request_api_version(99)
        .with_correlation_id(7)
        .encode(&mut raw, 1)
        .unwrap();
    let length = (raw.len() - 4) as i32;
    raw[..4].copy_from_slice(&length.to_be_bytes());
    client.write_raw(&raw).await;
    let mut frame = client.read_frame().await.unwrap();
    assert_eq!(frame.get_i32(), 7);
    let response = ApiVersionsResponse::decode(&mut frame, 0).unwrap();
    assert_eq!(
        response.error_code,
        ResponseError::UnsupportedVersion.code()
    );
    assert!(!response.api_keys.is_empty());
    broker.stop().await;
}

#[tokio::test]
async fn produce_then_fetch_round_trips_every_codec_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut expected = Vec::new();
    for (i, codec) in codecs.into_iter().enumerate() {
        let batch_records = records(10, 1_700_000_000_000 + 100 * i as i64);
        let produce_version = [3, 7, 9, 11, 12][i];
        let response = client
            .call(
                produce_version,
                &produce_request("round-trip", 0, batch(&batch_records, codec, None), -1),
            )
            .await;
        let partition = produced(&response);
        assert_eq!(
            partition.error_code, 0,
            "{codec:?}: {:?}",
            partition.error_message
        );
        assert_eq!(partition.base_offset, 10 * i as i64);
        expected.extend(batch_records.into_iter().enumerate().map(|(j, mut r)| {
            r.offset = (10 * i + j) as i64;
            r
        }));
    }
    let topic_id = broker.broker.topic("round-trip").unwrap().topic_id;
    for fetch_version in [4, 11, 12, 13, 17] {
        let mut request = fetch_request("round-trip", 0, 0);
        if fetch_version >= 13 {
            request.topics[0].topic_id = topic_id;
        }
        let response = client.call(fetch_version, &request).await;
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0, "fetch v{fetch_version}");
        assert_eq!(data.high_watermark, 50);
        let fetched = decode_all(data.records.clone().unwrap());
        assert_eq!(fetched, expected, "fetch v{fetch_version}");
    }
    // Fetching in the middle returns from the batch holding the offset.
    let response = client.call(12, &fetch_request("round-trip", 25, 0)).await;
    let fetched = decode_all(response.responses[0].partitions[0].records.clone().unwrap());
    assert_eq!(fetched.first().unwrap().offset, 20);
    broker.stop().await;
}

/// Large record sets leave the broker by `sendfile` when cached and from memory when not; both
/// must put the same bytes on the wire, in every partition of a response, at every version.
#[tokio::test]
async fn large_fetches_are_the_same_from_the_page_cache_and_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let mut expected = Vec::new();
    for partition in 0..2 {
        // 40 batches of 50 records with ~300-byte values: ~600 KiB per partition.
        let mut partition_records = Vec::new();
        for i in 0..40 {
            let mut batch_records = records(50, 1_700_000_000_000 + i);
            for (j, record) in batch_records.iter_mut().enumerate() {
                record.value = Some(Bytes::from(vec![(i as usize * 50 + j) as u8; 300]));
            }
            let mut request =
                produce_request("big", 0, batch(&batch_records, Compression::None, None), -1);
            request.topic_data[0].partition_data[0].index = partition;
            if i == 0 && partition == 0 {
                let create = CreateTopicsRequest::default().with_topics(vec![
                    create_topics_request::CreatableTopic::default()
                        .with_name(topic_name("big"))
                        .with_num_partitions(2)
                        .with_replication_factor(1),
                ]);
                let created = client.call(7, &create).await;
                assert_eq!(created.topics[0].error_code, 0);
            }
            let response = client.call(9, &request).await;
            assert_eq!(produced(&response).error_code, 0);
            partition_records.extend(batch_records.into_iter().enumerate().map(|(j, mut r)| {
                r.offset = i * 50 + j as i64;
                r
            }));
        }
        expected.push(partition_records);
    }
    let fetch_both = |offset: i64| {
        let mut request = fetch_request("big", offset, 0).with_max_bytes(8 << 20);
        let mut second = request.topics[0].partitions[0].clone();
        second.partition = 1;
        request.topics[0].partitions.push(second);
        request
    };
    let check = |response: &FetchResponse, from: usize, what: &str| {
        for (partition, expected) in expected.iter().enumerate() {
            let data = &response.responses[0].partitions[partition];
            assert_eq!(data.error_code, 0, "{what}");
            let fetched = decode_all(data.records.clone().unwrap());
            assert_eq!(fetched, expected[from..], "{what}, partition {partition}");
        }
    };
    for version in [4, 12, 17] {
        let topic_id = broker.broker.topic("big").unwrap().topic_id;
        let mut request = fetch_both(0);
        request.topics[0].topic_id = topic_id;
        check(
            &client.call(version, &request).await,
            0,
            &format!("cached, v{version}"),
        );
    }
    // Starting mid-batch: the batch holding the offset comes first.
    check(
        &client.call(12, &fetch_both(1_025)).await,
        1_000,
        "cached, mid-batch",
    );
    // Drop the pages (the topic is durable, so they are clean): now read from disk.
    for partition in 0..2 {
        let log = dir
            .path()
            .join(format!("big-{partition}/00000000000000000000.log"));
        let file = std::fs::File::open(&log).unwrap();
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    }
    check(&client.call(12, &fetch_both(0)).await, 0, "from disk");
    broker.stop().await;
}

#[tokio::test]
async fn responses_come_back_in_request_order_and_acks_zero_gets_none() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let fire_and_forget = client
        .send(
            9,
            &produce_request(
                "pipelined",
                0,
                batch(&records(5, 0), Compression::None, None),
                0,
            ),
        )
        .await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(
            client
                .send(12, &MetadataRequest::default().with_topics(None))
                .await,
        );
    }
    for id in ids {
        assert_ne!(id, fire_and_forget);
        let response = client.receive::<MetadataRequest>(12, id).await;
        assert_eq!(response.brokers.len(), 1);
    }
    broker.stop().await;
}

#[tokio::test]
async fn fetch_long_poll_returns_when_data_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut producer = Client::connect(broker.addr).await;
    let mut consumer = Client::connect(broker.addr).await;
    let created = producer
        .call(
            9,
            &produce_request(
                "long-poll",
                0,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&created).error_code, 0);
    let waiting = consumer
        .send(12, &fetch_request("long-poll", 1, 30_000))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let appended = producer
        .call(
            9,
            &produce_request(
                "long-poll",
                0,
                batch(&records(3, 0), Compression::None, None),
                1,
            ),
        )
        .await;
    assert_eq!(produced(&appended).base_offset, 1);
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        consumer.receive::<FetchRequest>(12, waiting),
    )
    .await
    .expect("long poll did not wake up on new data");
    let fetched = decode_all(response.responses[0].partitions[0].records.clone().unwrap());
    assert_eq!(fetched.len(), 3);
    broker.stop().await;
}

/// A request that waits (a long-polling fetch) goes on in a task of its own:
/// the connection keeps reading, so a produce sent after it on the same
/// connection is appended and wakes it, long before its wait runs out.
#[tokio::test]
async fn a_long_poll_does_not_hold_up_later_requests_on_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let created = client
        .call(
            9,
            &produce_request(
                "same-connection",
                0,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&created).error_code, 0);
    let waiting = client
        .send(12, &fetch_request("same-connection", 1, 60_000))
        .await;
    let appending = client
        .send(
            9,
            &produce_request(
                "same-connection",
                0,
                batch(&records(3, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    let response = tokio::time::timeout(
        Duration::from_secs(30),
        client.receive::<FetchRequest>(12, waiting),
    )
    .await
    .expect("the produce behind the long poll was not read until the poll ran out");
    let fetched = decode_all(response.responses[0].partitions[0].records.clone().unwrap());
    assert_eq!(fetched.len(), 3);
    let appended = client.receive::<ProduceRequest>(9, appending).await;
    assert_eq!(produced(&appended).base_offset, 1);
    broker.stop().await;
}

#[tokio::test]
async fn idempotent_retries_are_deduplicated_and_gaps_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let init = client
        .call(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        )
        .await;
    assert_eq!(init.error_code, 0);
    let second = client
        .call(
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        )
        .await;
    assert_ne!(init.producer_id, second.producer_id);
    let producer = Some((init.producer_id.0, init.producer_epoch, 0));
    let first_batch = batch(&records(4, 0), Compression::Lz4, producer);
    let first = client
        .call(
            9,
            &produce_request("idempotent", 0, first_batch.clone(), -1),
        )
        .await;
    let retry = client
        .call(9, &produce_request("idempotent", 0, first_batch, -1))
        .await;
    assert_eq!(produced(&first).error_code, 0);
    assert_eq!(produced(&retry).error_code, 0);
    assert_eq!(produced(&retry).base_offset, produced(&first).base_offset);
    let gap = batch(
        &records(2, 0),
        Compression::None,
        Some((init.producer_id.0, init.producer_epoch, 10)),
    );
    let refused = client
        .call(9, &produce_request("idempotent", 0, gap, -1))
        .await;
    assert_eq!(
        produced(&refused).error_code,
        ResponseError::OutOfOrderSequenceNumber.code()
    );
    let response = client.call(12, &fetch_request("idempotent", 0, 0)).await;
    assert_eq!(
        decode_all(response.responses[0].partitions[0].records.clone().unwrap()).len(),
        4
    );
    broker.stop().await;
}

#[tokio::test]
async fn bad_batches_and_names_get_kafka_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let mut corrupt = BytesMut::from(&batch(&records(3, 0), Compression::None, None)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let response = client
        .call(9, &produce_request("errors", 0, corrupt.freeze(), -1))
        .await;
    assert_eq!(
        produced(&response).error_code,
        ResponseError::CorruptMessage.code()
    );

    let big = vec![Record {
        offset: 0,
        timestamp: 0,
        key: None,
        value: Some(Bytes::from(vec![7u8; 2 << 20])),
        headers: vec![],
    }];
    let response = client
        .call(
            9,
            &produce_request("errors", 0, batch(&big, Compression::None, None), -1),
        )
        .await;
    assert_eq!(
        produced(&response).error_code,
        ResponseError::MessageTooLarge.code()
    );

    let response = client
        .call(
            9,
            &produce_request(
                "bad/name",
                0,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(
        produced(&response).error_code,
        ResponseError::InvalidTopicException.code()
    );

    let response = client
        .call(
            9,
            &produce_request(
                "errors",
                7,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(
        produced(&response).error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );

    let response = client.call(12, &fetch_request("errors", 99, 0)).await;
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        ResponseError::OffsetOutOfRange.code()
    );

    // The connection survived every per-partition error.
    let metadata = client
        .call(12, &MetadataRequest::default().with_topics(None))
        .await;
    assert!(
        metadata
            .topics
            .iter()
            .any(|t| t.name.as_ref().map(|n| n.as_str()) == Some("errors"))
    );
    broker.stop().await;
}

#[tokio::test]
async fn protocol_violations_close_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let violations: Vec<Vec<u8>> = vec![
        vec![0x7f, 0xff, 0xff, 0xff],                   // 2 GiB length prefix
        vec![0xff, 0xff, 0xff, 0xfe],                   // negative length
        vec![0, 0, 0, 8, 0x03, 0xe7, 0, 0, 0, 0, 0, 1], // unknown API key 999
        vec![0, 0, 0, 8, 0, 3, 0, 99, 0, 0, 0, 1],      // Metadata v99
        vec![0, 0, 0, 3, 1, 2, 3],                      // shorter than a header
        // Metadata v1 whose topic array claims i32::MAX entries.
        vec![
            0, 0, 0, 14, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff,
        ],
    ];
    for bytes in violations {
        let mut bad = Client::connect(broker.addr).await;
        bad.write_raw(&bytes).await;
        assert!(
            bad.closed().await,
            "connection not closed after {bytes:02x?}"
        );
    }
    let mut good = Client::connect(broker.addr).await;
    let response = good.call(4, &ApiVersionsRequest::default()).await;
    assert_eq!(response.error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn data_topics_and_configs_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    for _ in 0..3 {
        let response = client
            .call(
                9,
                &produce_request(
                    "durable",
                    0,
                    batch(&records(5, 0), Compression::Zstd, None),
                    -1,
                ),
            )
            .await;
        assert_eq!(produced(&response).error_code, 0);
    }
    let topic_id = broker.broker.topic("durable").unwrap().topic_id;
    drop(client);
    broker.stop().await;
    assert!(dir.path().join(".kafka_cleanshutdown").exists());

    let broker = start(dir.path(), &[]).await;
    assert!(!dir.path().join(".kafka_cleanshutdown").exists());
    assert_eq!(broker.broker.topic("durable").unwrap().topic_id, topic_id);
    let mut client = Client::connect(broker.addr).await;
    let response = client.call(12, &fetch_request("durable", 0, 0)).await;
    assert_eq!(response.responses[0].partitions[0].high_watermark, 15);
    assert_eq!(
        decode_all(response.responses[0].partitions[0].records.clone().unwrap()).len(),
        15
    );
    let more = client
        .call(
            9,
            &produce_request(
                "durable",
                0,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&more).base_offset, 15);
    broker.stop().await;
}

#[tokio::test]
async fn failed_acks_zero_produce_closes_the_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let mut corrupt = BytesMut::from(&batch(&records(2, 0), Compression::None, None)[..]);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    client
        .send(9, &produce_request("acks-zero", 0, corrupt.freeze(), 0))
        .await;
    assert!(
        client.closed().await,
        "a failed acks=0 produce must close the connection"
    );
    broker.stop().await;
}

#[tokio::test]
async fn acks_all_needs_enough_in_sync_replicas() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("min.insync.replicas", "2")]).await;
    let mut client = Client::connect(broker.addr).await;
    let all = client
        .call(
            9,
            &produce_request("isr", 0, batch(&records(1, 0), Compression::None, None), -1),
        )
        .await;
    assert_eq!(
        produced(&all).error_code,
        ResponseError::NotEnoughReplicas.code()
    );
    let leader_only = client
        .call(
            9,
            &produce_request("isr", 0, batch(&records(1, 0), Compression::None, None), 1),
        )
        .await;
    assert_eq!(produced(&leader_only).error_code, 0);
    broker.stop().await;
}

#[tokio::test]
async fn producer_ids_never_repeat_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let request = InitProducerIdRequest::default().with_transactional_id(None);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let broker = start(dir.path(), &[]).await;
        let mut client = Client::connect(broker.addr).await;
        for _ in 0..3 {
            let response = client.call(4, &request).await;
            assert_eq!(response.error_code, 0);
            assert!(
                seen.insert(response.producer_id.0),
                "producer id {} reused",
                response.producer_id.0
            );
        }
        drop(client);
        broker.stop().await;
    }
}

#[tokio::test]
async fn write_caching_acknowledges_from_the_page_cache_and_flushes_by_count() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        &[
            ("log.write.caching", "true"),
            ("log.flush.interval.messages", "10"),
        ],
    )
    .await;
    let mut client = Client::connect(broker.addr).await;
    let first = client
        .call(
            9,
            &produce_request(
                "cached",
                0,
                batch(&records(4, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&first).error_code, 0);
    let partition = broker.broker.topic("cached").unwrap().partition(0).unwrap();
    // Visible at once, although fewer than flush.messages records are unsynced.
    assert_eq!(partition.high_watermark(), 4);
    assert_eq!(partition.log().recovery_point(), 0);
    let second = client
        .call(
            9,
            &produce_request(
                "cached",
                0,
                batch(&records(8, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&second).error_code, 0);
    // 12 unsynced records >= flush.messages: a flush follows (in the background).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while partition.log().recovery_point() < 12 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(partition.log().recovery_point(), 12);
    broker.stop().await;
}

#[tokio::test]
async fn durable_topics_only_expose_synced_data() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let response = client
        .call(
            9,
            &produce_request(
                "synced",
                0,
                batch(&records(6, 0), Compression::None, None),
                1,
            ),
        )
        .await;
    assert_eq!(produced(&response).error_code, 0);
    let partition = broker.broker.topic("synced").unwrap().partition(0).unwrap();
    // The acknowledgement came after the sync: everything acked is on disk.
    assert_eq!(partition.log().recovery_point(), 6);
    assert_eq!(partition.high_watermark(), 6);
    broker.stop().await;
}

/// Many connections pipelining durable produces to the same partitions: every
/// request is acknowledged (a lost wake-up in the group commit would hang
/// one), each after its records were synced, and offsets are handed out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_durable_producers_are_all_acknowledged_after_their_sync() {
    const CONNECTIONS: usize = 6;
    const REQUESTS: usize = 40;
    const PER_BATCH: usize = 3;
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("num.partitions", "2")]).await;
    let mut setup = Client::connect(broker.addr).await;
    for partition in 0..2 {
        let response = setup
            .call(
                9,
                &produce_request(
                    "group-commit",
                    partition,
                    batch(&records(1, 0), Compression::None, None),
                    -1,
                ),
            )
            .await;
        assert_eq!(produced(&response).error_code, 0, "partition {partition}");
    }
    let topic = broker.broker.topic("group-commit").unwrap();
    let producers = (0..CONNECTIONS).map(|connection| {
        let addr = broker.addr;
        let topic = topic.clone();
        tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            let partition = (connection % 2) as i32;
            let mut ids = Vec::new();
            for _ in 0..REQUESTS {
                let records = batch(&records(PER_BATCH, 0), Compression::None, None);
                let acks = if connection % 3 == 0 { 1 } else { -1 };
                ids.push(
                    client
                        .send(
                            9,
                            &produce_request("group-commit", partition, records, acks),
                        )
                        .await,
                );
            }
            let mut ranges = Vec::new();
            for id in ids {
                let response = client.receive::<ProduceRequest>(9, id).await;
                let answer = produced(&response);
                assert_eq!(answer.error_code, 0);
                let end = answer.base_offset + PER_BATCH as i64;
                let log = topic.partition(partition).unwrap().log();
                assert!(
                    log.recovery_point() >= end,
                    "acknowledged offsets up to {end} with the recovery point at {}",
                    log.recovery_point()
                );
                ranges.push((partition, answer.base_offset));
            }
            ranges
        })
    });
    let mut bases: Vec<(i32, i64)> = Vec::new();
    for producer in producers.collect::<Vec<_>>() {
        let ranges = tokio::time::timeout(Duration::from_secs(60), producer)
            .await
            .expect("a durable produce was never acknowledged")
            .unwrap();
        bases.extend(ranges);
    }
    for partition in 0..2 {
        let mut starts: Vec<i64> = bases
            .iter()
            .filter(|(p, _)| *p == partition)
            .map(|(_, b)| *b)
            .collect();
        starts.sort();
        let expected: Vec<i64> = (0..starts.len() as i64)
            .map(|i| 1 + i * PER_BATCH as i64)
            .collect();
        assert_eq!(
            starts, expected,
            "partition {partition}: every batch its own offsets"
        );
        let partition = topic.partition(partition).unwrap();
        let end = 1 + (CONNECTIONS / 2 * REQUESTS * PER_BATCH) as i64;
        assert_eq!(partition.log().log_end_offset(), end);
        assert_eq!(partition.high_watermark(), end);
    }
    broker.stop().await;
}

/// An acks=0 producer on a durable topic waits for nothing, yet its records
/// become readable once synced, with no later produce to push them.
#[tokio::test]
async fn acks_zero_records_on_a_durable_topic_become_visible_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut producer = Client::connect(broker.addr).await;
    let created = producer
        .call(
            9,
            &produce_request(
                "quiet",
                0,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&created).error_code, 0);
    producer
        .send(
            9,
            &produce_request(
                "quiet",
                0,
                batch(&records(4, 0), Compression::None, None),
                0,
            ),
        )
        .await;
    let mut consumer = Client::connect(broker.addr).await;
    let response = tokio::time::timeout(
        Duration::from_secs(20),
        consumer.call(12, &fetch_request("quiet", 1, 15_000)),
    )
    .await
    .expect("fetch did not return");
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.high_watermark, 5);
    let fetched = decode_all(partition.records.clone().unwrap());
    assert_eq!(fetched.len(), 4);
    broker.stop().await;
}

#[tokio::test]
async fn find_coordinator_points_groups_at_this_broker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    for version in 0..=3 {
        let request =
            FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("group-a"));
        let response = client.call(version, &request).await;
        assert_eq!(response.error_code, 0);
        assert_eq!(response.port, i32::from(broker.addr.port()));
    }
    for version in 4..=6 {
        let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![
            StrBytes::from_static_str("group-a"),
            StrBytes::from_static_str("group-b"),
        ]);
        let response = client.call(version, &request).await;
        assert_eq!(response.coordinators.len(), 2);
        assert!(
            response
                .coordinators
                .iter()
                .all(|c| c.error_code == 0 && c.node_id.0 == 1)
        );
    }
    let transactional = FindCoordinatorRequest::default()
        .with_key(StrBytes::from_static_str("tx"))
        .with_key_type(1);
    let response = client.call(3, &transactional).await;
    assert_eq!(
        response.error_code,
        ResponseError::UnsupportedVersion.code()
    );
    broker.stop().await;
}

fn join_request(member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ])
}

fn commit_request(
    generation: i32,
    member_id: &str,
    topic: &str,
    offset: i64,
    metadata: &str,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(-1)
                        .with_committed_metadata(Some(StrBytes::from_string(metadata.to_string()))),
                ]),
        ])
}

fn commit_error(response: &OffsetCommitResponse) -> i16 {
    response.topics[0].partitions[0].error_code
}

async fn fetch_committed(client: &mut Client) -> (i64, Option<String>) {
    let request = OffsetFetchRequest::default().with_groups(vec![
        offset_fetch_request::OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
            .with_topics(None),
    ]);
    let response = client.call(8, &request).await;
    let group = &response.groups[0];
    assert_eq!(group.error_code, 0);
    match group.topics.first() {
        Some(topic) => {
            let partition = &topic.partitions[0];
            (
                partition.committed_offset,
                partition.metadata.as_ref().map(|m| m.to_string()),
            )
        }
        None => (-1, None),
    }
}

#[tokio::test]
async fn a_classic_group_commits_offsets_that_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "3"),
    ];
    let broker = start(dir.path(), &settings).await;
    let mut client = Client::connect(broker.addr).await;
    let produced_response = client
        .call(
            9,
            &produce_request(
                "group-topic",
                0,
                batch(&records(10, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&produced_response).error_code, 0);

    // KIP-394: the first join only hands out a member id.
    let first = client.call(5, &join_request("")).await;
    assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
    let member_id = first.member_id.to_string();
    let joined = client.call(5, &join_request(&member_id)).await;
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader.as_str(), member_id);
    assert_eq!(joined.members.len(), 1);
    assert_eq!(
        joined.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );

    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
        .with_generation_id(1)
        .with_member_id(StrBytes::from_string(member_id.clone()))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_string(member_id.clone()))
                .with_assignment(Bytes::from_static(b"partition-0")),
        ]);
    let synced = client.call(3, &sync).await;
    assert_eq!(synced.error_code, 0);
    assert_eq!(synced.assignment, Bytes::from_static(b"partition-0"));
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
        .with_generation_id(1)
        .with_member_id(StrBytes::from_string(member_id.clone()));
    assert_eq!(client.call(3, &heartbeat).await.error_code, 0);

    // Commits: fenced, refused, and accepted.
    let stale = client
        .call(8, &commit_request(0, &member_id, "group-topic", 5, ""))
        .await;
    assert_eq!(
        commit_error(&stale),
        ResponseError::IllegalGeneration.code()
    );
    let stranger = client
        .call(8, &commit_request(1, "stranger", "group-topic", 5, ""))
        .await;
    assert_eq!(
        commit_error(&stranger),
        ResponseError::UnknownMemberId.code()
    );
    let unknown = client
        .call(8, &commit_request(1, &member_id, "no-such-topic", 5, ""))
        .await;
    assert_eq!(
        commit_error(&unknown),
        ResponseError::UnknownTopicOrPartition.code()
    );
    let huge = client
        .call(
            8,
            &commit_request(1, &member_id, "group-topic", 5, &"m".repeat(5000)),
        )
        .await;
    assert_eq!(
        commit_error(&huge),
        ResponseError::OffsetMetadataTooLarge.code()
    );
    let good = client
        .call(
            8,
            &commit_request(1, &member_id, "group-topic", 7, "resume-here"),
        )
        .await;
    assert_eq!(commit_error(&good), 0);
    assert_eq!(
        fetch_committed(&mut client).await,
        (7, Some("resume-here".into()))
    );

    let describe = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(StrBytes::from_static_str("wire-group"))]);
    let described = client.call(5, &describe).await;
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(
        described.groups[0].members[0].client_host.as_str(),
        "/127.0.0.1"
    );
    assert_eq!(
        described.groups[0].members[0].member_assignment,
        Bytes::from_static(b"partition-0")
    );

    drop(client);
    broker.stop().await;
    let broker = start(dir.path(), &settings).await;
    let mut client = Client::connect(broker.addr).await;
    // Wait out the background load of __consumer_offsets.
    let mut committed = (-2, None);
    for _ in 0..100 {
        let request = OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
                .with_topics(None),
        ]);
        let response = client.call(8, &request).await;
        if response.groups[0].error_code == ResponseError::CoordinatorLoadInProgress.code() {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        committed = fetch_committed(&mut client).await;
        break;
    }
    assert_eq!(committed, (7, Some("resume-here".into())));
    // The member survives the restart with its generation and assignment.
    assert_eq!(client.call(3, &heartbeat).await.error_code, 0);
    let synced = client.call(3, &sync.clone().with_assignments(vec![])).await;
    assert_eq!(synced.assignment, Bytes::from_static(b"partition-0"));

    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("wire-group")))
        .with_member_id(StrBytes::from_string(member_id.clone()));
    assert_eq!(client.call(1, &leave).await.error_code, 0);
    let listed = client.call(4, &ListGroupsRequest::default()).await;
    let group = listed
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == "wire-group")
        .unwrap();
    assert_eq!(group.group_state.as_str(), "Empty");
    let delete = DeleteGroupsRequest::default()
        .with_groups_names(vec![GroupId(StrBytes::from_static_str("wire-group"))]);
    assert_eq!(client.call(2, &delete).await.results[0].error_code, 0);
    assert_eq!(fetch_committed(&mut client).await, (-1, None));
    broker.stop().await;
}

fn consumer_heartbeat(
    member_id: &str,
    epoch: i32,
    owned: Option<Vec<i32>>,
    topic_id: uuid::Uuid,
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("kip848-group")))
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names((epoch == 0).then(|| vec![topic_name("kip848-topic")]))
        .with_topic_partitions(owned.map(|partitions| {
            vec![
                consumer_group_heartbeat_request::TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_partitions(partitions),
            ]
        }))
}

#[tokio::test]
async fn a_consumer_protocol_member_keeps_its_epoch_and_assignment_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        ("offsets.topic.num.partitions", "2"),
        ("num.partitions", "3"),
    ];
    let broker = start(dir.path(), &settings).await;
    let mut client = Client::connect(broker.addr).await;
    let created = client
        .call(
            9,
            &produce_request(
                "kip848-topic",
                0,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(produced(&created).error_code, 0);
    let topic_id = broker.broker.topic("kip848-topic").unwrap().topic_id;
    let member = "member-1";
    let joined = client
        .call(1, &consumer_heartbeat(member, 0, Some(vec![]), topic_id))
        .await;
    assert_eq!(joined.error_code, 0, "{:?}", joined.error_message);
    assert_eq!(joined.member_epoch, 1);
    let assigned = &joined.assignment.as_ref().unwrap().topic_partitions[0];
    assert_eq!(assigned.partitions, vec![0, 1, 2]);
    let stable = client
        .call(
            1,
            &consumer_heartbeat(member, 1, Some(vec![0, 1, 2]), topic_id),
        )
        .await;
    assert_eq!((stable.error_code, stable.member_epoch), (0, 1));

    drop(client);
    broker.stop().await;
    let broker = start(dir.path(), &settings).await;
    let mut client = Client::connect(broker.addr).await;
    let mut after = client
        .call(1, &consumer_heartbeat(member, 1, None, topic_id))
        .await;
    for _ in 0..100 {
        if after.error_code != ResponseError::CoordinatorLoadInProgress.code() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = client
            .call(1, &consumer_heartbeat(member, 1, None, topic_id))
            .await;
    }
    assert_eq!(after.error_code, 0, "{:?}", after.error_message);
    assert_eq!(
        after.member_epoch, 1,
        "the member was not fenced by the restart"
    );
    let describe = ConsumerGroupDescribeRequest::default()
        .with_group_ids(vec![GroupId(StrBytes::from_static_str("kip848-group"))]);
    let described = client.call(1, &describe).await;
    let group = &described.groups[0];
    assert_eq!(group.error_code, 0);
    assert_eq!(group.group_state.as_str(), "Stable");
    assert_eq!(
        group.members[0].assignment.topic_partitions[0].partitions,
        vec![0, 1, 2]
    );

    // Through the classic API a KIP-848 group is "not found", as in Kafka 4
    // (the admin client then asks ConsumerGroupDescribe).
    let classic_describe = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(StrBytes::from_static_str("kip848-group"))]);
    let described = client.call(6, &classic_describe).await;
    assert_eq!(
        described.groups[0].error_code,
        ResponseError::GroupIdNotFound.code()
    );
    assert!(
        described.groups[0]
            .error_message
            .as_ref()
            .is_some_and(|m| m.contains("not a classic group"))
    );
    let described = client.call(5, &classic_describe).await;
    assert_eq!(described.groups[0].error_code, 0);
    assert_eq!(described.groups[0].group_state.as_str(), "Dead");

    // Offsets of a topic that does not exist are refused per partition.
    let delete = OffsetDeleteRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("kip848-group")))
        .with_topics(vec![
            offset_delete_request::OffsetDeleteRequestTopic::default()
                .with_name(topic_name("no-such-topic"))
                .with_partitions(vec![
                    offset_delete_request::OffsetDeleteRequestPartition::default()
                        .with_partition_index(0),
                ]),
        ]);
    let deleted = client.call(0, &delete).await;
    assert_eq!(deleted.error_code, 0);
    assert_eq!(
        deleted.topics[0].partitions[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
    broker.stop().await;
}

#[tokio::test]
async fn clients_cannot_produce_to_the_offsets_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    let response = client
        .call(
            9,
            &produce_request(
                "__consumer_offsets",
                0,
                batch(&records(1, 0), Compression::None, None),
                -1,
            ),
        )
        .await;
    assert_eq!(
        produced(&response).error_code,
        ResponseError::InvalidTopicException.code()
    );
    assert!(
        broker.broker.topic("__consumer_offsets").is_none(),
        "not auto-created by a client"
    );
    broker.stop().await;
}

/// One batch from kafka-protocol's encoder (so the control bit needs no hand-made CRC): a
/// control batch holds a COMMIT marker, any other batch one keyed record. Producer 7, epoch 0,
/// sequence 0.
fn flagged_batch(transactional: bool, control: bool) -> Bytes {
    use kafka_protocol::records::{
        Compression as Codec, Record as WireRecord, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType as WireTimestampType,
    };
    let (key, value) = if control {
        // ControlRecordType COMMIT (version 0, type 1); EndTransactionMarker (version 0, epoch 0).
        (
            Bytes::from_static(&[0, 0, 0, 1]),
            Bytes::from_static(&[0, 0, 0, 0, 0, 0]),
        )
    } else {
        (Bytes::from_static(b"key"), Bytes::from_static(b"value"))
    };
    let record = WireRecord {
        transactional,
        control,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: 7,
        producer_epoch: 0,
        timestamp_type: WireTimestampType::Creation,
        offset: 0,
        sequence: 0,
        timestamp: 1_000,
        key: Some(key),
        value: Some(value),
        headers: Default::default(),
    };
    let mut encoded = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Codec::None,
    };
    RecordBatchEncoder::encode(&mut encoded, [&record], &options).unwrap();
    encoded.freeze()
}

/// One record, no producer id (never deduplicated).
fn plain_batch() -> Bytes {
    batch(&records(1, 0), Compression::None, None)
}

/// A Produce request writing `batches` (topic, batch) to partition 0 of each topic.
fn multi_produce(batches: &[(&str, Bytes)], transactional_id: Option<&str>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_transactional_id(
            transactional_id.map(|id| TransactionalId(StrBytes::from_string(id.to_string()))),
        )
        .with_topic_data(
            batches
                .iter()
                .map(|(topic, records)| {
                    produce_request::TopicProduceData::default()
                        .with_name(topic_name(topic))
                        .with_partition_data(vec![
                            produce_request::PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(records.clone())),
                        ])
                })
                .collect(),
        )
}

/// Each partition's (topic, error code, error message), in response order.
fn produce_errors(response: &ProduceResponse) -> Vec<(String, i16, String)> {
    response
        .responses
        .iter()
        .flat_map(|topic| {
            topic.partition_responses.iter().map(|partition| {
                (
                    topic.name.to_string(),
                    partition.error_code,
                    partition
                        .error_message
                        .as_ref()
                        .map(|message| message.to_string())
                        .unwrap_or_default(),
                )
            })
        })
        .collect()
}

fn log_end_offset(broker: &TestBroker, topic: &str) -> i64 {
    broker
        .broker
        .topic(topic)
        .unwrap()
        .partition(0)
        .unwrap()
        .log()
        .log_end_offset()
}

#[tokio::test]
async fn clients_cannot_write_control_batches() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    // A plain (non-transactional) control batch: Kafka's LogValidator refuses it with
    // INVALID_RECORD, per partition; the next request on the connection works.
    let response = client
        .call(
            9,
            &multi_produce(
                &[
                    ("marker", flagged_batch(false, true)),
                    ("plain", plain_batch()),
                ],
                None,
            ),
        )
        .await;
    let errors = produce_errors(&response);
    assert_eq!(
        errors[0].1,
        ResponseError::InvalidRecord.code(),
        "{errors:?}"
    );
    assert!(
        errors[0]
            .2
            .contains("Clients are not allowed to write control records"),
        "{errors:?}"
    );
    assert_eq!(errors[1].1, 0, "{errors:?}");
    assert_eq!(log_end_offset(&broker, "marker"), 0);
    assert_eq!(log_end_offset(&broker, "plain"), 1);
    broker.stop().await;
}

#[tokio::test]
async fn transactional_batches_without_a_transactional_id_fail_the_whole_request() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    // Kafka's KafkaApis answers every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED, the
    // plain batch beside the transactional one too, before touching any topic. A forged
    // marker (control and transactional, as the coordinator writes them) fares the same.
    for transactional in [flagged_batch(true, false), flagged_batch(true, true)] {
        let response = client
            .call(
                9,
                &multi_produce(
                    &[("txn-data", transactional), ("beside-txn", plain_batch())],
                    None,
                ),
            )
            .await;
        let errors = produce_errors(&response);
        assert_eq!(errors.len(), 2, "{errors:?}");
        for (topic, code, message) in &errors {
            assert_eq!(
                *code,
                ResponseError::TransactionalIdAuthorizationFailed.code(),
                "{topic}: {message}"
            );
            assert!(message.contains("transactional id"), "{topic}: {message}");
        }
        assert!(
            broker.broker.topic("txn-data").is_none(),
            "not auto-created"
        );
        assert!(
            broker.broker.topic("beside-txn").is_none(),
            "not auto-created"
        );
    }
    // With acks=0 the client reads no response: the connection is closed instead.
    let mut request = multi_produce(&[("txn-data", flagged_batch(true, false))], None);
    request.acks = 0;
    client.send(9, &request).await;
    assert!(client.closed().await);
    broker.stop().await;
}

#[tokio::test]
async fn transactional_batches_are_never_part_of_an_ongoing_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[]).await;
    let mut client = Client::connect(broker.addr).await;
    // With a transactional id Kafka verifies the partition joined the producer's transaction
    // and answers INVALID_TXN_STATE when it did not; without a coordinator none ever does.
    // The plain batch beside it is appended.
    for transactional in [flagged_batch(true, false), flagged_batch(true, true)] {
        let response = client
            .call(
                9,
                &multi_produce(
                    &[("in-txn", transactional), ("beside", plain_batch())],
                    Some("tx-1"),
                ),
            )
            .await;
        let errors = produce_errors(&response);
        assert_eq!(
            errors[0].1,
            ResponseError::InvalidTxnState.code(),
            "{errors:?}"
        );
        assert!(
            errors[0]
                .2
                .contains("Partition was not added to the transaction"),
            "{errors:?}"
        );
        assert_eq!(errors[1].1, 0, "{errors:?}");
    }
    assert_eq!(log_end_offset(&broker, "in-txn"), 0);
    assert_eq!(log_end_offset(&broker, "beside"), 2);
    // Nothing of it is fetched: the partition is as empty as before.
    let response = client.call(12, &fetch_request("in-txn", 0, 0)).await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 0);
    assert!(
        partition
            .records
            .as_ref()
            .is_none_or(|records| records.is_empty())
    );
    broker.stop().await;
}
