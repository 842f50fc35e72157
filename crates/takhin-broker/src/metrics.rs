//! Prometheus metrics of the broker, rendered in the text exposition format 0.0.4
//! ([`CONTENT_TYPE`]); the binary serves them at `GET /metrics`. Every metric is listed, with its
//! meaning, in docs/operations.md.
//!
//! Two kinds of series:
//!
//! - **Counted as things happen.** Requests per API (count, errors, duration) and connections live
//!   in [`Metrics`]. Every API label is known at start-up, so each API's handles are resolved once
//!   into a table indexed by API key: recording a request is an array index, three relaxed atomic
//!   adds and a search over [`REQUEST_DURATION_BUCKETS_SECONDS`], with no lock and no allocation.
//!   Bytes and records produced and fetched, and what retention and the cleaner did, are counted
//!   in each partition's [`PartitionMetrics`], so a produce adds to its own partition's atomics
//!   without looking anything up.
//! - **Read at scrape time** by [`Metrics::render`] from the broker's state: topic and partition
//!   counts, each partition's log size, segment count, offsets and high watermark, the per-topic
//!   sums of the partition counters, consumer groups by state, and the process (from `/proc/self`,
//!   Linux only). Nothing is kept for a topic after it is deleted; a topic created again under the
//!   same name starts its counters at zero, which Prometheus reads as a counter reset.
//!
//! Limits: per-partition metrics make one series per partition each (about ten series per
//! partition in all), so the size of a scrape grows with the partition count; the request
//! histogram has [`REQUEST_DURATION_BUCKETS_SECONDS`] buckets for each of the ~30 APIs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::messages::ApiKey;
use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
    MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;
use takhin_protocol::Response;
use takhin_storage::{CleanReport, RetentionOutcome};
use tracing::warn;

use crate::broker::Broker;
use crate::connections::CloseReason;

/// The `Content-Type` of [`Metrics::render`]'s output: Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Prefix of every metric name.
const PREFIX: &str = "takhin";

/// Upper bounds, in seconds, of the `takhin_kafka_request_duration_seconds` buckets (a `+Inf`
/// bucket follows). From a sub-millisecond ApiVersions to a fetch long-poll (500 ms by default).
pub const REQUEST_DURATION_BUCKETS_SECONDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The label value of requests whose API is unknown or not served (they close the connection).
pub const UNKNOWN_API: &str = "unknown";

/// Group states that always have a `takhin_consumer_groups` series (0 when no group is in them),
/// so a dashboard's per-state lines exist before the first group does. Classic states, then the
/// KIP-848 ones that differ.
const GROUP_STATES: [&str; 7] = [
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Assigning",
    "Reconciling",
];

/// Counters of one Kafka API, resolved once (see the module docs).
#[derive(Clone, Debug)]
pub struct ApiMetrics {
    requests: Counter,
    errors: Counter,
    duration: DurationHistogram,
}

impl ApiMetrics {
    /// Counts one request answered (or dropped) `elapsed` after it was read; `failed` when its
    /// response carries a top-level error code or the connection was closed instead.
    pub fn record(&self, elapsed: Duration, failed: bool) {
        self.requests.inc();
        if failed {
            self.errors.inc();
        }
        self.duration.observe(elapsed);
    }
}

/// The broker's hot-path metrics and the registry they are rendered from. One per broker
/// ([`Broker::metrics`]); every method takes `&self` and may be called from any thread.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    apis: Arc<ApiTable>,
    connections_open: Gauge,
    connections_total: Counter,
    connections_closed: Arc<ConnectionCloseTable>,
    partitions_reopened: Counter,
}

/// Connections the broker refused or closed itself, per [`CloseReason`]. Every reason has its
/// series from the start (0 until it happens), so a dashboard's lines exist before the first
/// drop; rendered in [`CloseReason::ALL`] order.
#[derive(Debug, Default)]
struct ConnectionCloseTable {
    counters: [Counter; CloseReason::ALL.len()],
}

impl Collector for ConnectionCloseTable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let families = [
            (
                "kafka_connections_rejected",
                "Kafka client connections accepted and closed at once, per reason (max_connections, per_ip_limit).",
                true,
            ),
            (
                "kafka_connections_dropped",
                "Kafka client connections the broker closed after serving them for a while, per reason (evicted, first_request_timeout, request_read_timeout, idle).",
                false,
            ),
        ];
        for (name, help, at_accept) in families {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for reason in CloseReason::ALL
                .into_iter()
                .filter(|r| r.at_accept() == at_accept)
            {
                self.counters[reason.index()]
                    .encode(family.encode_family(&[("reason", reason.label())])?)?;
            }
        }
        Ok(())
    }
}

