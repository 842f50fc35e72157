//! Broker and topic configuration.
//!
//! Settings use Apache Kafka's names wherever Kafka has one, so an operator's
//! knowledge carries over. Every broker setting is listed once in
//! [`BROKER_CONFIGS`] with its default and documentation; every topic setting
//! once in [`TOPIC_CONFIGS`], naming the broker setting that supplies its
//! default. `docs/configuration.md` is written from these tables.
//!
//! Values are kept as strings (as Kafka's DescribeConfigs reports them) and
//! parsed into [`BrokerConfig`] / [`TopicConfig`] once, when they change.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The kind of a config value, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Long,
    Double,
    List,
    Password,
}

impl ConfigType {
    /// Kafka's `ConfigType` code for DescribeConfigs.
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Password => 9,
        }
    }
}

/// One broker setting.
#[derive(Debug, Clone, Copy)]
pub struct BrokerConfigDef {
    pub name: &'static str,
    pub default: &'static str,
    pub config_type: ConfigType,
    pub doc: &'static str,
}

/// One topic setting and the broker setting that supplies its default.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub broker_name: &'static str,
    pub config_type: ConfigType,
    pub doc: &'static str,
}

const LONG_MAX: &str = "9223372036854775807";

/// Written zeros kept ahead of a durable (not write-cached) partition's data, so its
/// per-acknowledgement `fdatasync` overwrites allocated blocks instead of growing the file
/// (`takhin_storage::LogConfig::preallocate_bytes`). 256 KiB: a zero write of about 128 KiB
/// every 128 KiB appended, ~45 µs inline; 1 MiB (~210 µs each) measured a worse p99.
pub const PREALLOCATE_BYTES: u64 = 256 * 1024;

