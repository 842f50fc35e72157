//! The broker's state: topics and partitions, the metadata document, the
//! data directory, and producer-id allocation.
//!
//! Topic administration (create, delete, add partitions, change configs) is
//! serialized by one lock around the metadata document and does blocking
//! file I/O: call it from a blocking thread (`tokio::task::spawn_blocking`).
//! Lookups (`topic`, `topic_by_id`) are cheap read locks, safe anywhere.
//!
//! Order of durable steps, so a crash at any point leaves a consistent state:
//! creating a topic persists the metadata first and then creates the logs
//! (start-up creates logs missing for known topics); deleting persists the
//! metadata first and then removes the logs (start-up removes partition
//! directories no topic owns).
//!
//! A partition that a full disk took offline comes back without a restart:
//! [`Broker::reopen_offline_partitions`] (run every
//! `log.dir.offline.check.interval.ms`) reopens it once the data directory has
//! `log.dir.reopen.min.free.bytes` free.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use takhin_storage::{Log, LogDir, RecoveryReport, StorageError};
use tracing::{info, warn};
use uuid::Uuid;

use crate::config::{BrokerConfig, ConfigError, TopicConfig};
use crate::metadata::{
    MetadataDocument, MetadataError, PRODUCER_ID_BLOCK_SIZE, TopicMetadata, validate_topic_name,
};
use crate::partition::{Partition, Topic};

/// Most partitions one topic may have; bounds what one request can ask for.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("{0}")]
    InvalidName(String),
    #[error("topic {0} already exists")]
    AlreadyExists(String),
    #[error("topic {0} does not exist")]
    Unknown(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    #[error("{0}")]
    InvalidRequest(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    #[error("topic {topic}: {source}")]
    TopicConfig { topic: String, source: ConfigError },
}

/// What one [`Broker::reopen_offline_partitions`] pass found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReopenOutcome {
    /// Offline partitions seen.
    pub offline: usize,
    /// Of those, the ones a full disk took offline (the only ones reopened on
    /// their own: another I/O error is not cured by waiting).
    pub storage_full: usize,
    pub reopened: usize,
    pub failed: usize,
    /// What statvfs said, when there was an offline partition to ask for.
    pub free_bytes: Option<u64>,
}

struct ProducerIds {
    next: i64,
    block_end: i64,
}

pub struct Broker {
    pub config: BrokerConfig,
    pub started_at: Instant,
    pub cluster_id: String,
    log_dir: LogDir,
    metadata: Mutex<MetadataDocument>,
    topics: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
    topic_ids: RwLock<HashMap<Uuid, Arc<Topic>>>,
    producer_ids: Mutex<ProducerIds>,
    /// Consumer groups and committed offsets.
    pub groups: crate::groups::GroupCoordinator,
    /// Request and connection counters; [`crate::metrics::Metrics::render`] for all metrics.
    pub metrics: crate::metrics::Metrics,
    /// What the scrubber ([`crate::scrub`]) has read.
    pub scrub: crate::scrub::ScrubStats,
    /// Where produce appends run (async worker or blocking pool).
    pub(crate) append_gate: crate::handlers::produce::AppendGate,
}

impl Broker {
    /// Opens the data directory, recovers every partition, and returns the
    /// broker ready to serve. Blocking.
    pub fn open(config: BrokerConfig) -> Result<Broker, StartError> {
        let log_dir = LogDir::open(&config.data_dir)?;
        log_dir
            .preallocation_budget()
            .set_limit_bytes(config.log_preallocate_budget_bytes);
        let clean = log_dir.was_clean_shutdown();
        let document = MetadataDocument::load_or_create(&config.data_dir)?;
        info!(
            data_dir = %config.data_dir.display(),
            cluster_id = %document.cluster_id,
            clean_shutdown = clean,
            topics = document.topics.len(),
            "opening data directory"
        );
        let broker = Broker {
            cluster_id: document.cluster_id.clone(),
            producer_ids: Mutex::new(ProducerIds {
                next: document.producer_id_block_end,
                block_end: document.producer_id_block_end,
            }),
            started_at: Instant::now(),
            log_dir,
            metadata: Mutex::new(document.clone()),
            topics: RwLock::new(HashMap::new()),
            topic_ids: RwLock::new(HashMap::new()),
            groups: crate::groups::GroupCoordinator::new(config.groups.clone()),
            metrics: crate::metrics::Metrics::new(),
            scrub: crate::scrub::ScrubStats::default(),
            append_gate: Default::default(),
            config,
        };
        for (name, topic) in &document.topics {
            let config =
                TopicConfig::resolve(&broker.config, &topic.configs).map_err(|source| {
                    StartError::TopicConfig {
                        topic: name.clone(),
                        source,
                    }
                })?;
            broker.install_topic(name, topic.topic_id, topic.partitions, config)?;
        }
        for (topic, partition) in broker.log_dir.partition_dirs()? {
            let owned = document
                .topics
                .get(&topic)
                .is_some_and(|t| partition < t.partitions);
            if !owned {
                warn!(%topic, partition, "removing partition directory that no topic owns");
                broker.log_dir.delete_partition(&topic, partition)?;
            }
        }
        Ok(broker)
    }

