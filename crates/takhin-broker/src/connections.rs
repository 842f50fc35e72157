//! Who may hold a connection: `max.connections`, `max.connections.per.ip` (with its overrides),
//! and which connection makes room when the broker is full.
//!
//! Every open connection has an entry in the [`ConnectionTable`], from accept until its task
//! ends. A connection is *proven* once it has sent one complete request frame. When a new
//! connection would exceed `max.connections`, the oldest connection that is not proven is closed
//! to make room (reason [`CloseReason::Evicted`]); only if every connection is proven is the
//! newcomer refused ([`CloseReason::MaxConnections`]). Why this and not a reserve of slots for
//! proven connections: the client locked out by a flood of idle sockets is a *new* one (a
//! consumer starting, a producer reconnecting), and a reserve for proven connections would not
//! let it in. Evicting oldest-first gives each newcomer the time of `max.connections` further
//! arrivals to send its first request (clients send ApiVersions at once), while clients that work
//! are never closed for a newcomer. Unproven connections also expire on their own after
//! `connections.first.request.timeout.ms`.
//!
//! The table's lock is taken at accept, when a connection is proven, and when it closes, never
//! per request. An evicted connection's task is aborted; its socket closes when the task is next
//! polled, so the open sockets may briefly exceed `max.connections` by the evictions in flight.
//!
//! Connections the broker closes itself are counted per [`CloseReason`] (see
//! [`crate::metrics`]) and logged through a [`DropLog`], which writes at most one line per reason
//! per [`DROP_LOG_INTERVAL`] plus a count of the rest, so a flood of 10,000 closes is two lines.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::task::AbortHandle;
use tracing::{info, warn};

use crate::config::BrokerConfig;
use crate::metrics::Metrics;

/// How often each [`CloseReason`] may write a log line; closes in between are counted and
/// reported in the next line (or by [`DropLog::flush`]).
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why the broker closed a client connection itself: the `reason` label of
/// `takhin_kafka_connections_rejected_total` (the first two, refused at accept) and
/// `takhin_kafka_connections_dropped_total` (the rest, closed later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// `max.connections` reached and every connection has completed a request.
    MaxConnections,
    /// `max.connections.per.ip` (or its override) reached for the peer's address.
    PerIpLimit,
    /// Closed to make room for a new connection: the oldest one with no complete request.
    Evicted,
    /// No complete request within `connections.first.request.timeout.ms` of accept.
    FirstRequestTimeout,
    /// A request not read whole within `socket.request.read.timeout.ms` of its first byte.
    RequestReadTimeout,
    /// Nothing read or written, and no request in progress, for `connections.max.idle.ms`.
    Idle,
}

impl CloseReason {
    pub const ALL: [CloseReason; 6] = [
        CloseReason::MaxConnections,
        CloseReason::PerIpLimit,
        CloseReason::Evicted,
        CloseReason::FirstRequestTimeout,
        CloseReason::RequestReadTimeout,
        CloseReason::Idle,
    ];

    /// The metric label value.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::MaxConnections => "max_connections",
            CloseReason::PerIpLimit => "per_ip_limit",
            CloseReason::Evicted => "evicted",
            CloseReason::FirstRequestTimeout => "first_request_timeout",
            CloseReason::RequestReadTimeout => "request_read_timeout",
            CloseReason::Idle => "idle",
        }
    }

    /// Whether the connection was refused at accept, before it was served.
    pub fn at_accept(self) -> bool {
        matches!(self, CloseReason::MaxConnections | CloseReason::PerIpLimit)
    }

    /// Position in [`CloseReason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    fn explanation(self) -> &'static str {
        match self {
            CloseReason::MaxConnections => {
                "max.connections reached and every connection has completed a request; refusing new connection"
            }
            CloseReason::PerIpLimit => "max.connections.per.ip reached; refusing new connection",
            CloseReason::Evicted => {
                "max.connections reached; closing the oldest connection that has not completed a request"
            }
            CloseReason::FirstRequestTimeout => {
                "no complete request within connections.first.request.timeout.ms; closing connection"
            }
            CloseReason::RequestReadTimeout => {
                "request not received whole within socket.request.read.timeout.ms; closing connection"
            }
            CloseReason::Idle => "idle for connections.max.idle.ms; closing connection",
        }
    }
}

/// The connection limits, from the broker's settings.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub per_ip_overrides: BTreeMap<IpAddr, usize>,
}

impl ConnectionLimits {
    pub fn from_config(config: &BrokerConfig) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            per_ip_overrides: config.max_connections_per_ip_overrides.clone(),
        }
    }

    /// Most connections `ip` may hold.
    pub fn per_ip(&self, ip: IpAddr) -> usize {
        self.per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_connections_per_ip)
    }
}