/// Every API's counters, built once. Rendered in API key order (a `Family` would render them in
/// hash order, different at every start).
#[derive(Debug)]
struct ApiTable {
    /// Label value and counters: the served APIs by key, then [`UNKNOWN_API`].
    entries: Vec<(String, ApiMetrics)>,
    /// Indexed by API key; `None` for keys Takhin does not serve. Shares its counters with
    /// `entries`.
    by_key: Vec<Option<ApiMetrics>>,
    unknown: ApiMetrics,
}

impl ApiTable {
    fn new() -> ApiTable {
        let new_api = || ApiMetrics {
            requests: Counter::default(),
            errors: Counter::default(),
            duration: DurationHistogram::default(),
        };
        let mut served: Vec<ApiKey> = takhin_protocol::api::SUPPORTED
            .iter()
            .map(|&(key, _, _)| key)
            .collect();
        served.sort_by_key(|&key| api_index(key));
        let max_index = served.iter().map(|&key| api_index(key)).max().unwrap_or(0);
        let mut by_key = vec![None; max_index + 1];
        let mut entries = Vec::with_capacity(served.len() + 1);
        for key in served {
            let api = new_api();
            by_key[api_index(key)] = Some(api.clone());
            entries.push((format!("{key:?}"), api));
        }
        let unknown = new_api();
        entries.push((UNKNOWN_API.to_string(), unknown.clone()));
        ApiTable {
            entries,
            by_key,
            unknown,
        }
    }
}

impl Collector for ApiTable {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut requests = encoder.encode_descriptor(
            "kafka_requests",
            "Kafka requests answered, per API (counted when the response is ready).",
            None,
            MetricType::Counter,
        )?;
        for (api, metrics) in &self.entries {
            metrics
                .requests
                .encode(requests.encode_family(&[("api", api.as_str())])?)?;
        }
        let mut errors = encoder.encode_descriptor(
            "kafka_request_errors",
            "Kafka requests whose response carries a top-level error code, or that closed the connection, per API.",
            None,
            MetricType::Counter,
        )?;
        for (api, metrics) in &self.entries {
            metrics
                .errors
                .encode(errors.encode_family(&[("api", api.as_str())])?)?;
        }
        let mut durations = encoder.encode_descriptor(
            "kafka_request_duration_seconds",
            "Time from a request's last byte read to its response ready to send, per API.",
            None,
            MetricType::Histogram,
        )?;
        for (api, metrics) in &self.entries {
            metrics
                .duration
                .encode(durations.encode_family(&[("api", api.as_str())])?)?;
        }
        Ok(())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let apis = Arc::new(ApiTable::new());
        registry.register_collector(Box::new(apis.clone()));
        let connections_open = Gauge::default();
        let connections_total = Counter::default();
        let connections_closed = Arc::new(ConnectionCloseTable::default());
        registry.register_collector(Box::new(connections_closed.clone()));
        registry.register(
            "kafka_connections",
            "Open Kafka client connections",
            connections_open.clone(),
        );
        registry.register(
            "kafka_connections",
            "Kafka client connections accepted",
            connections_total.clone(),
        );
        let partitions_reopened = Counter::default();
        registry.register(
            "partitions_reopened",
            "Offline partitions brought back online without a restart (after a full disk had space again)",
            partitions_reopened.clone(),
        );
        Metrics {
            registry,
            apis,
            connections_open,
            connections_total,
            connections_closed,
            partitions_reopened,
        }
    }

    /// The counters of `api_key`; those of [`UNKNOWN_API`] when Takhin does not serve it.
    pub fn api(&self, api_key: ApiKey) -> &ApiMetrics {
        match self.apis.by_key.get(api_index(api_key)) {
            Some(Some(api)) => api,
            _ => &self.apis.unknown,
        }
    }

    /// The counters of requests whose API could not be read or is unknown.
    pub fn unknown_api(&self) -> &ApiMetrics {
        &self.apis.unknown
    }

    /// Counts an accepted connection; it counts as open until the guard drops.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections_total.inc();
        self.connections_open.inc();
        OpenConnection {
            open: self.connections_open.clone(),
        }
    }

    /// Counts a connection the broker refused or closed itself.
    pub fn connection_closed(&self, reason: CloseReason) {
        self.connections_closed.counters[reason.index()].inc();
    }

    /// Counts partitions [`Broker::reopen_offline_partitions`] brought back.
    pub fn record_reopens(&self, reopened: usize) {
        self.partitions_reopened.inc_by(reopened as u64);
    }

    /// Every metric, in the text format 0.0.4: the counters kept here, then what is read from
    /// `broker` now (see the module docs). Reads each partition's state without blocking I/O
    /// beyond `/proc/self`; cost grows with the partition count.
    pub fn render(&self, broker: &Broker) -> String {
        let mut out = String::with_capacity(64 * 1024);
        encode_into(&mut out, &self.registry);
        let mut scraped = Registry::with_prefix(PREFIX);
        scraped.register_collector(Box::new(BrokerState::collect(broker)));
        scraped.register_collector(Box::new(ProcessState::collect()));
        encode_into(&mut out, &scraped);
        out
    }
}

