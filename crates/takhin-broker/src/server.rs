//! The Kafka listener: accepts connections and runs each one's pipeline.
//!
//! Per connection, a reader task reads frames, decodes them, and runs each request's handler
//! until it finishes or first waits; one that waits goes on in a task of its own. A writer task
//! sends the responses in request order. Between the two sits a bounded queue of pending
//! responses (`queued.max.requests.per.connection`): when it is full the reader stops reading,
//! so a client that pipelines faster than the broker answers is slowed by TCP back-pressure, not
//! buffered without bound.
//!
//! Produce requests of one connection append in the order they arrived (an idempotent producer
//! with several requests in flight depends on it): the reader takes the connection's produce
//! turn before starting the handler, and the handler gives it back once its batches are appended,
//! before it waits for them to be durable.
//!
//! Each request is counted and timed for its API ([`crate::metrics`]) from its last byte read to
//! its response ready (or the connection closed), and so is each connection.
//!
//! # Request memory
//!
//! Request bytes held by all connections together, from being read until their response is
//! built, are bounded by `queued.max.request.bytes` (a FIFO semaphore, the *pool*). A frame takes
//! from the pool as its bytes arrive, not when its length prefix announces them:
//!
//! - The first [`REQUEST_ALLOWANCE_BYTES`] of a frame are read into the connection's own buffer
//!   without the pool, so a connection that sends a length prefix and stops holds nothing others
//!   need. This memory outside the pool is at most `max.connections` × the allowance (625 MiB at
//!   10,000 connections; each socket's kernel buffers can hold more than that).
//! - A longer frame gets a buffer of its own, allocated at its length as address space only (the
//!   kernel backs pages as reads write them; nothing is zeroed or copied again). Its memory is
//!   counted as what has arrived (the bytes read plus those waiting in the kernel, `FIONREAD`),
//!   at least doubling, never past the frame ([`growth_target_bytes`]): the pool is asked for the
//!   growth beyond the allowance, in steps of at most [`REQUEST_MEMORY_STEP_BYTES`], before the
//!   reads may go further. A frame therefore holds at most twice what its client really sent:
//!   to hold X of the pool a client must send X/2.
//! - A frame whose bytes are all in takes the rest of its length from the pool and holds exactly
//!   its length until its response is built. Requests up to the allowance (nearly all but large
//!   produces) take their length in one step once whole, as before.
//!
//! Fairness: no one asks the pool for more than a step (1 MiB) at a time, so a waiter for a large
//! frame at the head of the FIFO never holds back a small request for longer than it takes
//! others to return one step.
//!
//! Deadlock: frames still arriving can hold the whole pool while each waits for more (only with
//! half the pool's worth of their bytes received: under overload by large requests, or an attack
//! that must send that much). No such wait outlasts `socket.request.read.timeout.ms`, which
//! bounds a frame from its first byte to its last, memory waits included; the connection is then
//! closed and its memory returned, so the others proceed. Complete frames never wait on
//! incomplete ones except through the pool. Kafka instead reserves a frame's whole announced
//! length before reading it (so its waiters hold nothing and cannot deadlock), which is what lets
//! six connections each announcing 100 MiB stop a broker with a 512 MiB pool until they are idle
//! for `connections.max.idle.ms`; Kafka's default pool is unbounded, so there they cost heap.
//!
//! # Deadlines
//!
//! One timer per connection, re-armed lazily: it fires at most every
//! `socket.request.read.timeout.ms` (or sooner deadline) and [`ConnectionClock::check`] then
//! decides what is due, so a busy connection re-arms it about once per period, never per request.
//! A connection is closed when a frame is not read whole within `socket.request.read.timeout.ms`
//! of its first byte, when it has no complete request `connections.first.request.timeout.ms`
//! after accept, or when, after its first request, nothing is read or answered and no request is
//! in progress for `connections.max.idle.ms`. Which connections are let in, and which one makes
//! room when the broker is full, is [`crate::connections`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use takhin_protocol::frame::{FrameError, LENGTH_PREFIX_BYTES, body_length};
use takhin_protocol::response::unsupported_api_versions_response;
use takhin_protocol::{
    DecodeError, EncodedResponse, FilePart, Part, Request, decode_request, encode_response_chain,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tracing::{debug, info, warn};

use crate::broker::Broker;
use crate::connections::{
    CloseReason, ConnectionId, ConnectionLimits, ConnectionSlot, ConnectionTable, DROP_LOG_INTERVAL,
};
use crate::handlers;
use crate::metrics::{RequestTimer, top_level_error_code};

/// Bytes of a frame a connection reads into its own buffer before the frame draws on the shared
/// request memory (see the module docs). Requests up to this size take their memory in one step
/// once whole. 64 KiB: above nearly every request but large produces; 625 MiB across 10,000
/// connections.
pub const REQUEST_ALLOWANCE_BYTES: usize = 64 * 1024;

/// Most request memory one connection asks the pool for at a time, so that a large frame waiting
/// at the head of the pool's queue holds back small requests only until this much is returned.
pub const REQUEST_MEMORY_STEP_BYTES: usize = 1024 * 1024;

/// How much of a large frame its memory covers next, once `filled_bytes` of its `length_bytes`
/// are in and `queued_bytes` more wait in the kernel: all that has arrived, at least double what
/// is filled (so a slow sender costs O(log n) pool requests), at least the allowance, never past
/// the frame. What it holds beyond what it has filled is therefore bytes its client has sent, or
/// no more than it has.
pub fn growth_target_bytes(filled_bytes: usize, queued_bytes: usize, length_bytes: usize) -> usize {
    filled_bytes
        .saturating_add(queued_bytes)
        .max(filled_bytes.saturating_mul(2))
        .max(REQUEST_ALLOWANCE_BYTES)
        .min(length_bytes)
}

/// What the writer does for one request, in order.
pub enum Outgoing {
    Frame(EncodedResponse),
    /// acks=0 produce: nothing is sent.
    Nothing,
    /// The request broke the protocol: close after earlier responses.
    Close,
}

/// Why a connection's reader stopped. Each is logged at debug when the connection closes; the
/// deadlines are also counted ([`CloseReason`]).
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("read from {peer}: {source}")]
    Io {
        peer: SocketAddr,
        source: std::io::Error,
    },
    #[error("{peer} closed its connection after {received_bytes} of a {length_bytes}-byte frame")]
    Truncated {
        peer: SocketAddr,
        received_bytes: usize,
        length_bytes: usize,
    },
    #[error("frame from {peer}: {source}")]
    Frame {
        peer: SocketAddr,
        source: FrameError,
    },
    #[error("request from {peer}: {source}")]
    Decode {
        peer: SocketAddr,
        source: DecodeError,
    },
    #[error("the connection's writer stopped")]
    WriterClosed,
    #[error("the request memory pool was closed")]
    MemoryClosed,
    #[error("{}", .0.label())]
    Deadline(CloseReason),
}

