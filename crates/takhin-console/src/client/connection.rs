//! One TCP connection to one broker, shared by many concurrent requests.
//!
//! Requests are pipelined: a writer task sends frames in the order callers
//! submit them, a reader task matches each response to its request by
//! correlation id. A caller waits for its own response only, with a timeout;
//! when the connection fails every waiting caller gets the error and the
//! connection is marked closed so the pool opens a new one.
//!
//! Versions are negotiated once per connection with ApiVersions (v3, then v0
//! if the broker refuses it, as KIP-511 describes), and each request is sent
//! at the highest version both sides know.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Message, Request, StrBytes};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};

use super::ClientError;

/// The largest response frame accepted. Fetches ask for far less; anything
/// bigger is a broken or hostile peer.
pub const RESPONSE_BYTES_MAX: usize = 128 * 1024 * 1024;

/// Requests queued for the writer of one connection before callers wait.
const WRITE_QUEUE_LENGTH: usize = 256;

/// The client id the console sends, visible in broker logs and quotas.
pub const CLIENT_ID: &str = "takhin-console";

type Pending = Arc<Mutex<HashMap<i32, PendingRequest>>>;

struct PendingRequest {
    reply: oneshot::Sender<Result<Bytes, ClientError>>,
}

struct Outgoing {
    frame: Bytes,
}

/// A connection with negotiated API versions.
pub struct Connection {
    address: String,
    outgoing: mpsc::Sender<Outgoing>,
    pending: Pending,
    next_correlation_id: AtomicI32,
    closed: Arc<AtomicBool>,
    /// Highest version the broker serves, per API key.
    versions: HashMap<i16, (i16, i16)>,
    request_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects to `address` (host:port) and negotiates versions.
    pub async fn connect(
        address: &str,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Connection, ClientError> {
        let stream = tokio::time::timeout(connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| ClientError::Timeout(format!("connecting to {address}")))?
            .map_err(|source| ClientError::Connect {
                address: address.to_string(),
                source,
            })?;
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        let pending: Pending = Arc::default();
        let closed = Arc::new(AtomicBool::new(false));
        let (outgoing, receiver) = mpsc::channel(WRITE_QUEUE_LENGTH);
        tokio::spawn(write_loop(
            write_half,
            receiver,
            pending.clone(),
            closed.clone(),
        ));
        tokio::spawn(read_loop(
            read_half,
            pending.clone(),
            closed.clone(),
            address.to_string(),
        ));
        let mut connection = Connection {
            address: address.to_string(),
            outgoing,
            pending,
            next_correlation_id: AtomicI32::new(1),
            closed,
            versions: HashMap::new(),
            request_timeout,
        };
        connection.versions = connection.negotiate_versions().await?;
        Ok(connection)
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The broker's version range for `api_key`, if it serves the API.
    pub fn broker_versions(&self, api_key: ApiKey) -> Option<(i16, i16)> {
        self.versions.get(&(api_key as i16)).copied()
    }

    /// All of the broker's API ranges, as ApiVersions reported them.
    pub fn all_broker_versions(&self) -> Vec<(i16, i16, i16)> {
        let mut all: Vec<_> = self
            .versions
            .iter()
            .map(|(key, (min, max))| (*key, *min, *max))
            .collect();
        all.sort_unstable();
        all
    }

    /// The version to send `R` at: the highest both sides know.
    pub fn version_for<R: Request>(&self) -> Result<i16, ClientError> {
        let api_key = ApiKey::try_from(R::KEY).map_err(|_| ClientError::UnsupportedApi(R::KEY))?;
        let (broker_min, broker_max) = self
            .broker_versions(api_key)
            .ok_or(ClientError::UnsupportedApi(R::KEY))?;
        let ours = <R as Message>::VERSIONS;
        let version = broker_max.min(ours.max);
        if version < broker_min.max(ours.min) {
            return Err(ClientError::UnsupportedApi(R::KEY));
        }
        Ok(version)
    }

    /// Sends `request` at the negotiated version and waits for its response.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response, ClientError> {
        let version = self.version_for::<R>()?;
        self.send_at(request, version, self.request_timeout).await
    }

    /// Sends `request` at the negotiated version, allowing `extra` beyond the
    /// request timeout (a long-polling fetch waits on the broker).
    pub async fn send_with_extra_time<R: Request>(
        &self,
        request: &R,
        extra: Duration,
    ) -> Result<(R::Response, i16), ClientError> {
        let version = self.version_for::<R>()?;
        let response = self
            .send_at(request, version, self.request_timeout + extra)
            .await?;
        Ok((response, version))
    }

    /// Sends `request` at `version`.
    pub async fn send_at<R: Request>(
        &self,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, ClientError> {
        let api_key = R::KEY;
        let correlation_id = self.next_correlation_id.fetch_add(1, Ordering::Relaxed);
        let mut buf = BytesMut::with_capacity(128);
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(api_key)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)))
            .encode(&mut buf, R::header_version(version))
            .map_err(|e| ClientError::Encode(e.to_string()))?;
        request
            .encode(&mut buf, version)
            .map_err(|e| ClientError::Encode(e.to_string()))?;
        let length = i32::try_from(buf.len() - 4)
            .map_err(|_| ClientError::Encode("request larger than 2 GiB".to_string()))?;
        buf[..4].copy_from_slice(&length.to_be_bytes());

