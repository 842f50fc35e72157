//! The data directory: its lock, the clean-shutdown marker, the offset checkpoints, and the
//! partition directories under it.
//!
//! Lifecycle: [`LogDir::open`] takes an exclusive `flock` on `<dir>/.lock` (held until the
//! `LogDir` is dropped), notes whether `.kafka_cleanshutdown` exists and removes it at once, so
//! that a crash from then on is seen as unclean at the next open. [`LogDir::close`] closes every
//! log, writes both checkpoints and finally writes the marker (fsync'd with its directory).
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
        let result = self.open_log_unregistered(&key, topic_id, config, clean_shutdown);
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
        let (recovery_point, log_start_offset, first_dirty_offset) = {
            let checkpoints = self.checkpoints.lock();
            (
                checkpoints.recovery_points.get(key).copied(),
                checkpoints.log_start_offsets.get(key).copied(),
                checkpoints.first_dirty_offsets.get(key).copied(),
            )
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