pub struct Server {
    broker: Arc<Broker>,
    listener: TcpListener,
    request_memory: Arc<Semaphore>,
    table: Arc<ConnectionTable>,
}

impl Server {
    /// Serves `broker` on a listener bound beforehand (see [`crate::run`]).
    pub fn new(broker: Arc<Broker>, listener: TcpListener) -> Server {
        let limits = ConnectionLimits::from_config(&broker.config);
        let request_memory = Arc::new(Semaphore::new(broker.config.queued_max_request_bytes));
        Server {
            broker,
            listener,
            request_memory,
            table: Arc::new(ConnectionTable::new(limits)),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true, then stops accepting, lets every
    /// connection finish the requests it has read, and returns.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut connections = JoinSet::new();
        let mut drop_log = tokio::time::interval(DROP_LOG_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = drop_log.tick() => self.table.flush_log(),
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    self.admit(&mut connections, stream, peer, &shutdown);
                    while connections.try_join_next().is_some() {}
                }
            }
        }
        self.table.flush_log();
        info!(
            connections = connections.len(),
            "listener closed; finishing in-flight requests"
        );
        while connections.join_next().await.is_some() {}
    }

    /// Serves `stream` in a task of its own, or closes it (dropped here) when the connection
    /// limits refuse it.
    fn admit(
        &self,
        connections: &mut JoinSet<()>,
        stream: TcpStream,
        peer: SocketAddr,
        shutdown: &watch::Receiver<bool>,
    ) {
        let metrics = &self.broker.metrics;
        let id = match self.table.admit(peer, metrics) {
            Ok(id) => id,
            Err(reason) => {
                self.table.closed(reason, peer, metrics);
                return;
            }
        };
        let slot = ConnectionSlot::new(self.table.clone(), id);
        let open = metrics.connection_opened();
        let connection = Connection {
            broker: self.broker.clone(),
            request_memory: self.request_memory.clone(),
            table: self.table.clone(),
            id,
            peer,
        };
        let shutdown = shutdown.clone();
        let task = connections.spawn(async move {
            connection.serve(stream, shutdown).await;
            drop(slot);
            drop(open);
        });
        self.table.attach(id, task);
    }
}

/// `socket.send.buffer.bytes` and `socket.receive.buffer.bytes`; `None` keeps the kernel's
/// autotuned buffer.
#[derive(Clone, Copy, Debug)]
struct SocketBuffers {
    send: Option<usize>,
    receive: Option<usize>,
}

