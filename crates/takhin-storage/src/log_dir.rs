//! The data directory: its lock, the clean-shutdown marker, the offset checkpoints, and the
//! partition directories under it.
//!
//! Lifecycle: [`LogDir::open`] takes an exclusive `flock` on `<dir>/.lock` (held until the
//! `LogDir` is dropped), notes whether `.kafka_cleanshutdown` exists and removes it at once, so
//! that a crash from then on is seen as unclean at the next open. [`LogDir::close`] closes every
//! log, writes both checkpoints and finally writes the marker (fsync'd with its directory).
//!
//! A log that an I/O error took offline comes back through [`LogDir::reopen_log`], which runs
//! recovery on it like after a crash. Every log of the directory draws its preallocated zeros
//! from one [`PreallocationBudget`] ([`LogDir::preallocation_budget`]).
//!
//! Thread-safety: `LogDir` is `Send + Sync`; checkpoint writes are serialized by a mutex.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::LogConfig;
use crate::checkpoint;
use crate::damage;
use crate::log::{Log, OpenParams, RecoveryReport};
use crate::preallocation::PreallocationBudget;

/// Name of the clean-shutdown marker file in the data directory (Kafka's).
pub const CLEAN_SHUTDOWN_MARKER: &str = ".kafka_cleanshutdown";
/// Name of the lock file in the data directory.
pub const LOCK_FILE: &str = ".lock";
const DELETE_SUFFIX: &str = "-delete";

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("data directory {0} is locked by another process")]
    Locked(PathBuf),
    #[error("{file}: {reason}")]
    Corrupt { file: PathBuf, reason: String },
    #[error("{dir} belongs to topic id {found}, not {expected}")]
    TopicIdMismatch {
        dir: PathBuf,
        expected: uuid::Uuid,
        found: uuid::Uuid,
    },
    #[error("log {topic}-{partition} is already open in this process")]
    AlreadyOpen { topic: String, partition: i32 },
    #[error("invalid partition {topic}-{partition}: {reason}")]
    InvalidPartition {
        topic: String,
        partition: i32,
        reason: String,
    },
    #[error("log {topic}-{partition} is not offline; only an offline log is reopened")]
    NotOffline { topic: String, partition: i32 },
}

/// Wraps an I/O error with what was being done; `context` runs only on error.
pub(crate) fn storage_io(
    context: impl FnOnce() -> String,
) -> impl FnOnce(io::Error) -> StorageError {
    move |source| StorageError::Io {
        context: context(),
        source,
    }
}

/// (topic, partition).
type PartitionKey = (String, i32);
type OffsetMap = HashMap<PartitionKey, i64>;

pub struct LogDir {
    path: PathBuf,
    /// Holds the flock for the lifetime of the `LogDir`.
    _lock_file: File,
    clean_shutdown: bool,
    /// Recovery points and log start offsets as last checkpointed (read at open, updated by
    /// every [`LogDir::checkpoint`]); the lock also serializes checkpoint writes.
    checkpoints: Mutex<Checkpoints>,
    /// Partitions opened by this process: `None` while opening, then a weak handle. A live
    /// handle makes a second `open_log` fail; a dead one makes it verify like after a crash (the
    /// clean-shutdown marker only vouches for the first open).
    opened: Mutex<HashMap<PartitionKey, Option<Weak<Log>>>>,
    preallocation: Arc<PreallocationBudget>,
}

/// What a reopen carries over from the offline log instead of the checkpoints, which may be
/// older: the log start (a DeleteRecords since the last checkpoint stays done), the recovery
/// point (recovery verifies only what follows it) and the first dirty offset.
struct Resume {
    recovery_point: i64,
    log_start_offset: i64,
    first_dirty_offset: i64,
}

#[derive(Default)]
struct Checkpoints {
    recovery_points: OffsetMap,
    log_start_offsets: OffsetMap,
    first_dirty_offsets: OffsetMap,
}

fn read_offsets_checkpoint(path: &Path) -> OffsetMap {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(_) => return OffsetMap::new(),
    };
    match checkpoint::parse_offsets(&text) {
        Ok(entries) => entries
            .into_iter()
            .map(|(topic, partition, offset)| ((topic, partition), offset))
            .collect(),
        Err(reason) => {
            // Ignoring it is safe: no recovery point means a full scan, no log start means the
            // first segment's base offset.
            tracing::warn!(file = %path.display(), %reason, "ignoring malformed checkpoint");
            OffsetMap::new()
        }
    }
}