/// Broker-wide totals since start, for throughput charts (the console samples them and shows
/// rates). Bytes and records are summed over the partitions that exist now, so deleting a topic
/// lowers them: treat a decrease as a counter reset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThroughputTotals {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub records_in: u64,
    pub requests: u64,
}

impl Metrics {
    /// The totals now; cheap (a few relaxed loads per partition and API).
    pub fn throughput_totals(&self, broker: &Broker) -> ThroughputTotals {
        let mut totals = ThroughputTotals {
            requests: self
                .apis
                .entries
                .iter()
                .map(|(_, api)| api.requests.get())
                .sum(),
            ..ThroughputTotals::default()
        };
        for partition in broker.all_partitions() {
            let counts = partition.metrics.counts();
            totals.bytes_in += counts.bytes_in;
            totals.bytes_out += counts.bytes_out;
            totals.records_in += counts.records_in;
        }
        totals
    }
}

/// Process and build metrics only: what `/metrics` serves while the broker is still opening its
/// data directory (recovery may take a while, and the process is worth watching meanwhile).
pub fn render_process() -> String {
    let mut out = String::new();
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(ProcessState::collect()));
    encode_into(&mut out, &registry);
    out
}

fn encode_into(out: &mut String, registry: &Registry) {
    // Writing into a String cannot fail; an error here would be a bug in the encoder.
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(out, registry) {
        warn!("encoding metrics: {e}");
    }
}

fn api_index(api_key: ApiKey) -> usize {
    usize::try_from(api_key as i16).unwrap_or(usize::MAX)
}

