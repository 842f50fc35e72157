//! The scrubber: a background task that re-reads the closed segments of every partition and
//! checks each batch's CRC, so damage a clean start does not look for (bit rot, a stray write
//! into a closed `.log`) is found by the broker before a consumer stops on it.
//!
//! One partition at a time, one step of at most [`STEP_BYTES`] at a time on the blocking pool
//! ([`takhin_storage::Log::scrub`]), paced to `log.scrub.bytes.per.second` by sleeping after
//! each step for the time its bytes were worth; after a pass over every partition it pauses
//! `log.scrub.interval.ms`. Damage found is logged at WARN with the file, byte range and
//! offsets, kept in [`takhin_storage::Log::damaged_ranges`] (the `takhin_log_damaged_*` metrics
//! and the console read it there) and left in place: the bytes are served as stored, and the
//! next recovery that verifies the segment moves them out (see `takhin_storage`'s `damage`
//! module). Without replicas there is nothing to repair from; once partitions have in-sync
//! replicas, a damaged range is what a follower would fetch again.
//!
//! Cost: the scrubber's reads go through the page cache like a lagging consumer's; at the default
//! rate (8 MiB/s) that is a small share of a disk's bandwidth and of one core's CRC speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use takhin_storage::ScrubCursor;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::broker::Broker;
use crate::partition::Partition;

/// Most bytes one step reads: bounds how long a blocking thread is held and how far the pacing
/// can lag.
pub const STEP_BYTES: u64 = 1024 * 1024;

/// What the scrubber did since the broker started (read by the metrics).
#[derive(Debug, Default)]
pub struct ScrubStats {
    bytes_verified: AtomicU64,
    passes: AtomicU64,
}

impl ScrubStats {
    pub fn bytes_verified(&self) -> u64 {
        self.bytes_verified.load(Ordering::Relaxed)
    }

    /// Completed passes over every partition.
    pub fn passes(&self) -> u64 {
        self.passes.load(Ordering::Relaxed)
    }
}

/// Runs passes until `shutdown` turns true.
pub async fn run(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let bytes_per_second = broker.config.log_scrub_bytes_per_second.max(1);
    let pause = Duration::from_millis(broker.config.log_scrub_interval_ms);
    loop {
        for partition in broker.all_partitions() {
            if partition.log().is_offline() {
                continue;
            }
            if !scrub_partition(&broker, &partition, bytes_per_second, &mut shutdown).await {
                return;
            }
        }
        broker.scrub.passes.fetch_add(1, Ordering::Relaxed);
        debug!(
            bytes_verified = broker.scrub.bytes_verified(),
            "scrub pass complete"
        );
        if sleep_or_shutdown(pause, &mut shutdown).await {
            return;
        }
    }
}

/// One pass over one partition. False when the broker is shutting down.
async fn scrub_partition(
    broker: &Arc<Broker>,
    partition: &Arc<Partition>,
    bytes_per_second: u64,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let mut cursor = ScrubCursor::default();
    loop {
        let log = partition.log();
        let step_bytes = STEP_BYTES.min(bytes_per_second);
        let stepped = tokio::task::spawn_blocking(move || {
            let result = log.scrub(&mut cursor, step_bytes);
            (result, cursor)
        })
        .await;
        let (result, next) = match stepped {
            Ok(stepped) => stepped,
            Err(e) => {
                warn!(topic = %partition.topic, partition = partition.index, "scrub step failed: {e}");
                return true;
            }
        };
        cursor = next;
        let step = match result {
            Ok(step) => step,
            Err(e) => {
                // A segment deleted or the disk failing: the next pass tries again.
                info!(topic = %partition.topic, partition = partition.index, "scrub stopped for this pass: {e}");
                return true;
            }
        };
        broker
            .scrub
            .bytes_verified
            .fetch_add(step.bytes_verified, Ordering::Relaxed);
        for range in &step.damage_found {
            warn!(
                topic = %partition.topic,
                partition = partition.index,
                %range,
                "scrubber found damaged data in a closed segment; it is served as stored until recovery moves it out"
            );
        }
        let paced = Duration::from_secs_f64(step.bytes_verified as f64 / bytes_per_second as f64);
        if sleep_or_shutdown(paced, shutdown).await {
            return false;
        }
        if step.pass_complete {
            return true;
        }
    }
}

/// Sleeps `duration`; true if the broker began shutting down meanwhile.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(duration) => false,
        _ = shutdown.changed() => true,
    }
}