/// No Nagle delay on responses; the configured SO_SNDBUF and SO_RCVBUF, as Kafka sets them on
/// accepted sockets. A fixed send buffer stops the kernel's autotuning, which on loopback let a
/// fetch's `sendfile` run megabytes ahead of the reader and cost the broker 27–35% more CPU per
/// GiB served (docs/benchmarks.md). Failures are logged, not fatal: the connection works with
/// the kernel's defaults.
fn configure_socket(stream: &TcpStream, buffers: SocketBuffers, peer: SocketAddr) {
    if let Err(err) = stream.set_nodelay(true) {
        debug!(%peer, "TCP_NODELAY: {err}");
    }
    let socket = socket2::SockRef::from(stream);
    if let Some(bytes) = buffers.send
        && let Err(err) = socket.set_send_buffer_size(bytes)
    {
        debug!(%peer, bytes, "SO_SNDBUF: {err}");
    }
    if let Some(bytes) = buffers.receive
        && let Err(err) = socket.set_recv_buffer_size(bytes)
    {
        debug!(%peer, bytes, "SO_RCVBUF: {err}");
    }
}

/// Request memory taken from the pool; given back when dropped. Taken in steps of at most
/// [`REQUEST_MEMORY_STEP_BYTES`], so a wait cancelled half-way keeps (and later returns) exactly
/// the steps it got.
struct MemoryReservation {
    pool: Arc<Semaphore>,
    bytes: usize,
}

impl MemoryReservation {
    fn new(pool: Arc<Semaphore>) -> MemoryReservation {
        MemoryReservation { pool, bytes: 0 }
    }

    /// Takes `bytes` more, waiting in the pool's FIFO queue for each step.
    async fn grow(&mut self, bytes: usize) -> Result<(), ReadError> {
        let mut remaining = bytes;
        while remaining > 0 {
            let step = remaining.min(REQUEST_MEMORY_STEP_BYTES);
            // A step is at most 1 MiB, so it fits the semaphore's u32.
            let permits = self
                .pool
                .acquire_many(step as u32)
                .await
                .map_err(|_| ReadError::MemoryClosed)?;
            permits.forget();
            self.bytes += step;
            remaining -= step;
        }
        Ok(())
    }

    /// Grows the reservation to `bytes` in all (nothing if it holds that much).
    async fn grow_to(&mut self, bytes: usize) -> Result<(), ReadError> {
        self.grow(bytes.saturating_sub(self.bytes)).await
    }
}

impl Drop for MemoryReservation {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.pool.add_permits(self.bytes);
        }
    }
}

/// A connection's deadlines (see the module docs), checked when its timer fires.
#[derive(Debug)]
struct ConnectionClock {
    accepted_at: Instant,
    first_request_timeout: Duration,
    read_timeout: Duration,
    max_idle: Duration,
    /// Whether a complete request frame has been read.
    proven: bool,
    /// First byte of the frame being read, if one is partly in.
    frame_started_at: Option<Instant>,
    /// Last frame read whole, or last sign of a request in progress.
    active_at: Instant,
    /// Responses the writer had finished at the last check.
    responses_seen: u64,
}

/// Longest deadline honoured; a larger setting counts as this. An `Instant` plus a settable
/// maximum (292 million years of milliseconds) would overflow, and panic.
const LONGEST_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

fn deadline_setting(milliseconds: u64) -> Duration {
    Duration::from_millis(milliseconds).min(LONGEST_DEADLINE)
}

impl ConnectionClock {
    fn new(config: &crate::BrokerConfig, accepted_at: Instant) -> ConnectionClock {
        ConnectionClock {
            accepted_at,
            first_request_timeout: deadline_setting(config.connections_first_request_timeout_ms),
            read_timeout: deadline_setting(config.socket_request_read_timeout_ms),
            max_idle: deadline_setting(config.connections_max_idle_ms),
            proven: false,
            frame_started_at: None,
            active_at: accepted_at,
            responses_seen: 0,
        }
    }

    /// When the timer should first fire.
    fn first_check(&self) -> Instant {
        self.accepted_at + self.first_request_timeout.min(self.read_timeout)
    }

    /// What is due at `now`, given the requests queued to the writer and the responses it has
    /// finished: the reason to close, or when to check next. The next check is never more than
    /// `read_timeout` away while no frame is in progress, so a frame that starts later is still
    /// checked in time (the check then moves to its exact deadline).
    fn check(
        &mut self,
        now: Instant,
        requests_queued: u64,
        responses_done: u64,
    ) -> Result<Instant, CloseReason> {
        let mut next = now + self.read_timeout;
        if !self.proven {
            let deadline = self.accepted_at + self.first_request_timeout;
            if now >= deadline {
                return Err(CloseReason::FirstRequestTimeout);
            }
            next = next.min(deadline);
        }
        if let Some(started_at) = self.frame_started_at {
            let deadline = started_at + self.read_timeout;
            if now >= deadline {
                return Err(CloseReason::RequestReadTimeout);
            }
            return Ok(next.min(deadline));
        }
        if self.proven {
            // A request in progress, or a response sent since the last check, is activity: the
            // client waits on the broker, not the other way round.
            if requests_queued != responses_done || responses_done != self.responses_seen {
                self.responses_seen = responses_done;
                self.active_at = now;
            }
            let deadline = self.active_at + self.max_idle;
            if now >= deadline {
                return Err(CloseReason::Idle);
            }
            next = next.min(deadline);
        }
        Ok(next)
    }
}

