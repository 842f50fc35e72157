//! Storage health for the overview and the topic page: damaged ranges found in closed log
//! segments, and partitions whose log went offline.
//!
//! The Kafka protocol carries neither, so a cluster has storage health only when the console
//! is given a [`StorageHealthSource`]: `takhin serve` hands in its own broker's logs (each
//! partition's [`takhin_storage::Log::damaged_ranges`] and [`takhin_storage::Log::is_offline`]).
//! For any other cluster (`takhin console --brokers ...` against Apache Kafka) the API answers
//! `available: false`.
//!
//! A damaged range is in one of three states (see `takhin_storage`'s `damage` module for how
//! each comes about), told apart by what the storage layer records (`DamagedRange::in_log` and
//! its byte range):
//!
//! - [`DamageState::Quarantined`]: recovery moved the bytes out of the `.log`, into the
//!   quarantine directory (`quarantined_to`) unless there was no room for a copy; the range's
//!   offsets cannot be read.
//! - [`DamageState::Missing`]: recovery found a closed segment ending short of the next one
//!   (an empty byte range, nothing to keep); those offsets are a gap.
//! - [`DamageState::Served`]: the scrubber found the bytes damaged (a CRC mismatch) and left
//!   them in place; a consumer reading those offsets gets a CRC error, as from Kafka, until the
//!   next recovery that verifies the segment moves them out.
//!
//! The source is read on each request: it only copies what the logs already keep (each log
//! keeps its newest 64 ranges), and the answer lists at most [`DAMAGED_RANGES_LISTED_MAX`]
//! ranges.

use std::path::Path;

use serde::Serialize;
use utoipa::ToSchema;

/// Most damaged ranges one answer lists (the counts still cover all of them).
pub const DAMAGED_RANGES_LISTED_MAX: usize = 1000;

/// One partition's log as a [`StorageHealthSource`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLogHealth {
    pub topic: String,
    pub partition: i32,
    /// The log stopped taking reads and writes after an I/O error.
    pub offline: bool,
    /// Oldest first, as the log keeps them.
    pub damaged_ranges: Vec<takhin_storage::DamagedRange>,
}

impl PartitionLogHealth {
    /// What `log` knows about its damage now.
    pub fn of(topic: &str, partition: i32, log: &takhin_storage::Log) -> PartitionLogHealth {
        PartitionLogHealth {
            topic: topic.to_string(),
            partition,
            offline: log.is_offline(),
            damaged_ranges: log.damaged_ranges(),
        }
    }

    fn is_healthy(&self) -> bool {
        !self.offline && self.damaged_ranges.is_empty()
    }
}

/// Where a cluster's storage health comes from.
pub trait StorageHealthSource: Send + Sync {
    /// Every partition the cluster's broker holds (healthy ones may be left out), or `None`
    /// when they cannot be read at the moment (the broker is shutting down).
    fn read(&self) -> Option<Vec<PartitionLogHealth>>;
}

impl<F> StorageHealthSource for F
where
    F: Fn() -> Option<Vec<PartitionLogHealth>> + Send + Sync,
{
    fn read(&self) -> Option<Vec<PartitionLogHealth>> {
        self()
    }
}

/// What happened to a damaged range's bytes (see the module docs).
#[derive(Clone, Copy, Debug, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DamageState {
    /// Recovery moved the bytes to `quarantined_to`; the offsets are lost.
    Quarantined,
    /// Recovery found offsets missing at the end of a closed segment; there were no bytes to
    /// keep, and the offsets are lost.
    Missing,
    /// The scrubber found the bytes damaged and left them in the log: they are still served,
    /// and a consumer reading them gets a CRC error.
    Served,
}

/// A damaged byte range of one segment.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct DamagedRangeView {
    /// The segment's `.log` file.
    pub file: String,
    /// Where the damage starts in `file`, as it was found.
    pub position_bytes: u64,
    /// Where the damage ends (exclusive).
    pub end_position_bytes: u64,
    /// First offset the damage covers.
    pub first_offset: i64,
    /// Offset after the last one the damage covers: the range is `[first_offset, end_offset)`.
    /// Some of them may never have existed (compaction gaps).
    pub end_offset: i64,
    /// Why the bytes are damage (e.g. the CRC mismatch).
    pub reason: String,
    pub state: DamageState,
    /// Where recovery kept a copy of the damaged bytes; set only when `state` is
    /// `quarantined`, and then unless there was no room for a copy.
    pub quarantined_to: Option<String>,
}

