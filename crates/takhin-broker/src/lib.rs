//! Takhin's Kafka broker: the network server, one handler per Kafka API, the
//! partitions it serves, and the metadata of a single node.
//!
//! Data flows one way: [`server`] frames and decodes requests with
//! `takhin_protocol`, [`handlers`] turn each request into a response using
//! [`broker::Broker`], which owns the topics ([`partition`]) whose logs live
//! in `takhin_storage`. Handlers never touch files; storage knows nothing of
//! the protocol.
//!
//! [`run`] is the whole broker: open the data directory (recovering what a
//! crash left), serve until told to stop, then shut down cleanly (finish
//! in-flight requests, flush, checkpoint, write the clean-shutdown marker).

pub mod broker;
pub mod config;
pub mod connections;
pub mod groups;
pub mod handlers;
pub mod metadata;
pub mod metrics;
pub mod partition;
pub mod scrub;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

pub use broker::Broker;
pub use config::BrokerConfig;

/// How often partitions are checked against `log.recovery.checkpoint.bytes`
/// (and the time against `log.flush.offset.checkpoint.interval.ms`).
pub const CHECKPOINT_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How often partitions with `write.caching=true` are checked against their
/// `flush.ms`.
pub const CACHED_FLUSH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("opening the data directory: {0}")]
    Start(#[from] broker::StartError),
    #[error("binding the Kafka listener on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("shutting down: {0}")]
    Shutdown(String),
}

/// Runs the broker until `shutdown` turns true. `ready` receives the bound
/// Kafka address once the broker accepts connections.
pub async fn run(
    config: BrokerConfig,
    shutdown: watch::Receiver<bool>,
    ready: oneshot::Sender<(SocketAddr, Arc<Broker>)>,
) -> Result<(), RunError> {
    let started = std::time::Instant::now();
    let configured_addr = config.kafka_addr;
    let bind_error = |source| RunError::Bind {
        addr: configured_addr,
        source,
    };
    // Bind before recovery so an ephemeral port (0) is known, and advertised,
    // from the start; connections wait in the backlog until serving begins.
    let listener = tokio::net::TcpListener::bind(configured_addr)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let mut config = config;
    if !config.advertised_explicit && config.advertised_port == 0 {
        config.advertised_port = addr.port();
    }
    let broker = tokio::task::spawn_blocking(move || Broker::open(config))
        .await
        .map_err(|e| RunError::Shutdown(e.to_string()))??;
    let broker = Arc::new(broker);
    let server = server::Server::new(broker.clone(), listener);
    info!(
        %addr,
        advertised = %format!("{}:{}", broker.config.advertised_host, broker.config.advertised_port),
        node_id = broker.config.node_id,
        startup_ms = started.elapsed().as_millis() as u64,
        "Kafka API listening"
    );
    let _ = ready.send((addr, broker.clone()));

    let background = tokio::spawn(background_tasks(broker.clone(), shutdown.clone()));
    let coordinator = tokio::spawn(groups::run_background(broker.clone(), shutdown.clone()));
    let scrubber = broker
        .config
        .log_scrub_enable
        .then(|| tokio::spawn(scrub::run(broker.clone(), shutdown.clone())));
    let cleaner = broker
        .config
        .log_cleaner_enable
        .then(|| tokio::spawn(run_cleaner(broker.clone(), shutdown.clone())));
    server.run(shutdown).await;
    background.abort();
    coordinator.abort();
    if let Some(scrubber) = scrubber {
        scrubber.abort();
    }
    if let Some(cleaner) = cleaner {
        // Let a partition being cleaned finish before the logs are closed.
        let _ = cleaner.await;
    }

    let closing = broker.clone();
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .map_err(|e| RunError::Shutdown(e.to_string()))?
        .map_err(|e| RunError::Shutdown(e.to_string()))?;
    info!("clean shutdown complete");
    Ok(())
}

/// How often idle partitions are looked for, as a fraction of
/// `log.preallocate.idle.ms`: zeros live at most 1.5 times that long idle.
const PREALLOCATION_TRIM_CHECKS_PER_IDLE: u32 = 2;