/// Closes the connection's place in `takhin_kafka_connections` when dropped.
#[derive(Debug)]
pub struct OpenConnection {
    open: Gauge,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// The top-level error code of a response (0 when it has none, or its API has only
/// per-partition or per-resource codes). Includes codes clients treat as part of the protocol
/// (REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED), as Kafka's `ErrorsPerSec` does.
pub fn top_level_error_code(response: &Response) -> i16 {
    match response {
        Response::ApiVersions(r) => r.error_code,
        Response::Metadata(r) => r.error_code,
        Response::Fetch(r) => r.error_code,
        Response::FindCoordinator(r) => r.error_code,
        Response::OffsetFetch(r) => r.error_code,
        Response::JoinGroup(r) => r.error_code,
        Response::Heartbeat(r) => r.error_code,
        Response::LeaveGroup(r) => r.error_code,
        Response::SyncGroup(r) => r.error_code,
        Response::ListGroups(r) => r.error_code,
        Response::OffsetDelete(r) => r.error_code,
        Response::ConsumerGroupHeartbeat(r) => r.error_code,
        Response::InitProducerId(r) => r.error_code,
        Response::DescribeCluster(r) => r.error_code,
        Response::DescribeLogDirs(r) => r.error_code,
        Response::Produce(_)
        | Response::ListOffsets(_)
        | Response::OffsetCommit(_)
        | Response::DescribeGroups(_)
        | Response::DeleteGroups(_)
        | Response::ConsumerGroupDescribe(_)
        | Response::CreateTopics(_)
        | Response::DeleteTopics(_)
        | Response::DeleteRecords(_)
        | Response::OffsetForLeaderEpoch(_)
        | Response::DescribeConfigs(_)
        | Response::AlterConfigs(_)
        | Response::CreatePartitions(_)
        | Response::IncrementalAlterConfigs(_)
        | Response::DescribeTopicPartitions(_) => 0,
    }
}

/// A latency histogram with fixed buckets ([`REQUEST_DURATION_BUCKETS_SECONDS`]) and no lock:
/// prometheus-client's `Histogram` takes a write lock per observation, which every connection
/// would contend on for its API. Clones share the counts.
#[derive(Clone, Debug, Default)]
struct DurationHistogram {
    inner: Arc<HistogramCounts>,
}

#[derive(Debug, Default)]
struct HistogramCounts {
    /// Observations per bucket, not cumulative; the last is the `+Inf` overflow.
    buckets: [AtomicU64; REQUEST_DURATION_BUCKETS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl DurationHistogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = REQUEST_DURATION_BUCKETS_SECONDS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(REQUEST_DURATION_BUCKETS_SECONDS.len());
        self.inner.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // The count is the sum of the buckets read here, so `+Inf` always equals `_count` even
        // while requests are being recorded.
        let mut buckets = [(0.0, 0u64); REQUEST_DURATION_BUCKETS_SECONDS.len()];
        for (slot, (bound, count)) in buckets.iter_mut().zip(
            REQUEST_DURATION_BUCKETS_SECONDS
                .iter()
                .zip(&self.inner.buckets),
        ) {
            *slot = (*bound, count.load(Ordering::Relaxed));
        }
        let overflow =
            self.inner.buckets[REQUEST_DURATION_BUCKETS_SECONDS.len()].load(Ordering::Relaxed);
        let count = buckets.iter().map(|(_, c)| c).sum::<u64>() + overflow;
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// What happened to one partition, counted where it happened and read at scrape time. Byte and
/// record counts are relaxed atomics (a produce adds to its own partition only); the cleaner's
/// figures change once per clean and sit under a lock.
#[derive(Debug, Default)]
pub struct PartitionMetrics {
    bytes_in: AtomicU64,
    records_in: AtomicU64,
    bytes_out: AtomicU64,
    retention_segments_deleted: AtomicU64,
    retention_bytes_deleted: AtomicU64,
    cleaner: Mutex<CleanerMetrics>,
}

/// The cleaner's totals and last run for one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CleanerMetrics {
    pub runs: u64,
    pub failures: u64,
    /// Size before cleaning of the segments the cleaner rewrote ([`CleanReport::bytes_before`]).
    pub bytes_read: u64,
    /// Their size after ([`CleanReport::bytes_after`]).
    pub bytes_written: u64,
    pub records_removed: u64,
    pub last_duration_seconds: f64,
    /// The dirty ratio that got the partition picked for its last clean.
    pub last_dirty_ratio: f64,
}

/// A partition's counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
struct PartitionCounts {
    bytes_in: u64,
    records_in: u64,
    bytes_out: u64,
    retention_segments_deleted: u64,
    retention_bytes_deleted: u64,
    cleaner: CleanerMetrics,
}

impl PartitionMetrics {
    /// A batch of `bytes` holding `records` records was appended (not a duplicate).
    pub fn record_append(&self, bytes: usize, records: i64) {
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        let records = u64::try_from(records).unwrap_or(0);
        self.records_in.fetch_add(records, Ordering::Relaxed);
    }

