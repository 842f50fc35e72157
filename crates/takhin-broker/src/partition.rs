//! A partition as the broker serves it: its log, its high watermark, and the
//! fetch requests waiting for it to grow.
//!
//! On a single node the high watermark is the end of what is durable: with
//! `write.caching=false` (the default) the log's recovery point, so a consumer
//! never reads a record that a crash could take back; with write caching, the
//! log end offset.
//!
//! # Group commit for acknowledgements
//!
//! A durable produce is acknowledged once its records are fdatasync'd. The
//! request asks for its end offset to be synced ([`Partition::request_sync`])
//! and waits ([`Partition::wait_durable`]); a *sync driver*, on the blocking
//! pool, fdatasyncs everything appended so far, wakes the waiters, and goes
//! round again while some waiter wants more. So a busy partition has a thread
//! syncing back to back and each request costs a wake-up, not a blocking-pool
//! hand-off of its own (one per request before: measured in
//! docs/benchmarks.md). A request whose records no sync in flight covers
//! starts a second driver, up to [`MAX_CONCURRENT_SYNCS`], so it need not wait
//! for the sync in flight before its own starts (the log runs both at once).
//! Drivers also advance the high watermark, so records an acks=0 producer
//! wrote become visible without anyone waiting.
//!
//! # Reopening after an I/O error
//!
//! An I/O error takes the log offline (`takhin_storage::Log`): appends and
//! syncs fail, produces answer KAFKA_STORAGE_ERROR, fetches keep reading what
//! was published. [`Partition::swap_log`] puts the reopened log in its place
//! (see `Broker::reopen_offline_partitions`). Everyone takes the log through
//! [`Partition::log`] once per operation and keeps that handle for the whole
//! operation: a produce waits for the sync of the log it appended to (the old
//! one is offline, so it fails, rather than being mistaken for durable by the
//! new one), and a fetch reads from one log only.

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Mutex, RwLock};
use takhin_storage::{Log, MAX_CONCURRENT_SYNCS};
use tokio::sync::Notify;
use tracing::warn;

use crate::config::TopicConfig;
use crate::metrics::PartitionMetrics;

/// Dead waiter entries are pruned once a partition holds this many, so an
/// idle partition polled forever does not grow its waiter list.
const WAITERS_PRUNE_THRESHOLD: usize = 64;

/// Syncs a partition's sync driver runs back to back before it lets other
/// blocking work have its thread (≈ 10 ms at this machine's 0.3 ms fdatasync).
const SYNC_DRIVER_TURN: u32 = 32;

/// The leader epoch of every partition on a single node. Replication will
/// bump it on leader changes.
pub const LEADER_EPOCH: i32 = 0;

/// See `Partition::after_sync`.
#[cfg(test)]
type SyncHook = Box<dyn Fn(&Partition) + Send>;

pub struct Partition {
    pub topic: Arc<str>,
    pub index: i32,
    /// Replaced only by [`Partition::swap_log`].
    log: RwLock<Arc<Log>>,
    high_watermark: AtomicI64,
    /// Wall-clock time of the last flush (for `flush.ms` with write caching).
    last_flush_ms: AtomicI64,
    waiters: Mutex<Vec<Weak<Notify>>>,
    /// Highest end offset a produce asked to have synced.
    sync_wanted: AtomicI64,
    /// Sync drivers running for this partition (at most
    /// [`MAX_CONCURRENT_SYNCS`]).
    sync_drivers: AtomicU32,
    /// Woken after each sync the driver finishes, and when it stops.
    synced: Notify,
    /// Bytes in and out, retention and cleaner results, read at scrape time.
    pub metrics: PartitionMetrics,
    /// Runs in the sync driver after each sync (tests: load that arrives
    /// exactly while a driver is busy).
    #[cfg(test)]
    after_sync: Mutex<Option<SyncHook>>,
}

impl Partition {
    pub fn new(topic: Arc<str>, index: i32, log: Arc<Log>) -> Partition {
        // After recovery, what is on disk is all there is: serve all of it.
        let high_watermark = log.log_end_offset();
        Partition {
            topic,
            index,
            log: RwLock::new(log),
            high_watermark: AtomicI64::new(high_watermark),
            last_flush_ms: AtomicI64::new(crate::handlers::now_ms()),
            waiters: Mutex::new(Vec::new()),
            sync_wanted: AtomicI64::new(0),
            sync_drivers: AtomicU32::new(0),
            synced: Notify::new(),
            metrics: PartitionMetrics::default(),
            #[cfg(test)]
            after_sync: Mutex::new(None),
        }
    }