/// Periodic work: checkpoints, `flush.ms` for write-cached partitions,
/// retention every `log.retention.check.interval.ms`, offline partitions every
/// `log.dir.offline.check.interval.ms`, and idle partitions' preallocated
/// zeros.
async fn background_tasks(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let every = |ms: u64| {
        let mut interval = tokio::time::interval(Duration::from_millis(ms.max(1)));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval
    };
    let mut checkpoint = every(CHECKPOINT_CHECK_INTERVAL.as_millis() as u64);
    let checkpoint_interval =
        Duration::from_millis(broker.config.log_flush_offset_checkpoint_interval_ms);
    let mut last_checkpoint = tokio::time::Instant::now();
    let mut flush = every(CACHED_FLUSH_CHECK_INTERVAL.as_millis() as u64);
    let mut retention = every(broker.config.log_retention_check_interval_ms);
    let mut offline = every(broker.config.log_dir_offline_check_interval_ms);
    let mut idle = every(
        broker.config.log_preallocate_idle_ms / u64::from(PREALLOCATION_TRIM_CHECKS_PER_IDLE),
    );
    let mut waiting_for_space = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = checkpoint.tick() => {
                let due = last_checkpoint.elapsed() >= checkpoint_interval
                    || broker.checkpoint_bytes_reached();
                if !due {
                    continue;
                }
                last_checkpoint = tokio::time::Instant::now();
                let broker = broker.clone();
                let result = tokio::task::spawn_blocking(move || broker.checkpoint()).await;
                if let Ok(Err(e)) = result {
                    warn!("writing checkpoints: {e}");
                }
            }
            _ = flush.tick() => {
                let broker = broker.clone();
                let _ = tokio::task::spawn_blocking(move || flush_cached_partitions(&broker)).await;
            }
            _ = retention.tick() => {
                let broker = broker.clone();
                let _ = tokio::task::spawn_blocking(move || broker.enforce_retention(handlers::now_ms())).await;
            }
            _ = offline.tick() => {
                let broker = broker.clone();
                let min_free_bytes = broker.config.log_dir_reopen_min_free_bytes;
                let checked = tokio::task::spawn_blocking(move || broker.reopen_offline_partitions(min_free_bytes)).await;
                if let Ok(outcome) = checked {
                    waiting_for_space = log_space_wait(&outcome, min_free_bytes, waiting_for_space);
                }
            }
            _ = idle.tick() => {
                let broker = broker.clone();
                let _ = tokio::task::spawn_blocking(move || trim_idle_preallocation(&broker, handlers::now_ms())).await;
            }
        }
    }
}

/// Logs once when full-disk partitions start waiting for free space (not at
/// every check); returns whether they are waiting now.
fn log_space_wait(outcome: &broker::ReopenOutcome, min_free_bytes: u64, was_waiting: bool) -> bool {
    let waiting = outcome.storage_full > outcome.reopened;
    if waiting && !was_waiting {
        warn!(
            partitions = outcome.storage_full - outcome.reopened,
            free_bytes = outcome.free_bytes,
            min_free_bytes,
            "partitions offline after a full disk; they come back once the data directory has min_free_bytes free"
        );
    }
    waiting
}

/// Trims the preallocated zeros of partitions with no append for
/// `log.preallocate.idle.ms`, returning them to the budget.
fn trim_idle_preallocation(broker: &Broker, now_ms: i64) {
    let idle_ms = i64::try_from(broker.config.log_preallocate_idle_ms).unwrap_or(i64::MAX);
    let mut trimmed_bytes = 0u64;
    let mut partitions = 0usize;
    for partition in broker.all_partitions() {
        let trimmed = partition.log().trim_idle_preallocation(now_ms, idle_ms);
        if trimmed > 0 {
            trimmed_bytes += trimmed;
            partitions += 1;
        }
    }
    if partitions > 0 {
        tracing::debug!(
            partitions,
            trimmed_bytes,
            "trimmed preallocated zeros of idle partitions"
        );
    }
}

