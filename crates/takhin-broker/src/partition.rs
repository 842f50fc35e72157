//! A partition as the broker serves it: its log, its high watermark, and the
//! fetch requests waiting for it to grow.
//!
//! On a single node the high watermark is the end of what is durable: with
//! `write.caching=false` (the default) the log's recovery point, so a consumer
//! never reads a record that a crash could take back; with write caching, the
//! log end offset.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use takhin_storage::Log;
use tokio::sync::Notify;

use crate::config::TopicConfig;
use crate::metrics::PartitionMetrics;

/// Dead waiter entries are pruned once a partition holds this many, so an
/// idle partition polled forever does not grow its waiter list.
const WAITERS_PRUNE_THRESHOLD: usize = 64;

/// The leader epoch of every partition on a single node. Replication will
/// bump it on leader changes.
pub const LEADER_EPOCH: i32 = 0;

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    pub log: Arc<Log>,
    high_watermark: AtomicI64,
    /// Wall-clock time of the last flush (for `flush.ms` with write caching).
    last_flush_ms: AtomicI64,
    waiters: Mutex<Vec<Weak<Notify>>>,
    /// Bytes in and out, retention and cleaner results, read at scrape time.
    pub metrics: PartitionMetrics,
}

impl Partition {
    pub fn new(topic: Arc<str>, index: i32, log: Arc<Log>) -> Partition {
        // After recovery, what is on disk is all there is: serve all of it.
        let high_watermark = log.log_end_offset();
        Partition {
            topic,
            index,
            log,
            high_watermark: AtomicI64::new(high_watermark),
            last_flush_ms: AtomicI64::new(crate::handlers::now_ms()),
            waiters: Mutex::new(Vec::new()),
            metrics: PartitionMetrics::default(),
        }
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Moves the high watermark forward (never back) and wakes waiting
    /// fetches.
    pub fn advance_high_watermark(&self, offset: i64) {
        let previous = self.high_watermark.fetch_max(offset, Ordering::AcqRel);
        if offset > previous {
            let waiters = std::mem::take(&mut *self.waiters.lock());
            for waiter in waiters {
                if let Some(waiter) = waiter.upgrade() {
                    waiter.notify_one();
                }
            }
        }
    }

    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms.load(Ordering::Relaxed)
    }

    pub fn touch_flush(&self, now_ms: i64) {
        self.last_flush_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Resets the high watermark (after DeleteRecords or truncation moved the
    /// log under it).
    pub fn set_high_watermark(&self, offset: i64) {
        self.high_watermark.store(offset, Ordering::Release);
    }

    /// Registers `waiter` to be notified when the high watermark advances.
    /// Register before reading, so an advance between the read and the wait
    /// is not missed (`Notify` keeps the permit).
    pub fn register_waiter(&self, waiter: &Arc<Notify>) {
        let mut waiters = self.waiters.lock();
        if waiters.len() >= WAITERS_PRUNE_THRESHOLD {
            waiters.retain(|w| w.strong_count() > 0);
        }
        waiters.push(Arc::downgrade(waiter));
    }
}

/// A topic: its id, its effective config and its partitions.
pub struct Topic {
    pub name: Arc<str>,
    pub topic_id: uuid::Uuid,
    config: RwLock<Arc<TopicConfig>>,
    partitions: RwLock<Vec<Arc<Partition>>>,
}

impl Topic {
    pub fn new(name: Arc<str>, topic_id: uuid::Uuid, config: TopicConfig) -> Topic {
        Topic {
            name,
            topic_id,
            config: RwLock::new(Arc::new(config)),
            partitions: RwLock::new(Vec::new()),
        }
    }

    pub fn config(&self) -> Arc<TopicConfig> {
        self.config.read().clone()
    }

    pub fn set_config(&self, config: TopicConfig) {
        for partition in self.partitions.read().iter() {
            partition.log.set_config(config.log.clone());
        }
        *self.config.write() = Arc::new(config);
    }

    pub fn partition(&self, index: i32) -> Option<Arc<Partition>> {
        let index = usize::try_from(index).ok()?;
        self.partitions.read().get(index).cloned()
    }

    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions.read().clone()
    }

    pub fn partition_count(&self) -> i32 {
        self.partitions.read().len() as i32
    }

    pub fn push_partition(&self, partition: Arc<Partition>) {
        let mut partitions = self.partitions.write();
        debug_assert_eq!(partitions.len() as i32, partition.index);
        partitions.push(partition);
    }
}