        let (reply, response) = oneshot::channel();
        self.pending
            .lock()
            .insert(correlation_id, PendingRequest { reply });
        // Checked after registering: a reader that failed before the insert
        // would otherwise leave this request waiting for its timeout.
        if self.is_closed() {
            self.pending.lock().remove(&correlation_id);
            return Err(ClientError::Closed(self.address.clone()));
        }
        let sent = self
            .outgoing
            .send(Outgoing {
                frame: buf.freeze(),
            })
            .await;
        if sent.is_err() {
            self.pending.lock().remove(&correlation_id);
            return Err(ClientError::Closed(self.address.clone()));
        }
        let body = match tokio::time::timeout(timeout, response).await {
            Ok(Ok(result)) => result?,
            // The request may have reached the broker: not a plain "closed".
            Ok(Err(_)) => {
                return Err(ClientError::Io(format!(
                    "{}: connection lost awaiting the response",
                    self.address
                )));
            }
            Err(_) => {
                self.pending.lock().remove(&correlation_id);
                return Err(ClientError::Timeout(format!(
                    "{:?} v{version} to {}",
                    ApiKey::try_from(api_key).unwrap_or(ApiKey::ApiVersions),
                    self.address
                )));
            }
        };
        decode_response::<R>(body, version)
    }

    async fn negotiate_versions(&self) -> Result<HashMap<i16, (i16, i16)>, ClientError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let mut response = self.send_at(&request, 3, self.request_timeout).await?;
        if response.error_code == ResponseError::UnsupportedVersion.code() {
            response = self
                .send_at(&ApiVersionsRequest::default(), 0, self.request_timeout)
                .await?;
        }
        if response.error_code != 0 {
            return Err(ClientError::kafka(response.error_code, "ApiVersions"));
        }
        Ok(versions_map(&response))
    }
}

fn versions_map(response: &ApiVersionsResponse) -> HashMap<i16, (i16, i16)> {
    response
        .api_keys
        .iter()
        .map(|api| (api.api_key, (api.min_version, api.max_version)))
        .collect()
}

/// Decodes a response body (correlation id already read) for `R` at `version`.
fn decode_response<R: Request>(mut body: Bytes, version: i16) -> Result<R::Response, ClientError> {
    // ApiVersions responses always carry a v0 header (KIP-511).
    let header_version = if R::KEY == ApiKey::ApiVersions as i16 {
        0
    } else {
        <R::Response as HeaderVersion>::header_version(version)
    };
    if header_version >= 1 {
        // The flexible response header ends with tagged fields.
        skip_tagged_fields(&mut body)?;
    }
    R::Response::decode(&mut body, version).map_err(|e| ClientError::Decode(e.to_string()))
}

fn skip_tagged_fields(body: &mut Bytes) -> Result<(), ClientError> {
    let count = read_unsigned_varint(body)?;
    for _ in 0..count {
        let _tag = read_unsigned_varint(body)?;
        let size = read_unsigned_varint(body)? as usize;
        if size > body.remaining() {
            return Err(ClientError::Decode(
                "tagged field longer than the response".to_string(),
            ));
        }
        body.advance(size);
    }
    Ok(())
}

fn read_unsigned_varint(body: &mut Bytes) -> Result<u32, ClientError> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        if !body.has_remaining() {
            return Err(ClientError::Decode("truncated varint".to_string()));
        }
        let byte = body.get_u8();
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ClientError::Decode(
        "varint longer than 5 bytes".to_string(),
    ))
}

async fn write_loop(
    mut stream: OwnedWriteHalf,
    mut requests: mpsc::Receiver<Outgoing>,
    pending: Pending,
    closed: Arc<AtomicBool>,
) {
    while let Some(outgoing) = requests.recv().await {
        if let Err(error) = stream.write_all(&outgoing.frame).await {
            fail_all(&pending, &closed, &format!("write failed: {error}"));
            return;
        }
    }
    let _ = stream.shutdown().await;
}

async fn read_loop(
    mut stream: OwnedReadHalf,
    pending: Pending,
    closed: Arc<AtomicBool>,
    address: String,
) {
    loop {
        let length = match stream.read_i32().await {
            Ok(length) => length,
            Err(error) => {
                fail_all(&pending, &closed, &format!("{address}: {error}"));
                return;
            }
        };
        let length = match usize::try_from(length) {
            Ok(length) if (4..=RESPONSE_BYTES_MAX).contains(&length) => length,
            _ => {
                fail_all(
                    &pending,
                    &closed,
                    &format!("{address}: response frame of {length} bytes"),
                );
                return;
            }
        };
        let mut frame = vec![0u8; length];
        if let Err(error) = stream.read_exact(&mut frame).await {
            fail_all(&pending, &closed, &format!("{address}: {error}"));
            return;
        }
        let mut frame = Bytes::from(frame);
        let correlation_id = frame.get_i32();
        let waiting = pending.lock().remove(&correlation_id);
        match waiting {
            Some(request) => {
                let _ = request.reply.send(Ok(frame));
            }
            None => {
                // A caller that timed out; its late response is dropped.
                tracing::debug!(%address, correlation_id, "response for no waiting request");
            }
        }
    }
}

fn fail_all(pending: &Pending, closed: &AtomicBool, reason: &str) {
    closed.store(true, Ordering::Release);
    let waiting: Vec<_> = pending.lock().drain().collect();
    for (_, request) in waiting {
        let _ = request.reply.send(Err(ClientError::Io(reason.to_string())));
    }
}