    /// The partition's log now; keep the handle for the whole operation.
    pub fn log(&self) -> Arc<Log> {
        self.log.read().clone()
    }

    /// Puts a reopened log in place of the offline one. The high watermark
    /// becomes the new log end, as after a start-up (the reopen cut what was
    /// not durable, or kept what write caching had already made visible), and
    /// waiting fetches and produces wake up to look again.
    pub fn swap_log(&self, log: Arc<Log>) {
        let log_end_offset = log.log_end_offset();
        *self.log.write() = log;
        self.high_watermark.store(log_end_offset, Ordering::Release);
        self.wake_fetches();
        self.synced.notify_waiters();
    }

    /// Asks for everything below `end_offset` to be fdatasync'd, starting a
    /// sync driver if none is running or none covers it. Returns at once; see
    /// [`Partition::wait_durable`].
    pub fn request_sync(self: &Arc<Self>, end_offset: i64) {
        // SeqCst here and on `sync_drivers`: a driver that stops must see every
        // `sync_wanted` raised by a request that saw it still running.
        self.sync_wanted.fetch_max(end_offset, Ordering::SeqCst);
        self.start_sync_driver();
    }

    /// Waits until everything below `end_offset` is fdatasync'd in `log`, the
    /// log the records were appended to (after [`Partition::request_sync`]).
    /// Fails if that log went offline first, even once a reopened log took
    /// its place: the reopen may have cut those records.
    pub async fn wait_durable(
        self: &Arc<Self>,
        log: &Arc<Log>,
        end_offset: i64,
    ) -> Result<(), String> {
        loop {
            let synced = self.synced.notified();
            tokio::pin!(synced);
            // Registered before looking, so a sync finishing in between wakes us.
            synced.as_mut().enable();
            // Below the log end, in case the log was truncated under it.
            if log.recovery_point() >= end_offset.min(log.log_end_offset()) {
                return Ok(());
            }
            // A driver that stopped between our request and now left it to us.
            self.start_sync_driver();
            // After that: none starts for an offline log, so none would wake
            // us once it went offline meanwhile.
            if log.is_offline() {
                return Err(format!(
                    "partition {}-{} is offline after an I/O error",
                    self.topic, self.index
                ));
            }
            synced.await;
        }
    }

    /// Whether some of what is wanted synced is covered by no sync in flight
    /// or done (every sync's owner advances the high watermark and wakes the
    /// waiters when it ends, so covered records need nothing more).
    fn sync_uncovered(&self) -> bool {
        let log = self.log();
        // Capped at the log end: a produce to a log since replaced by a
        // shorter one may have asked for more than the new log holds.
        let wanted = self
            .sync_wanted
            .load(Ordering::SeqCst)
            .min(log.log_end_offset());
        wanted > log.sync_started_to() && !log.is_offline()
    }

    /// Starts a sync driver if something wanted is uncovered and fewer than
    /// [`MAX_CONCURRENT_SYNCS`] run.
    fn start_sync_driver(self: &Arc<Self>) {
        if !self.sync_uncovered() || !self.take_driver_place() {
            return;
        }
        let partition = self.clone();
        let runtime = tokio::runtime::Handle::current();
        runtime
            .clone()
            .spawn_blocking(move || partition.drive_syncs(runtime));
    }

    fn take_driver_place(&self) -> bool {
        let mut drivers = self.sync_drivers.load(Ordering::SeqCst);
        while drivers < MAX_CONCURRENT_SYNCS {
            match self.sync_drivers.compare_exchange(
                drivers,
                drivers + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => drivers = now,
            }
        }
        false
    }

    /// A sync driver: fdatasyncs while something wanted is uncovered,
    /// advancing the high watermark and waking waiters after each sync; a
    /// second driver starts the next sync while the first's is in flight.
    /// After [`SYNC_DRIVER_TURN`] syncs in a row it queues itself again on the
    /// blocking pool, so busy partitions cannot hold every blocking thread
    /// while other work (another partition's driver, reads from disk) waits.
    fn drive_syncs(self: Arc<Self>, runtime: tokio::runtime::Handle) {
        let mut syncs = 0;
        loop {
            if self.sync_uncovered() {
                if syncs == SYNC_DRIVER_TURN {
                    // Still holding its place: requests meanwhile leave the
                    // sync to the queued driver.
                    let again = runtime.clone();
                    runtime.spawn_blocking(move || self.drive_syncs(again));
                    return;
                }
                syncs += 1;
                let wanted = self.sync_wanted.load(Ordering::SeqCst);
                match self.log().sync_uncovered(wanted) {
                    // Covered by a sync that started meanwhile; its owner wakes
                    // the waiters.
                    Ok(false) => continue,
                    Ok(true) => {}
                    // The log is offline now; waiters answer KAFKA_STORAGE_ERROR.
                    Err(e) => {
                        warn!(topic = %self.topic, partition = self.index, "fdatasync failed: {e}")
                    }
                }
                self.publish_sync();
                #[cfg(test)]
                if let Some(hook) = &*self.after_sync.lock() {
                    hook(&self);
                }
                continue;
            }
            self.sync_drivers.fetch_sub(1, Ordering::SeqCst);
            // Waiters parked while this driver ran have nothing left to be woken
            // by once the log is offline (no sync follows): they look again.
            // Only then: waking every waiter at each driver stop made each of
            // them try to start a driver again.
            if self.log().is_offline() {
                self.synced.notify_waiters();
            }
            // A request that raised `sync_wanted` after the look above saw this
            // driver running and left the sync to it: look again, and take a
            // driver's place back unless all are taken (those will look).
            if !self.sync_uncovered() || !self.take_driver_place() {
                return;
            }
        }
    }