/// Everything a reader waits on besides its socket: the connection's deadlines, its timer, and
/// shutdown.
struct Waits {
    clock: ConnectionClock,
    timer: Pin<Box<Sleep>>,
    shutdown: watch::Receiver<bool>,
    requests_queued: u64,
    responses_done: Arc<AtomicU64>,
}

/// How a wait ended.
enum Waited<T> {
    Done(T),
    Shutdown,
}

impl Waits {
    /// Runs `work` (a read, or a wait for memory) until it finishes or a deadline passes, or,
    /// `between_frames`, until shutdown begins. A frame once started is read whole (or until its
    /// deadline), as before shutdown was watched at all: and so a read inside a frame registers
    /// with no waiter list, only polls the connection's timer.
    async fn run<F: Future>(
        &mut self,
        work: F,
        between_frames: bool,
    ) -> Result<Waited<F::Output>, ReadError> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                output = &mut work => return Ok(Waited::Done(output)),
                _ = self.shutdown.changed(), if between_frames => return Ok(Waited::Shutdown),
                _ = self.timer.as_mut() => {
                    let done = self.responses_done.load(Ordering::Relaxed);
                    let next = self
                        .clock
                        .check(Instant::now(), self.requests_queued, done)
                        .map_err(ReadError::Deadline)?;
                    self.timer.as_mut().reset(next.into());
                }
            }
        }
    }

    /// A frame has started arriving (its first bytes are buffered).
    fn frame_started(&mut self) {
        if self.clock.frame_started_at.is_none() {
            self.clock.frame_started_at = Some(Instant::now());
        }
    }
}

/// Reads one connection's frames, holding request memory as described in the module docs.
struct FrameReader {
    stream: OwnedReadHalf,
    /// Bytes read and not yet taken as a frame: a frame up to the allowance, the prefix of a
    /// larger one, and whatever of the next frames came with them.
    buf: BytesMut,
    waits: Waits,
    max_request_bytes: usize,
    pool: Arc<Semaphore>,
    table: Arc<ConnectionTable>,
    id: ConnectionId,
    peer: SocketAddr,
}

impl FrameReader {
    /// Reads `buf` further; `Ok(false)` at end of stream, or at shutdown `between_frames`.
    async fn fill_buf(&mut self, between_frames: bool) -> Result<bool, ReadError> {
        let read = self.stream.read_buf(&mut self.buf);
        match self.waits.run(read, between_frames).await? {
            Waited::Shutdown | Waited::Done(Ok(0)) => Ok(false),
            Waited::Done(Ok(_)) => Ok(true),
            Waited::Done(Err(source)) => Err(ReadError::Io {
                peer: self.peer,
                source,
            }),
        }
    }

    /// The next frame and the request memory it holds, or `None` at end of stream or shutdown.
    async fn next_frame(&mut self) -> Result<Option<(Bytes, MemoryReservation)>, ReadError> {
        let length = loop {
            let prefix = body_length(&self.buf, self.max_request_bytes);
            match prefix.map_err(|source| ReadError::Frame {
                peer: self.peer,
                source,
            })? {
                Some(length) => break length,
                None if self.buf.is_empty() => {}
                None => self.waits.frame_started(),
            }
            if !self.fill_buf(true).await? {
                return Ok(None);
            }
        };
        let frame_end = LENGTH_PREFIX_BYTES + length;
        if frame_end > LENGTH_PREFIX_BYTES + REQUEST_ALLOWANCE_BYTES && self.buf.len() < frame_end {
            return self.read_large_frame(length).await;
        }
        if self.buf.len() < frame_end {
            self.waits.frame_started();
            self.buf.reserve(frame_end - self.buf.len());
            while self.buf.len() < frame_end {
                if !self.fill_buf(false).await? {
                    return Err(self.truncated(self.buf.len() - LENGTH_PREFIX_BYTES, length));
                }
            }
        }
        self.frame_complete();
        let mut memory = MemoryReservation::new(self.pool.clone());
        memory.grow(length).await?;
        self.buf.advance(LENGTH_PREFIX_BYTES);
        Ok(Some((self.buf.split_to(length).freeze(), memory)))
    }

