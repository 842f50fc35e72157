//! The data directory's budget for preallocated zeros.
//!
//! A durable log keeps written zeros ahead of its active segment's data (see `segment.rs`,
//! `Preallocate`, and `docs/architecture.md`): 256 KiB per partition, which for 2,000 partitions
//! is 500 MiB of disk holding nothing. Every zero written for that purpose is first taken from
//! one [`PreallocationBudget`] per [`crate::LogDir`], and given back when data is written over
//! it, when it is trimmed (roll, close, an idle partition, see [`crate::Log::trim_idle_preallocation`]),
//! or when the log is dropped. A partition that finds the budget spent appends without
//! preallocation, exactly as with `preallocate_bytes = 0`: slower syncs, nothing else.
//!
//! Thread-safety: lock-free; one atomic per operation, so the append path pays a
//! `fetch_sub` when its data lands on zeros and a compare-exchange loop when it asks for more.

use std::sync::atomic::{AtomicU64, Ordering};

/// Default of [`PreallocationBudget::limit_bytes`]: 256 partitions' worth of the broker's
/// 256 KiB preallocation, so a broker with a few hundred busy partitions loses nothing, and one
/// with thousands of idle ones holds 64 MiB of zeros at most (Kafka's 2,000 partitions: 48 MiB
/// on disk in total).
pub const DEFAULT_PREALLOCATION_BUDGET_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes of preallocated zeros the logs of one data directory may hold at once.
#[derive(Debug)]
pub struct PreallocationBudget {
    limit_bytes: AtomicU64,
    used_bytes: AtomicU64,
}

impl Default for PreallocationBudget {
    fn default() -> Self {
        PreallocationBudget::new(DEFAULT_PREALLOCATION_BUDGET_BYTES)
    }
}

impl PreallocationBudget {
    pub fn new(limit_bytes: u64) -> PreallocationBudget {
        PreallocationBudget {
            limit_bytes: AtomicU64::new(limit_bytes),
            used_bytes: AtomicU64::new(0),
        }
    }

    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes.load(Ordering::Relaxed)
    }

    /// A lower limit than what is in use takes effect as zeros are given back (nothing is
    /// trimmed for it); 0 stops preallocation.
    pub fn set_limit_bytes(&self, limit_bytes: u64) {
        self.limit_bytes.store(limit_bytes, Ordering::Relaxed);
    }

    /// Zeros held by all logs now.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes.load(Ordering::Relaxed)
    }

    /// Takes up to `wanted_bytes` (fewer when the budget is nearly spent); returns how many.
    pub(crate) fn reserve(&self, wanted_bytes: u64) -> u64 {
        let limit = self.limit_bytes();
        let mut used = self.used_bytes.load(Ordering::Relaxed);
        loop {
            let granted = wanted_bytes.min(limit.saturating_sub(used));
            if granted == 0 {
                return 0;
            }
            match self.used_bytes.compare_exchange_weak(
                used,
                used + granted,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return granted,
                Err(now) => used = now,
            }
        }
    }

    /// Gives back bytes [`PreallocationBudget::reserve`] granted.
    pub(crate) fn release(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let before = self.used_bytes.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(
            before >= bytes,
            "released {bytes} preallocated bytes, {before} held"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_limit_and_releases_refill_it() {
        let budget = PreallocationBudget::new(100);
        assert_eq!(budget.reserve(60), 60);
        assert_eq!(budget.reserve(60), 40, "only what is left");
        assert_eq!(budget.reserve(1), 0);
        budget.release(50);
        assert_eq!(budget.used_bytes(), 50);
        budget.set_limit_bytes(40);
        assert_eq!(
            budget.reserve(10),
            0,
            "over a lowered limit nothing is granted"
        );
        budget.release(50);
        assert_eq!(budget.reserve(100), 40);
    }
}
