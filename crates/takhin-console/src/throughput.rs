//! Throughput history for the overview's charts: bytes in/out, records in
//! and requests per second, sampled from a cluster's counters.
//!
//! The Kafka protocol carries no metrics, so a cluster has throughput only
//! when the console is given a [`ThroughputSource`]: `takhin serve` hands in
//! its own broker's counters. A sampler task reads the source every
//! [`SAMPLE_INTERVAL`] and keeps the last [`HISTORY_SAMPLES`] readings;
//! rates are computed from consecutive readings, a decrease (a deleted topic,
//! a restart) counting as a reset, as Prometheus' `rate()` does.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;
use utoipa::ToSchema;

/// How often the source is read.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Readings kept: one hour at [`SAMPLE_INTERVAL`].
pub const HISTORY_SAMPLES: usize = 720;

/// Counters since some start; only their increase matters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records_in: u64,
    pub requests: u64,
}

/// Where a cluster's counters come from.
pub trait ThroughputSource: Send + Sync {
    /// The counters now, or `None` when they cannot be read at the moment.
    fn read(&self) -> Option<Counters>;
}

impl<F> ThroughputSource for F
where
    F: Fn() -> Option<Counters> + Send + Sync,
{
    fn read(&self) -> Option<Counters> {
        self()
    }
}

/// One point of the charts: rates over the interval ending at `time_ms`.
#[derive(Clone, Copy, Debug, Serialize, ToSchema, PartialEq)]
pub struct ThroughputPoint {
    /// End of the interval, milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub bytes_in_per_sec: f64,
    pub bytes_out_per_sec: f64,
    pub records_in_per_sec: f64,
    pub requests_per_sec: f64,
}

/// A source's readings over the last hour.
pub struct History {
    source: Arc<dyn ThroughputSource>,
    /// (wall-clock ms for display, monotonic ms for rates, counters).
    readings: Mutex<VecDeque<(i64, i64, Counters)>>,
}

impl History {
    pub fn new(source: Arc<dyn ThroughputSource>) -> History {
        History {
            source,
            readings: Mutex::new(VecDeque::with_capacity(HISTORY_SAMPLES)),
        }
    }

    /// Reads the source once, at `time_ms` (used for rates too).
    pub fn sample_at(&self, time_ms: i64) {
        self.sample(time_ms, time_ms);
    }

    /// Reads the source once: `time_ms` labels the point, `monotonic_ms`
    /// (a clock that never jumps) measures the interval.
    fn sample(&self, time_ms: i64, monotonic_ms: i64) {
        let Some(counters) = self.source.read() else {
            return;
        };
        let mut readings = self.readings.lock();
        if readings.len() == HISTORY_SAMPLES {
            readings.pop_front();
        }
        readings.push_back((time_ms, monotonic_ms, counters));
    }

    /// Rates between consecutive readings, oldest first.
    pub fn points(&self) -> Vec<ThroughputPoint> {
        let readings = self.readings.lock();
        readings
            .iter()
            .zip(readings.iter().skip(1))
            .filter_map(|((_, m0, c0), (t1, m1, c1))| {
                let seconds = (m1 - m0) as f64 / 1000.0;
                if seconds <= 0.0 {
                    return None;
                }
                // A counter that went down was reset: its new value is the increase.
                let rate = |before: u64, after: u64| {
                    let increase = if after >= before {
                        after - before
                    } else {
                        after
                    };
                    increase as f64 / seconds
                };
                Some(ThroughputPoint {
                    time_ms: *t1,
                    bytes_in_per_sec: rate(c0.bytes_in, c1.bytes_in),
                    bytes_out_per_sec: rate(c0.bytes_out, c1.bytes_out),
                    records_in_per_sec: rate(c0.records_in, c1.records_in),
                    requests_per_sec: rate(c0.requests, c1.requests),
                })
            })
            .collect()
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Samples `history` every [`SAMPLE_INTERVAL`] until the last other
/// reference to it is dropped (the console's router going away).
pub fn spawn_sampler(history: &Arc<History>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no async runtime: throughput is not sampled");
        return;
    };
    let weak = Arc::downgrade(history);
    // Wall-clock time can jump (NTP); intervals are measured on tokio's
    // monotonic clock.
    let start = tokio::time::Instant::now();
    let monotonic_ms = move || start.elapsed().as_millis() as i64;
    history.sample(now_ms(), monotonic_ms());
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let Some(history) = weak.upgrade() else {
                return;
            };
            history.sample(now_ms(), monotonic_ms());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn rates_come_from_consecutive_readings_and_survive_resets() {
        let bytes = Arc::new(AtomicU64::new(0));
        let source = {
            let bytes = bytes.clone();
            move || {
                Some(Counters {
                    bytes_in: bytes.load(Ordering::Relaxed),
                    requests: 10,
                    ..Counters::default()
                })
            }
        };
        let history = History::new(Arc::new(source));
        history.sample_at(0);
        bytes.store(5000, Ordering::Relaxed);
        history.sample_at(5000);
        bytes.store(1000, Ordering::Relaxed); // a topic was deleted
        history.sample_at(10_000);
        let points = history.points();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].time_ms, 5000);
        assert_eq!(points[0].bytes_in_per_sec, 1000.0);
        assert_eq!(points[0].requests_per_sec, 0.0);
        assert_eq!(points[1].bytes_in_per_sec, 200.0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_sampler_reads_every_interval_and_stops_with_its_history() {
        let reads = Arc::new(AtomicU64::new(0));
        let source = {
            let reads = reads.clone();
            move || {
                let n = reads.fetch_add(1, Ordering::Relaxed) + 1;
                Some(Counters {
                    bytes_in: n * 1000,
                    ..Counters::default()
                })
            }
        };
        let history = Arc::new(History::new(Arc::new(source)));
        spawn_sampler(&history);
        for _ in 0..3 {
            tokio::time::sleep(SAMPLE_INTERVAL).await;
            tokio::task::yield_now().await;
        }
        let points = history.points();
        assert!(points.len() >= 2, "{points:?}");
        assert!(
            points.iter().all(|p| p.bytes_in_per_sec > 0.0),
            "{points:?}"
        );
        drop(history);
        let before = reads.load(Ordering::Relaxed);
        tokio::time::sleep(SAMPLE_INTERVAL * 3).await;
        tokio::task::yield_now().await;
        // At most the tick in flight when the history went away.
        assert!(reads.load(Ordering::Relaxed) <= before + 1);
    }

    #[test]
    fn history_is_bounded() {
        let history = History::new(Arc::new(|| Some(Counters::default())));
        for i in 0..(HISTORY_SAMPLES as i64 + 50) {
            history.sample_at(i * 1000);
        }
        assert_eq!(history.points().len(), HISTORY_SAMPLES - 1);
    }
}