    /// Reads a frame longer than the allowance into a buffer of its own, taking memory from the
    /// pool as the bytes arrive ([`growth_target_bytes`]) and reading no further than it holds.
    ///
    /// The buffer is allocated at the frame's length at once but only as address space: the
    /// allocator maps a large buffer with `mmap` and the kernel backs a page only when a read
    /// writes it (reads fill uninitialised capacity, nothing is zeroed), so resident memory
    /// follows the bytes received, as the pool's count does, and the bytes are never copied
    /// again. (Growing a buffer by doubling instead copied ~0.8 MiB per 1 MiB produce request.)
    async fn read_large_frame(
        &mut self,
        length: usize,
    ) -> Result<Option<(Bytes, MemoryReservation)>, ReadError> {
        self.waits.frame_started();
        self.buf.advance(LENGTH_PREFIX_BYTES);
        let mut memory = MemoryReservation::new(self.pool.clone());
        let mut body: Vec<u8> = Vec::with_capacity(length);
        body.extend_from_slice(&self.buf);
        self.buf.clear();
        let mut filled = body.len();
        // Bytes of the frame the allowance and the pool cover so far.
        let mut covered = REQUEST_ALLOWANCE_BYTES.min(length);
        while filled < length {
            if filled >= covered {
                let target = growth_target_bytes(filled, self.kernel_queued_bytes(), length);
                // Memory first, then the bytes it pays for.
                let grow = memory.grow_to(target.saturating_sub(REQUEST_ALLOWANCE_BYTES));
                if let Waited::Shutdown = self.waits.run(grow, false).await? {
                    return Ok(None);
                }
                covered = target;
            }
            let mut room = (&mut body).limit(covered - filled);
            match self
                .waits
                .run(self.stream.read_buf(&mut room), false)
                .await?
            {
                Waited::Shutdown => return Ok(None),
                Waited::Done(Ok(0)) => return Err(self.truncated(filled, length)),
                Waited::Done(Ok(read)) => filled += read,
                Waited::Done(Err(source)) => {
                    return Err(ReadError::Io {
                        peer: self.peer,
                        source,
                    });
                }
            }
        }
        self.frame_complete();
        // The whole frame is in: its memory is its length, allowance included. Not under the
        // read deadline, since the client has done its part.
        memory.grow_to(length).await?;
        Ok(Some((Bytes::from(body), memory)))
    }

    /// Bytes the kernel holds for this socket, not yet read; 0 if it cannot say.
    fn kernel_queued_bytes(&self) -> usize {
        let stream: &TcpStream = self.stream.as_ref();
        rustix::io::ioctl_fionread(stream)
            .ok()
            .and_then(|bytes| usize::try_from(bytes).ok())
            .unwrap_or(0)
    }

    /// The frame's bytes are all in. The first such frame proves the connection, before it may
    /// wait for memory, so that a wait does not make it a candidate for eviction.
    fn frame_complete(&mut self) {
        self.waits.clock.frame_started_at = None;
        if !self.waits.clock.proven {
            self.waits.clock.proven = true;
            self.table.prove(self.id);
        }
    }

    fn truncated(&self, received_bytes: usize, length_bytes: usize) -> ReadError {
        ReadError::Truncated {
            peer: self.peer,
            received_bytes,
            length_bytes,
        }
    }
}

struct Connection {
    broker: Arc<Broker>,
    request_memory: Arc<Semaphore>,
    table: Arc<ConnectionTable>,
    id: ConnectionId,
    peer: SocketAddr,
}

impl Connection {
    async fn serve(self, stream: TcpStream, shutdown: watch::Receiver<bool>) {
        let accepted_at = Instant::now();
        let buffers = SocketBuffers {
            send: self.broker.config.socket_send_buffer_bytes,
            receive: self.broker.config.socket_receive_buffer_bytes,
        };
        configure_socket(&stream, buffers, self.peer);
        let (reader, writer) = stream.into_split();
        let queue_capacity = self.broker.config.queued_max_requests_per_connection;
        let (queue, pending) = mpsc::channel(queue_capacity);
        let responses_done = Arc::new(AtomicU64::new(0));
        let mut writer_task = tokio::spawn(write_responses(
            writer,
            pending,
            self.peer,
            responses_done.clone(),
        ));
        let clock = ConnectionClock::new(&self.broker.config, accepted_at);
        let reader = FrameReader {
            stream: reader,
            buf: BytesMut::with_capacity(8 * 1024),
            waits: Waits {
                timer: Box::pin(tokio::time::sleep_until(clock.first_check().into())),
                clock,
                shutdown,
                requests_queued: 0,
                responses_done,
            },
            max_request_bytes: self.broker.config.socket_request_max_bytes,
            pool: self.request_memory.clone(),
            table: self.table.clone(),
            id: self.id,
            peer: self.peer,
        };
        tokio::select! {
            result = self.read_requests(reader, queue) => {
                match result {
                    Ok(()) => {}
                    Err(ReadError::Deadline(reason)) => {
                        self.table.closed(reason, self.peer, &self.broker.metrics);
                    }
                    Err(error @ ReadError::Frame { .. }) => warn!("{error}; closing connection"),
                    Err(error) => debug!(peer = %self.peer, "closing connection: {error}"),
                }
                let _ = (&mut writer_task).await;
            }
            _ = &mut writer_task => {}
        }
    }