impl LogDir {
    /// Creates the directory if missing, locks it, reads and removes the clean-shutdown marker,
    /// loads the checkpoint files.
    pub fn open(path: &Path) -> Result<LogDir, StorageError> {
        std::fs::create_dir_all(path)
            .map_err(storage_io(|| format!("creating {}", path.display())))?;
        let lock_path = path.join(LOCK_FILE);
        let lock_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(storage_io(|| format!("opening {}", lock_path.display())))?;
        // `File::try_lock` is flock(LOCK_EX | LOCK_NB) on Linux; it needs Rust 1.89, newer than the
        // workspace's declared rust-version, and is the only lock available without `unsafe`.
        #[allow(clippy::incompatible_msrv)]
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StorageError::Locked(path.to_path_buf()));
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(StorageError::Io {
                    context: format!("locking {}", lock_path.display()),
                    source: err,
                });
            }
        }
        let marker = path.join(CLEAN_SHUTDOWN_MARKER);
        let clean_shutdown = marker.exists();
        if clean_shutdown {
            std::fs::remove_file(&marker)
                .map_err(storage_io(|| format!("removing {}", marker.display())))?;
            checkpoint::sync_dir(path)
                .map_err(storage_io(|| format!("syncing {}", path.display())))?;
        }
        Ok(LogDir {
            checkpoints: Mutex::new(Checkpoints {
                recovery_points: read_offsets_checkpoint(
                    &path.join(checkpoint::RECOVERY_POINT_CHECKPOINT),
                ),
                log_start_offsets: read_offsets_checkpoint(
                    &path.join(checkpoint::LOG_START_OFFSET_CHECKPOINT),
                ),
                first_dirty_offsets: read_offsets_checkpoint(
                    &path.join(checkpoint::CLEANER_OFFSET_CHECKPOINT),
                ),
            }),
            opened: Mutex::new(HashMap::new()),
            preallocation: Arc::new(PreallocationBudget::default()),
            path: path.to_path_buf(),
            _lock_file: lock_file,
            clean_shutdown,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn was_clean_shutdown(&self) -> bool {
        self.clean_shutdown
    }

    /// The budget every log of this directory takes its preallocated zeros from; its limit
    /// may be changed at any time (default [`crate::DEFAULT_PREALLOCATION_BUDGET_BYTES`]).
    pub fn preallocation_budget(&self) -> &Arc<PreallocationBudget> {
        &self.preallocation
    }

    /// Bytes an unprivileged writer may still allocate on the directory's filesystem
    /// (`statvfs`: available blocks × fragment size).
    pub fn free_bytes(&self) -> Result<u64, StorageError> {
        let stats = rustix::fs::statvfs(&self.path).map_err(|errno| StorageError::Io {
            context: format!("statvfs of {}", self.path.display()),
            source: errno.into(),
        })?;
        Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
    }

    /// Partition directories on disk as (topic, partition), split at the last '-'. Directories
    /// ending in `-delete` are leftovers of an interrupted delete and are removed.
    pub fn partition_dirs(&self) -> Result<Vec<(String, i32)>, StorageError> {
        let entries = std::fs::read_dir(&self.path)
            .map_err(storage_io(|| format!("listing {}", self.path.display())))?;
        let mut partitions = Vec::new();
        for entry in entries {
            let entry = entry.map_err(storage_io(|| format!("listing {}", self.path.display())))?;
            let is_dir = entry.file_type().map(|kind| kind.is_dir()).unwrap_or(false);
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !is_dir {
                continue;
            }
            if name.ends_with(DELETE_SUFFIX) {
                tracing::warn!(dir = %entry.path().display(), "removing leftover of an interrupted partition delete");
                std::fs::remove_dir_all(entry.path()).map_err(storage_io(|| {
                    format!("removing {}", entry.path().display())
                }))?;
                continue;
            }
            if let Some((topic, partition)) = parse_partition_dir(&name) {
                partitions.push((topic, partition));
            }
        }
        partitions.sort();
        Ok(partitions)
    }

    fn partition_path(&self, topic: &str, partition: i32) -> PathBuf {
        self.path.join(format!("{topic}-{partition}"))
    }

    /// Opens (creating if missing) and recovers the log of one partition; see [`Log`]'s
    /// recovery passes. A clean shutdown loads without verifying batches; an unclean one
    /// verifies everything from the recovery-point checkpoint onwards.
    ///
    /// Fails with `AlreadyOpen` while another handle to the same partition is alive. Opening a
    /// partition again after its handles were dropped (e.g. after an I/O error took it offline)
    /// verifies it as after a crash: the clean-shutdown marker only vouches for the first open.
    pub fn open_log(
        &self,
        topic: &str,
        partition: i32,
        topic_id: uuid::Uuid,
        config: LogConfig,
    ) -> Result<(Arc<Log>, RecoveryReport), StorageError> {
        if topic.is_empty() || topic.contains('/') || topic == "." || topic == ".." || partition < 0
        {
            return Err(StorageError::InvalidPartition {
                topic: topic.to_string(),
                partition,
                reason: "topic must be a plain non-empty name and partition >= 0".to_string(),
            });
        }
        let key = (topic.to_string(), partition);
        let clean_shutdown = {
            let mut opened = self.opened.lock();
            let clean_shutdown = match opened.get(&key) {
                None => self.clean_shutdown,
                Some(Some(handle)) if handle.strong_count() == 0 => false,
                Some(_) => {
                    return Err(StorageError::AlreadyOpen {
                        topic: topic.to_string(),
                        partition,
                    });
                }
            };
            opened.insert(key.clone(), None);
            clean_shutdown
        };
        let result = self.open_log_unregistered(&key, topic_id, config, clean_shutdown, None);
        let handle = match &result {
            Ok((log, _)) => Arc::downgrade(log),
            Err(_) => Weak::new(),
        };
        self.opened.lock().insert(key, Some(handle));
        result
    }

    fn open_log_unregistered(
        &self,
        key: &(String, i32),
        topic_id: uuid::Uuid,
        config: LogConfig,
        clean_shutdown: bool,
        resume: Option<Resume>,
    ) -> Result<(Arc<Log>, RecoveryReport), StorageError> {
        let (topic, partition) = (key.0.as_str(), key.1);
        let dir = self.partition_path(topic, partition);
        // A partition created now has nothing to recover, whatever the last shutdown was.
        let clean_shutdown = if dir.exists() {
            clean_shutdown
        } else {
            std::fs::create_dir(&dir)
                .map_err(storage_io(|| format!("creating {}", dir.display())))?;
            checkpoint::sync_dir(&self.path)
                .map_err(storage_io(|| format!("syncing {}", self.path.display())))?;
            true
        };
        let topic_id = ensure_partition_metadata(&dir, topic_id)?;
        let (recovery_point, log_start_offset, first_dirty_offset) = match resume {
            Some(resume) => (
                Some(resume.recovery_point),
                Some(resume.log_start_offset),
                Some(resume.first_dirty_offset),
            ),
            None => {
                let checkpoints = self.checkpoints.lock();
                (
                    checkpoints.recovery_points.get(key).copied(),
                    checkpoints.log_start_offsets.get(key).copied(),
                    checkpoints.first_dirty_offsets.get(key).copied(),
                )
            }
        };
        let params = OpenParams {
            dir: dir.clone(),
            topic: topic.to_string(),
            partition,
            topic_id,
            config,
            clean_shutdown,
            recovery_point,
            log_start_offset,
            first_dirty_offset,
            quarantine_dir: self
                .path
                .join(damage::QUARANTINE_DIR)
                .join(format!("{topic}-{partition}")),
            preallocation: self.preallocation.clone(),
        };
        let (log, report) = Log::open(params)?;
        if report.truncated_at.is_some()
            || report.segments_scanned > 0
            || !report.damaged.is_empty()
        {
            tracing::warn!(dir = %dir.display(), "recovered log: {report}");
        } else {
            tracing::debug!(dir = %dir.display(), "loaded log: {report}");
        }
        Ok((Arc::new(log), report))
    }

    /// Brings back a log that an I/O error took offline ([`Log::is_offline`]), without waiting
    /// for its other handles to drop: readers may keep using `old` (its published data stays
    /// readable) while the caller swaps the returned log in. Steps:
    ///
    /// 1. Quiesce `old`: hold its append and clean locks for the whole reopen and wait for its
    ///    syncs in flight, so its recovery point is final.
    /// 2. With `drop_unsynced_tail`, or when a sync failed ([`crate::OfflineReason`]): cut every
    ///    batch at or past that recovery point off the files. Nothing there was acknowledged by a
    ///    durable producer (acknowledgements wait for the sync), and after a failed fdatasync
    ///    the page cache may show bytes the disk does not hold, which recovery would otherwise
    ///    take for data. Otherwise the unsynced tail is kept (it is intact in the page cache
    ///    and its blocks are allocated) and recovery verifies it.
    /// 3. Open the partition as after a crash, from `old`'s recovery point, log start offset and
    ///    first dirty offset rather than the (older) checkpoints; the new handle replaces
    ///    `old` in the open-partition table.
    ///
    /// `old` stays offline; every later change through it is refused, so it cannot touch the
    /// files the new log owns. A failed reopen leaves `old` offline and may be retried.
    pub fn reopen_log(
        &self,
        old: &Arc<Log>,
        config: LogConfig,
        drop_unsynced_tail: bool,
    ) -> Result<(Arc<Log>, RecoveryReport), StorageError> {
        let key = (old.topic().to_string(), old.partition());
        if !old.is_offline() {
            return Err(StorageError::NotOffline {
                topic: key.0,
                partition: key.1,
            });
        }
        let quiesced = old.quiesce_for_reopen()?;
        // Under `old`'s append lock: a second reopen of `old` waits here for the first, then
        // finds a newer handle registered and must not open the files a second time.
        let registered = self
            .opened
            .lock()
            .get(&key)
            .and_then(|handle| handle.as_ref().and_then(Weak::upgrade));
        if !registered.is_some_and(|registered| Arc::ptr_eq(&registered, old)) {
            return Err(StorageError::AlreadyOpen {
                topic: key.0,
                partition: key.1,
            });
        }
        let sync_failed = old
            .offline_reason()
            .is_some_and(|reason| reason.sync_failed);
        if drop_unsynced_tail || sync_failed {
            let bytes_cut = old.cut_unsynced_tail(quiesced.recovery_point)?;
            if bytes_cut > 0 {
                tracing::warn!(
                    dir = %old.dir().display(),
                    recovery_point = quiesced.recovery_point,
                    log_end_offset = old.log_end_offset(),
                    bytes_cut,
                    "dropped the unsynced tail of an offline log before reopening it"
                );
            }
        }
        old.release_preallocation();
        let resume = Resume {
            recovery_point: quiesced.recovery_point,
            log_start_offset: quiesced.log_start_offset,
            first_dirty_offset: quiesced.first_dirty_offset,
        };
        let (log, report) =
            self.open_log_unregistered(&key, old.topic_id(), config, false, Some(resume))?;
        self.opened.lock().insert(key, Some(Arc::downgrade(&log)));
        drop(quiesced);
        Ok((log, report))
    }

    /// Deletes a partition: renames its directory to `<topic>-<partition>.<uuid>-delete`, fsyncs
    /// the data directory, then removes it. The log is taken offline first.
    pub fn delete_log(&self, log: &Log) -> Result<(), StorageError> {
        log.mark_offline();
        self.remove_partition_dir(log.topic(), log.partition())
    }

    /// Deletes a partition directory that is not open (e.g. a stray one found at startup), the
    /// same way as [`LogDir::delete_log`]. Fails with `AlreadyOpen` if a handle is alive; a
    /// missing directory is not an error.
    pub fn delete_partition(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        let key = (topic.to_string(), partition);
        if let Some(handle) = self.opened.lock().get(&key)
            && handle
                .as_ref()
                .is_none_or(|handle| handle.strong_count() > 0)
        {
            return Err(StorageError::AlreadyOpen {
                topic: key.0,
                partition,
            });
        }
        if !self.partition_path(topic, partition).exists() {
            return Ok(());
        }
        self.remove_partition_dir(topic, partition)
    }

    fn remove_partition_dir(&self, topic: &str, partition: i32) -> Result<(), StorageError> {
        let dir = self.partition_path(topic, partition);
        let tomb = self.path.join(format!(
            "{topic}-{partition}.{}{DELETE_SUFFIX}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::rename(&dir, &tomb)
            .map_err(storage_io(|| format!("renaming {}", dir.display())))?;
        checkpoint::sync_dir(&self.path)
            .map_err(storage_io(|| format!("syncing {}", self.path.display())))?;
        std::fs::remove_dir_all(&tomb)
            .map_err(storage_io(|| format!("removing {}", tomb.display())))?;
        let key = (topic.to_string(), partition);
        self.opened.lock().remove(&key);
        let mut checkpoints = self.checkpoints.lock();
        checkpoints.recovery_points.remove(&key);
        checkpoints.log_start_offsets.remove(&key);
        checkpoints.first_dirty_offsets.remove(&key);
        Ok(())
    }

    /// Writes `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint` and
    /// `cleaner-offset-checkpoint` (first dirty offsets) atomically:
    /// one line per given log (in the given order), followed by the last checkpointed values of
    /// partitions not given (not opened yet), sorted; deleted partitions are dropped.
    pub fn checkpoint(&self, logs: &[Arc<Log>]) -> Result<(), StorageError> {
        let mut checkpoints = self.checkpoints.lock();
        let mut recovery_points = checkpoints.recovery_points.clone();
        let mut log_start_offsets = checkpoints.log_start_offsets.clone();
        let mut first_dirty_offsets = checkpoints.first_dirty_offsets.clone();
        let mut order = Vec::with_capacity(logs.len());
        // Read before each recovery point: the count covers no byte above it.
        let durable_bytes: Vec<u64> = logs
            .iter()
            .map(|log| log.durable_appended_bytes())
            .collect();
        for log in logs {
            let key = (log.topic().to_string(), log.partition());
            recovery_points.insert(key.clone(), log.recovery_point());
            log_start_offsets.insert(key.clone(), log.log_start_offset());
            first_dirty_offsets.insert(key.clone(), log.first_dirty_offset());
            order.push(key);
        }
        for (name, offsets) in [
            (checkpoint::RECOVERY_POINT_CHECKPOINT, &recovery_points),
            (checkpoint::LOG_START_OFFSET_CHECKPOINT, &log_start_offsets),
            (checkpoint::CLEANER_OFFSET_CHECKPOINT, &first_dirty_offsets),
        ] {
            let path = self.path.join(name);
            let entries = ordered_entries(&order, offsets);
            checkpoint::write_file_atomically(
                &path,
                checkpoint::render_offsets(&entries).as_bytes(),
                true,
            )
            .map_err(storage_io(|| format!("writing {}", path.display())))?;
        }
        checkpoints.recovery_points = recovery_points;
        checkpoints.log_start_offsets = log_start_offsets;
        checkpoints.first_dirty_offsets = first_dirty_offsets;
        for (log, bytes) in logs.iter().zip(durable_bytes) {
            log.checkpoint_written(bytes);
        }
        Ok(())
    }

    /// Clean shutdown: closes every log, writes the checkpoints, then the clean-shutdown marker.
    pub fn close(&self, logs: &[Arc<Log>]) -> Result<(), StorageError> {
        for log in logs {
            log.close().map_err(|err| StorageError::Io {
                context: format!("closing {}", log.dir().display()),
                source: io::Error::other(err.to_string()),
            })?;
        }
        self.checkpoint(logs)?;
        let marker = self.path.join(CLEAN_SHUTDOWN_MARKER);
        checkpoint::write_file_atomically(&marker, b"", true)
            .map_err(storage_io(|| format!("writing {}", marker.display())))
    }
}

/// Entries for `first` (in order), then every other entry of `offsets`, sorted.
fn ordered_entries(first: &[(String, i32)], offsets: &OffsetMap) -> Vec<(String, i32, i64)> {
    let mut entries: Vec<(String, i32, i64)> = Vec::with_capacity(offsets.len());
    for key in first {
        if let Some(offset) = offsets.get(key)
            && !entries
                .iter()
                .any(|(topic, partition, _)| *topic == key.0 && *partition == key.1)
        {
            entries.push((key.0.clone(), key.1, *offset));
        }
    }
    let mut rest: Vec<(String, i32, i64)> = offsets
        .iter()
        .filter(|(key, _)| !first.contains(key))
        .map(|((topic, partition), offset)| (topic.clone(), *partition, *offset))
        .collect();
    rest.sort();
    entries.extend(rest);
    entries
}

/// `<topic>-<partition>` split at the last '-'; `None` for anything else.
fn parse_partition_dir(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let partition: i32 = partition.parse().ok()?;
    if topic.is_empty() || partition < 0 || name.starts_with('.') {
        return None;
    }
    Some((topic.to_string(), partition))
}

/// Writes `partition.metadata` if missing; otherwise checks that it names `topic_id`. The nil
/// id means "unknown" (Kafka's `ZERO_UUID`): nothing is checked or written, and the id on disk,
/// if any, is returned. Returns the partition's topic id.
fn ensure_partition_metadata(dir: &Path, topic_id: uuid::Uuid) -> Result<uuid::Uuid, StorageError> {
    let path = dir.join(checkpoint::PARTITION_METADATA);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found = checkpoint::parse_partition_metadata(&text).map_err(|reason| {
                StorageError::Corrupt {
                    file: path.clone(),
                    reason,
                }
            })?;
            if !topic_id.is_nil() && found != topic_id {
                return Err(StorageError::TopicIdMismatch {
                    dir: dir.to_path_buf(),
                    expected: topic_id,
                    found,
                });
            }
            Ok(found)
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound && topic_id.is_nil() => Ok(topic_id),
        Err(err) if err.kind() == io::ErrorKind::NotFound => checkpoint::write_file_atomically(
            &path,
            checkpoint::render_partition_metadata(topic_id).as_bytes(),
            true,
        )
        .map(|()| topic_id)
        .map_err(storage_io(|| format!("writing {}", path.display()))),
        Err(err) => Err(StorageError::Io {
            context: format!("reading {}", path.display()),
            source: err,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod reopen {
        use std::sync::atomic::Ordering;

        use bytes::Bytes;

        use super::super::*;
        use crate::log::OfflineReason;
        use crate::{AppendOptions, BatchBuilderParams, Record, encode_batch, validate};

        const OPTIONS: AppendOptions = AppendOptions {
            now_ms: 1_000,
            leader_epoch: 0,
        };

        /// Small segments, so a few batches span several of them.
        fn config() -> LogConfig {
            LogConfig {
                segment_bytes: 300,
                preallocate_bytes: 4_096,
                ..LogConfig::default()
            }
        }

        fn try_append(log: &Log, value: u8) -> Result<(), crate::AppendError> {
            let record = Record {
                offset: 0,
                timestamp: 1_000,
                key: None,
                value: Some(Bytes::from(vec![value; 100])),
                headers: vec![],
            };
            let encoded = encode_batch(&BatchBuilderParams::default(), &[record]).unwrap();
            log.append(validate(encoded).unwrap(), OPTIONS).map(|_| ())
        }

        /// Appends one record with value `value`; returns the new log end.
        fn append(log: &Log, value: u8) -> i64 {
            try_append(log, value).unwrap();
            log.log_end_offset()
        }

        /// The first value byte of every record, in offset order.
        fn values(log: &Log) -> Vec<u8> {
            let mut values = Vec::new();
            let mut offset = log.log_start_offset();
            while offset < log.log_end_offset() {
                let read = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
                let (_, records) = crate::batch::decode_records(&read.records, 1 << 20).unwrap();
                let record = &records[0];
                values.push(record.value.as_ref().unwrap()[0]);
                offset = record.offset + 1;
            }
            values
        }

        fn durable_then_unsynced(log: &Log) {
            for value in 0..3 {
                append(log, value);
            }
            log.flush().unwrap();
            for value in 3..6 {
                append(log, value);
            }
            assert!(log.segment_count() >= 3, "the tail must span segments");
        }

        /// After a failed fdatasync the page cache may not match the disk: the reopen cuts
        /// everything past the last good sync, even when not asked to, deleting the segments
        /// wholly past it, and the log takes appends again from there.
        #[test]
        fn a_failed_sync_drops_the_unsynced_tail_and_the_log_takes_appends_again() {
            let dir = tempfile::tempdir().unwrap();
            let log_dir = LogDir::open(dir.path()).unwrap();
            let (old, _) = log_dir
                .open_log("t", 0, uuid::Uuid::new_v4(), config())
                .unwrap();
            durable_then_unsynced(&old);
            old.fail_next_sync.store(true, Ordering::SeqCst);
            assert!(old.flush().is_err());
            let reason = old.offline_reason().unwrap();
            assert!(reason.sync_failed && reason.storage_full, "{reason:?}");
            assert!(try_append(&old, 7).is_err());

            let (log, report) = log_dir.reopen_log(&old, config(), false).unwrap();
            assert!(!report.clean_shutdown);
            assert_eq!(log.log_end_offset(), 3, "{report}");
            assert_eq!(log.recovery_point(), 3);
            assert_eq!(values(&log), vec![0, 1, 2]);
            assert_eq!(append(&log, 9), 4);
            log.flush().unwrap();
            assert_eq!(values(&log), vec![0, 1, 2, 9]);

            // The old handle can change nothing any more, and cannot be reopened again.
            assert!(old.delete_records_before(1).is_err());
            assert!(matches!(
                log_dir.reopen_log(&old, config(), true),
                Err(StorageError::AlreadyOpen { .. })
            ));
            drop(old);
            log_dir.close(&[log]).unwrap();
            drop(log_dir);
            let log_dir = LogDir::open(dir.path()).unwrap();
            let (log, _) = log_dir
                .open_log("t", 0, uuid::Uuid::nil(), config())
                .unwrap();
            assert_eq!(values(&log), vec![0, 1, 2, 9]);
        }

        /// A failed write leaves what was written before it intact in the page cache: a
        /// write-cached topic (which acknowledged it) keeps it, a durable one cuts it.
        #[test]
        fn a_failed_write_keeps_or_cuts_the_unsynced_tail_as_asked() {
            for drop_unsynced_tail in [false, true] {
                let dir = tempfile::tempdir().unwrap();
                let log_dir = LogDir::open(dir.path()).unwrap();
                let (old, _) = log_dir
                    .open_log("t", 0, uuid::Uuid::new_v4(), config())
                    .unwrap();
                durable_then_unsynced(&old);
                old.go_offline(OfflineReason {
                    error: "appending: No space left on device".to_string(),
                    storage_full: true,
                    sync_failed: false,
                });
                let (log, _) = log_dir
                    .reopen_log(&old, config(), drop_unsynced_tail)
                    .unwrap();
                let expected: Vec<u8> = if drop_unsynced_tail {
                    vec![0, 1, 2]
                } else {
                    vec![0, 1, 2, 3, 4, 5]
                };
                assert_eq!(values(&log), expected, "drop {drop_unsynced_tail}");
                assert_eq!(log.recovery_point(), 3);
                assert_eq!(
                    log_dir.preallocation_budget().used_bytes(),
                    log.preallocated_bytes(),
                    "the old log's zeros went back to the budget"
                );
                drop(old);
                log_dir.close(&[log]).unwrap();
            }
        }

        #[test]
        fn only_an_offline_log_is_reopened() {
            let dir = tempfile::tempdir().unwrap();
            let log_dir = LogDir::open(dir.path()).unwrap();
            let (log, _) = log_dir
                .open_log("t", 0, uuid::Uuid::new_v4(), config())
                .unwrap();
            assert!(matches!(
                log_dir.reopen_log(&log, config(), true),
                Err(StorageError::NotOffline { .. })
            ));
            log_dir.close(&[log]).unwrap();
        }
    }

    #[test]
    fn partition_dir_names() {
        assert_eq!(
            parse_partition_dir("orders-3"),
            Some(("orders".to_string(), 3))
        );
        assert_eq!(
            parse_partition_dir("my-topic-12"),
            Some(("my-topic".to_string(), 12))
        );
        assert_eq!(parse_partition_dir("orders"), None);
        assert_eq!(parse_partition_dir("-3"), None);
        assert_eq!(parse_partition_dir("orders-x"), None);
        assert_eq!(
            parse_partition_dir("orders--1"),
            Some(("orders-".to_string(), 1))
        );
    }
}
