//! Idempotent-producer state of one partition: per producer id, its epoch and the metadata of
//! its last [`MAX_CACHED_BATCHES`] batches, used to reject out-of-order sequences and to answer
//! retries of an already written batch with the original offsets.
//!
//! # Rules (Kafka's `ProducerAppendInfo`, for appends from clients)
//!
//! * Batches with producer id -1 and control batches are not tracked.
//! * A batch whose epoch and `(baseSequence, lastSequence)` equal a cached batch's is a
//!   duplicate: nothing is written, the cached offsets are returned.
//! * epoch < current epoch → `InvalidProducerEpoch`.
//! * epoch > current epoch → the sequence must be 0 (a new epoch restarts sequences).
//! * same epoch → baseSequence must be lastSequence + 1 (wrapping i32::MAX → 0).
//! * unknown producer → baseSequence must be 0. (Kafka accepts any sequence here because it
//!   expires producer state; we never expire it, so a non-zero first sequence means lost state
//!   and is rejected with `OutOfOrderSequence`.)
//!
//! # Snapshot file `<offset, 20 digits>.snapshot` (Kafka's format, version 1)
//!
//! ```text
//! version i16 (= 1) | crc u32 (CRC-32C of everything after it) | count i32 | count × entry
//! entry: producerId i64, epoch i16, lastSequence i32, lastOffset i64, offsetDelta i32,
//!        timestamp i64, coordinatorEpoch i32, currentTxnFirstOffset i64
//! ```
//!
//! Kafka writes one entry per producer (its last batch). We write one entry per *cached batch*,
//! oldest first, so all five survive a restart; Kafka's reader keeps the last entry per
//! producer, so the file stays readable by Kafka's tools. A producer with no cached batch is
//! written with lastOffset -1. The snapshot named N holds the state after every batch below
//! offset N; recovery loads the newest valid snapshot at or below the recovery point and
//! replays the batch headers after it.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use crate::batch::{BatchHeader, increment_sequence};
use crate::checkpoint;
use crate::log::AppendError;

/// Batches remembered per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`).
pub(crate) const MAX_CACHED_BATCHES: usize = 5;
pub(crate) const SNAPSHOT_SUFFIX: &str = "snapshot";
const SNAPSHOT_VERSION: i16 = 1;
const SNAPSHOT_ENTRY_BYTES: usize = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8;
/// Snapshots kept in a partition directory.
pub(crate) const SNAPSHOTS_RETAINED: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BatchMetadata {
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub timestamp: i64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchMetadata>,
    pub last_timestamp: i64,
    pub coordinator_epoch: i32,
}

impl ProducerEntry {
    fn new(epoch: i16) -> Self {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_timestamp: -1,
            coordinator_epoch: -1,
        }
    }

    fn find_duplicate(&self, header: &BatchHeader) -> Option<BatchMetadata> {
        if header.producer_epoch != self.epoch {
            return None;
        }
        self.batches
            .iter()
            .find(|batch| {
                batch.first_sequence == header.base_sequence
                    && batch.last_sequence == header.last_sequence()
            })
            .copied()
    }

    /// Records a written batch (no checks).
    fn push(&mut self, header: &BatchHeader) {
        if header.producer_epoch != self.epoch {
            self.epoch = header.producer_epoch;
            self.batches.clear();
        }
        self.batches.push_back(BatchMetadata {
            first_sequence: header.base_sequence,
            last_sequence: header.last_sequence(),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp: header.max_timestamp,
        });
        while self.batches.len() > MAX_CACHED_BATCHES {
            self.batches.pop_front();
        }
        self.last_timestamp = header.max_timestamp;
    }
}

/// Result of checking an append against producer state.
#[derive(Debug)]
pub(crate) enum Prepared {
    /// Retry of a cached batch: write nothing, answer with these offsets.
    Duplicate(BatchMetadata),
    /// Entries to install once the batches are written.
    Accept(HashMap<i64, ProducerEntry>),
}

fn tracked(header: &BatchHeader) -> bool {
    header.producer_id >= 0 && !header.is_control()
}