    async fn read_requests(
        &self,
        mut reader: FrameReader,
        queue: mpsc::Sender<oneshot::Receiver<Outgoing>>,
    ) -> Result<(), ReadError> {
        let produce_turn = Arc::new(Mutex::new(()));
        loop {
            let Some((frame, memory)) = reader.next_frame().await? else {
                return Ok(());
            };
            let timer = RequestTimer::start();
            reader.waits.clock.active_at = timer.received_at();
            let (respond, response) = oneshot::channel();
            if queue.send(response).await.is_err() {
                return Err(ReadError::WriterClosed);
            }
            reader.waits.requests_queued += 1;
            let request = match decode_request(frame) {
                Ok(request) => request,
                Err(DecodeError::UnsupportedApiVersionsVersion { correlation_id, .. }) => {
                    let outgoing = match unsupported_api_versions_response(correlation_id) {
                        Ok(bytes) => Outgoing::Frame(EncodedResponse {
                            parts: vec![Part::Memory(bytes)],
                        }),
                        Err(_) => Outgoing::Close,
                    };
                    // Answered with UNSUPPORTED_VERSION: an error.
                    timer.finish(self.broker.metrics.api(ApiKey::ApiVersions), true);
                    let _ = respond.send(outgoing);
                    continue;
                }
                Err(e) => {
                    let api = match &e {
                        DecodeError::UnsupportedVersion { api_key, .. }
                        | DecodeError::Malformed { api_key, .. } => {
                            self.broker.metrics.api(*api_key)
                        }
                        _ => self.broker.metrics.unknown_api(),
                    };
                    timer.finish(api, true);
                    warn!(peer = %self.peer, "{e}; closing connection");
                    let _ = respond.send(Outgoing::Close);
                    return Err(ReadError::Decode {
                        peer: self.peer,
                        source: e,
                    });
                }
            };
            let (turn, waits) = match &request.body {
                Request::Produce(produce) => (
                    Some(produce_turn.clone().lock_owned().await),
                    handlers::produce::waits_for_sync(&self.broker, request.api_version, produce),
                ),
                _ => (None, false),
            };
            let broker = self.broker.clone();
            let peer = self.peer;
            let handling = async move {
                let api_key = request.api_key;
                let api_version = request.api_version;
                let correlation_id = request.correlation_id;
                let mut failed = false;
                let outgoing = match handlers::handle(&broker, request, turn, peer).await {
                    Ok(Some(reply)) => {
                        failed = top_level_error_code(&reply.response) != 0;
                        match encode_response_chain(
                            &reply.response,
                            &reply.file_records,
                            api_version,
                            correlation_id,
                        ) {
                            Ok(frame) => Outgoing::Frame(frame),
                            Err(e) => {
                                warn!(%peer, ?api_key, api_version, "encoding response: {e}");
                                Outgoing::Close
                            }
                        }
                    }
                    Ok(None) => Outgoing::Nothing,
                    Err(e) => {
                        warn!(%peer, ?api_key, api_version, "{e}; closing connection");
                        Outgoing::Close
                    }
                };
                failed |= matches!(outgoing, Outgoing::Close);
                timer.finish(broker.metrics.api(api_key), failed);
                drop(memory);
                let _ = respond.send(outgoing);
            };
            // Most requests finish without waiting (metadata, offsets, a
            // produce to a write-cached topic, a fetch with data ready): run
            // them here, with no task of their own. One that waits (a durable
            // produce, a long-polling fetch, a group join) continues in a task
            // of its own from where it stopped, so it holds up neither this
            // connection's later requests nor its reads.
            if waits {
                tokio::spawn(handling);
                continue;
            }
            let mut handling = Box::pin(handling);
            let first_poll =
                std::future::poll_fn(|cx| Poll::Ready(handling.as_mut().poll(cx))).await;
            if first_poll.is_pending() {
                tokio::spawn(handling);
            }
        }
    }
}

/// Sends the responses in request order, counting in `responses_done` each one finished (the
/// reader's idle check reads it; one relaxed add per response).
async fn write_responses(
    mut writer: OwnedWriteHalf,
    mut pending: mpsc::Receiver<oneshot::Receiver<Outgoing>>,
    peer: SocketAddr,
    responses_done: Arc<AtomicU64>,
) {
    while let Some(response) = pending.recv().await {
        match response.await {
            Ok(Outgoing::Frame(frame)) => {
                if let Err(e) = write_frame(&mut writer, frame.parts).await {
                    debug!(%peer, "write: {e}");
                    break;
                }
            }
            Ok(Outgoing::Nothing) => {}
            Ok(Outgoing::Close) | Err(_) => break,
        }
        responses_done.fetch_add(1, Ordering::Relaxed);
    }
    let _ = writer.shutdown().await;
}