/// Identifies a connection in the table; ids grow in accept order.
pub type ConnectionId = u64;

/// A connection let in, and the one closed to make room for it.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted<H> {
    pub id: ConnectionId,
    pub evicted: Option<Evicted<H>>,
}

/// A connection chosen to make room: its address (for the log) and what closes it.
#[derive(Debug, PartialEq, Eq)]
pub struct Evicted<H> {
    pub peer: SocketAddr,
    pub handle: Option<H>,
}

#[derive(Debug)]
struct Entry<H> {
    peer: SocketAddr,
    handle: Option<H>,
}

/// The address limits apply to: an IPv4 client of a dual-stack (`[::]`) listener arrives as
/// `::ffff:a.b.c.d`, and is counted, and matched against overrides, as `a.b.c.d`.
fn canonical_ip(peer: SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

/// The bookkeeping of [`ConnectionTable`], without lock or tasks so that the admission rules are
/// tested alone; `H` is what closes a connection (a task's [`AbortHandle`] in the server).
#[derive(Debug)]
pub struct Admissions<H> {
    limits: ConnectionLimits,
    next_id: ConnectionId,
    open: HashMap<ConnectionId, Entry<H>>,
    per_ip: HashMap<IpAddr, usize>,
    /// Open connections with no complete request yet, oldest (smallest id) first.
    unproven: BTreeSet<ConnectionId>,
}

impl<H> Admissions<H> {
    pub fn new(limits: ConnectionLimits) -> Admissions<H> {
        Admissions {
            limits,
            next_id: 0,
            open: HashMap::new(),
            per_ip: HashMap::new(),
            unproven: BTreeSet::new(),
        }
    }

    /// Lets `peer` in, evicting the oldest unproven connection if `max.connections` is reached,
    /// or says why not. The per-IP limit is checked first: a peer at its own limit does not
    /// evict anyone.
    pub fn admit(&mut self, peer: SocketAddr) -> Result<Admitted<H>, CloseReason> {
        let ip = canonical_ip(peer);
        if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.per_ip(ip) {
            return Err(CloseReason::PerIpLimit);
        }
        let mut evicted = None;
        if self.open.len() >= self.limits.max_connections {
            let Some(oldest) = self.unproven.first().copied() else {
                return Err(CloseReason::MaxConnections);
            };
            evicted = self.remove(oldest).map(|entry| Evicted {
                peer: entry.peer,
                handle: entry.handle,
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(id, Entry { peer, handle: None });
        *self.per_ip.entry(ip).or_insert(0) += 1;
        self.unproven.insert(id);
        Ok(Admitted { id, evicted })
    }

    /// Records what closes connection `id`, once its task is spawned. Nothing if it already
    /// ended.
    pub fn attach(&mut self, id: ConnectionId, handle: H) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.handle = Some(handle);
        }
    }

    /// Connection `id` completed a request: it is never evicted.
    pub fn prove(&mut self, id: ConnectionId) {
        self.unproven.remove(&id);
    }

    /// Forgets connection `id` (closed, or evicted); nothing if it is already gone.
    fn remove(&mut self, id: ConnectionId) -> Option<Entry<H>> {
        let entry = self.open.remove(&id)?;
        self.unproven.remove(&id);
        let ip = canonical_ip(entry.peer);
        if let Some(count) = self.per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
        Some(entry)
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

/// The broker's table of open connections (see the module docs), and the log of those it
/// closed.
#[derive(Debug)]
pub struct ConnectionTable {
    admissions: Mutex<Admissions<AbortHandle>>,
    drop_log: DropLog,
}

impl ConnectionTable {
    pub fn new(limits: ConnectionLimits) -> ConnectionTable {
        ConnectionTable {
            admissions: Mutex::new(Admissions::new(limits)),
            drop_log: DropLog::new(DROP_LOG_INTERVAL),
        }
    }

    /// See [`Admissions::admit`]. An evicted connection is aborted, counted and logged here.
    pub fn admit(&self, peer: SocketAddr, metrics: &Metrics) -> Result<ConnectionId, CloseReason> {
        let admitted = self.admissions.lock().admit(peer)?;
        if let Some(evicted) = admitted.evicted {
            if let Some(handle) = evicted.handle {
                handle.abort();
            }
            self.closed(CloseReason::Evicted, evicted.peer, metrics);
        }
        Ok(admitted.id)
    }

    pub fn attach(&self, id: ConnectionId, handle: AbortHandle) {
        self.admissions.lock().attach(id, handle);
    }

    pub fn prove(&self, id: ConnectionId) {
        self.admissions.lock().prove(id);
    }

    pub fn remove(&self, id: ConnectionId) {
        self.admissions.lock().remove(id);
    }

    /// Counts and logs a connection the broker closed (or refused) for `reason`.
    pub fn closed(&self, reason: CloseReason, peer: SocketAddr, metrics: &Metrics) {
        metrics.connection_closed(reason);
        self.drop_log.record(reason, peer, Instant::now());
    }

    /// Logs the closes not yet reported; the server calls it every [`DROP_LOG_INTERVAL`].
    pub fn flush_log(&self) {
        self.drop_log.flush(Instant::now());
    }
}

/// Holds connection `id`'s place in the table; dropping it (the task ended) frees the place.
pub struct ConnectionSlot {
    table: std::sync::Arc<ConnectionTable>,
    id: ConnectionId,
}

impl ConnectionSlot {
    pub fn new(table: std::sync::Arc<ConnectionTable>, id: ConnectionId) -> ConnectionSlot {
        ConnectionSlot { table, id }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.table.remove(self.id);
    }
}

/// Logs connection closes without flooding: per reason, the first close of a quiet period is
/// logged at once (with its peer); later ones within [`DROP_LOG_INTERVAL`] are only counted, and
/// the count is logged with the next line or by [`DropLog::flush`].
#[derive(Debug)]
pub struct DropLog {
    interval: Duration,
    reasons: Mutex<[ReasonLog; CloseReason::ALL.len()]>,
}

#[derive(Clone, Copy, Debug, Default)]
struct ReasonLog {
    /// When the last line for this reason was written; `None` when quiet.
    logged_at: Option<Instant>,
    /// Closes since then that no line reported.
    unreported: u64,
}

/// What [`DropLog`] writes for one close.
#[derive(Debug, PartialEq, Eq)]
enum LogLine {
    /// Log this close, and `earlier` unreported ones before it.
    Now { earlier: u64 },
    /// Counted for a later line.
    Later,
}

impl DropLog {
    pub fn new(interval: Duration) -> DropLog {
        DropLog {
            interval,
            reasons: Mutex::new([ReasonLog::default(); CloseReason::ALL.len()]),
        }
    }

    fn note(&self, reason: CloseReason, now: Instant) -> LogLine {
        let mut reasons = self.reasons.lock();
        let log = &mut reasons[reason.index()];
        let quiet = log
            .logged_at
            .is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
        if quiet {
            log.logged_at = Some(now);
            LogLine::Now {
                earlier: std::mem::take(&mut log.unreported),
            }
        } else {
            log.unreported += 1;
            LogLine::Later
        }
    }

    pub fn record(&self, reason: CloseReason, peer: SocketAddr, now: Instant) {
        if let LogLine::Now { earlier } = self.note(reason, now) {
            let reason_label = reason.label();
            let explanation = reason.explanation();
            if reason == CloseReason::Idle {
                info!(%peer, reason = reason_label, earlier, "{explanation}");
            } else {
                warn!(%peer, reason = reason_label, earlier, "{explanation}");
            }
        }
    }

    /// The closes counted but not logged, per reason, whose interval has passed; resets them.
    fn take_due(&self, now: Instant) -> Vec<(CloseReason, u64)> {
        let mut reasons = self.reasons.lock();
        let mut due = Vec::new();
        for reason in CloseReason::ALL {
            let log = &mut reasons[reason.index()];
            let elapsed = log
                .logged_at
                .is_none_or(|at| now.saturating_duration_since(at) >= self.interval);
            if elapsed {
                if log.unreported > 0 {
                    due.push((reason, std::mem::take(&mut log.unreported)));
                }
                // Quiet again: the next close is logged at once.
                log.logged_at = None;
            }
        }
        due
    }

    pub fn flush(&self, now: Instant) {
        for (reason, count) in self.take_due(now) {
            let reason_label = reason.label();
            let explanation = reason.explanation();
            let seconds = self.interval.as_secs();
            if reason == CloseReason::Idle {
                info!(
                    reason = reason_label,
                    count, "{count} more in the last {seconds} s: {explanation}"
                );
            } else {
                warn!(
                    reason = reason_label,
                    count, "{count} more in the last {seconds} s: {explanation}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize, per_ip: usize, overrides: &[(&str, usize)]) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_connections_per_ip: per_ip,
            per_ip_overrides: overrides
                .iter()
                .map(|(ip, count)| (ip.parse().unwrap(), *count))
                .collect(),
        }
    }

    fn peer(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), port)
    }

    #[test]
    fn a_full_table_evicts_its_oldest_unproven_connection() {
        let mut table = Admissions::<&str>::new(limits(3, usize::MAX, &[]));
        let first = table.admit(peer("10.0.0.1", 1)).unwrap().id;
        let second = table.admit(peer("10.0.0.2", 2)).unwrap().id;
        let third = table.admit(peer("10.0.0.3", 3)).unwrap().id;
        table.attach(second, "second");
        table.attach(third, "third");
        // The oldest has completed a request: it stays; the next oldest goes.
        table.prove(first);
        let admitted = table.admit(peer("10.0.0.4", 4)).unwrap();
        assert_eq!(
            admitted.evicted,
            Some(Evicted {
                peer: peer("10.0.0.2", 2),
                handle: Some("second")
            })
        );
        assert_eq!(table.len(), 3);
        let fifth = table.admit(peer("10.0.0.5", 5)).unwrap();
        assert_eq!(fifth.evicted.unwrap().peer, peer("10.0.0.3", 3));
        // The newcomers are unproven too: the older of them goes next.
        let sixth = table.admit(peer("10.0.0.6", 6)).unwrap();
        assert_eq!(sixth.evicted.unwrap().peer, peer("10.0.0.4", 4));
        assert!(admitted.id < fifth.id && third < admitted.id);
    }

    #[test]
    fn a_full_table_of_proven_connections_refuses_the_newcomer() {
        let mut table = Admissions::<()>::new(limits(2, usize::MAX, &[]));
        for port in 0..2 {
            let id = table.admit(peer("10.0.0.1", port)).unwrap().id;
            table.prove(id);
        }
        assert_eq!(
            table.admit(peer("10.0.0.9", 9)),
            Err(CloseReason::MaxConnections)
        );
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn per_ip_limits_and_overrides_count_open_connections_of_each_address() {
        let mut table = Admissions::<()>::new(limits(100, 2, &[("10.0.0.7", 3), ("::1", 0)]));
        let a = table.admit(peer("10.0.0.1", 1)).unwrap().id;
        table.admit(peer("10.0.0.1", 2)).unwrap();
        assert_eq!(
            table.admit(peer("10.0.0.1", 3)),
            Err(CloseReason::PerIpLimit)
        );
        for port in 0..3 {
            table.admit(peer("10.0.0.7", port)).unwrap();
        }
        assert_eq!(
            table.admit(peer("10.0.0.7", 9)),
            Err(CloseReason::PerIpLimit)
        );
        assert_eq!(table.admit(peer("::1", 1)), Err(CloseReason::PerIpLimit));
        // A closed connection frees its address's place.
        assert!(table.remove(a).is_some());
        assert!(table.remove(a).is_none(), "removing twice is harmless");
        table.admit(peer("10.0.0.1", 4)).unwrap();
    }

    #[test]
    fn ipv4_clients_of_a_dual_stack_listener_count_as_ipv4() {
        let mut table = Admissions::<()>::new(limits(100, 1, &[("10.0.0.7", 2)]));
        table.admit(peer("::ffff:10.0.0.1", 1)).unwrap();
        assert_eq!(
            table.admit(peer("10.0.0.1", 2)),
            Err(CloseReason::PerIpLimit)
        );
        table.admit(peer("::ffff:10.0.0.7", 1)).unwrap();
        table.admit(peer("::ffff:10.0.0.7", 2)).unwrap();
        assert_eq!(
            table.admit(peer("10.0.0.7", 3)),
            Err(CloseReason::PerIpLimit)
        );
    }

    #[test]
    fn a_peer_at_its_own_limit_evicts_nobody() {
        let mut table = Admissions::<()>::new(limits(2, 1, &[]));
        table.admit(peer("10.0.0.1", 1)).unwrap();
        table.admit(peer("10.0.0.2", 1)).unwrap();
        assert_eq!(
            table.admit(peer("10.0.0.1", 2)),
            Err(CloseReason::PerIpLimit)
        );
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn ten_thousand_closes_in_one_interval_write_two_lines() {
        let log = DropLog::new(Duration::from_secs(10));
        let start = Instant::now();
        let mut lines = 0;
        for i in 0..10_000u64 {
            let now = start + Duration::from_micros(i);
            if log.note(CloseReason::Evicted, now) != LogLine::Later {
                lines += 1;
            }
        }
        assert_eq!(lines, 1);
        assert!(log.take_due(start + Duration::from_secs(1)).is_empty());
        assert_eq!(
            log.take_due(start + Duration::from_secs(11)),
            vec![(CloseReason::Evicted, 9_999)]
        );
        // Quiet again: the next close is logged at once, and reasons are counted apart.
        let later = start + Duration::from_secs(12);
        assert_eq!(
            log.note(CloseReason::Evicted, later),
            LogLine::Now { earlier: 0 }
        );
        assert_eq!(
            log.note(CloseReason::Idle, later),
            LogLine::Now { earlier: 0 }
        );
        assert_eq!(log.note(CloseReason::Idle, later), LogLine::Later);
        assert_eq!(
            log.note(CloseReason::Idle, later + Duration::from_secs(10)),
            LogLine::Now { earlier: 1 }
        );
    }
}