/// Every broker setting Takhin reads, with its default.
#[rustfmt::skip]
pub const BROKER_CONFIGS: &[BrokerConfigDef] = &[
    BrokerConfigDef { name: "node.id", default: "1", config_type: ConfigType::Int, doc: "The id of this broker in the cluster." },
    BrokerConfigDef { name: "kafka.addr", default: "0.0.0.0:9092", config_type: ConfigType::String, doc: "Address the Kafka API listens on (HOST:PORT)." },
    BrokerConfigDef { name: "advertised.kafka.addr", default: "", config_type: ConfigType::String, doc: "Address clients are told to connect to (HOST:PORT). Defaults to kafka.addr, with an unspecified host (0.0.0.0 or ::) replaced by localhost." },
    BrokerConfigDef { name: "http.addr", default: "0.0.0.0:8080", config_type: ConfigType::String, doc: "Address the HTTP server (health, metrics, console) listens on." },
    BrokerConfigDef { name: "data.dir", default: "./data", config_type: ConfigType::String, doc: "Directory holding partition logs, checkpoints and metadata." },
    BrokerConfigDef { name: "log.format", default: "text", config_type: ConfigType::String, doc: "Process log format: text or json." },
    BrokerConfigDef { name: "log.level", default: "info", config_type: ConfigType::String, doc: "Process log filter, in tracing's EnvFilter syntax (e.g. info,takhin_broker=debug)." },
    BrokerConfigDef { name: "auto.create.topics.enable", default: "true", config_type: ConfigType::Boolean, doc: "Create a topic when a client asks for metadata of, or produces to, a topic that does not exist." },
    BrokerConfigDef { name: "num.partitions", default: "1", config_type: ConfigType::Int, doc: "Partition count of auto-created topics and of CreateTopics requests that leave it unset." },
    BrokerConfigDef { name: "default.replication.factor", default: "1", config_type: ConfigType::Int, doc: "Replication factor of auto-created topics." },
    BrokerConfigDef { name: "socket.request.max.bytes", default: "104857600", config_type: ConfigType::Int, doc: "Largest request frame accepted; a larger length prefix closes the connection before anything is allocated." },
    BrokerConfigDef { name: "max.connections", default: "10000", config_type: ConfigType::Int, doc: "Most client connections served at once. A new connection beyond it closes the oldest connection that has not yet completed a request (reason evicted), so idle sockets cannot lock clients out; if every connection has completed one, the new connection is accepted and closed at once (reason max_connections)." },
    BrokerConfigDef { name: "max.connections.per.ip", default: "2147483647", config_type: ConfigType::Int, doc: "Most connections from one IP address; a further connection from it is accepted and closed at once (reason per_ip_limit)." },
    BrokerConfigDef { name: "max.connections.per.ip.overrides", default: "", config_type: ConfigType::String, doc: "Exceptions to max.connections.per.ip, as IP:count pairs separated by commas, e.g. 10.0.0.7:500,[::1]:20 (0 refuses the address). Kafka also takes host names; Takhin takes IP addresses only, so start-up never waits on DNS." },
    BrokerConfigDef { name: "connections.max.idle.ms", default: "600000", config_type: ConfigType::Long, doc: "A connection that has completed a request and then, with no request in progress, reads and writes nothing for this long is closed (reason idle)." },
    BrokerConfigDef { name: "connections.first.request.timeout.ms", default: "10000", config_type: ConfigType::Long, doc: "How long a new connection has to complete its first request; one that has not is closed (reason first_request_timeout). Clients send ApiVersions at once, so only sockets left idle or opened in a flood wait this long. Takhin's own; Kafka only has connections.max.idle.ms." },
    BrokerConfigDef { name: "socket.request.read.timeout.ms", default: "30000", config_type: ConfigType::Long, doc: "Longest time from a request's first byte to its last; a connection whose request takes longer is closed (reason request_read_timeout), returning the request memory it held. 30 s is the Java client's request.timeout.ms, after which it gives up on the request anyway. Takhin's own; Kafka has no limit." },
    BrokerConfigDef { name: "queued.max.request.bytes", default: "536870912", config_type: ConfigType::Long, doc: "Request bytes all connections together may hold, from being read until answered; a connection waits for room before reading further. Taken as the bytes arrive, not when the length prefix announces them. At least socket.request.max.bytes. Kafka's default is -1 (unbounded); Takhin's is 512 MiB." },
    BrokerConfigDef { name: "socket.send.buffer.bytes", default: "102400", config_type: ConfigType::Int, doc: "SO_SNDBUF of client connections (the kernel doubles it), as Kafka's; -1 keeps the kernel's autotuned buffer. Against autotuning on loopback, 100 KiB cut the broker's CPU per consumed GiB by 27–35%. A connection's fetch throughput is bounded by about twice this per round trip: raise it (or use -1) for consumers across long, fast links." },
    BrokerConfigDef { name: "socket.receive.buffer.bytes", default: "-1", config_type: ConfigType::Int, doc: "SO_RCVBUF of client connections (the kernel doubles it); -1, the default, keeps the kernel's autotuned buffer. Kafka's default is 102400: on loopback it cost librdkafka's 1 MiB produce requests 7–10% of their throughput and the broker 18–27% more CPU per GiB, with no gain for the Java producer." },
    BrokerConfigDef { name: "queued.max.requests.per.connection", default: "100", config_type: ConfigType::Int, doc: "Most requests read from one connection and not yet answered; the connection is not read further until responses go out." },
    BrokerConfigDef { name: "fetch.max.bytes", default: "57671680", config_type: ConfigType::Int, doc: "Upper bound on the bytes of one Fetch response, whatever the client asks for." },
    BrokerConfigDef { name: "message.max.bytes", default: "1048588", config_type: ConfigType::Int, doc: "Largest record batch accepted, after compression. Default of topic max.message.bytes." },
    BrokerConfigDef { name: "log.segment.bytes", default: "1073741824", config_type: ConfigType::Int, doc: "Default of topic segment.bytes." },
    BrokerConfigDef { name: "log.roll.ms", default: "604800000", config_type: ConfigType::Long, doc: "Default of topic segment.ms." },
    BrokerConfigDef { name: "log.retention.ms", default: "604800000", config_type: ConfigType::Long, doc: "Default of topic retention.ms." },
    BrokerConfigDef { name: "log.retention.bytes", default: "-1", config_type: ConfigType::Long, doc: "Default of topic retention.bytes." },
    BrokerConfigDef { name: "log.retention.check.interval.ms", default: "300000", config_type: ConfigType::Long, doc: "How often every partition of a topic whose cleanup.policy includes delete is checked against retention.ms and retention.bytes; expired closed segments are deleted." },
    BrokerConfigDef { name: "log.flush.offset.checkpoint.interval.ms", default: "60000", config_type: ConfigType::Int, doc: "Longest time between two writes of the recovery-point checkpoint (and the log-start and cleaner checkpoints)." },
    BrokerConfigDef { name: "log.recovery.checkpoint.bytes", default: "67108864", config_type: ConfigType::Long, doc: "The recovery-point checkpoint is also written once a partition has this many bytes fsync'd beyond it (checked every second), so a restart after a crash verifies about this much per partition, however long the broker ran." },
    BrokerConfigDef { name: "log.scrub.enable", default: "true", config_type: ConfigType::Boolean, doc: "Run the scrubber, which re-reads closed segments and checks every batch's CRC, reporting damage in logs, metrics (takhin_log_damaged_ranges) and the console." },
    BrokerConfigDef { name: "log.scrub.bytes.per.second", default: "8388608", config_type: ConfigType::Long, doc: "How fast the scrubber reads." },
    BrokerConfigDef { name: "log.scrub.interval.ms", default: "3600000", config_type: ConfigType::Long, doc: "Pause between two scrub passes over every partition." },
    BrokerConfigDef { name: "log.cleanup.policy", default: "delete", config_type: ConfigType::List, doc: "Default of topic cleanup.policy." },
    BrokerConfigDef { name: "log.message.timestamp.type", default: "CreateTime", config_type: ConfigType::String, doc: "Default of topic message.timestamp.type." },
    BrokerConfigDef { name: "compression.type", default: "producer", config_type: ConfigType::String, doc: "Default of topic compression.type." },
    BrokerConfigDef { name: "min.insync.replicas", default: "1", config_type: ConfigType::Int, doc: "Default of topic min.insync.replicas." },
    BrokerConfigDef { name: "log.flush.interval.messages", default: LONG_MAX, config_type: ConfigType::Long, doc: "Default of topic flush.messages." },
    BrokerConfigDef { name: "log.flush.interval.ms", default: LONG_MAX, config_type: ConfigType::Long, doc: "Default of topic flush.ms." },
    BrokerConfigDef { name: "log.write.caching", default: "false", config_type: ConfigType::Boolean, doc: "Default of topic write.caching. When false (the default), produce acknowledgements wait for fdatasync." },
    BrokerConfigDef { name: "log.index.interval.bytes", default: "4096", config_type: ConfigType::Int, doc: "Default of topic index.interval.bytes." },
    BrokerConfigDef { name: "group.min.session.timeout.ms", default: "6000", config_type: ConfigType::Int, doc: "Shortest session timeout a group member may ask for." },
    BrokerConfigDef { name: "group.max.session.timeout.ms", default: "1800000", config_type: ConfigType::Int, doc: "Longest session timeout a group member may ask for." },
    BrokerConfigDef { name: "group.initial.rebalance.delay.ms", default: "3000", config_type: ConfigType::Int, doc: "How long a group starting from empty waits for more members before its first rebalance completes (extended by each joining member, up to the rebalance timeout)." },
    BrokerConfigDef { name: "group.max.size", default: "2147483647", config_type: ConfigType::Int, doc: "Most members a classic group may have; further joins get GROUP_MAX_SIZE_REACHED." },
    BrokerConfigDef { name: "group.consumer.session.timeout.ms", default: "45000", config_type: ConfigType::Int, doc: "Session timeout of consumer-protocol (KIP-848) group members." },
    BrokerConfigDef { name: "group.consumer.heartbeat.interval.ms", default: "5000", config_type: ConfigType::Int, doc: "Heartbeat interval the broker asks consumer-protocol members to use." },
    BrokerConfigDef { name: "group.consumer.assignors", default: "uniform,range", config_type: ConfigType::List, doc: "Server-side assignors for consumer-protocol groups; the first is the default." },
    BrokerConfigDef { name: "offsets.topic.num.partitions", default: "50", config_type: ConfigType::Int, doc: "Partitions of __consumer_offsets, fixed when it is first created." },
    BrokerConfigDef { name: "offsets.topic.segment.bytes", default: "104857600", config_type: ConfigType::Int, doc: "segment.bytes of __consumer_offsets." },
    BrokerConfigDef { name: "offset.metadata.max.bytes", default: "4096", config_type: ConfigType::Int, doc: "Largest metadata string of a committed offset; larger commits get OFFSET_METADATA_TOO_LARGE." },
    BrokerConfigDef { name: "offsets.retention.minutes", default: "10080", config_type: ConfigType::Int, doc: "How long committed offsets of a group without members are kept." },
    BrokerConfigDef { name: "log.cleaner.enable", default: "true", config_type: ConfigType::Boolean, doc: "Run the log cleaner, which compacts topics whose cleanup.policy includes compact." },
    BrokerConfigDef { name: "log.cleaner.backoff.ms", default: "15000", config_type: ConfigType::Long, doc: "Pause between log cleaner passes over the compacted partitions." },
    BrokerConfigDef { name: "log.cleaner.dedupe.buffer.size", default: "134217728", config_type: ConfigType::Long, doc: "Memory for the cleaner's key map; a partition with more keys is cleaned in several passes." },
    BrokerConfigDef { name: "log.cleaner.io.max.bytes.per.second", default: "9223372036854775807", config_type: ConfigType::Long, doc: "Cleaner I/O (bytes read plus written per second), so cleaning does not starve producers." },
    BrokerConfigDef { name: "log.cleaner.delete.retention.ms", default: "86400000", config_type: ConfigType::Long, doc: "Default of topic delete.retention.ms." },
    BrokerConfigDef { name: "log.cleaner.min.compaction.lag.ms", default: "0", config_type: ConfigType::Long, doc: "Default of topic min.compaction.lag.ms." },
    BrokerConfigDef { name: "log.cleaner.min.cleanable.ratio", default: "0.5", config_type: ConfigType::Double, doc: "Default of topic min.cleanable.dirty.ratio." },
    BrokerConfigDef { name: "log.cleaner.max.compaction.lag.ms", default: "9223372036854775807", config_type: ConfigType::Long, doc: "Default of topic max.compaction.lag.ms." },
    BrokerConfigDef { name: "log.index.size.max.bytes", default: "10485760", config_type: ConfigType::Int, doc: "Default of topic segment.index.bytes." },
    BrokerConfigDef { name: "log.preallocate.budget.bytes", default: "67108864", config_type: ConfigType::Long, doc: "Most bytes of written zeros all partitions together keep ahead of their data (256 KiB per durable partition being written, so its fdatasync overwrites allocated blocks rather than growing the file; see docs/architecture.md). A partition that finds the budget spent appends without preallocation, with slower syncs. 0 turns preallocation off." },
    BrokerConfigDef { name: "log.preallocate.idle.ms", default: "30000", config_type: ConfigType::Long, doc: "A partition with no append for this long has its preallocated zeros trimmed, returning them to log.preallocate.budget.bytes; its next append preallocates again." },
    BrokerConfigDef { name: "log.dir.offline.check.interval.ms", default: "5000", config_type: ConfigType::Long, doc: "How often partitions that a full disk took offline are checked; each is reopened (recovered, its unsynced tail cut) once the data directory has log.dir.reopen.min.free.bytes free." },
    BrokerConfigDef { name: "log.dir.reopen.min.free.bytes", default: "67108864", config_type: ConfigType::Long, doc: "Free bytes (statvfs, available to unprivileged writers) the data directory must have before partitions that a full disk took offline are reopened; a margin, so they do not go offline again at once." },
];