/// Most parts handed to one `writev`.
const MAX_WRITE_PARTS: usize = 64;

/// Writes a frame's parts in order: runs of parts in memory with vectored
/// writes, file parts with `sendfile`.
async fn write_frame(writer: &mut OwnedWriteHalf, parts: Vec<Part>) -> std::io::Result<()> {
    let mut run = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Part::Memory(bytes) => run.push(bytes),
            Part::File(file) => {
                write_all_vectored(writer, &mut run).await?;
                run.clear();
                send_file(writer, &file).await?;
            }
        }
    }
    write_all_vectored(writer, &mut run).await
}

/// Writes `parts` in order, with vectored writes.
async fn write_all_vectored(
    writer: &mut OwnedWriteHalf,
    parts: &mut [Bytes],
) -> std::io::Result<()> {
    if let [only] = parts {
        return writer.write_all(only).await;
    }
    let mut first = 0;
    while first < parts.len() && parts[first].is_empty() {
        first += 1;
    }
    while first < parts.len() {
        let slices: Vec<std::io::IoSlice<'_>> = parts[first..]
            .iter()
            .take(MAX_WRITE_PARTS)
            .map(|part| std::io::IoSlice::new(part))
            .collect();
        let mut written = writer.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 && first < parts.len() {
            let part = &mut parts[first];
            let step = written.min(part.len());
            part.advance(step);
            written -= step;
            if part.is_empty() {
                first += 1;
            }
        }
        while first < parts.len() && parts[first].is_empty() {
            first += 1;
        }
    }
    Ok(())
}