impl DamagedRangeView {
    pub fn of(range: &takhin_storage::DamagedRange) -> DamagedRangeView {
        let state = if range.in_log {
            DamageState::Served
        } else if range.end_position_bytes <= range.position_bytes {
            // A segment ending short of the next one: no bytes to move.
            DamageState::Missing
        } else {
            DamageState::Quarantined
        };
        DamagedRangeView {
            file: display(&range.file),
            position_bytes: range.position_bytes,
            end_position_bytes: range.end_position_bytes,
            first_offset: range.first_offset,
            end_offset: range.end_offset,
            reason: range.reason.clone(),
            state,
            quarantined_to: range.quarantined_to.as_deref().map(display),
        }
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// A partition with damaged ranges.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct PartitionDamage {
    pub topic: String,
    pub partition: i32,
    /// Oldest found first.
    pub damaged_ranges: Vec<DamagedRangeView>,
}

/// A partition, by name.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct PartitionRef {
    pub topic: String,
    pub partition: i32,
}

/// Damaged data and offline logs of a cluster's broker.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct StorageHealth {
    /// False when the console has no storage-health source for this cluster: the Kafka
    /// protocol carries none, and only `takhin serve` gives its own broker's. The other fields
    /// are then empty and say nothing about the cluster.
    pub available: bool,
    /// Partitions with at least one damaged range.
    pub damaged_partition_count: usize,
    /// Damaged ranges in all those partitions.
    pub damaged_range_count: usize,
    /// Partitions with damaged ranges, by topic then partition; their ranges add up to at most
    /// 1000 (`truncated` says when some were left out).
    pub partitions: Vec<PartitionDamage>,
    /// True when `partitions` leaves out ranges counted in `damaged_range_count`.
    pub truncated: bool,
    /// Partitions whose log is offline after an I/O error, by topic then partition.
    pub offline_partitions: Vec<PartitionRef>,
}

impl StorageHealth {
    /// The answer for a cluster without a source.
    pub fn unavailable() -> StorageHealth {
        StorageHealth {
            available: false,
            damaged_partition_count: 0,
            damaged_range_count: 0,
            partitions: Vec::new(),
            truncated: false,
            offline_partitions: Vec::new(),
        }
    }