#[derive(Debug, Default)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerStateManager {
    #[cfg(test)]
    pub fn producer(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Checks client batches (headers already carry their assigned offsets) in order; later
    /// batches of one request see the effect of earlier ones.
    pub fn prepare(&self, headers: &[BatchHeader]) -> Result<Prepared, AppendError> {
        let mut updated: HashMap<i64, ProducerEntry> = HashMap::new();
        for header in headers.iter().filter(|header| tracked(header)) {
            let producer_id = header.producer_id;
            let current = updated
                .get(&producer_id)
                .or_else(|| self.producers.get(&producer_id));
            if let Some(entry) = current
                && let Some(duplicate) = entry.find_duplicate(header)
            {
                return Ok(Prepared::Duplicate(duplicate));
            }
            let mut entry = match current {
                Some(entry) => {
                    check_epoch_and_sequence(entry, header)?;
                    entry.clone()
                }
                None if header.base_sequence != 0 => {
                    return Err(AppendError::OutOfOrderSequence {
                        producer_id,
                        expected: 0,
                        received: header.base_sequence,
                    });
                }
                None => ProducerEntry::new(header.producer_epoch),
            };
            entry.push(header);
            updated.insert(producer_id, entry);
        }
        Ok(Prepared::Accept(updated))
    }

    pub fn commit(&mut self, updated: HashMap<i64, ProducerEntry>) {
        self.producers.extend(updated);
    }

    /// Recovery replay: records a batch from the log without checks.
    pub fn replay(&mut self, header: &BatchHeader) {
        if tracked(header) {
            self.producers
                .entry(header.producer_id)
                .or_insert_with(|| ProducerEntry::new(header.producer_epoch))
                .push(header);
        }
    }

    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut producer_ids: Vec<&i64> = self.producers.keys().collect();
        producer_ids.sort();
        let mut body = Vec::new();
        let mut count = 0i32;
        for producer_id in producer_ids {
            let entry = &self.producers[producer_id];
            let mut put = |batch: Option<&BatchMetadata>| {
                body.extend_from_slice(&producer_id.to_be_bytes());
                body.extend_from_slice(&entry.epoch.to_be_bytes());
                body.extend_from_slice(
                    &batch.map_or(-1, |batch| batch.last_sequence).to_be_bytes(),
                );
                body.extend_from_slice(&batch.map_or(-1, |batch| batch.last_offset).to_be_bytes());
                let offset_delta =
                    batch.map_or(0, |batch| (batch.last_offset - batch.first_offset) as i32);
                body.extend_from_slice(&offset_delta.to_be_bytes());
                body.extend_from_slice(
                    &batch
                        .map_or(entry.last_timestamp, |batch| batch.timestamp)
                        .to_be_bytes(),
                );
                body.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
                body.extend_from_slice(&(-1i64).to_be_bytes()); // no transactions yet
                count += 1;
            };
            if entry.batches.is_empty() {
                put(None);
            }
            for batch in &entry.batches {
                put(Some(batch));
            }
        }
        let mut entries = Vec::with_capacity(4 + body.len());
        entries.extend_from_slice(&count.to_be_bytes());
        entries.extend_from_slice(&body);
        let mut out = Vec::with_capacity(6 + entries.len());
        out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
        out.extend_from_slice(&crc32c::crc32c(&entries).to_be_bytes());
        out.extend_from_slice(&entries);
        out
    }

    pub fn decode_snapshot(bytes: &[u8]) -> Result<ProducerStateManager, String> {
        if bytes.len() < 10 {
            return Err(format!("{} bytes is too short", bytes.len()));
        }
        let version = i16::from_be_bytes([bytes[0], bytes[1]]);
        if version != SNAPSHOT_VERSION {
            return Err(format!("unsupported version {version}"));
        }
        let expected = u32::from_be_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]);
        let computed = crc32c::crc32c(&bytes[6..]);
        if expected != computed {
            return Err(format!(
                "CRC mismatch: file says {expected:#010x}, computed {computed:#010x}"
            ));
        }
        let count = i32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        let body = &bytes[10..];
        if count < 0 || body.len() != count as usize * SNAPSHOT_ENTRY_BYTES {
            return Err(format!("{count} entries do not fill {} bytes", body.len()));
        }
        let mut manager = ProducerStateManager::default();
        for chunk in body.chunks_exact(SNAPSHOT_ENTRY_BYTES) {
            let i64_at = |pos: usize| {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&chunk[pos..pos + 8]);
                i64::from_be_bytes(raw)
            };
            let i32_at = |pos: usize| {
                i32::from_be_bytes([chunk[pos], chunk[pos + 1], chunk[pos + 2], chunk[pos + 3]])
            };
            let producer_id = i64_at(0);
            let epoch = i16::from_be_bytes([chunk[8], chunk[9]]);
            let last_sequence = i32_at(10);
            let last_offset = i64_at(14);
            let offset_delta = i32_at(22);
            let timestamp = i64_at(26);
            let coordinator_epoch = i32_at(34);
            let entry = manager
                .producers
                .entry(producer_id)
                .or_insert_with(|| ProducerEntry::new(epoch));
            if entry.epoch != epoch {
                *entry = ProducerEntry::new(epoch);
            }
            entry.coordinator_epoch = coordinator_epoch;
            entry.last_timestamp = timestamp;
            if last_offset >= 0 && offset_delta >= 0 {
                entry.batches.push_back(BatchMetadata {
                    first_sequence: decrement_sequence(last_sequence, offset_delta),
                    last_sequence,
                    first_offset: last_offset - i64::from(offset_delta),
                    last_offset,
                    timestamp,
                });
                while entry.batches.len() > MAX_CACHED_BATCHES {
                    entry.batches.pop_front();
                }
            }
        }
        Ok(manager)
    }
}