/// Sends a file range with `sendfile(2)`: the kernel moves page-cache pages to
/// the socket; the bytes never enter this process. The fetch handler only
/// hands over ranges that were cached, so this does not wait for the disk.
async fn send_file(writer: &OwnedWriteHalf, part: &FilePart) -> std::io::Result<()> {
    let stream: &TcpStream = writer.as_ref();
    let mut position = part.position;
    let end = part.position + part.len as u64;
    while position < end {
        let count = usize::try_from(end - position).unwrap_or(usize::MAX);
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, &*part.file, Some(&mut position), count)
                .map_err(std::io::Error::from)
        });
        match sent {
            Ok(0) => {
                // Segment files only grow while open; a shorter one was cut
                // by something else. The frame cannot be completed.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("record set file ended at byte {position}, before {end}"),
                ));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A large frame's buffer holds what has arrived or twice what is filled, never past the
    /// frame: a client that announces 100 MiB and sends 4 bytes gets the allowance, not 100 MiB.
    #[test]
    fn a_large_frames_buffer_grows_with_what_has_arrived() {
        let frame = 100 * 1024 * 1024;
        assert_eq!(growth_target_bytes(0, 0, frame), REQUEST_ALLOWANCE_BYTES);
        assert_eq!(growth_target_bytes(1, 3, frame), REQUEST_ALLOWANCE_BYTES);
        let filled = REQUEST_ALLOWANCE_BYTES;
        assert_eq!(growth_target_bytes(filled, 0, frame), 2 * filled);
        assert_eq!(growth_target_bytes(filled, 10 * filled, frame), 11 * filled);
        assert_eq!(growth_target_bytes(frame - 1, 5, frame), frame);
        assert_eq!(growth_target_bytes(0, 0, 70_000), REQUEST_ALLOWANCE_BYTES);
        assert_eq!(growth_target_bytes(40_000, 0, 70_000), 70_000);
    }

    fn clock() -> (ConnectionClock, Instant) {
        let mut config = crate::BrokerConfig::from_map(Default::default()).unwrap();
        config.connections_first_request_timeout_ms = 10_000;
        config.socket_request_read_timeout_ms = 30_000;
        config.connections_max_idle_ms = 600_000;
        let start = Instant::now();
        (ConnectionClock::new(&config, start), start)
    }

    fn at(start: Instant, seconds: u64) -> Instant {
        start + Duration::from_secs(seconds)
    }

    #[test]
    fn a_connection_without_a_request_expires_after_the_first_request_timeout() {
        let (mut clock, start) = clock();
        assert_eq!(clock.first_check(), at(start, 10));
        assert_eq!(clock.check(at(start, 3), 0, 0), Ok(at(start, 10)));
        // A frame partly in does not extend it.
        clock.frame_started_at = Some(at(start, 5));
        assert_eq!(
            clock.check(at(start, 10), 0, 0),
            Err(CloseReason::FirstRequestTimeout)
        );
    }

    #[test]
    fn a_frame_must_arrive_within_the_read_timeout_of_its_first_byte() {
        let (mut clock, start) = clock();
        clock.proven = true;
        // Checked at most a read timeout apart while nothing is in progress, so a frame that
        // starts later is still checked in time.
        assert_eq!(clock.check(at(start, 1), 0, 0), Ok(at(start, 31)));
        clock.frame_started_at = Some(at(start, 20));
        assert_eq!(clock.check(at(start, 31), 0, 0), Ok(at(start, 50)));
        assert_eq!(
            clock.check(at(start, 50), 0, 0),
            Err(CloseReason::RequestReadTimeout)
        );
    }

    #[test]
    fn a_connection_is_idle_only_with_nothing_in_progress_or_sent() {
        let (mut clock, start) = clock();
        clock.proven = true;
        assert_eq!(clock.check(at(start, 599), 0, 0), Ok(at(start, 600)));
        // One request queued and not answered: activity, however long it takes.
        assert_eq!(clock.check(at(start, 600), 1, 0), Ok(at(start, 630)));
        assert_eq!(clock.check(at(start, 5_000), 1, 0), Ok(at(start, 5_030)));
        // Answered since the last check: activity too; then idle from there.
        assert_eq!(clock.check(at(start, 5_100), 1, 1), Ok(at(start, 5_130)));
        assert_eq!(clock.check(at(start, 5_699), 1, 1), Ok(at(start, 5_700)));
        assert_eq!(clock.check(at(start, 5_700), 1, 1), Err(CloseReason::Idle));
    }

    /// The socket buffer settings reach the accepted socket, each on its own; -1 leaves the
    /// kernel's buffer.
    #[tokio::test]
    async fn the_socket_buffer_settings_are_applied_to_accepted_sockets() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut sizes = Vec::new();
        for (send, receive) in [(Some(102_400), Some(81_920)), (None, None)] {
            let _client = TcpStream::connect(addr).await.unwrap();
            let (stream, peer) = listener.accept().await.unwrap();
            configure_socket(&stream, SocketBuffers { send, receive }, peer);
            assert!(stream.nodelay().unwrap());
            let socket = socket2::SockRef::from(&stream);
            sizes.push((
                socket.send_buffer_size().unwrap(),
                socket.recv_buffer_size().unwrap(),
            ));
        }
        // Linux doubles the value for its bookkeeping and reports the doubled size.
        assert_eq!(sizes[0], (2 * 102_400, 2 * 81_920));
        assert_ne!(
            sizes[1].0,
            2 * 102_400,
            "the kernel's default, not the setting"
        );
        assert_ne!(
            sizes[1].1,
            2 * 81_920,
            "the kernel's default, not the setting"
        );
    }

    /// A frame of many parts, in memory and in a file, larger than the socket
    /// buffers, arrives whole and in order although each `writev` and
    /// `sendfile` takes only part of it.
    #[tokio::test]
    async fn a_chained_frame_survives_partial_vectored_writes_and_sendfile() {
        use std::io::Write;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            stream.read_to_end(&mut got).await.unwrap();
            got
        });
        let (stream, _) = listener.accept().await.unwrap();
        let (_reader, mut writer) = stream.into_split();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        let content: Vec<u8> = (0..6_000_000u32).map(|i| (i % 253) as u8).collect();
        file.write_all(&content).unwrap();
        let shared = std::sync::Arc::new(file.reopen().unwrap());
        // Odd sizes, an empty part, more parts than one writev takes, and
        // every fifth part a file range (two of them back to back).
        let mut expected = Vec::new();
        let parts: Vec<Part> = (0..100u32)
            .map(|i| {
                let len = if i == 7 {
                    0
                } else {
                    1 + (i as usize * 7919) % 200_000
                };
                if i % 5 == 0 || i == 21 {
                    let position = (i as usize * 50_000) % (content.len() - len);
                    expected.extend_from_slice(&content[position..][..len]);
                    Part::File(FilePart {
                        file: shared.clone(),
                        position: position as u64,
                        len,
                    })
                } else {
                    let bytes = vec![(i % 251) as u8; len];
                    expected.extend_from_slice(&bytes);
                    Part::Memory(Bytes::from(bytes))
                }
            })
            .collect();
        assert!(
            expected.len() > 8 * 1024 * 1024,
            "must exceed the socket buffers"
        );
        write_frame(&mut writer, parts).await.unwrap();
        writer.shutdown().await.unwrap();
        drop(writer);
        assert!(client.await.unwrap() == expected, "bytes differ");
    }

    /// A file cut shorter than its part fails the write instead of sending a
    /// short frame the client would misread.
    #[tokio::test]
    async fn a_file_part_past_the_end_of_its_file_fails_the_write() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let mut got = Vec::new();
            let _ = stream.read_to_end(&mut got).await;
        });
        let (stream, _) = listener.accept().await.unwrap();
        let (_reader, mut writer) = stream.into_split();
        let file = tempfile::tempfile().unwrap();
        file.set_len(1000).unwrap();
        let part = Part::File(FilePart {
            file: std::sync::Arc::new(file),
            position: 500,
            len: 1000,
        });
        let error = write_frame(&mut writer, vec![part]).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
        drop(writer);
        client.await.unwrap();
    }
}