    /// The answer from what a source read, only for `topic` when given.
    pub fn from_partitions(
        mut partitions: Vec<PartitionLogHealth>,
        topic: Option<&str>,
    ) -> StorageHealth {
        partitions.retain(|p| !p.is_healthy() && topic.is_none_or(|topic| p.topic == topic));
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        let mut health = StorageHealth {
            available: true,
            ..StorageHealth::unavailable()
        };
        let mut listed = 0;
        for partition in &partitions {
            if partition.offline {
                health.offline_partitions.push(PartitionRef {
                    topic: partition.topic.clone(),
                    partition: partition.partition,
                });
            }
            let ranges = &partition.damaged_ranges;
            if ranges.is_empty() {
                continue;
            }
            health.damaged_partition_count += 1;
            health.damaged_range_count += ranges.len();
            let room = DAMAGED_RANGES_LISTED_MAX - listed;
            if room == 0 {
                health.truncated = true;
                continue;
            }
            // The newest ranges of a partition cut short: they are the ones least known.
            let kept = &ranges[..ranges.len().min(room)];
            health.truncated |= kept.len() < ranges.len();
            listed += kept.len();
            health.partitions.push(PartitionDamage {
                topic: partition.topic.clone(),
                partition: partition.partition,
                damaged_ranges: kept.iter().map(DamagedRangeView::of).collect(),
            });
        }
        health
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn range(
        position: u64,
        end: u64,
        quarantined_to: Option<&str>,
    ) -> takhin_storage::DamagedRange {
        takhin_storage::DamagedRange {
            file: PathBuf::from("/data/t-0/00000000000000000010.log"),
            position_bytes: position,
            end_position_bytes: end,
            first_offset: 10,
            end_offset: 14,
            reason: "CRC mismatch".to_string(),
            quarantined_to: quarantined_to.map(PathBuf::from),
            // As the storage layer reports them: recovery's ranges (a copy kept, or an empty
            // byte range) are out of the log; the scrubber's are in it.
            in_log: quarantined_to.is_none() && end > position,
        }
    }

    fn partition(
        topic: &str,
        index: i32,
        ranges: Vec<takhin_storage::DamagedRange>,
    ) -> PartitionLogHealth {
        PartitionLogHealth {
            topic: topic.to_string(),
            partition: index,
            offline: false,
            damaged_ranges: ranges,
        }
    }

    #[test]
    fn each_range_says_what_became_of_its_bytes() {
        let quarantined =
            DamagedRangeView::of(&range(0, 90, Some("/data/quarantine/t-0/x.damaged")));
        assert_eq!(quarantined.state, DamageState::Quarantined);
        assert_eq!(
            quarantined.quarantined_to.as_deref(),
            Some("/data/quarantine/t-0/x.damaged")
        );
        assert_eq!(
            DamagedRangeView::of(&range(90, 90, None)).state,
            DamageState::Missing
        );
        let served = DamagedRangeView::of(&range(0, 90, None));
        assert_eq!(served.state, DamageState::Served);
        assert_eq!(served.quarantined_to, None);
        assert_eq!(served.file, "/data/t-0/00000000000000000010.log");
        assert_eq!((served.first_offset, served.end_offset), (10, 14));
    }

    #[test]
    fn healthy_partitions_are_left_out_and_the_rest_sorted_and_counted() {
        let mut offline = partition("b", 0, vec![]);
        offline.offline = true;
        let health = StorageHealth::from_partitions(
            vec![
                partition("b", 1, vec![range(0, 90, None), range(200, 290, None)]),
                partition("a", 0, vec![]),
                offline,
                partition("a", 3, vec![range(0, 90, None)]),
            ],
            None,
        );
        assert!(health.available);
        assert_eq!(health.damaged_partition_count, 2);
        assert_eq!(health.damaged_range_count, 3);
        let listed: Vec<_> = health
            .partitions
            .iter()
            .map(|p| (p.topic.as_str(), p.partition, p.damaged_ranges.len()))
            .collect();
        assert_eq!(listed, [("a", 3, 1), ("b", 1, 2)]);
        assert!(!health.truncated);
        assert_eq!(
            health.offline_partitions,
            [PartitionRef {
                topic: "b".to_string(),
                partition: 0
            }]
        );

        let only_b = StorageHealth::from_partitions(
            vec![
                partition("a", 3, vec![range(0, 90, None)]),
                partition("b", 1, vec![range(0, 90, None)]),
            ],
            Some("b"),
        );
        assert_eq!(only_b.damaged_partition_count, 1);
        assert_eq!(only_b.partitions[0].topic, "b");
    }

    #[test]
    fn the_listed_ranges_are_bounded_but_all_are_counted() {
        let many = |topic: &str| {
            partition(
                topic,
                0,
                (0..64)
                    .map(|i| range(i * 100, i * 100 + 50, None))
                    .collect(),
            )
        };
        let partitions: Vec<_> = (0..20).map(|i| many(&format!("t{i:02}"))).collect();
        let health = StorageHealth::from_partitions(partitions, None);
        assert_eq!(health.damaged_range_count, 20 * 64);
        assert_eq!(health.damaged_partition_count, 20);
        let listed: usize = health
            .partitions
            .iter()
            .map(|p| p.damaged_ranges.len())
            .sum();
        assert_eq!(listed, DAMAGED_RANGES_LISTED_MAX);
        assert!(health.truncated);
    }

    #[test]
    fn unavailable_says_so_and_holds_nothing() {
        let health = StorageHealth::unavailable();
        assert!(!health.available);
        assert!(health.partitions.is_empty() && health.offline_partitions.is_empty());
        assert_eq!(health.damaged_range_count, 0);
    }
}