    /// A fetch response carries `bytes` of this partition's records.
    pub fn record_fetch(&self, bytes: usize) {
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn record_retention(&self, outcome: &RetentionOutcome) {
        self.retention_segments_deleted
            .fetch_add(outcome.segments_deleted as u64, Ordering::Relaxed);
        self.retention_bytes_deleted
            .fetch_add(outcome.bytes_deleted, Ordering::Relaxed);
    }

    /// A clean succeeded; `dirty_ratio` is what got the partition picked.
    pub fn record_clean(&self, report: &CleanReport, dirty_ratio: f64) {
        let mut cleaner = self.cleaner.lock();
        cleaner.runs += 1;
        cleaner.bytes_read += report.bytes_before;
        cleaner.bytes_written += report.bytes_after;
        cleaner.records_removed += report.records_removed;
        cleaner.last_duration_seconds = report.duration.as_secs_f64();
        cleaner.last_dirty_ratio = dirty_ratio;
    }

    pub fn record_clean_failure(&self) {
        self.cleaner.lock().failures += 1;
    }

    pub fn cleaner(&self) -> CleanerMetrics {
        *self.cleaner.lock()
    }

    fn counts(&self) -> PartitionCounts {
        PartitionCounts {
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            records_in: self.records_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            retention_segments_deleted: self.retention_segments_deleted.load(Ordering::Relaxed),
            retention_bytes_deleted: self.retention_bytes_deleted.load(Ordering::Relaxed),
            cleaner: self.cleaner(),
        }
    }
}

/// One partition as read at scrape time.
#[derive(Debug)]
struct PartitionRow {
    topic: Arc<str>,
    partition: i32,
    compacts: bool,
    deletes: bool,
    offline: bool,
    size_bytes: u64,
    segments: usize,
    log_start_offset: i64,
    log_end_offset: i64,
    high_watermark: i64,
    /// Damaged ranges known in the log (recovery moved them out, or the scrubber found them)
    /// and their bytes.
    damaged_ranges: usize,
    damaged_bytes: u64,
    counts: PartitionCounts,
}

/// The broker's state at one scrape, encoded as a collector of constant series.
#[derive(Debug)]
struct BrokerState {
    topics: usize,
    partitions: Vec<PartitionRow>,
    groups: BTreeMap<&'static str, u64>,
    scrub_bytes_verified: u64,
    scrub_passes: u64,
    preallocated_bytes: u64,
}

impl BrokerState {
    fn collect(broker: &Broker) -> BrokerState {
        let topics = broker.topics();
        let mut partitions = Vec::new();
        for topic in &topics {
            let config = topic.config();
            for partition in topic.partitions() {
                let log = partition.log();
                let damaged = log.damaged_ranges();
                partitions.push(PartitionRow {
                    topic: topic.name.clone(),
                    partition: partition.index,
                    compacts: config.compacts(),
                    deletes: config.deletes_old_segments(),
                    offline: log.is_offline(),
                    size_bytes: log.size_bytes(),
                    segments: log.segment_count(),
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    high_watermark: partition.high_watermark(),
                    damaged_ranges: damaged.len(),
                    damaged_bytes: damaged
                        .iter()
                        .map(|range| range.end_position_bytes - range.position_bytes)
                        .sum(),
                    counts: partition.metrics.counts(),
                });
            }
        }
        let mut groups: BTreeMap<&'static str, u64> =
            GROUP_STATES.iter().map(|&state| (state, 0)).collect();
        for (_, group) in broker.groups.groups() {
            let state = group.lock().state_name();
            *groups.entry(state).or_default() += 1;
        }
        BrokerState {
            topics: topics.len(),
            partitions,
            groups,
            scrub_bytes_verified: broker.scrub.bytes_verified(),
            scrub_passes: broker.scrub.passes(),
            preallocated_bytes: broker.log_dir().preallocation_budget().used_bytes(),
        }
    }

    /// Per-topic sums of a partition counter, in topic order.
    fn per_topic(&self, value: impl Fn(&PartitionCounts) -> u64) -> Vec<([(&str, &str); 1], u64)> {
        let mut sums: Vec<([(&str, &str); 1], u64)> = Vec::new();
        for row in &self.partitions {
            match sums.last_mut() {
                Some((labels, sum)) if labels[0].1 == &*row.topic => *sum += value(&row.counts),
                _ => sums.push(([("topic", &*row.topic)], value(&row.counts))),
            }
        }
        sums
    }

    /// A per-partition series over the rows `filter` keeps.
    fn per_partition<V>(
        &self,
        filter: impl Fn(&PartitionRow) -> bool,
        value: impl Fn(&PartitionRow) -> V,
    ) -> Vec<(PartitionLabels<'_>, V)> {
        self.partitions
            .iter()
            .filter(|row| filter(row))
            .map(|row| {
                (
                    ([("topic", &*row.topic)], [("partition", row.partition)]),
                    value(row),
                )
            })
            .collect()
    }
}

type PartitionLabels<'a> = ([(&'static str, &'a str); 1], [(&'static str, i32); 1]);

fn all(_: &PartitionRow) -> bool {
    true
}

/// Cleaner series exist for partitions of compacted topics, and for any partition the cleaner
/// ever touched (its topic may have stopped compacting since).
fn cleaned(row: &PartitionRow) -> bool {
    row.compacts || row.counts.cleaner != CleanerMetrics::default()
}

fn retained(row: &PartitionRow) -> bool {
    row.deletes || row.counts.retention_segments_deleted > 0
}