/// The log cleaner: every `log.cleaner.backoff.ms`, one pass of
/// [`clean_compacted_partitions`] on one blocking thread.
async fn run_cleaner(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut tick =
        tokio::time::interval(Duration::from_millis(broker.config.log_cleaner_backoff_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let broker = broker.clone();
                let _ = tokio::task::spawn_blocking(move || clean_compacted_partitions(&broker, handlers::now_ms())).await;
            }
        }
    }
}

/// One cleaner pass (Kafka's `LogCleanerManager.grabFilthiestCompactedLog`,
/// applied to every eligible partition in turn): over the partitions of the
/// topics whose `cleanup.policy` includes `compact`, those whose dirty ratio
/// ([`takhin_storage::DirtyStats`], from the first dirty offset of
/// `cleaner-offset-checkpoint`, counting only segments older than
/// `min.compaction.lag.ms`) reaches `min.cleanable.dirty.ratio`, with a
/// closed dirty segment holding a record older than `max.compaction.lag.ms`,
/// or holding a tombstone whose delete horizon (KIP-534: the first clean that
/// kept it plus `delete.retention.ms`) has been reached, are cleaned, dirtiest
/// first. The checkpoints are written afterwards when
/// anything was cleaned. Returns the (topic, partition) pairs cleaned, in order.
pub fn clean_compacted_partitions(broker: &Broker, now_ms: i64) -> Vec<(String, i32)> {
    let mut candidates = Vec::new();
    for topic in broker.topics() {
        let config = topic.config();
        if !config.compacts() {
            continue;
        }
        let options = config.clean_options(&broker.config);
        let min_ratio = config.min_cleanable_dirty_ratio();
        let max_lag_ms = config.max_compaction_lag_ms();
        for partition in topic.partitions() {
            let log = partition.log();
            if log.is_offline() {
                continue;
            }
            let stats = match log.dirty_stats(&options, now_ms) {
                Ok(stats) => stats,
                Err(e) => {
                    warn!(topic = %topic.name, partition = partition.index, "reading the dirty ratio failed: {e}");
                    continue;
                }
            };
            if stats.should_clean(min_ratio, max_lag_ms, now_ms) {
                candidates.push((stats, topic.clone(), partition.clone(), options.clone()));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.dirty_ratio().total_cmp(&a.0.dirty_ratio()));
    let mut cleaned = Vec::new();
    for (stats, topic, partition, options) in candidates {
        let log = partition.log();
        match log.clean(options, now_ms) {
            Ok(report) => {
                partition.metrics.record_clean(&report, stats.dirty_ratio());
                cleaned.push((topic.name.to_string(), partition.index));
                info!(
                    topic = %topic.name,
                    partition = partition.index,
                    dirty_ratio = stats.dirty_ratio(),
                    segments = report.segments_cleaned,
                    segments_merged = report.segments_merged,
                    bytes_before = report.bytes_before,
                    bytes_after = report.bytes_after,
                    records_removed = report.records_removed,
                    tombstones_removed = report.tombstones_removed,
                    first_dirty_offset = log.first_dirty_offset(),
                    duration_ms = report.duration.as_millis() as u64,
                    "compacted partition"
                );
            }
            Err(e) => {
                partition.metrics.record_clean_failure();
                warn!(topic = %topic.name, partition = partition.index, "compaction failed: {e}")
            }
        }
    }
    if !cleaned.is_empty()
        && let Err(e) = broker.checkpoint()
    {
        warn!("writing checkpoints after cleaning: {e}");
    }
    cleaned
}

fn flush_cached_partitions(broker: &Broker) {
    let now_ms = handlers::now_ms();
    for topic in broker.topics() {
        let config = topic.config();
        if !config.write_caching {
            continue;
        }
        for partition in topic.partitions() {
            let log = partition.log();
            if log.log_end_offset() == log.recovery_point() {
                partition.touch_flush(now_ms);
                continue;
            }
            if now_ms.saturating_sub(partition.last_flush_ms()) >= config.flush_ms {
                match partition.sync_blocking(&log, log.log_end_offset()) {
                    Ok(()) => partition.touch_flush(now_ms),
                    Err(e) => {
                        warn!(topic = %topic.name, partition = partition.index, "flush.ms flush failed: {e}")
                    }
                }
            }
        }
    }
}
