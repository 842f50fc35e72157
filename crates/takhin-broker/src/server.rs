//! The Kafka listener: accepts connections and runs each one's pipeline.
//!
//! Per connection, a reader task reads frames, decodes them, and runs each
//! request's handler until it finishes or first waits; one that waits goes on
//! in a task of its own. A writer task sends the responses in request order. Between the two sits a bounded queue of pending responses
//! (`queued.max.requests.per.connection`): when it is full the reader stops
//! reading, so a client that pipelines faster than the broker answers is
//! slowed by TCP back-pressure, not buffered without bound. Request bytes held
//! by all connections together are bounded by [`QUEUED_MAX_REQUEST_BYTES`].
//!
//! Produce requests of one connection append in the order they arrived (an
//! idempotent producer with several requests in flight depends on it): the
//! reader takes the connection's produce turn before starting the handler,
//! and the handler gives it back once its batches are appended, before it
//! waits for them to be durable.
//!
//! Each request is counted and timed for its API ([`crate::metrics`]) from its
//! last byte read to its response ready (or the connection closed), and so is
//! each connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use takhin_protocol::frame::{LENGTH_PREFIX_BYTES, body_length};
use takhin_protocol::response::unsupported_api_versions_response;
use takhin_protocol::{
    DecodeError, EncodedResponse, FilePart, Part, Request, decode_request, encode_response_chain,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::broker::Broker;
use crate::handlers;
use crate::metrics::{RequestTimer, top_level_error_code};

/// Request bytes all connections together may hold while their requests are
/// read but not yet answered (Kafka's `queued.max.request.bytes`).
pub const QUEUED_MAX_REQUEST_BYTES: usize = 512 * 1024 * 1024;

/// What the writer does for one request, in order.
pub enum Outgoing {
    Frame(EncodedResponse),
    /// acks=0 produce: nothing is sent.
    Nothing,
    /// The request broke the protocol: close after earlier responses.
    Close,
}

pub struct Server {
    broker: Arc<Broker>,
    listener: TcpListener,
    request_memory: Arc<Semaphore>,
    connections: Arc<Semaphore>,
}

impl Server {
    /// Serves `broker` on a listener bound beforehand (see [`crate::run`]).
    pub fn new(broker: Arc<Broker>, listener: TcpListener) -> Server {
        let connections = Arc::new(Semaphore::new(broker.config.max_connections));
        Server {
            broker,
            listener,
            request_memory: Arc::new(Semaphore::new(QUEUED_MAX_REQUEST_BYTES)),
            connections,
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` turns true, then stops accepting, lets every
    /// connection finish the requests it has read, and returns.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            warn!("accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = self.connections.clone().try_acquire_owned() else {
                        self.broker.metrics.connection_rejected();
                        warn!(%peer, max = self.broker.config.max_connections, "max.connections reached; closing new connection");
                        continue;
                    };
                    let open = self.broker.metrics.connection_opened();
                    let connection = Connection {
                        broker: self.broker.clone(),
                        request_memory: self.request_memory.clone(),
                        peer,
                    };
                    let shutdown = shutdown.clone();
                    connections.spawn(async move {
                        connection.serve(stream, shutdown).await;
                        drop(permit);
                        drop(open);
                    });
                    while connections.try_join_next().is_some() {}
                }
            }
        }
        info!(
            connections = connections.len(),
            "listener closed; finishing in-flight requests"
        );
        while connections.join_next().await.is_some() {}
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

struct Connection {
    broker: Arc<Broker>,
    request_memory: Arc<Semaphore>,
    peer: SocketAddr,
}

impl Connection {
    async fn serve(self, stream: TcpStream, mut shutdown: watch::Receiver<bool>) {
        let buffers = SocketBuffers {
            send: self.broker.config.socket_send_buffer_bytes,
            receive: self.broker.config.socket_receive_buffer_bytes,
        };
        configure_socket(&stream, buffers, self.peer);
        let (reader, writer) = stream.into_split();
        let queue_capacity = self.broker.config.queued_max_requests_per_connection;
        let (queue, pending) = mpsc::channel(queue_capacity);
        let mut writer_task = tokio::spawn(write_responses(writer, pending, self.peer));
        tokio::select! {
            result = self.read_requests(reader, queue, &mut shutdown) => {
                if let Err(reason) = result {
                    debug!(peer = %self.peer, "closing connection: {reason}");
                }
                let _ = (&mut writer_task).await;
            }
            _ = &mut writer_task => {}
        }
    }

    async fn read_requests(
        &self,
        mut reader: OwnedReadHalf,
        queue: mpsc::Sender<oneshot::Receiver<Outgoing>>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let max_bytes = self.broker.config.socket_request_max_bytes;
        let produce_turn = Arc::new(Mutex::new(()));
        let mut buf = BytesMut::with_capacity(8 * 1024);
        loop {
            let length = loop {
                match body_length(&buf, max_bytes) {
                    Ok(Some(length)) => break length,
                    Ok(None) => {}
                    Err(e) => {
                        warn!(peer = %self.peer, "{e}; closing connection");
                        return Err(e.to_string());
                    }
                }
                tokio::select! {
                    _ = shutdown.changed() => return Ok(()),
                    read = reader.read_buf(&mut buf) => match read {
                        Ok(0) => return Ok(()),
                        Ok(_) => {}
                        Err(e) => return Err(format!("read: {e}")),
                    }
                }
            };
            // Hold request memory for the frame until its response is built.
            let memory_permits = length.min(QUEUED_MAX_REQUEST_BYTES) as u32;
            let memory = self
                .request_memory
                .clone()
                .acquire_many_owned(memory_permits)
                .await
                .map_err(|_| "request memory closed".to_string())?;
            let frame_end = LENGTH_PREFIX_BYTES + length;
            if buf.capacity() < frame_end {
                buf.reserve(frame_end - buf.len());
            }
            while buf.len() < frame_end {
                match reader.read_buf(&mut buf).await {
                    Ok(0) => return Err("truncated frame at end of stream".into()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read: {e}")),
                }
            }
            buf.advance(LENGTH_PREFIX_BYTES);
            let frame = buf.split_to(length).freeze();
            let timer = RequestTimer::start();
            let (respond, response) = oneshot::channel();
            if queue.send(response).await.is_err() {
                return Err("writer closed".into());
            }
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
                    return Err(e.to_string());
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

async fn write_responses(
    mut writer: OwnedWriteHalf,
    mut pending: mpsc::Receiver<oneshot::Receiver<Outgoing>>,
    peer: SocketAddr,
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