/// Every topic setting Takhin honours or stores.
#[rustfmt::skip]
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef { name: "cleanup.policy", broker_name: "log.cleanup.policy", config_type: ConfigType::List, doc: "delete, compact, or both: what happens to old segments. Stored; retention and compaction act on it." },
    TopicConfigDef { name: "compression.type", broker_name: "compression.type", config_type: ConfigType::String, doc: "producer (keep the producer's codec), uncompressed, gzip, snappy, lz4 or zstd: batches in another codec are recompressed on append." },
    TopicConfigDef { name: "delete.retention.ms", broker_name: "log.cleaner.delete.retention.ms", config_type: ConfigType::Long, doc: "Compacted topics: how long a tombstone (null value) is kept after the first compaction that keeps it (KIP-534 delete horizon), so consumers see the delete." },
    TopicConfigDef { name: "flush.messages", broker_name: "log.flush.interval.messages", config_type: ConfigType::Long, doc: "With write.caching=true: fsync after this many messages." },
    TopicConfigDef { name: "flush.ms", broker_name: "log.flush.interval.ms", config_type: ConfigType::Long, doc: "With write.caching=true: fsync data older than this many milliseconds." },
    TopicConfigDef { name: "index.interval.bytes", broker_name: "log.index.interval.bytes", config_type: ConfigType::Int, doc: "Bytes between offset-index entries." },
    TopicConfigDef { name: "max.compaction.lag.ms", broker_name: "log.cleaner.max.compaction.lag.ms", config_type: ConfigType::Long, doc: "Compacted topics: a closed segment not yet compacted that holds a record older than this is compacted on the cleaner's next pass, whatever the dirty ratio (min.compaction.lag.ms still applies)." },
    TopicConfigDef { name: "max.message.bytes", broker_name: "message.max.bytes", config_type: ConfigType::Int, doc: "Largest record batch accepted, after compression." },
    TopicConfigDef { name: "message.timestamp.type", broker_name: "log.message.timestamp.type", config_type: ConfigType::String, doc: "CreateTime (the producer's timestamp) or LogAppendTime (the broker's clock at append)." },
    TopicConfigDef { name: "min.cleanable.dirty.ratio", broker_name: "log.cleaner.min.cleanable.ratio", config_type: ConfigType::Double, doc: "Compacted topics: a partition is compacted once the bytes of its closed segments not yet compacted reach this fraction of all its closed bytes (0 to 1)." },
    TopicConfigDef { name: "min.compaction.lag.ms", broker_name: "log.cleaner.min.compaction.lag.ms", config_type: ConfigType::Long, doc: "Compacted topics: a segment holding a record younger than this is not compacted yet." },
    TopicConfigDef { name: "min.insync.replicas", broker_name: "min.insync.replicas", config_type: ConfigType::Int, doc: "Replicas that must acknowledge an acks=all write. A single node has one." },
    TopicConfigDef { name: "retention.bytes", broker_name: "log.retention.bytes", config_type: ConfigType::Long, doc: "Size a partition may grow to before its oldest closed segments are deleted (the partition stays at least this large); -1 is unlimited. Needs delete in cleanup.policy." },
    TopicConfigDef { name: "retention.ms", broker_name: "log.retention.ms", config_type: ConfigType::Long, doc: "A closed segment whose largest record timestamp is older than this is deleted (oldest first); -1 is unlimited. Needs delete in cleanup.policy." },
    TopicConfigDef { name: "segment.bytes", broker_name: "log.segment.bytes", config_type: ConfigType::Int, doc: "Size at which a segment file is closed and a new one started." },
    TopicConfigDef { name: "segment.index.bytes", broker_name: "log.index.size.max.bytes", config_type: ConfigType::Int, doc: "Largest offset index per segment; a full index rolls the segment." },
    TopicConfigDef { name: "segment.ms", broker_name: "log.roll.ms", config_type: ConfigType::Long, doc: "Age at which a non-empty segment is rolled." },
    TopicConfigDef { name: "write.caching", broker_name: "log.write.caching", config_type: ConfigType::Boolean, doc: "true: acknowledge once in the page cache and fsync per flush.ms/flush.messages (faster, may lose acknowledged writes on power loss). false: acknowledge after fdatasync." },
];