fn check_epoch_and_sequence(
    entry: &ProducerEntry,
    header: &BatchHeader,
) -> Result<(), AppendError> {
    let producer_id = header.producer_id;
    if header.producer_epoch < entry.epoch {
        return Err(AppendError::InvalidProducerEpoch {
            producer_id,
            current: entry.epoch,
            received: header.producer_epoch,
        });
    }
    if header.producer_epoch > entry.epoch {
        if header.base_sequence != 0 {
            return Err(AppendError::OutOfOrderSequence {
                producer_id,
                expected: 0,
                received: header.base_sequence,
            });
        }
        return Ok(());
    }
    let last_sequence = entry.batches.back().map_or(-1, |batch| batch.last_sequence);
    let expected = if last_sequence == -1 {
        0
    } else {
        increment_sequence(last_sequence, 1)
    };
    if header.base_sequence != expected {
        return Err(AppendError::OutOfOrderSequence {
            producer_id,
            expected,
            received: header.base_sequence,
        });
    }
    Ok(())
}

/// Inverse of [`increment_sequence`] (Kafka `DefaultRecordBatch.decrementSequence`).
fn decrement_sequence(sequence: i32, decrement: i32) -> i32 {
    if sequence < decrement {
        i32::MAX - (decrement - sequence) + 1
    } else {
        sequence - decrement
    }
}

/// Snapshot files in `dir` as (offset, path), sorted by offset.
pub(crate) fn list_snapshots(dir: &Path) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut snapshots = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|ext| ext.to_str()) != Some(SNAPSHOT_SUFFIX) {
            continue;
        }
        if let Some(offset) = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .and_then(|stem| stem.parse::<i64>().ok())
        {
            snapshots.push((offset, path));
        }
    }
    snapshots.sort();
    Ok(snapshots)
}

