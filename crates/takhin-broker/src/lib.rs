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
pub mod groups;
pub mod handlers;
pub mod metadata;
pub mod partition;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tracing::{info, warn};

pub use broker::Broker;
pub use config::BrokerConfig;

/// How often the recovery-point and log-start-offset checkpoints are written
/// (Kafka's `log.flush.offset.checkpoint.interval.ms`).
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

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
    let cleaner = broker
        .config
        .log_cleaner_enable
        .then(|| tokio::spawn(run_cleaner(broker.clone(), shutdown.clone())));
    server.run(shutdown).await;
    background.abort();
    coordinator.abort();
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

/// Periodic work: checkpoints, `flush.ms` for write-cached partitions, and
/// retention every `log.retention.check.interval.ms`.
async fn background_tasks(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut checkpoint = tokio::time::interval(CHECKPOINT_INTERVAL);
    let mut flush = tokio::time::interval(CACHED_FLUSH_CHECK_INTERVAL);
    let mut retention = tokio::time::interval(Duration::from_millis(
        broker.config.log_retention_check_interval_ms,
    ));
    checkpoint.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = checkpoint.tick() => {
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
        }
    }
}

/// The log cleaner: every `log.cleaner.backoff.ms`, compacts each partition
/// of the topics whose `cleanup.policy` includes `compact`, one partition at
/// a time on one blocking thread. A partition is skipped until its active
/// segment has rolled since its last cleaning: only closed segments are
/// cleaned, so nothing new would be cleanable.
async fn run_cleaner(broker: Arc<Broker>, mut shutdown: watch::Receiver<bool>) {
    let mut tick =
        tokio::time::interval(Duration::from_millis(broker.config.log_cleaner_backoff_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let cleaned_up_to = Arc::new(parking_lot::Mutex::new(std::collections::HashMap::new()));
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {
                let broker = broker.clone();
                let cleaned_up_to = cleaned_up_to.clone();
                let _ = tokio::task::spawn_blocking(move || clean_compacted_partitions(&broker, &mut cleaned_up_to.lock())).await;
            }
        }
    }
}

fn clean_compacted_partitions(
    broker: &Broker,
    cleaned_up_to: &mut std::collections::HashMap<(String, i32), i64>,
) {
    for topic in broker.topics() {
        let config = topic.config();
        if !config.compacts() {
            continue;
        }
        let options = config.clean_options(&broker.config);
        for partition in topic.partitions() {
            let key = (topic.name.to_string(), partition.index);
            let active_base = partition
                .log
                .segment_base_offsets()
                .last()
                .copied()
                .unwrap_or(0);
            if cleaned_up_to.get(&key) == Some(&active_base) {
                continue;
            }
            match partition.log.clean(options.clone(), handlers::now_ms()) {
                Ok(report) => {
                    if !report.map_full {
                        cleaned_up_to.insert(key, active_base);
                    }
                    if report.segments_cleaned > 0 {
                        info!(
                            topic = %topic.name,
                            partition = partition.index,
                            segments = report.segments_cleaned,
                            bytes_before = report.bytes_before,
                            bytes_after = report.bytes_after,
                            records_removed = report.records_removed,
                            tombstones_removed = report.tombstones_removed,
                            duration_ms = report.duration.as_millis() as u64,
                            "compacted partition"
                        );
                    }
                }
                Err(e) => {
                    warn!(topic = %topic.name, partition = partition.index, "compaction failed: {e}")
                }
            }
        }
    }
}

fn flush_cached_partitions(broker: &Broker) {
    let now_ms = handlers::now_ms();
    for topic in broker.topics() {
        let config = topic.config();
        if !config.write_caching {
            continue;
        }
        for partition in topic.partitions() {
            if partition.log.log_end_offset() == partition.log.recovery_point() {
                partition.touch_flush(now_ms);
                continue;
            }
            if now_ms.saturating_sub(partition.last_flush_ms()) >= config.flush_ms {
                match partition.log.flush() {
                    Ok(()) => partition.touch_flush(now_ms),
                    Err(e) => {
                        warn!(topic = %topic.name, partition = partition.index, "flush.ms flush failed: {e}")
                    }
                }
            }
        }
    }
}