/// Looks up a topic setting by name.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|def| def.name == name)
}

/// Looks up a broker setting by name.
pub fn broker_config_def(name: &str) -> Option<&'static BrokerConfigDef> {
    BROKER_CONFIGS.iter().find(|def| def.name == name)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("unknown config {0}")]
    Unknown(String),
    #[error("invalid value {value:?} for config {name}: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
}

fn invalid(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn parse_i64(name: &str, value: &str) -> Result<i64, ConfigError> {
    value
        .trim()
        .parse::<i64>()
        .map_err(|_| invalid(name, value, "not an integer"))
}

fn parse_i64_at_least(name: &str, value: &str, min: i64) -> Result<i64, ConfigError> {
    let parsed = parse_i64(name, value)?;
    if parsed < min {
        return Err(invalid(name, value, format!("must be at least {min}")));
    }
    Ok(parsed)
}

/// `socket.send.buffer.bytes` and `socket.receive.buffer.bytes`: -1 keeps the
/// kernel's autotuned buffer (`None`), a positive size fixes it; 0 means nothing.
fn parse_socket_buffer(name: &str, value: &str) -> Result<Option<usize>, ConfigError> {
    match parse_i64(name, value)? {
        -1 => Ok(None),
        bytes if bytes > 0 => Ok(Some(bytes.min(i64::from(i32::MAX)) as usize)),
        _ => Err(invalid(
            name,
            value,
            "expected -1 (the kernel's default) or a size in bytes",
        )),
    }
}

/// `max.connections.per.ip.overrides`: `IP:count` pairs separated by commas; an IPv6 address may
/// be bracketed (`[::1]:20`). Kafka also resolves host names here; Takhin does not, so reading
/// the settings never waits on DNS. An address given twice is refused rather than one silently
/// winning.
pub fn parse_per_ip_overrides(
    name: &str,
    value: &str,
) -> Result<BTreeMap<IpAddr, usize>, ConfigError> {
    let mut overrides = BTreeMap::new();
    for pair in value
        .split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
    {
        let (host, count) = pair
            .rsplit_once(':')
            .ok_or_else(|| invalid(name, value, format!("{pair:?} is not IP:count")))?;
        let host = host.trim();
        let host = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host);
        let ip: IpAddr = host.parse().map_err(|_| {
            invalid(
                name,
                value,
                format!("{host:?} is not an IP address (host names are not resolved)"),
            )
        })?;
        let count: usize = count
            .trim()
            .parse()
            .map_err(|_| invalid(name, value, format!("{count:?} is not a connection count")))?;
        // As the connection table counts them (an IPv4-mapped address is its IPv4 address).
        let ip = ip.to_canonical();
        if overrides.insert(ip, count).is_some() {
            return Err(invalid(name, value, format!("{ip} is given twice")));
        }
    }
    Ok(overrides)
}

/// A fraction in [0, 1] (`min.cleanable.dirty.ratio`).
fn parse_ratio(name: &str, value: &str) -> Result<f64, ConfigError> {
    let parsed = value
        .trim()
        .parse::<f64>()
        .map_err(|_| invalid(name, value, "not a number"))?;
    if !(0.0..=1.0).contains(&parsed) {
        return Err(invalid(name, value, "must be between 0 and 1"));
    }
    Ok(parsed)
}

fn parse_bool(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(name, value, "expected true or false")),
    }
}

/// Checks a topic setting's value; returns the value as it will be stored.
pub fn validate_topic_config(name: &str, value: &str) -> Result<String, ConfigError> {
    let Some(def) = topic_config_def(name) else {
        return Err(ConfigError::Unknown(name.to_string()));
    };
    let value = value.trim();
    match name {
        "cleanup.policy" => {
            let mut policies: Vec<&str> = value.split(',').map(str::trim).collect();
            policies.sort_unstable();
            policies.dedup();
            if policies.is_empty() || policies.iter().any(|p| *p != "delete" && *p != "compact") {
                return Err(invalid(name, value, "expected delete, compact or both"));
            }
        }
        "compression.type" => {
            if !matches!(
                value,
                "producer" | "uncompressed" | "none" | "gzip" | "snappy" | "lz4" | "zstd"
            ) {
                return Err(invalid(
                    name,
                    value,
                    "expected producer, uncompressed, gzip, snappy, lz4 or zstd",
                ));
            }
        }
        "message.timestamp.type" => {
            if !matches!(value, "CreateTime" | "LogAppendTime") {
                return Err(invalid(name, value, "expected CreateTime or LogAppendTime"));
            }
        }
        "retention.ms" | "retention.bytes" => {
            parse_i64_at_least(name, value, -1)?;
        }
        "delete.retention.ms" | "min.compaction.lag.ms" => {
            parse_i64_at_least(name, value, 0)?;
        }
        "max.compaction.lag.ms" => {
            parse_i64_at_least(name, value, 1)?;
        }
        "min.cleanable.dirty.ratio" => {
            parse_ratio(name, value)?;
        }
        "segment.bytes" => {
            let bytes = parse_i64_at_least(name, value, 14)?;
            if bytes > i64::from(i32::MAX) {
                return Err(invalid(name, value, "must fit in 32 bits"));
            }
        }
        "segment.ms" | "flush.ms" | "flush.messages" => {
            parse_i64_at_least(name, value, 1)?;
        }
        "index.interval.bytes" | "max.message.bytes" => {
            parse_i64_at_least(name, value, 0)?;
        }
        "segment.index.bytes" => {
            parse_i64_at_least(name, value, 8)?;
        }
        "min.insync.replicas" => {
            parse_i64_at_least(name, value, 1)?;
        }
        "write.caching" => {
            parse_bool(name, value)?;
        }
        _ => debug_assert!(false, "validation missing for {}", def.name),
    }
    Ok(value.to_string())
}

