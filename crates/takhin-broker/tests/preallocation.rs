//! The broker's preallocation budget: `log.preallocate.budget.bytes` bounds
//! the zeros of all durable partitions together, and the background pass
//! trims those of partitions idle for `log.preallocate.idle.ms`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use kafka_protocol::messages::ProduceRequest;
use takhin_storage::Compression;

/// The broker's window per durable partition (`config::PREALLOCATE_BYTES`).
const WINDOW_BYTES: u64 = 256 * 1024;
const PATIENCE: Duration = Duration::from_secs(30);

async fn produce_one(client: &mut Client, topic: &str) {
    let records = batch(&records(1, 1_000), Compression::None, None);
    let response = client
        .call::<ProduceRequest>(9, &produce_request(topic, 0, records, -1))
        .await;
    assert_eq!(produced(&response).error_code, 0, "{topic}");
}

#[tokio::test]
async fn partitions_share_the_budget_and_idle_ones_give_their_zeros_back() {
    let dir = tempfile::tempdir().unwrap();
    let budget_bytes = (2 * WINDOW_BYTES).to_string();
    let broker = start(
        dir.path(),
        &[
            ("log.preallocate.budget.bytes", &budget_bytes),
            ("log.preallocate.idle.ms", "2000"),
        ],
    )
    .await;
    let budget = broker.broker.log_dir().preallocation_budget().clone();
    let mut client = Client::connect(broker.addr).await;
    for topic in ["a", "b", "c", "d"] {
        produce_one(&mut client, topic).await;
    }
    // Unbounded, four partitions would hold four windows.
    assert!(budget.used_bytes() <= 2 * WINDOW_BYTES);
    let held: u64 = broker
        .broker
        .all_partitions()
        .iter()
        .map(|partition| partition.log().preallocated_bytes())
        .sum();
    assert_eq!(held, budget.used_bytes());

    let deadline = tokio::time::Instant::now() + PATIENCE;
    while budget.used_bytes() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle partitions still hold {} bytes of zeros",
            budget.used_bytes()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = broker.broker.metrics.render(&broker.broker);
    assert!(metrics.contains("takhin_preallocated_bytes 0"), "{metrics}");

    // Written again: zeros again (checked well within the idle time).
    produce_one(&mut client, "c").await;
    assert_eq!(budget.used_bytes(), WINDOW_BYTES);
    drop(client);
    broker.stop().await;
    assert_eq!(budget.used_bytes(), 0, "a clean shutdown trims every zero");
}