    /// After a sync of this partition's log, by whoever ran it: makes what it
    /// covered visible and wakes the produces waiting for it.
    fn publish_sync(&self) {
        self.advance_high_watermark(self.log().recovery_point());
        self.synced.notify_waiters();
    }

    /// [`Log::sync_to`] of `log` (this partition's, taken by the caller with
    /// the append it syncs) for work outside produce (offset commits, flushes
    /// of cached topics), then what a sync driver does after a sync. Blocking.
    pub fn sync_blocking(&self, log: &Log, offset: i64) -> Result<(), takhin_storage::AppendError> {
        let result = log.sync_to(offset);
        self.publish_sync();
        result
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Moves the high watermark forward (never back) and wakes waiting
    /// fetches.
    pub fn advance_high_watermark(&self, offset: i64) {
        let previous = self.high_watermark.fetch_max(offset, Ordering::AcqRel);
        if offset > previous {
            self.wake_fetches();
        }
    }

    fn wake_fetches(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock());
        for waiter in waiters {
            if let Some(waiter) = waiter.upgrade() {
                waiter.notify_one();
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
            partition.log().set_config(config.log.clone());
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use bytes::Bytes;
    use takhin_storage::{
        AppendOptions, BatchBuilderParams, LogConfig, LogDir, Record, encode_batch, validate,
    };

    use super::*;

    /// Appends one record; returns the new log end offset.
    fn append_one(log: &Log) -> i64 {
        let record = Record {
            offset: 0,
            timestamp: 1_000,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: vec![],
        };
        let batch = validate(encode_batch(&BatchBuilderParams::default(), &[record]).unwrap());
        let options = AppendOptions {
            now_ms: 1_000,
            leader_epoch: LEADER_EPOCH,
        };
        log.append(batch.unwrap(), options).unwrap();
        log.log_end_offset()
    }

    /// A partition whose produce load never lets its sync driver stop must
    /// not keep another partition's acknowledgements waiting: with a single
    /// blocking thread, partition `busy` gets a new record to sync after
    /// every sync its driver finishes, and partition `quiet`'s one record
    /// must still be synced after at most one turn of `busy`'s driver.
    #[test]
    fn a_busy_partition_gives_the_blocking_thread_to_another_partitions_sync() {
        const LOAD: u32 = 20 * SYNC_DRIVER_TURN;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log_dir = LogDir::open(dir.path()).unwrap();
        let open = |name: &str| {
            let (log, _) = log_dir
                .open_log(name, 0, uuid::Uuid::new_v4(), LogConfig::default())
                .unwrap();
            Arc::new(Partition::new(Arc::from(name), 0, log))
        };
        let (busy, quiet) = (open("busy"), open("quiet"));
        let busy_syncs = Arc::new(AtomicU32::new(0));
        let load_done = Arc::new(Notify::new());
        let (counter, done) = (busy_syncs.clone(), load_done.clone());
        *busy.after_sync.lock() = Some(Box::new(move |partition: &Partition| {
            let syncs = counter.fetch_add(1, Ordering::SeqCst) + 1;
            if syncs < LOAD {
                let end = append_one(&partition.log());
                partition.sync_wanted.fetch_max(end, Ordering::SeqCst);
            } else if syncs == LOAD {
                done.notify_one();
            }
        }));

        // How many syncs the busy partition had had when the quiet one's ran.
        let synced_after = Arc::new(AtomicU32::new(u32::MAX));
        let (seen, counter) = (synced_after.clone(), busy_syncs.clone());
        *quiet.after_sync.lock() = Some(Box::new(move |_: &Partition| {
            seen.store(counter.load(Ordering::SeqCst), Ordering::SeqCst);
        }));

        runtime.block_on(async {
            let end = append_one(&busy.log());
            busy.request_sync(end);
            // The busy driver now holds the only blocking thread.
            let end = append_one(&quiet.log());
            quiet.request_sync(end);
            tokio::time::timeout(
                Duration::from_secs(60),
                quiet.wait_durable(&quiet.log(), end),
            )
            .await
            .expect("the quiet partition's sync never ran")
            .unwrap();
            tokio::time::timeout(Duration::from_secs(60), load_done.notified())
                .await
                .expect("the busy partition's driver stopped before its load ran out");
        });
        let synced_after = synced_after.load(Ordering::SeqCst);
        assert!(
            synced_after <= SYNC_DRIVER_TURN,
            "the quiet partition waited for {synced_after} syncs of the busy one"
        );
        // Every record the load appended was synced and became visible.
        assert_eq!(busy.high_watermark(), i64::from(LOAD));
        assert_eq!(quiet.high_watermark(), 1);
        log_dir.close(&[busy.log(), quiet.log()]).unwrap();
    }

    /// A produce waiting for its sync while every driver place is taken must
    /// answer once the log goes offline, even though no sync runs after that:
    /// the drivers, finding nothing they may sync, wake it as they stop.
    #[test]
    fn a_waiting_produce_answers_when_the_log_goes_offline_behind_busy_drivers() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log_dir = LogDir::open(dir.path()).unwrap();
        let (log, _) = log_dir
            .open_log("t", 0, uuid::Uuid::new_v4(), LogConfig::default())
            .unwrap();
        let partition = Arc::new(Partition::new(Arc::from("t"), 0, log.clone()));
        // Every place is taken by a driver busy elsewhere (they stop below).
        partition
            .sync_drivers
            .store(MAX_CONCURRENT_SYNCS, Ordering::SeqCst);

        runtime.block_on(async {
            let end = append_one(&log);
            partition.request_sync(end);
            let waiting = tokio::spawn({
                let (partition, log) = (partition.clone(), log.clone());
                async move { partition.wait_durable(&log, end).await }
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert!(!waiting.is_finished(), "durable without a sync");
            // An I/O error elsewhere (here: a delete) takes the log offline,
            // then the busy drivers look for work, find none, and stop.
            log_dir.delete_log(&log).unwrap();
            for _ in 0..MAX_CONCURRENT_SYNCS {
                let (driver, handle) = (partition.clone(), tokio::runtime::Handle::current());
                tokio::task::spawn_blocking(move || driver.drive_syncs(handle))
                    .await
                    .unwrap();
            }
            let answer = tokio::time::timeout(Duration::from_secs(10), waiting)
                .await
                .expect("the produce never answered")
                .unwrap();
            assert!(answer.is_err(), "{answer:?}");
        });
    }

    /// A produce whose records were appended while a sync driver is busy is
    /// synced by a second driver, not after the first one's turn: the first
    /// driver is held after its sync, and the second request must still be
    /// acknowledged.
    #[test]
    fn records_appended_while_a_driver_is_busy_get_a_second_driver() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let log_dir = LogDir::open(dir.path()).unwrap();
        let (log, _) = log_dir
            .open_log("t", 0, uuid::Uuid::new_v4(), LogConfig::default())
            .unwrap();
        let partition = Arc::new(Partition::new(Arc::from("t"), 0, log));
        let entered = Arc::new(Notify::new());
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let (entered_tx, release_rx) = (entered.clone(), Mutex::new(release_rx));
        let first = AtomicU32::new(0);
        *partition.after_sync.lock() = Some(Box::new(move |_: &Partition| {
            if first.fetch_add(1, Ordering::SeqCst) == 0 {
                entered_tx.notify_one();
                // Err once the test is over (or failed): let the driver go.
                let _ = release_rx.lock().recv();
            }
        }));

        runtime.block_on(async {
            let end = append_one(&partition.log());
            partition.request_sync(end);
            partition.wait_durable(&partition.log(), end).await.unwrap();
            // The first driver is now held, still counted as running.
            tokio::time::timeout(Duration::from_secs(10), entered.notified())
                .await
                .unwrap();
            let end = append_one(&partition.log());
            partition.request_sync(end);
            tokio::time::timeout(
                Duration::from_secs(10),
                partition.wait_durable(&partition.log(), end),
            )
            .await
            .expect("the second produce waited for the busy driver")
            .unwrap();
            assert_eq!(partition.high_watermark(), end);
        });
        release.send(()).unwrap();
        drop(runtime);
        log_dir.close(&[partition.log()]).unwrap();
    }
}