/// How a topic's batches are compressed on append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCompression {
    /// Keep whatever the producer sent.
    Producer,
    /// Recompress into this codec when the producer used another.
    Codec(takhin_storage::Compression),
}

/// The effective (override or default) settings of one topic, parsed.
#[derive(Debug, Clone)]
pub struct TopicConfig {
    pub values: BTreeMap<String, String>,
    pub log: takhin_storage::LogConfig,
    pub max_message_bytes: usize,
    pub compression: TopicCompression,
    pub write_caching: bool,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub min_insync_replicas: i32,
}

impl TopicConfig {
    /// Whether `cleanup.policy` includes `delete`: retention (`retention.ms`,
    /// `retention.bytes`) applies only then, as in Kafka.
    /// Whether the log cleaner compacts this topic.
    pub fn compacts(&self) -> bool {
        self.values
            .get("cleanup.policy")
            .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "compact"))
    }

    /// `min.cleanable.dirty.ratio` (validated when set; 0.5 if unparsable).
    pub fn min_cleanable_dirty_ratio(&self) -> f64 {
        self.values
            .get("min.cleanable.dirty.ratio")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|ratio| (0.0..=1.0).contains(ratio))
            .unwrap_or(0.5)
    }

    /// `max.compaction.lag.ms` (validated when set; unlimited if unparsable).
    pub fn max_compaction_lag_ms(&self) -> i64 {
        self.values
            .get("max.compaction.lag.ms")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    /// The cleaner settings of this topic, given the broker's.
    pub fn clean_options(&self, broker: &BrokerConfig) -> takhin_storage::CleanOptions {
        let number = |name: &str| {
            self.values
                .get(name)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                .max(0)
        };
        takhin_storage::CleanOptions {
            dedupe_buffer_bytes: broker.log_cleaner_dedupe_buffer_bytes,
            delete_retention_ms: number("delete.retention.ms"),
            min_compaction_lag_ms: number("min.compaction.lag.ms"),
            io_max_bytes_per_second: broker.log_cleaner_io_max_bytes_per_second,
        }
    }

    pub fn deletes_old_segments(&self) -> bool {
        self.values
            .get("cleanup.policy")
            .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "delete"))
    }

    /// The retention limits handed to the storage layer.
    pub fn retention_policy(&self) -> takhin_storage::RetentionPolicy {
        takhin_storage::RetentionPolicy {
            retention_ms: self.retention_ms,
            retention_bytes: self.retention_bytes,
        }
    }

    /// Resolves overrides against the broker's defaults.
    pub fn resolve(
        broker: &BrokerConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut values = BTreeMap::new();
        for def in TOPIC_CONFIGS {
            let value = match overrides.get(def.name) {
                Some(value) => validate_topic_config(def.name, value)?,
                None => broker.value(def.broker_name).to_string(),
            };
            values.insert(def.name.to_string(), value);
        }
        let get = |name: &str| values.get(name).map(String::as_str).unwrap_or_default();
        let number = |name: &str| parse_i64(name, get(name));
        let compression = match get("compression.type") {
            "producer" => TopicCompression::Producer,
            "gzip" => TopicCompression::Codec(takhin_storage::Compression::Gzip),
            "snappy" => TopicCompression::Codec(takhin_storage::Compression::Snappy),
            "lz4" => TopicCompression::Codec(takhin_storage::Compression::Lz4),
            "zstd" => TopicCompression::Codec(takhin_storage::Compression::Zstd),
            _ => TopicCompression::Codec(takhin_storage::Compression::None),
        };
        let message_timestamp_type = if get("message.timestamp.type") == "LogAppendTime" {
            takhin_storage::TimestampType::LogAppendTime
        } else {
            takhin_storage::TimestampType::CreateTime
        };
        let write_caching = parse_bool("write.caching", get("write.caching"))?;
        let log = takhin_storage::LogConfig {
            segment_bytes: number("segment.bytes")?.max(14) as u64,
            segment_ms: number("segment.ms")?.max(1) as u64,
            index_interval_bytes: number("index.interval.bytes")?.max(0) as u64,
            segment_index_bytes: number("segment.index.bytes")?.max(8) as u64,
            message_timestamp_type,
            // Only where every acknowledgement waits for an fdatasync, which it makes cheaper;
            // a write-cached topic would write its zeros for nothing.
            preallocate_bytes: if write_caching { 0 } else { PREALLOCATE_BYTES },
        };
        Ok(TopicConfig {
            max_message_bytes: number("max.message.bytes")?.max(0) as usize,
            compression,
            write_caching,
            flush_messages: number("flush.messages")?,
            flush_ms: number("flush.ms")?,
            retention_ms: number("retention.ms")?,
            retention_bytes: number("retention.bytes")?,
            min_insync_replicas: number("min.insync.replicas")? as i32,
            log,
            values,
        })
    }
}