impl Collector for BrokerState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        gauge(e, "topics", "Topics, internal ones included.", self.topics)?;
        gauge(
            e,
            "partitions",
            "Partitions of all topics.",
            self.partitions.len(),
        )?;
        let offline = self.partitions.iter().filter(|row| row.offline).count();
        gauge(
            e,
            "offline_partitions",
            "Partitions whose log is offline after an I/O error: back online by themselves once a full disk has log.dir.reopen.min.free.bytes free, after a restart for other errors.",
            offline,
        )?;
        gauge(
            e,
            "preallocated_bytes",
            "Written zeros kept ahead of partitions' data, out of log.preallocate.budget.bytes.",
            self.preallocated_bytes,
        )?;
        counters(
            e,
            "kafka_bytes_in",
            "Bytes of record batches appended by Produce requests, per topic (retried duplicates not counted).",
            self.per_topic(|c| c.bytes_in),
        )?;
        counters(
            e,
            "kafka_records_in",
            "Records appended by Produce requests, per topic (from the batch headers).",
            self.per_topic(|c| c.records_in),
        )?;
        counters(
            e,
            "kafka_bytes_out",
            "Bytes of record batches sent in Fetch responses, per topic.",
            self.per_topic(|c| c.bytes_out),
        )?;
        gauges(
            e,
            "log_size_bytes",
            "Size of the partition's segment files.",
            self.per_partition(all, |row| row.size_bytes),
        )?;
        gauges(
            e,
            "log_segments",
            "Segments of the partition, the active one included.",
            self.per_partition(all, |row| row.segments),
        )?;
        gauges(
            e,
            "log_start_offset",
            "First offset of the partition that may be read.",
            self.per_partition(all, |row| row.log_start_offset),
        )?;
        gauges(
            e,
            "log_end_offset",
            "Offset the next appended record gets.",
            self.per_partition(all, |row| row.log_end_offset),
        )?;
        gauges(
            e,
            "high_watermark",
            "Offset up to which consumers may read (what is durable, unless write.caching).",
            self.per_partition(all, |row| row.high_watermark),
        )?;
        gauges(
            e,
            "log_damaged_ranges",
            "Damaged ranges found in the partition's closed segments since start-up (moved out by recovery, or found by the scrubber and still served). Alert on > 0.",
            self.per_partition(all, |row| row.damaged_ranges),
        )?;
        gauges(
            e,
            "log_damaged_bytes",
            "Bytes of the partition's damaged ranges.",
            self.per_partition(all, |row| row.damaged_bytes),
        )?;
        counter(
            e,
            "log_scrub_verified_bytes",
            "Bytes of closed segments the scrubber read and checked.",
            self.scrub_bytes_verified,
        )?;
        counter(
            e,
            "log_scrub_passes",
            "Scrub passes completed over every partition.",
            self.scrub_passes,
        )?;
        self.encode_cleaner(e)?;
        counters(
            e,
            "log_retention_deleted_segments",
            "Segments deleted by retention (retention.ms, retention.bytes, below the log start).",
            self.per_partition(retained, |row| row.counts.retention_segments_deleted),
        )?;
        counters(
            e,
            "log_retention_deleted_bytes",
            "Bytes of the segments deleted by retention.",
            self.per_partition(retained, |row| row.counts.retention_bytes_deleted),
        )?;
        gauges(
            e,
            "consumer_groups",
            "Consumer groups (classic and KIP-848) by state.",
            self.groups
                .iter()
                .map(|(&state, &count)| ([("state", state)], count)),
        )?;
        Ok(())
    }
}

impl BrokerState {
    fn encode_cleaner(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let cleaner = |row: &PartitionRow| row.counts.cleaner;
        counters(
            e,
            "log_cleaner_runs",
            "Successful cleans (compactions) of the partition.",
            self.per_partition(cleaned, |row| cleaner(row).runs),
        )?;
        counters(
            e,
            "log_cleaner_failures",
            "Cleans of the partition that failed with an error (logged).",
            self.per_partition(cleaned, |row| cleaner(row).failures),
        )?;
        counters(
            e,
            "log_cleaner_bytes_read",
            "Size before cleaning of the segments the cleaner rewrote.",
            self.per_partition(cleaned, |row| cleaner(row).bytes_read),
        )?;
        counters(
            e,
            "log_cleaner_bytes_written",
            "Size after cleaning of the segments the cleaner rewrote.",
            self.per_partition(cleaned, |row| cleaner(row).bytes_written),
        )?;
        counters(
            e,
            "log_cleaner_records_removed",
            "Records removed by the cleaner (superseded, keyless, expired tombstones).",
            self.per_partition(cleaned, |row| cleaner(row).records_removed),
        )?;
        gauges(
            e,
            "log_cleaner_last_duration_seconds",
            "Duration of the partition's last successful clean.",
            self.per_partition(cleaned, |row| cleaner(row).last_duration_seconds),
        )?;
        gauges(
            e,
            "log_cleaner_last_dirty_ratio",
            "Dirty ratio (dirty / (clean + dirty) bytes) when the partition was last picked for cleaning.",
            self.per_partition(cleaned, |row| cleaner(row).last_dirty_ratio),
        )
    }
}