/// Writes `<dir>/<offset>.snapshot` (atomically; fsync'd when `durable`) and deletes all but
/// the newest [`SNAPSHOTS_RETAINED`].
pub(crate) fn write_snapshot(
    dir: &Path,
    offset: i64,
    state: &ProducerStateManager,
    durable: bool,
) -> io::Result<()> {
    let path = crate::segment::offset_file_path(dir, offset, SNAPSHOT_SUFFIX);
    checkpoint::write_file_atomically(&path, &state.encode_snapshot(), durable)?;
    let snapshots = list_snapshots(dir)?;
    let excess = snapshots.len().saturating_sub(SNAPSHOTS_RETAINED);
    for (_, old) in snapshots.into_iter().take(excess) {
        std::fs::remove_file(&old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(
        producer_id: i64,
        epoch: i16,
        base_sequence: i32,
        count: i32,
        base_offset: i64,
    ) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 100,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 10,
            producer_id,
            producer_epoch: epoch,
            base_sequence,
            records_count: count,
        }
    }

    fn accept(manager: &mut ProducerStateManager, header: BatchHeader) {
        match manager.prepare(&[header]).unwrap() {
            Prepared::Accept(updated) => manager.commit(updated),
            Prepared::Duplicate(_) => panic!("unexpected duplicate"),
        }
    }

    #[test]
    fn sequence_and_epoch_rules() {
        let mut manager = ProducerStateManager::default();
        assert!(matches!(
            manager.prepare(&[header(7, 0, 5, 1, 0)]),
            Err(AppendError::OutOfOrderSequence {
                expected: 0,
                received: 5,
                ..
            })
        ));
        accept(&mut manager, header(7, 0, 0, 3, 0));
        accept(&mut manager, header(7, 0, 3, 2, 3));
        assert!(matches!(
            manager.prepare(&[header(7, 0, 6, 1, 5)]),
            Err(AppendError::OutOfOrderSequence {
                expected: 5,
                received: 6,
                ..
            })
        ));
        match manager.prepare(&[header(7, 0, 0, 3, 99)]).unwrap() {
            Prepared::Duplicate(batch) => {
                assert_eq!((batch.first_offset, batch.last_offset), (0, 2))
            }
            Prepared::Accept(_) => panic!("expected duplicate"),
        }
        assert!(matches!(
            manager.prepare(&[header(7, 1, 3, 1, 5)]),
            Err(AppendError::OutOfOrderSequence { expected: 0, .. })
        ));
        accept(&mut manager, header(7, 1, 0, 1, 5));
        assert!(matches!(
            manager.prepare(&[header(7, 0, 5, 1, 6)]),
            Err(AppendError::InvalidProducerEpoch {
                current: 1,
                received: 0,
                ..
            })
        ));
        // Two batches of one request: the second sees the first.
        assert!(matches!(
            manager
                .prepare(&[header(7, 1, 1, 2, 6), header(7, 1, 3, 1, 8)])
                .unwrap(),
            Prepared::Accept(_)
        ));
        assert!(
            manager
                .prepare(&[header(7, 1, 1, 2, 6), header(7, 1, 4, 1, 8)])
                .is_err()
        );
    }

    #[test]
    fn sequence_wraps_at_i32_max() {
        let mut manager = ProducerStateManager::default();
        manager.replay(&header(1, 0, i32::MAX - 1, 2, 0));
        accept(&mut manager, header(1, 0, 0, 1, 2));
    }

    #[test]
    fn snapshot_round_trip_keeps_five_batches() {
        let mut manager = ProducerStateManager::default();
        for index in 0..7 {
            manager.replay(&header(3, 2, index * 2, 2, i64::from(index) * 2));
        }
        manager.producers.insert(9, ProducerEntry::new(4));
        let bytes = manager.encode_snapshot();
        let decoded = ProducerStateManager::decode_snapshot(&bytes).unwrap();
        let entry = decoded.producer(3).unwrap();
        assert_eq!(entry.batches, manager.producer(3).unwrap().batches);
        assert_eq!(entry.batches.len(), MAX_CACHED_BATCHES);
        assert_eq!(decoded.producer(9).unwrap().epoch, 4);
        let mut corrupt = bytes.clone();
        corrupt[20] ^= 1;
        assert!(
            ProducerStateManager::decode_snapshot(&corrupt)
                .unwrap_err()
                .contains("CRC")
        );
        assert!(ProducerStateManager::decode_snapshot(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn decrement_inverts_increment() {
        for (sequence, delta) in [(5, 3), (i32::MAX - 1, 4), (0, 0), (i32::MAX, 1)] {
            assert_eq!(
                decrement_sequence(increment_sequence(sequence, delta), delta),
                sequence
            );
        }
    }
}