/// The broker's settings, parsed from the merged key/value map.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    values: BTreeMap<String, String>,
    pub node_id: i32,
    pub kafka_addr: SocketAddr,
    pub advertised_host: String,
    pub advertised_port: u16,
    /// Whether `advertised.kafka.addr` was set; if not, an ephemeral listen
    /// port (0) is replaced by the port actually bound.
    pub advertised_explicit: bool,
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub auto_create_topics: bool,
    pub num_partitions: i32,
    pub default_replication_factor: i16,
    pub socket_request_max_bytes: usize,
    pub max_connections: usize,
    /// `max.connections.per.ip` and its overrides.
    pub max_connections_per_ip: usize,
    pub max_connections_per_ip_overrides: BTreeMap<IpAddr, usize>,
    /// `connections.max.idle.ms`.
    pub connections_max_idle_ms: u64,
    /// `connections.first.request.timeout.ms`.
    pub connections_first_request_timeout_ms: u64,
    /// `socket.request.read.timeout.ms`.
    pub socket_request_read_timeout_ms: u64,
    /// `queued.max.request.bytes`.
    pub queued_max_request_bytes: usize,
    /// `socket.send.buffer.bytes`; `None` (-1) leaves the kernel's autotuning.
    pub socket_send_buffer_bytes: Option<usize>,
    /// `socket.receive.buffer.bytes`; `None` (-1) leaves the kernel's autotuning.
    pub socket_receive_buffer_bytes: Option<usize>,
    pub queued_max_requests_per_connection: usize,
    pub fetch_max_bytes: usize,
    /// `log.retention.check.interval.ms`: period of the retention task.
    pub log_retention_check_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms` and `log.recovery.checkpoint.bytes`: when the
    /// recovery-point checkpoint is written (whichever comes first).
    pub log_flush_offset_checkpoint_interval_ms: u64,
    pub log_recovery_checkpoint_bytes: u64,
    /// `log.scrub.enable`, `log.scrub.bytes.per.second`, `log.scrub.interval.ms`.
    pub log_scrub_enable: bool,
    pub log_scrub_bytes_per_second: u64,
    pub log_scrub_interval_ms: u64,
    /// `log.cleaner.enable`, `log.cleaner.backoff.ms` and the cleaner's limits.
    pub log_cleaner_enable: bool,
    pub log_cleaner_backoff_ms: u64,
    pub log_cleaner_dedupe_buffer_bytes: usize,
    pub log_cleaner_io_max_bytes_per_second: Option<u64>,
    /// `log.preallocate.budget.bytes`: the data directory's preallocation budget.
    pub log_preallocate_budget_bytes: u64,
    /// `log.preallocate.idle.ms`: idle partitions lose their zeros after it.
    pub log_preallocate_idle_ms: u64,
    /// `log.dir.offline.check.interval.ms`: period of the offline-partition check.
    pub log_dir_offline_check_interval_ms: u64,
    /// `log.dir.reopen.min.free.bytes`: free space a full disk's partitions wait for.
    pub log_dir_reopen_min_free_bytes: u64,
    pub groups: crate::groups::GroupConfig,
}

impl BrokerConfig {
    /// Parses settings from `values` (Kafka names), filling defaults.
    /// Unknown names are refused, so a typo does not pass silently.
    pub fn from_map(mut values: BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        for name in values.keys() {
            if broker_config_def(name).is_none() {
                return Err(ConfigError::Unknown(name.clone()));
            }
        }
        for def in BROKER_CONFIGS {
            values
                .entry(def.name.to_string())
                .or_insert_with(|| def.default.to_string());
        }
        let get = |name: &str| values.get(name).cloned().unwrap_or_default();
        let addr = |name: &str| -> Result<SocketAddr, ConfigError> {
            let value = get(name);
            value.parse().map_err(|_| {
                invalid(
                    name,
                    &value,
                    "expected HOST:PORT with a numeric host, e.g. 0.0.0.0:9092",
                )
            })
        };
        let number = |name: &str, min: i64| parse_i64_at_least(name, &get(name), min);
        let socket_buffer = |name: &str| parse_socket_buffer(name, &get(name));
        parse_ratio(
            "log.cleaner.min.cleanable.ratio",
            &get("log.cleaner.min.cleanable.ratio"),
        )?;
        number("log.cleaner.max.compaction.lag.ms", 1)?;
        let kafka_addr = addr("kafka.addr")?;
        let http_addr = addr("http.addr")?;
        let advertised = get("advertised.kafka.addr");
        let (advertised_host, advertised_port) = if advertised.is_empty() {
            let host = if kafka_addr.ip().is_unspecified() {
                "localhost".to_string()
            } else {
                kafka_addr.ip().to_string()
            };
            (host, kafka_addr.port())
        } else {
            let (host, port) = advertised.rsplit_once(':').ok_or_else(|| {
                invalid("advertised.kafka.addr", &advertised, "expected HOST:PORT")
            })?;
            let port = port
                .parse::<u16>()
                .map_err(|_| invalid("advertised.kafka.addr", &advertised, "bad port"))?;
            (host.trim_matches(['[', ']']).to_string(), port)
        };
        let log_format = get("log.format");
        if log_format != "text" && log_format != "json" {
            return Err(invalid("log.format", &log_format, "expected text or json"));
        }
        let config = BrokerConfig {
            node_id: number("node.id", 0)? as i32,
            kafka_addr,
            advertised_host,
            advertised_port,
            advertised_explicit: !advertised.is_empty(),
            http_addr,
            data_dir: PathBuf::from(get("data.dir")),
            auto_create_topics: parse_bool(
                "auto.create.topics.enable",
                &get("auto.create.topics.enable"),
            )?,
            num_partitions: number("num.partitions", 1)? as i32,
            default_replication_factor: number("default.replication.factor", 1)? as i16,
            socket_request_max_bytes: number("socket.request.max.bytes", 1024)? as usize,
            max_connections: number("max.connections", 1)? as usize,
            max_connections_per_ip: number("max.connections.per.ip", 0)? as usize,
            max_connections_per_ip_overrides: parse_per_ip_overrides(
                "max.connections.per.ip.overrides",
                &get("max.connections.per.ip.overrides"),
            )?,
            connections_max_idle_ms: number("connections.max.idle.ms", 1)? as u64,
            connections_first_request_timeout_ms: number("connections.first.request.timeout.ms", 1)?
                as u64,
            socket_request_read_timeout_ms: number("socket.request.read.timeout.ms", 1)? as u64,
            queued_max_request_bytes: {
                let request_max = number("socket.request.max.bytes", 1024)?;
                // A larger value would not fit the semaphore that counts it.
                let semaphore_max =
                    i64::try_from(tokio::sync::Semaphore::MAX_PERMITS).unwrap_or(i64::MAX);
                number("queued.max.request.bytes", request_max)?.min(semaphore_max) as usize
            },
            socket_send_buffer_bytes: socket_buffer("socket.send.buffer.bytes")?,
            socket_receive_buffer_bytes: socket_buffer("socket.receive.buffer.bytes")?,
            queued_max_requests_per_connection: number("queued.max.requests.per.connection", 1)?
                as usize,
            fetch_max_bytes: number("fetch.max.bytes", 1024)? as usize,
            log_retention_check_interval_ms: number("log.retention.check.interval.ms", 1)? as u64,
            log_flush_offset_checkpoint_interval_ms: number(
                "log.flush.offset.checkpoint.interval.ms",
                1,
            )? as u64,
            log_recovery_checkpoint_bytes: number("log.recovery.checkpoint.bytes", 1)? as u64,
            log_scrub_enable: parse_bool("log.scrub.enable", &get("log.scrub.enable"))?,
            log_scrub_bytes_per_second: number("log.scrub.bytes.per.second", 1)? as u64,
            log_scrub_interval_ms: number("log.scrub.interval.ms", 0)? as u64,
            log_cleaner_enable: parse_bool("log.cleaner.enable", &get("log.cleaner.enable"))?,
            log_cleaner_backoff_ms: number("log.cleaner.backoff.ms", 1)? as u64,
            log_cleaner_dedupe_buffer_bytes: number("log.cleaner.dedupe.buffer.size", 1024)?
                as usize,
            log_cleaner_io_max_bytes_per_second: {
                let limit = number("log.cleaner.io.max.bytes.per.second", 1)?;
                (limit < i64::MAX).then_some(limit as u64)
            },
            log_preallocate_budget_bytes: number("log.preallocate.budget.bytes", 0)? as u64,
            log_preallocate_idle_ms: number("log.preallocate.idle.ms", 1)? as u64,
            log_dir_offline_check_interval_ms: number("log.dir.offline.check.interval.ms", 1)?
                as u64,
            log_dir_reopen_min_free_bytes: number("log.dir.reopen.min.free.bytes", 0)? as u64,
            groups: crate::groups::GroupConfig {
                classic: crate::groups::classic::ClassicConfig {
                    min_session_timeout_ms: number("group.min.session.timeout.ms", 1)?
                        .min(i64::from(i32::MAX))
                        as i32,
                    max_session_timeout_ms: number("group.max.session.timeout.ms", 1)?
                        .min(i64::from(i32::MAX))
                        as i32,
                    initial_rebalance_delay_ms: number("group.initial.rebalance.delay.ms", 0)?
                        .min(i64::from(i32::MAX))
                        as i32,
                    max_size: number("group.max.size", 1)? as usize,
                },
                consumer: crate::groups::consumer::ConsumerConfig {
                    session_timeout_ms: number("group.consumer.session.timeout.ms", 1)?
                        .min(i64::from(i32::MAX)) as i32,
                    heartbeat_interval_ms: number("group.consumer.heartbeat.interval.ms", 1)?
                        .min(i64::from(i32::MAX)) as i32,
                    assignors: {
                        let value = get("group.consumer.assignors");
                        let names: Vec<String> = value
                            .split(',')
                            .map(|a| a.trim().to_string())
                            .filter(|a| !a.is_empty())
                            .collect();
                        if names.is_empty() || names.iter().any(|a| a != "uniform" && a != "range")
                        {
                            return Err(invalid(
                                "group.consumer.assignors",
                                &value,
                                "expected a list of uniform and range",
                            ));
                        }
                        names
                    },
                },
                offsets_topic_partitions: number("offsets.topic.num.partitions", 1)?.min(1000)
                    as i32,
                offsets_topic_segment_bytes: number("offsets.topic.segment.bytes", 14)?,
                offset_metadata_max_bytes: number("offset.metadata.max.bytes", 0)? as usize,
                offsets_retention_ms: number("offsets.retention.minutes", 1)?
                    .saturating_mul(60_000),
            },
            values,
        };
        // Topic defaults must be valid too: resolving with no overrides checks them.
        TopicConfig::resolve(&config, &BTreeMap::new())?;
        Ok(config)
    }

    /// A setting's current value as a string (default if unset).
    pub fn value(&self, name: &str) -> &str {
        self.values
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// Whether `name` was set explicitly (differs from the default).
    pub fn is_default(&self, name: &str) -> bool {
        broker_config_def(name).is_some_and(|def| def.default == self.value(name))
    }

    /// The log output format (`text` or `json`).
    pub fn log_format(&self) -> &str {
        self.value("log.format")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_kafkas() {
        let broker = BrokerConfig::from_map(BTreeMap::new()).unwrap();
        assert_eq!(broker.kafka_addr.port(), 9092);
        assert_eq!(broker.advertised_host, "localhost");
        assert_eq!(broker.socket_request_max_bytes, 100 * 1024 * 1024);
        assert_eq!(broker.socket_send_buffer_bytes, Some(102_400));
        assert_eq!(broker.socket_receive_buffer_bytes, None);
        let topic = TopicConfig::resolve(&broker, &BTreeMap::new()).unwrap();
        assert_eq!(topic.log.segment_bytes, 1 << 30);
        assert_eq!(topic.max_message_bytes, 1048588);
        assert!(!topic.write_caching);
        assert_eq!(topic.compression, TopicCompression::Producer);
    }

    #[test]
    fn topic_overrides_win_over_broker_defaults() {
        let broker = BrokerConfig::from_map(map(&[("log.retention.ms", "1000")])).unwrap();
        let topic = TopicConfig::resolve(&broker, &map(&[("segment.bytes", "4096")])).unwrap();
        assert_eq!(topic.retention_ms, 1000);
        assert_eq!(topic.log.segment_bytes, 4096);
    }

    #[test]
    fn retention_applies_to_delete_policies_only() {
        let broker =
            BrokerConfig::from_map(map(&[("log.retention.check.interval.ms", "100")])).unwrap();
        assert_eq!(broker.log_retention_check_interval_ms, 100);
        assert!(BrokerConfig::from_map(map(&[("log.retention.check.interval.ms", "0")])).is_err());
        let resolve = |policy: &str| {
            TopicConfig::resolve(&broker, &map(&[("cleanup.policy", policy)]))
                .unwrap()
                .deletes_old_segments()
        };
        assert!(resolve("delete"));
        assert!(resolve("compact,delete"));
        assert!(!resolve("compact"));
        let default = TopicConfig::resolve(&broker, &BTreeMap::new()).unwrap();
        assert!(default.deletes_old_segments());
        assert_eq!(default.retention_policy().retention_ms, 604_800_000);
        assert_eq!(default.retention_policy().retention_bytes, -1);
    }

    #[test]
    fn full_disk_and_preallocation_settings() {
        let broker = BrokerConfig::from_map(BTreeMap::new()).unwrap();
        assert_eq!(broker.log_preallocate_budget_bytes, 64 << 20);
        assert_eq!(broker.log_preallocate_idle_ms, 30_000);
        assert_eq!(broker.log_dir_offline_check_interval_ms, 5_000);
        assert_eq!(broker.log_dir_reopen_min_free_bytes, 64 << 20);
        let set = map(&[
            ("log.preallocate.budget.bytes", "0"),
            ("log.dir.reopen.min.free.bytes", "0"),
        ]);
        let broker = BrokerConfig::from_map(set).unwrap();
        assert_eq!(broker.log_preallocate_budget_bytes, 0);
        assert_eq!(broker.log_dir_reopen_min_free_bytes, 0);
        for name in [
            "log.preallocate.idle.ms",
            "log.dir.offline.check.interval.ms",
        ] {
            assert!(
                BrokerConfig::from_map(map(&[(name, "0")])).is_err(),
                "{name}"
            );
        }
        assert!(BrokerConfig::from_map(map(&[("log.preallocate.budget.bytes", "-1")])).is_err());
    }

    #[test]
    fn socket_buffers_minus_one_is_the_kernels_and_zero_is_refused() {
        for name in ["socket.send.buffer.bytes", "socket.receive.buffer.bytes"] {
            let parse = |value: &str| {
                BrokerConfig::from_map(map(&[(name, value)])).map(|broker| {
                    (
                        broker.socket_send_buffer_bytes,
                        broker.socket_receive_buffer_bytes,
                    )
                })
            };
            let set = |bytes| {
                if name == "socket.send.buffer.bytes" {
                    (bytes, None)
                } else {
                    (Some(102_400), bytes)
                }
            };
            assert_eq!(parse("-1"), Ok(set(None)), "{name}");
            assert_eq!(parse("262144"), Ok(set(Some(262_144))), "{name}");
            assert!(parse("0").is_err(), "{name}");
            assert!(parse("-2").is_err(), "{name}");
            assert!(parse("lots").is_err(), "{name}");
        }
    }

    #[test]
    fn connection_limits_default_to_kafkas_and_takhins_own() {
        let broker = BrokerConfig::from_map(BTreeMap::new()).unwrap();
        assert_eq!(broker.max_connections, 10_000);
        assert_eq!(broker.max_connections_per_ip, i32::MAX as usize);
        assert!(broker.max_connections_per_ip_overrides.is_empty());
        assert_eq!(broker.connections_max_idle_ms, 600_000);
        assert_eq!(broker.connections_first_request_timeout_ms, 10_000);
        assert_eq!(broker.socket_request_read_timeout_ms, 30_000);
        assert_eq!(broker.queued_max_request_bytes, 512 * 1024 * 1024);
        // The pool must hold the largest frame, or that frame could never be read.
        assert!(
            BrokerConfig::from_map(map(&[
                ("socket.request.max.bytes", "2048"),
                ("queued.max.request.bytes", "2047"),
            ]))
            .is_err()
        );
        for name in [
            "connections.max.idle.ms",
            "connections.first.request.timeout.ms",
            "socket.request.read.timeout.ms",
        ] {
            assert!(
                BrokerConfig::from_map(map(&[(name, "0")])).is_err(),
                "{name}"
            );
        }
    }

    #[test]
    fn per_ip_overrides_are_ip_count_pairs() {
        let name = "max.connections.per.ip.overrides";
        let parsed =
            parse_per_ip_overrides(name, " 10.0.0.7:500, [::1]:20,192.168.1.1:0 ,").unwrap();
        let expected: BTreeMap<IpAddr, usize> = [
            ("10.0.0.7".parse().unwrap(), 500),
            ("::1".parse().unwrap(), 20),
            ("192.168.1.1".parse().unwrap(), 0),
        ]
        .into_iter()
        .collect();
        assert_eq!(parsed, expected);
        assert_eq!(parse_per_ip_overrides(name, ""), Ok(BTreeMap::new()));
        for bad in [
            "broker-1:5",
            "10.0.0.7",
            "10.0.0.7:many",
            "10.0.0.7:-1",
            "10.0.0.7:1,10.0.0.7:2",
        ] {
            assert!(parse_per_ip_overrides(name, bad).is_err(), "{bad}");
        }
        let broker = BrokerConfig::from_map(map(&[(name, "127.0.0.2:4")])).unwrap();
        assert_eq!(
            broker
                .max_connections_per_ip_overrides
                .get(&"127.0.0.2".parse::<IpAddr>().unwrap()),
            Some(&4)
        );
    }

    #[test]
    fn bad_values_and_unknown_names_are_refused() {
        assert_eq!(
            BrokerConfig::from_map(map(&[("no.such", "1")])).unwrap_err(),
            ConfigError::Unknown("no.such".into())
        );
        assert!(validate_topic_config("cleanup.policy", "delete,compact").is_ok());
        assert!(validate_topic_config("cleanup.policy", "shred").is_err());
        assert!(validate_topic_config("retention.ms", "soon").is_err());
        assert!(validate_topic_config("segment.bytes", "10").is_err());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "0.01").is_ok());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "1.5").is_err());
        assert!(validate_topic_config("min.cleanable.dirty.ratio", "half").is_err());
        assert!(validate_topic_config("max.compaction.lag.ms", "0").is_err());
        assert!(validate_topic_config("max.compaction.lag.ms", "60000").is_ok());
        assert!(matches!(
            validate_topic_config("bogus", "1"),
            Err(ConfigError::Unknown(_))
        ));
    }
}

#[cfg(test)]
mod docs_tests {
    use super::*;

    /// docs/configuration.md is the operator's reference: every setting the
    /// code reads must be documented there, with its environment variable.
    #[test]
    fn every_setting_is_documented() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let docs = std::fs::read_to_string(path).unwrap();
        for def in BROKER_CONFIGS {
            assert!(
                docs.contains(&format!("`{}`", def.name)),
                "{} undocumented",
                def.name
            );
            let env = format!("TAKHIN_{}", def.name.to_ascii_uppercase().replace('.', "_"));
            assert!(docs.contains(&env), "{env} undocumented");
        }
        for def in TOPIC_CONFIGS {
            assert!(
                docs.contains(&format!("`{}`", def.name)),
                "{} undocumented",
                def.name
            );
        }
    }
}