fn gauge<V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

fn counter<V: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, V)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn counters<L: EncodeLabelSet, V: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, V)>,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in series {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// The process as `/proc/self` describes it (Linux; `None` elsewhere or when unreadable), and
/// the build.
#[derive(Debug)]
struct ProcessState {
    process: Option<ProcessStats>,
}

#[derive(Debug, Default)]
struct ProcessStats {
    cpu_seconds: f64,
    resident_memory_bytes: u64,
    virtual_memory_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
    start_time_seconds: f64,
}

impl ProcessState {
    fn collect() -> ProcessState {
        ProcessState {
            process: read_process_stats(),
        }
    }
}

impl Collector for ProcessState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let e = &mut encoder;
        let mut build = e.encode_descriptor(
            "build",
            "The running build: always 1, the version in a label.",
            None,
            MetricType::Info,
        )?;
        build.encode_info(&[("version", env!("CARGO_PKG_VERSION"))])?;
        let Some(process) = &self.process else {
            return Ok(());
        };
        counter(
            e,
            "process_cpu_seconds",
            "User and system CPU time of the process.",
            process.cpu_seconds,
        )?;
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory of the process.",
            process.resident_memory_bytes,
        )?;
        gauge(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory of the process.",
            process.virtual_memory_bytes,
        )?;
        gauge(
            e,
            "process_open_fds",
            "Open file descriptors (segments, indexes, sockets).",
            process.open_fds,
        )?;
        if let Some(max_fds) = process.max_fds {
            gauge(
                e,
                "process_max_fds",
                "Soft limit on open file descriptors (ulimit -n).",
                max_fds,
            )?;
        }
        gauge(
            e,
            "process_start_time_seconds",
            "Start time of the process, in seconds since the Unix epoch.",
            process.start_time_seconds,
        )
    }
}

/// Clock ticks per second of `/proc/<pid>/stat` times: `USER_HZ`, fixed at 100 for user space
/// on every architecture Linux runs on (Prometheus' procfs library assumes the same).
#[cfg(target_os = "linux")]
const USER_HZ: f64 = 100.0;

#[cfg(target_os = "linux")]
fn read_process_stats() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces; `fields[0]`
    // is field 3 (state) of proc(5).
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    let (utime, stime) = (field(14)?, field(15)?);
    let start_ticks = field(22)?;
    let virtual_memory_bytes = field(23)?;
    let boot_time_seconds = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|line| line.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
    let resident_memory_bytes = std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|line| {
            let kib = line.strip_prefix("VmRSS:")?.trim().strip_suffix("kB")?;
            kib.trim().parse::<u64>().ok()
        })?
        * 1024;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits
                .lines()
                .find(|line| line.starts_with("Max open files"))?;
            line.strip_prefix("Max open files")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        });
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / USER_HZ,
        resident_memory_bytes,
        virtual_memory_bytes,
        open_fds,
        max_fds,
        start_time_seconds: boot_time_seconds as f64 + start_ticks as f64 / USER_HZ,
    })
}

#[cfg(not(target_os = "linux"))]
fn read_process_stats() -> Option<ProcessStats> {
    None
}

/// Measures a request from its last byte read; see [`ApiMetrics::record`].
#[derive(Clone, Copy, Debug)]
pub struct RequestTimer {
    received: Instant,
}

impl RequestTimer {
    pub fn start() -> RequestTimer {
        RequestTimer {
            received: Instant::now(),
        }
    }

    /// When the request's last byte was read.
    pub fn received_at(&self) -> Instant {
        self.received
    }

