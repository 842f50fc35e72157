//! The scrubber in a running broker: a byte flipped inside a closed segment while the broker
//! serves is found and reported in the metrics, and the partition keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use takhin_storage::Compression;

mod common;
use common::*;

/// The value of one series in the broker's metrics text, if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrubber_reports_a_byte_flipped_in_a_closed_segment_of_a_running_broker() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        &[
            ("log.scrub.interval.ms", "50"),
            ("log.scrub.bytes.per.second", "104857600"),
        ],
    )
    .await;
    let mut client = Client::connect(broker.addr).await;
    let topic = "scrubbed";
    let response = client
        .call(
            7,
            &CreateTopicsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(topic_name(topic))
                        .with_num_partitions(1)
                        .with_replication_factor(1)
                        .with_configs(vec![
                            CreatableTopicConfig::default()
                                .with_name(StrBytes::from_static_str("segment.bytes"))
                                .with_value(Some(StrBytes::from_static_str("2048"))),
                        ]),
                ]),
        )
        .await;
    assert_eq!(response.topics[0].error_code, 0);
    for index in 0..40 {
        let records = batch(&records(4, 1_000 + index), Compression::None, None);
        let response = client
            .call(9, &produce_request(topic, 0, records, -1))
            .await;
        assert_eq!(produced(&response).error_code, 0);
    }
    let text = broker.broker.metrics.render(&broker.broker);
    let damaged = format!("takhin_log_damaged_ranges{{topic=\"{topic}\",partition=\"0\"}}");
    assert_eq!(sample(&text, &damaged), Some(0.0), "{text}");

    // Flip a byte in the records of the first batch of the second segment, on disk.
    let partition_dir = dir.path().join(format!("{topic}-0"));
    let mut logs: Vec<_> = std::fs::read_dir(&partition_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 3, "{logs:?}");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&logs[1])
        .unwrap();
    let mut byte = [0u8; 1];
    file.read_exact_at(&mut byte, 80).unwrap();
    file.write_all_at(&[byte[0] ^ 0x20], 80).unwrap();
    drop(file);

    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = broker.broker.metrics.render(&broker.broker);
        if sample(&text, &damaged) == Some(1.0) {
            break text;
        }
        assert!(Instant::now() < deadline, "damage not reported:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(sample(&text, "takhin_log_scrub_verified_bytes_total").unwrap() > 0.0);
    let bytes = format!("takhin_log_damaged_bytes{{topic=\"{topic}\",partition=\"0\"}}");
    assert!(sample(&text, &bytes).unwrap() > 0.0, "{text}");
    let ranges = broker.broker.topic(topic).unwrap().partitions()[0]
        .log()
        .damaged_ranges();
    assert_eq!(ranges.len(), 1);
    assert_eq!(ranges[0].file, logs[1]);
    assert_eq!(ranges[0].position_bytes, 0);
    // Later passes do not report it again, and the partition still takes writes.
    let passes = sample(&text, "takhin_log_scrub_passes_total").unwrap();
    while sample(
        &broker.broker.metrics.render(&broker.broker),
        "takhin_log_scrub_passes_total",
    )
    .unwrap()
        < passes + 2.0
    {
        assert!(Instant::now() < deadline, "no further scrub passes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = broker.broker.metrics.render(&broker.broker);
    assert_eq!(sample(&text, &damaged), Some(1.0));
    let records = batch(&records(1, 5_000), Compression::None, None);
    let response = client
        .call(9, &produce_request(topic, 0, records, -1))
        .await;
    assert_eq!(produced(&response).error_code, 0);
    broker.stop().await;
}