    /// Opens (creating if needed) the logs of a topic and makes it visible.
    fn install_topic(
        &self,
        name: &str,
        topic_id: Uuid,
        partitions: i32,
        config: TopicConfig,
    ) -> Result<Arc<Topic>, StorageError> {
        let name: Arc<str> = Arc::from(name);
        let topic = Arc::new(Topic::new(name.clone(), topic_id, config.clone()));
        for index in 0..partitions {
            // The storage layer logs what recovery found, per partition.
            let (log, _report) =
                self.log_dir
                    .open_log(&name, index, topic_id, config.log.clone())?;
            topic.push_partition(Arc::new(Partition::new(name.clone(), index, log)));
        }
        self.topics.write().insert(name, topic.clone());
        self.topic_ids.write().insert(topic_id, topic.clone());
        Ok(topic)
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().get(name).cloned()
    }

    pub fn topic_by_id(&self, topic_id: &Uuid) -> Option<Arc<Topic>> {
        self.topic_ids.read().get(topic_id).cloned()
    }

    /// All topics, sorted by name.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut topics: Vec<_> = self.topics.read().values().cloned().collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics
    }

    pub fn log_dir(&self) -> &LogDir {
        &self.log_dir
    }

    /// Checks a CreateTopics-style request without changing anything.
    pub fn validate_new_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, TopicError> {
        validate_topic_name(name).map_err(TopicError::InvalidName)?;
        if self.topic(name).is_some() {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be between 1 and {MAX_PARTITIONS_PER_TOPIC}, got {partitions}"
            )));
        }
        if replication_factor != 1 {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "replication factor {replication_factor} is larger than the number of available brokers (1)"
            )));
        }
        // Kafka refuses names it does not know ("Unknown topic config
        // name"); resolving alone would silently drop them.
        for (config_name, value) in configs {
            crate::config::validate_topic_config(config_name, value)?;
        }
        Ok(TopicConfig::resolve(&self.config, configs)?)
    }

    /// Creates a topic. Blocking.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: BTreeMap<String, String>,
    ) -> Result<Arc<Topic>, TopicError> {
        let mut document = self.metadata.lock();
        let config = self.validate_new_topic(name, partitions, replication_factor, &configs)?;
        let configs: BTreeMap<String, String> = configs
            .into_iter()
            .map(|(k, v)| (k, v.trim().to_string()))
            .collect();
        let topic_id = Uuid::new_v4();
        let mut next = document.clone();
        next.topics.insert(
            name.to_string(),
            TopicMetadata {
                topic_id,
                partitions,
                configs,
            },
        );
        next.store(&self.config.data_dir)?;
        *document = next;
        let topic = self.install_topic(name, topic_id, partitions, config)?;
        info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Deletes a topic and its data. Blocking.
    pub fn delete_topic(&self, name: &str) -> Result<Uuid, TopicError> {
        let mut document = self.metadata.lock();
        let Some(topic) = self.topic(name) else {
            return Err(TopicError::Unknown(name.to_string()));
        };
        let mut next = document.clone();
        next.topics.remove(name);
        next.store(&self.config.data_dir)?;
        *document = next;
        self.topics.write().remove(name);
        self.topic_ids.write().remove(&topic.topic_id);
        for partition in topic.partitions() {
            if let Err(e) = self.log_dir.delete_log(&partition.log()) {
                // The metadata no longer names the topic, so the next start-up
                // removes what is left.
                warn!(
                    topic = name,
                    partition = partition.index,
                    "deleting log: {e}"
                );
            }
        }
        info!(topic = name, "deleted topic");
        Ok(topic.topic_id)
    }

    /// Grows a topic to `count` partitions. Blocking.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut document = self.metadata.lock();
        let Some(topic) = self.topic(name) else {
            return Err(TopicError::Unknown(name.to_string()));
        };
        let current = topic.partition_count();
        if count <= current {
            return Err(TopicError::InvalidPartitions(format!(
                "topic {name} has {current} partitions; the new count must be larger, got {count}"
            )));
        }
        if count > MAX_PARTITIONS_PER_TOPIC {
            return Err(TopicError::InvalidPartitions(format!(
                "number of partitions must be at most {MAX_PARTITIONS_PER_TOPIC}, got {count}"
            )));
        }
        if validate_only {
            return Ok(());
        }
        let mut next = document.clone();
        if let Some(entry) = next.topics.get_mut(name) {
            entry.partitions = count;
        }
        next.store(&self.config.data_dir)?;
        *document = next;
        let config = topic.config();
        for index in current..count {
            let (log, _) =
                self.log_dir
                    .open_log(name, index, topic.topic_id, config.log.clone())?;
            topic.push_partition(Arc::new(Partition::new(topic.name.clone(), index, log)));
        }
        info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// The config overrides stored for a topic.
    pub fn topic_overrides(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.metadata
            .lock()
            .topics
            .get(name)
            .map(|t| t.configs.clone())
    }

    /// Replaces a topic's config overrides. Blocking.
    pub fn set_topic_overrides(
        &self,
        name: &str,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<(), TopicError> {
        let mut document = self.metadata.lock();
        let Some(topic) = self.topic(name) else {
            return Err(TopicError::Unknown(name.to_string()));
        };
        let config = TopicConfig::resolve(&self.config, &overrides)?;
        if validate_only {
            return Ok(());
        }
        let mut next = document.clone();
        if let Some(entry) = next.topics.get_mut(name) {
            entry.configs = overrides;
        }
        next.store(&self.config.data_dir)?;
        *document = next;
        topic.set_config(config);
        info!(topic = name, "changed topic configs");
        Ok(())
    }

    /// Hands out a producer id that was never handed out before, reserving a
    /// new block on disk when the current one is used up. Blocking.
    pub fn allocate_producer_id(&self) -> Result<i64, TopicError> {
        let mut ids = self.producer_ids.lock();
        if ids.next >= ids.block_end {
            let mut document = self.metadata.lock();
            let mut next = document.clone();
            next.producer_id_block_end = ids.block_end + PRODUCER_ID_BLOCK_SIZE;
            next.store(&self.config.data_dir)?;
            *document = next;
            ids.next = ids.block_end;
            ids.block_end += PRODUCER_ID_BLOCK_SIZE;
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    /// Every partition of every topic.
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.topics().iter().flat_map(|t| t.partitions()).collect()
    }

    /// Retention: deletes the expired closed segments of every partition of
    /// every topic whose `cleanup.policy` includes `delete` (see
    /// `Log::delete_expired_segments`), logs one line per partition that
    /// lost segments, and writes the checkpoints when any log start moved, so
    /// the new log starts survive a crash. A partition that fails is logged
    /// and skipped. Returns the number of segments deleted. Blocking.
    pub fn enforce_retention(&self, now_ms: i64) -> usize {
        let mut segments_deleted = 0;
        for topic in self.topics() {
            let config = topic.config();
            if !config.deletes_old_segments() {
                continue;
            }
            let policy = config.retention_policy();
            for partition in topic.partitions() {
                let log = partition.log();
                if log.is_offline() {
                    continue;
                }
                let outcome = match log.delete_expired_segments(
                    policy,
                    now_ms,
                    partition.high_watermark(),
                ) {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        warn!(topic = %topic.name, partition = partition.index, "retention: {e}");
                        continue;
                    }
                };
                if outcome.segments_deleted == 0 {
                    continue;
                }
                partition.metrics.record_retention(&outcome);
                segments_deleted += outcome.segments_deleted;
                info!(
                    topic = %topic.name,
                    partition = partition.index,
                    segments_deleted = outcome.segments_deleted,
                    bytes_deleted = outcome.bytes_deleted,
                    log_start_offset = outcome.log_start_offset,
                    by_retention_ms = outcome.segments_over_retention_ms,
                    by_retention_bytes = outcome.segments_over_retention_bytes,
                    below_log_start = outcome.segments_below_log_start,
                    "retention deleted segments"
                );
            }
        }
        if segments_deleted > 0
            && let Err(e) = self.checkpoint()
        {
            warn!("writing checkpoints after retention: {e}");
        }
        segments_deleted
    }

    /// Whether some partition has `log.recovery.checkpoint.bytes` fsync'd beyond its
    /// checkpointed recovery point (a few atomic loads per partition).
    pub fn checkpoint_bytes_reached(&self) -> bool {
        let limit = self.config.log_recovery_checkpoint_bytes;
        self.all_partitions()
            .iter()
            .any(|partition| partition.log().bytes_since_checkpoint() >= limit)
    }

    /// Reopens the partitions that a full disk took offline
    /// ([`takhin_storage::OfflineReason::storage_full`]) once the data
    /// directory has at least `min_free_bytes` free, through
    /// [`LogDir::reopen_log`] (recovery; the unsynced tail is cut unless the
    /// topic is write-cached), and swaps each reopened log into its partition
    /// ([`Partition::swap_log`]). Partitions offline for another error stay so
    /// until a restart. A partition that fails to reopen is logged and tried
    /// again next time. Blocking.
    pub fn reopen_offline_partitions(&self, min_free_bytes: u64) -> ReopenOutcome {
        let mut outcome = ReopenOutcome::default();
        let mut full = Vec::new();
        for topic in self.topics() {
            for partition in topic.partitions() {
                let log = partition.log();
                if !log.is_offline() {
                    continue;
                }
                outcome.offline += 1;
                if log
                    .offline_reason()
                    .is_some_and(|reason| reason.storage_full)
                {
                    full.push((topic.clone(), partition, log));
                }
            }
        }
        outcome.storage_full = full.len();
        if full.is_empty() {
            return outcome;
        }
        let free_bytes = match self.log_dir.free_bytes() {
            Ok(free_bytes) => free_bytes,
            Err(e) => {
                warn!("checking free space for offline partitions: {e}");
                return outcome;
            }
        };
        outcome.free_bytes = Some(free_bytes);
        if free_bytes < min_free_bytes {
            return outcome;
        }
        for (topic, partition, log) in full {
            match self.reopen_partition(&topic, &partition, &log) {
                Ok(Some(report)) => {
                    outcome.reopened += 1;
                    info!(
                        topic = %topic.name,
                        partition = partition.index,
                        free_bytes,
                        log_end_offset = partition.log().log_end_offset(),
                        high_watermark = partition.high_watermark(),
                        "partition back online after a full disk; recovery: {report}"
                    );
                }
                // Deleted or reopened by someone else meanwhile.
                Ok(None) => {}
                Err(e) => {
                    outcome.failed += 1;
                    warn!(
                        topic = %topic.name,
                        partition = partition.index,
                        free_bytes,
                        "reopening offline partition failed; will retry: {e}"
                    );
                }
            }
        }
        self.metrics.record_reopens(outcome.reopened);
        outcome
    }

    /// Reopens `old`, the offline log of `partition`, and swaps the new log in.
    /// Under the metadata lock, so a topic delete or config change cannot
    /// interleave with the swap. `Ok(None)` when the partition is gone or
    /// holds another log by then.
    fn reopen_partition(
        &self,
        topic: &Arc<Topic>,
        partition: &Partition,
        old: &Arc<Log>,
    ) -> Result<Option<RecoveryReport>, StorageError> {
        let _document = self.metadata.lock();
        let current = self
            .topic(&topic.name)
            .is_some_and(|now| Arc::ptr_eq(&now, topic));
        if !current || !Arc::ptr_eq(&partition.log(), old) {
            return Ok(None);
        }
        let config = topic.config();
        // A write-cached topic acknowledged what it wrote before the error;
        // keep it unless a failed sync makes the page cache untrustworthy
        // (the storage layer cuts it then anyway).
        let (log, report) =
            self.log_dir
                .reopen_log(old, config.log.clone(), !config.write_caching)?;
        partition.swap_log(log);
        Ok(Some(report))
    }

    /// Writes the recovery-point and log-start-offset checkpoints. Blocking.
    pub fn checkpoint(&self) -> Result<(), StorageError> {
        let logs: Vec<_> = self.all_partitions().iter().map(|p| p.log()).collect();
        self.log_dir.checkpoint(&logs)
    }

    /// Clean shutdown: flush everything, checkpoint, write the clean-shutdown
    /// marker. Blocking.
    pub fn close(&self) -> Result<(), StorageError> {
        let logs: Vec<_> = self.all_partitions().iter().map(|p| p.log()).collect();
        self.log_dir.close(&logs)
    }
}
