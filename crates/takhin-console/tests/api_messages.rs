//! Message endpoints against a real broker: the streamed search (SSE), its
//! filter and decoders, export, live tail and produce.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bytes::Bytes;
use common::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use takhin_console::api::messages::partition_for_key;
use takhin_storage::{BatchBuilderParams, Compression, Record, RecordHeader};
use tower::ServiceExt;

/// One server-sent event.
#[derive(Debug, Clone)]
struct SseEvent {
    event: String,
    data: Value,
}

fn parse_sse(text: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    for block in text.split("\n\n") {
        let mut event = String::from("message");
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if let Some(payload) = line.strip_prefix("data:") {
                data.push(payload.strip_prefix(' ').unwrap_or(payload).to_string());
            }
        }
        if !data.is_empty() {
            let data = serde_json::from_str(&data.join("\n"))
                .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {block}"));
            events.push(SseEvent { event, data });
        }
    }
    events
}

/// A finished search: its messages, the `done` event, and everything.
struct Search {
    messages: Vec<Value>,
    done: Value,
    events: Vec<SseEvent>,
}

impl Search {
    fn offsets(&self) -> Vec<(i64, i64)> {
        let mut offsets: Vec<(i64, i64)> = self
            .messages
            .iter()
            .map(|m| {
                (
                    m["partition"].as_i64().unwrap(),
                    m["offset"].as_i64().unwrap(),
                )
            })
            .collect();
        offsets.sort_unstable();
        offsets
    }
    fn error(&self) -> Option<&Value> {
        self.events
            .iter()
            .find(|e| e.event == "error")
            .map(|e| &e.data)
    }
}

fn messages_path(topic: &str, query: &str) -> String {
    TestConsole::path(&format!("/topics/{topic}/messages?{query}"))
}