    pub fn finish(self, api: &ApiMetrics, failed: bool) {
        api.record(self.received.elapsed(), failed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn every_served_api_has_its_series_from_the_start() {
        let metrics = Metrics::new();
        let mut out = String::new();
        encode_into(&mut out, &metrics.registry);
        for &(key, _, _) in takhin_protocol::api::SUPPORTED {
            let series = format!("takhin_kafka_requests_total{{api=\"{key:?}\"}}");
            assert_eq!(sample(&out, &series), Some("0"), "{series} in\n{out}");
        }
        assert!(out.contains("# TYPE takhin_kafka_requests_total counter"));
        assert!(out.contains("# TYPE takhin_kafka_request_duration_seconds histogram"));
        assert_eq!(sample(&out, "takhin_kafka_connections"), Some("0"));
    }

    #[test]
    fn a_request_lands_in_its_api_and_bucket() {
        let metrics = Metrics::new();
        metrics
            .api(ApiKey::Produce)
            .record(Duration::from_micros(700), false);
        metrics
            .api(ApiKey::Produce)
            .record(Duration::from_secs(7), true);
        // A key Takhin does not serve counts as unknown.
        metrics
            .api(ApiKey::AddPartitionsToTxn)
            .record(Duration::ZERO, true);
        let mut out = String::new();
        encode_into(&mut out, &metrics.registry);
        let produce = |suffix: &str| {
            sample(
                &out,
                &format!("takhin_kafka_request_duration_seconds_{suffix}"),
            )
            .unwrap_or_else(|| panic!("{suffix} missing in\n{out}"))
            .to_string()
        };
        assert_eq!(produce("bucket{api=\"Produce\",le=\"0.0005\"}"), "0");
        assert_eq!(produce("bucket{api=\"Produce\",le=\"0.001\"}"), "1");
        assert_eq!(produce("bucket{api=\"Produce\",le=\"5\"}"), "1");
        assert_eq!(produce("bucket{api=\"Produce\",le=\"+Inf\"}"), "2");
        assert_eq!(produce("count{api=\"Produce\"}"), "2");
        assert_eq!(produce("sum{api=\"Produce\"}"), "7.0007");
        assert_eq!(
            sample(&out, "takhin_kafka_request_errors_total{api=\"Produce\"}"),
            Some("1")
        );
        assert_eq!(
            sample(&out, "takhin_kafka_requests_total{api=\"unknown\"}"),
            Some("1")
        );
    }

    #[test]
    fn every_close_reason_has_its_series_from_the_start_in_its_family() {
        let metrics = Metrics::new();
        metrics.connection_closed(CloseReason::Evicted);
        metrics.connection_closed(CloseReason::Evicted);
        metrics.connection_closed(CloseReason::PerIpLimit);
        let mut out = String::new();
        encode_into(&mut out, &metrics.registry);
        let rejected = |reason: &str| {
            sample(
                &out,
                &format!("takhin_kafka_connections_rejected_total{{reason=\"{reason}\"}}"),
            )
        };
        let dropped = |reason: &str| {
            sample(
                &out,
                &format!("takhin_kafka_connections_dropped_total{{reason=\"{reason}\"}}"),
            )
        };
        assert_eq!(rejected("max_connections"), Some("0"), "{out}");
        assert_eq!(rejected("per_ip_limit"), Some("1"));
        assert_eq!(dropped("evicted"), Some("2"));
        for reason in ["first_request_timeout", "request_read_timeout", "idle"] {
            assert_eq!(dropped(reason), Some("0"), "{reason}");
            assert_eq!(rejected(reason), None, "{reason} is not refused at accept");
        }
        assert!(out.contains("# TYPE takhin_kafka_connections_rejected_total counter"));
        assert!(out.contains("# TYPE takhin_kafka_connections_dropped_total counter"));
    }

    #[test]
    fn connections_close_when_their_guard_drops() {
        let metrics = Metrics::new();
        let first = metrics.connection_opened();
        let second = metrics.connection_opened();
        drop(first);
        assert_eq!(metrics.connections_open.get(), 1);
        assert_eq!(metrics.connections_total.get(), 2);
        drop(second);
        assert_eq!(metrics.connections_open.get(), 0);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_process_is_read_from_proc() {
        let process = read_process_stats().unwrap();
        assert!(process.resident_memory_bytes > 0);
        assert!(process.open_fds > 0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(process.start_time_seconds <= now + 1.0);
        assert!(process.start_time_seconds > now - 24.0 * 3600.0 * 365.0);
        let out = render_process();
        assert!(out.contains("takhin_process_cpu_seconds_total "), "{out}");
        assert!(
            out.contains(&format!(
                "takhin_build_info{{version=\"{}\"}} 1",
                env!("CARGO_PKG_VERSION")
            )),
            "{out}"
        );
    }
}