async fn search(console: &TestConsole, topic: &str, query: &str) -> Search {
    let answer = console.get(&messages_path(topic, query)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(
        answer
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{:?}",
        answer.content_type
    );
    let events = parse_sse(&answer.text());
    let done = events
        .iter()
        .filter(|e| e.event == "done")
        .map(|e| e.data.clone())
        .next_back()
        .unwrap_or_else(|| panic!("no done event: {events:?}"));
    assert_eq!(events.last().unwrap().event, "done", "done comes last");
    let messages = events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.data.clone())
        .collect();
    Search {
        messages,
        done,
        events,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Produces `records` as one batch (keys, values, headers and timestamps as
/// given) through Kafka, not the console; returns the base offset.
async fn produce_batch(
    console: &TestConsole,
    topic: &str,
    partition: i32,
    mut records: Vec<Record>,
    compression: Compression,
) -> i64 {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use kafka_protocol::protocol::StrBytes;
    for (index, record) in records.iter_mut().enumerate() {
        record.offset = index as i64;
    }
    let params = BatchBuilderParams {
        compression,
        ..Default::default()
    };
    let batch = takhin_storage::batch::encode_batch(&params, &records)
        .unwrap()
        .freeze();
    let metadata = console.kafka.topic_metadata(&[topic]).await.unwrap();
    let topic_id = metadata.topic(topic).unwrap().topic_id;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_topic_id(topic_id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let leader = console.kafka.leader(topic, partition).await.unwrap();
    let response = console.kafka.send_to(leader, &request).await.unwrap();
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, 0, "produce failed");
    answer.base_offset
}

fn record(key: Option<&[u8]>, value: Option<&[u8]>, timestamp: i64) -> Record {
    Record {
        offset: 0,
        timestamp,
        key: key.map(Bytes::copy_from_slice),
        value: value.map(Bytes::copy_from_slice),
        headers: vec![],
    }
}

/// A topic of `partitions` partitions with `per_partition` JSON records
/// `{"p": p, "i": i}` each, the i-th stamped `base + i * 1000` ms.
async fn seeded_topic(console: &TestConsole, partitions: i32, per_partition: i64) -> (String, i64) {
    let topic = unique("messages");
    console.create_topic(&topic, partitions).await;
    let base = now_ms() - 600_000;
    for partition in 0..partitions {
        let records = (0..per_partition)
            .map(|i| {
                let value = json!({"p": partition, "i": i}).to_string();
                record(
                    Some(format!("k{i}").as_bytes()),
                    Some(value.as_bytes()),
                    base + i * 1000,
                )
            })
            .collect();
        produce_batch(console, &topic, partition, records, Compression::None).await;
    }
    (topic, base)
}

#[tokio::test]
async fn search_from_oldest_newest_offset_and_timestamp() {
    let console = start().await;
    let (topic, base) = seeded_topic(&console, 3, 10).await;

    let found = search(&console, &topic, "start=oldest&partition=1&max=100").await;
    assert_eq!(found.offsets(), (0..10).map(|o| (1, o)).collect::<Vec<_>>());
    assert_eq!(found.done["reason"], "end_reached");
    assert_eq!(found.done["scanned"], 10);
    assert_eq!(found.done["matched"], 10);
    let first = &found.messages[0];
    assert_eq!(first["value"]["encoding"], "json");
    assert_eq!(first["value"]["json"], json!({"p": 1, "i": 0}));
    assert_eq!(first["key"]["encoding"], "text");
    assert_eq!(first["key"]["text"], "k0");
    assert_eq!(first["timestamp"], base);
    assert_eq!(first["timestamp_type"], "CreateTime");
    assert_eq!(first["compression"], "none");
    assert_eq!(first["is_transactional"], false);
    assert_eq!(first["producer_id"], -1);
    assert_eq!(first["headers"], json!([]));

    let found = search(&console, &topic, "start=oldest&max=5").await;
    assert_eq!(found.messages.len(), 5);
    assert_eq!(found.done["reason"], "max_reached");

    // Newest: the last max offsets across partitions, shared evenly.
    let found = search(&console, &topic, "max=6").await;
    assert_eq!(
        found.offsets(),
        vec![(0, 8), (0, 9), (1, 8), (1, 9), (2, 8), (2, 9)]
    );
    let found = search(&console, &topic, "start=newest&partition=0&max=3").await;
    assert_eq!(found.offsets(), vec![(0, 7), (0, 8), (0, 9)]);
    let found = search(&console, &topic, "start=newest&max=100").await;
    assert_eq!(found.messages.len(), 30);

    let found = search(&console, &topic, "start=offset&offset=4&partition=2&max=3").await;
    assert_eq!(found.offsets(), vec![(2, 4), (2, 5), (2, 6)]);
    let found = search(&console, &topic, "start=offset&offset=8&max=100").await;
    assert_eq!(
        found.offsets(),
        vec![(0, 8), (0, 9), (1, 8), (1, 9), (2, 8), (2, 9)]
    );
    let found = search(&console, &topic, "start=offset&offset=1000").await;
    assert!(found.messages.is_empty());
    assert_eq!(found.done["reason"], "end_reached");

    let timestamp = base + 7_000;
    let found = search(
        &console,
        &topic,
        &format!("start=timestamp&timestamp={timestamp}&partition=0"),
    )
    .await;
    assert_eq!(found.offsets(), vec![(0, 7), (0, 8), (0, 9)]);
    let future = now_ms() + 3_600_000;
    let found = search(
        &console,
        &topic,
        &format!("start=timestamp&timestamp={future}"),
    )
    .await;
    assert!(found.messages.is_empty());

    let partitions = found.done["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    assert_eq!(partitions[0]["end"], 10);
    console.stop().await;
}

#[tokio::test]
async fn compressed_batches_decode() {
    let console = start().await;
    let topic = unique("compressed");
    console.create_topic(&topic, 1).await;
    let codecs = [
        (Compression::Gzip, "gzip"),
        (Compression::Snappy, "snappy"),
        (Compression::Lz4, "lz4"),
        (Compression::Zstd, "zstd"),
        (Compression::None, "none"),
    ];
    for (codec, name) in codecs {
        let value = format!("{{\"codec\":\"{name}\"}}");
        produce_records(
            &console.kafka,
            &topic,
            0,
            &[(Some(name), Some(&value)), (Some(name), Some(&value))],
            codec,
        )
        .await;
    }
    let found = search(&console, &topic, "start=oldest&max=100").await;
    assert_eq!(found.messages.len(), 10);
    for (index, message) in found.messages.iter().enumerate() {
        let name = codecs[index / 2].1;
        assert_eq!(message["offset"], index as i64);
        assert_eq!(message["compression"], name);
        assert_eq!(message["value"]["json"]["codec"], name);
        assert_eq!(message["key"]["text"], name);
    }
    // Starting inside a compressed batch skips its earlier records.
    let found = search(&console, &topic, "start=offset&offset=3&max=2").await;
    assert_eq!(found.offsets(), vec![(0, 3), (0, 4)]);
    console.stop().await;
}

async fn numbered_topic(console: &TestConsole, count: i64) -> String {
    let topic = unique("filter");
    console.create_topic(&topic, 2).await;
    for partition in 0..2 {
        let records = (0..count)
            .filter(|n| n % 2 == i64::from(partition))
            .map(|n| {
                let value = json!({"n": n, "name": format!("item-{n}")}).to_string();
                record(Some(b"key"), Some(value.as_bytes()), now_ms())
            })
            .collect();
        produce_batch(console, &topic, partition, records, Compression::Lz4).await;
    }
    topic
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[tokio::test]
async fn javascript_filters_select_messages() {
    let console = start().await;
    let topic = numbered_topic(&console, 40).await;

    let filter = encode("value.n % 4 == 0");
    let found = search(
        &console,
        &topic,
        &format!("start=oldest&max=100&filter={filter}"),
    )
    .await;
    let mut numbers: Vec<i64> = found
        .messages
        .iter()
        .map(|m| m["value"]["json"]["n"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..40).step_by(4).collect::<Vec<_>>());
    assert_eq!(found.done["scanned"], 40);
    assert_eq!(found.done["matched"], 10);
    assert_eq!(found.done["filter_errors"], 0);

    // A function body; key and partition are there too.
    let filter =
        encode("if (partition !== 1) return false;\nreturn value.n > 30 && key === 'key';");
    let found = search(&console, &topic, &format!("start=oldest&filter={filter}")).await;
    let mut numbers: Vec<i64> = found
        .messages
        .iter()
        .map(|m| m["value"]["json"]["n"].as_i64().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, vec![31, 33, 35, 37, 39]);

    // Errors on some messages are counted, not fatal.
    let filter = encode("value.n < 2 ? value.missing.field : true");
    let found = search(
        &console,
        &topic,
        &format!("start=oldest&max=100&filter={filter}"),
    )
    .await;
    assert_eq!(found.messages.len(), 38);
    assert_eq!(found.done["filter_errors"], 2);
    assert!(
        found.done["last_filter_error"]
            .as_str()
            .unwrap()
            .contains("TypeError")
    );
    console.stop().await;
}

#[tokio::test]
async fn newest_with_a_filter_reads_backwards_for_the_newest_matches() {
    let console = start().await;
    let topic = numbered_topic(&console, 40).await;
    let numbers = |found: &Search| -> Vec<i64> {
        found
            .messages
            .iter()
            .map(|m| m["value"]["json"]["n"].as_i64().unwrap())
            .collect()
    };
    let filter = encode("value.n % 4 == 0");
    let found = search(&console, &topic, &format!("max=3&filter={filter}")).await;
    assert_eq!(numbers(&found), vec![36, 32, 28], "newest first");
    assert_eq!(found.done["reason"], "max_reached");

    // Several pages of one partition.
    let topic = unique("backward");
    console.create_topic(&topic, 1).await;
    for chunk in 0..3 {
        let records = (0..4000)
            .map(|i| {
                let value = json!({"n": chunk * 4000 + i}).to_string();
                record(None, Some(value.as_bytes()), now_ms())
            })
            .collect();
        produce_batch(&console, &topic, 0, records, Compression::Zstd).await;
    }
    let filter = encode("value.n % 1000 == 7");
    let found = search(&console, &topic, &format!("max=8&filter={filter}")).await;
    assert_eq!(
        numbers(&found),
        vec![11007, 10007, 9007, 8007, 7007, 6007, 5007, 4007]
    );
    let found = search(&console, &topic, &format!("max=100&filter={filter}")).await;
    assert_eq!(
        numbers(&found),
        (0..12).rev().map(|k| k * 1000 + 7).collect::<Vec<_>>()
    );
    assert_eq!(found.done["reason"], "end_reached");
    assert_eq!(found.done["scanned"], 12_000);
    let progress: Vec<&Value> = found
        .events
        .iter()
        .filter(|e| e.event == "progress")
        .map(|e| &e.data)
        .collect();
    assert!(!progress.is_empty(), "12000 records make progress events");
    assert!(progress.iter().all(|p| p["partitions"][0]["end"] == 12_000));
    assert_eq!(found.done["partitions"][0]["position"], 0);
    console.stop().await;
}

#[tokio::test]
async fn a_filter_syntax_error_is_422_before_streaming() {
    let console = start().await;
    let topic = numbered_topic(&console, 4).await;
    let filter = encode("let a = 1;\nreturn a +* 2;");
    let answer = console
        .get(&messages_path(&topic, &format!("filter={filter}")))
        .await;
    let problem = answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["detail"].as_str().unwrap().contains("SyntaxError"),
        "{problem}"
    );
    assert_eq!(problem["line"], 2, "{problem}");
    assert!(problem["column"].as_u64().is_some(), "{problem}");
    console.stop().await;
}

#[tokio::test]
async fn an_endless_filter_is_stopped_and_the_console_stays_up() {
    let console = start().await;
    let topic = numbered_topic(&console, 4).await;
    let started = Instant::now();
    let filter = encode("while (true) {}");
    let found = search(&console, &topic, &format!("start=oldest&filter={filter}")).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(found.messages.is_empty());
    let error = found.error().expect("an error event");
    assert_eq!(error["status"], 422);
    assert!(
        error["detail"].as_str().unwrap().contains("longer than"),
        "{error}"
    );
    assert_eq!(found.done["reason"], "time_limit");

    let found = search(&console, &topic, "start=oldest").await;
    assert_eq!(found.messages.len(), 4);
    console.stop().await;
}

#[tokio::test]
async fn decoders_read_known_bytes() {
    let console = start().await;
    let topic = unique("decoders");
    console.create_topic(&topic, 1).await;
    // {"a": 1} as MessagePack.
    let msgpack: &[u8] = &[0x81, 0xa1, b'a', 0x01];
    let binary: &[u8] = &[0x00, 0x01, 0xfe, 0xff];
    let records = vec![
        record(Some(b"json"), Some(br#"{"x":[1,2]}"#), now_ms()),
        record(Some(b"msgpack"), Some(msgpack), now_ms()),
        record(Some(b"binary"), Some(binary), now_ms()),
        record(Some(b"text"), Some("grüße".as_bytes()), now_ms()),
        record(None, None, now_ms()),
    ];
    produce_batch(&console, &topic, 0, records, Compression::None).await;

    let found = search(&console, &topic, "start=oldest").await;
    let values: Vec<&Value> = found.messages.iter().map(|m| &m["value"]).collect();
    assert_eq!(values[0]["encoding"], "json");
    assert_eq!(values[0]["text"], "{\n  \"x\": [\n    1,\n    2\n  ]\n}");
    assert_eq!(values[0]["size"], 11);
    assert_eq!(values[1]["encoding"], "msgpack");
    assert_eq!(values[1]["json"], json!({"a": 1}));
    assert_eq!(values[2]["encoding"], "base64");
    assert_eq!(values[2]["text"], "AAH+/w==");
    assert!(values[2].get("json").is_none());
    assert_eq!(values[3]["encoding"], "text");
    assert_eq!(values[3]["text"], "grüße");
    assert_eq!(values[4], &Value::Null);
    assert_eq!(found.messages[4]["key"], Value::Null);
    assert_eq!(values[0]["truncated"], false);

    let found = search(
        &console,
        &topic,
        "start=oldest&value_decoder=hex&key_decoder=base64",
    )
    .await;
    assert_eq!(found.messages[2]["value"]["encoding"], "hex");
    assert_eq!(found.messages[2]["value"]["text"], "0001feff");
    assert_eq!(found.messages[0]["key"]["text"], "anNvbg==");

    // An explicit decoder that cannot read the bytes says so and shows base64.
    let found = search(&console, &topic, "start=oldest&value_decoder=text").await;
    let value = &found.messages[2]["value"];
    assert_eq!(value["encoding"], "base64");
    assert!(
        value["error"].as_str().unwrap().contains("UTF-8"),
        "{value}"
    );
    let found = search(&console, &topic, "start=oldest&value_decoder=msgpack&max=2").await;
    assert_eq!(found.messages[1]["value"]["json"], json!({"a": 1}));
    assert!(found.messages[0]["value"]["error"].is_string());

    // The filter sees MessagePack as parsed too.
    let filter = encode("value && value.a === 1");
    let found = search(&console, &topic, &format!("start=oldest&filter={filter}")).await;
    assert_eq!(found.offsets(), vec![(0, 1)]);

    let answer = console
        .get(&messages_path(&topic, "value_decoder=avro"))
        .await;
    let problem = answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("msgpack"));
    console.stop().await;
}

#[tokio::test]
async fn headers_keep_their_order_and_repeats() {
    let console = start().await;
    let topic = unique("headers");
    console.create_topic(&topic, 1).await;
    let mut with_headers = record(Some(b"k"), Some(b"v"), now_ms());
    with_headers.headers = vec![
        RecordHeader {
            key: "trace".into(),
            value: Some(Bytes::from_static(b"one")),
        },
        RecordHeader {
            key: "bin".into(),
            value: Some(Bytes::from_static(&[0xff, 0x00])),
        },
        RecordHeader {
            key: "trace".into(),
            value: Some(Bytes::from_static(b"two")),
        },
        RecordHeader {
            key: "none".into(),
            value: None,
        },
    ];
    produce_batch(&console, &topic, 0, vec![with_headers], Compression::Gzip).await;
    let found = search(&console, &topic, "start=oldest").await;
    assert_eq!(
        found.messages[0]["headers"],
        json!([
            {"key": "trace", "value": "one", "value_encoding": "text"},
            {"key": "bin", "value": "/wA=", "value_encoding": "base64"},
            {"key": "trace", "value": "two", "value_encoding": "text"},
            {"key": "none", "value": null, "value_encoding": "null"},
        ])
    );
    assert_eq!(
        found.messages[0]["size_bytes"],
        2 + 5 + 3 + 3 + 2 + 5 + 3 + 4
    );

    let filter = encode(
        "headers.trace === 'two' && headersList[0].value === 'one' && headers.none === null",
    );
    let found = search(&console, &topic, &format!("start=oldest&filter={filter}")).await;
    assert_eq!(found.messages.len(), 1);
    console.stop().await;
}

#[tokio::test]
async fn produce_through_the_api() {
    let console = start().await;
    let topic = unique("produce");
    console.create_topic(&topic, 6).await;
    let path = TestConsole::path(&format!("/topics/{topic}/messages"));

    // Keyed: the partition Kafka's Java producer would choose.
    let answer = console
        .post(
            &path,
            json!({
                "key": "user-42",
                "value": "{\"amount\": 12}",
                "value_encoding": "json",
                "headers": [{"key": "h", "value": "1"}, {"key": "h", "value": "2"}],
                "compression": "zstd",
                "timestamp": 1_700_000_000_000i64
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let produced = answer.json();
    let expected = partition_for_key(b"user-42", 6);
    assert_eq!(produced["partition"], expected);
    assert_eq!(produced["timestamp"], 1_700_000_000_000i64);
    let offset = produced["offset"].as_i64().unwrap();
    let found = search(
        &console,
        &topic,
        &format!("start=offset&offset={offset}&partition={expected}&max=1"),
    )
    .await;
    let message = &found.messages[0];
    assert_eq!(message["key"]["text"], "user-42");
    assert_eq!(message["value"]["json"]["amount"], 12);
    assert_eq!(message["compression"], "zstd");
    assert_eq!(message["timestamp"], 1_700_000_000_000i64);
    assert_eq!(message["headers"][1]["value"], "2");

    // Explicit partition, binary key and value, null value.
    let answer = console
        .post(
            &path,
            json!({"partition": 3, "key": "00ff", "key_encoding": "hex", "value": "AAH+/w==", "value_encoding": "base64"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    assert_eq!(answer.json()["partition"], 3);
    let answer = console
        .post(&path, json!({"partition": 3, "key": "tomb", "value": null}))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let found = search(
        &console,
        &topic,
        "start=oldest&partition=3&value_decoder=hex",
    )
    .await;
    assert_eq!(found.messages.len(), 2);
    assert_eq!(found.messages[0]["key"]["encoding"], "base64");
    assert_eq!(found.messages[0]["value"]["text"], "0001feff");
    assert_eq!(found.messages[1]["value"], Value::Null);

    // Null keys go round the partitions.
    let mut partitions = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let answer = console.post(&path, json!({"value": "x"})).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
        partitions.insert(answer.json()["partition"].as_i64().unwrap());
    }
    assert_eq!(partitions.len(), 6);

    // Bad input.
    for body in [
        json!({"value": "%%%", "value_encoding": "base64"}),
        json!({"value": "{nope", "value_encoding": "json"}),
        json!({"key": "abc", "key_encoding": "hex"}),
        json!({"partition": 99, "value": "x"}),
        json!({"value": "x", "timestamp": -5}),
        json!({"value": "x".repeat(1024 * 1024 + 1)}),
        json!({"value": "x", "compression": "brotli"}),
        json!({"value": "x", "surprise": true}),
    ] {
        let answer = console.post(&path, body.clone()).await;
        answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let answer = console
        .post(
            &TestConsole::path("/topics/no-such-topic-here/messages"),
            json!({"value": "x"}),
        )
        .await;
    answer.problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

#[tokio::test]
async fn export_as_json_lines_and_csv() {
    let console = start().await;
    let topic = unique("export");
    console.create_topic(&topic, 1).await;
    let records = vec![
        record(Some(b"a"), Some(br#"{"n":1}"#), 1_700_000_000_000),
        record(Some(b"b,c"), Some(b"say \"hi\"\nbye"), 1_700_000_000_001),
        record(None, None, 1_700_000_000_002),
    ];
    produce_batch(&console, &topic, 0, records, Compression::Snappy).await;

    let (answer, headers) = console
        .request(
            Request::get(TestConsole::path(&format!(
                "/topics/{topic}/messages/export?start=oldest&format=jsonl"
            )))
            .body(Body::empty())
            .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.content_type.as_deref(), Some("application/x-ndjson"));
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"{topic}-messages.jsonl\"")
    );
    let lines: Vec<Value> = answer
        .text()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["value"]["json"]["n"], 1);
    assert_eq!(lines[1]["key"]["text"], "b,c");
    assert_eq!(lines[2]["value"], Value::Null);

    let answer = console
        .get(&TestConsole::path(&format!(
            "/topics/{topic}/messages/export?start=oldest&format=csv&max=2"
        )))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        answer.content_type.as_deref(),
        Some("text/csv; charset=utf-8")
    );
    assert_eq!(
        answer.text(),
        "partition,offset,timestamp,timestamp_type,key,value,headers,key_encoding,value_encoding,size_bytes,compression\r\n\
         0,0,1700000000000,CreateTime,a,\"{\"\"n\"\":1}\",[],text,json,8,snappy\r\n\
         0,1,1700000000001,CreateTime,\"b,c\",\"say \"\"hi\"\"\nbye\",[],text,text,15,snappy\r\n"
    );

    let answer = console
        .get(&TestConsole::path(&format!(
            "/topics/{topic}/messages/export?follow=true"
        )))
        .await;
    answer.problem(StatusCode::BAD_REQUEST);
    let answer = console
        .get(&TestConsole::path(&format!(
            "/topics/{topic}/messages/export?format=xml"
        )))
        .await;
    answer.problem(StatusCode::BAD_REQUEST);
    console.stop().await;
}

#[tokio::test]
async fn live_tail_sees_records_produced_after_it_started() {
    let console = start().await;
    let topic = unique("tail");
    console.create_topic(&topic, 2).await;
    console
        .produce(&topic, 0, &[(Some("old"), Some("old"))])
        .await;

    let request = Request::get(messages_path(&topic, "follow=true&max=2"))
        .body(Body::empty())
        .unwrap();
    let response = console.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    // The search has planned its start (the end offsets) before answering.
    console
        .produce(&topic, 1, &[(Some("new"), Some("one"))])
        .await;
    console
        .produce(&topic, 0, &[(Some("new"), Some("two"))])
        .await;

    let mut body = response.into_body();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text.contains("event: done") {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, body.frame())
            .await
            .expect("the live tail delivers within 20 s")
            .expect("the stream ends only after done")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    let events = parse_sse(&text);
    let mut values: Vec<String> = events
        .iter()
        .filter(|e| e.event == "message")
        .map(|e| e.data["value"]["text"].as_str().unwrap().to_string())
        .collect();
    values.sort();
    assert_eq!(values, vec!["one", "two"]);
    let done = &events.last().unwrap().data;
    assert_eq!(done["reason"], "max_reached");
    assert_eq!(done["partitions"][0]["end"], Value::Null);
    console.stop().await;
}

#[tokio::test]
async fn a_client_leaving_a_live_tail_frees_the_search() {
    let console = start().await;
    let topic = unique("leave");
    console.create_topic(&topic, 1).await;
    // More tails than the console runs at once, each dropped at once: if a
    // dropped tail kept its slot, the last ones would be refused with 429.
    for _ in 0..24 {
        let request = Request::get(messages_path(&topic, "follow=true"))
            .body(Body::empty())
            .unwrap();
        let response = console.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        drop(response);
        // The fetcher notices within one long poll.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = console.get(&messages_path(&topic, "start=oldest")).await;
        if answer.status == StatusCode::OK {
            break;
        }
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(Instant::now() < deadline, "dropped searches never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    console.stop().await;
}

#[tokio::test]
async fn bad_search_parameters_are_refused_before_streaming() {
    let console = start().await;
    let (topic, _) = seeded_topic(&console, 2, 1).await;
    for query in [
        "max=0",
        "max=10001",
        "max=-1",
        "max=abc",
        "start=sideways",
        "start=offset",
        "start=timestamp",
        "offset=5",
        "start=offset&offset=-1",
        "partition=-1",
        "follow=maybe",
    ] {
        let answer = console.get(&messages_path(&topic, query)).await;
        answer.problem(StatusCode::BAD_REQUEST);
    }
    let answer = console.get(&messages_path(&topic, "partition=2")).await;
    let problem = answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().unwrap().contains("partition 2"));
    let long = "1".repeat(takhin_console::filter::FILTER_SOURCE_MAX_BYTES + 1);
    let answer = console
        .get(&messages_path(&topic, &format!("filter={long}")))
        .await;
    answer.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let answer = console
        .get(&messages_path("no-such-topic-anywhere", "start=oldest"))
        .await;
    answer.problem(StatusCode::NOT_FOUND);
    let answer = console.get("/api/v1/clusters/nope/topics/x/messages").await;
    answer.problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

/// Throughput of a search over 100k records, with and without a filter.
/// Run: `cargo test --release -p takhin-console --test api_messages -- --ignored --nocapture search_throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn search_throughput() {
    let console = start().await;
    let topic = unique("throughput");
    console.create_topic(&topic, 1).await;
    let total = 100_000i64;
    for chunk in 0..total / 1000 {
        let records = (0..1000)
            .map(|i| {
                let n = chunk * 1000 + i;
                let value = json!({"n": n, "user": format!("user-{}", n % 977), "amount": n % 250, "tags": ["a", "b"]}).to_string();
                record(Some(format!("key-{n}").as_bytes()), Some(value.as_bytes()), now_ms())
            })
            .collect();
        produce_batch(&console, &topic, 0, records, Compression::Lz4).await;
    }
    let measure = |label: &'static str, path: String| {
        let console = &console;
        async move {
            let started = Instant::now();
            let answer = console.get(&path).await;
            let elapsed = started.elapsed();
            assert_eq!(answer.status, StatusCode::OK);
            println!(
                "{label}: {} bytes in {:?}, {:.0} records/s scanned",
                answer.body.len(),
                elapsed,
                total as f64 / elapsed.as_secs_f64()
            );
            answer
        }
    };
    let answer = measure(
        "export jsonl, no filter, 100k matched",
        TestConsole::path(&format!(
            "/topics/{topic}/messages/export?start=oldest&max=100000"
        )),
    )
    .await;
    assert_eq!(answer.text().lines().count(), 100_000);
    let filter = encode("value.n % 1000 == 0");
    let answer = measure(
        "search, filter value.n % 1000 == 0, 100 matched",
        messages_path(&topic, &format!("start=oldest&max=10000&filter={filter}")),
    )
    .await;
    let events = parse_sse(&answer.text());
    let done = &events.last().unwrap().data;
    assert_eq!(done["scanned"], 100_000, "{done}");
    assert_eq!(done["matched"], 100);
    let filter = encode("false");
    measure(
        "search, filter false, 0 matched",
        messages_path(&topic, &format!("start=oldest&max=10000&filter={filter}")),
    )
    .await;
    console.stop().await;
}
