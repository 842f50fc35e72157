//! Connection limits against a real broker in-process: clients that announce frames and send
//! nothing, floods of idle sockets, per-IP limits and the idle deadlines. Each attack runs while
//! a normal client produces and fetches; every wait is bounded (a broker that stops serving fails
//! the test instead of hanging it) and nothing is timed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use kafka_protocol::messages::*;
use takhin_storage::{Compression, Record};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

mod common;
use common::*;

/// Longest a request of the normal client may take before the broker counts as stopped.
const SERVED_WITHIN: Duration = Duration::from_secs(20);

/// The value of one series in the broker's metrics, e.g.
/// `takhin_kafka_connections_dropped_total{reason="idle"}`.
fn metric(broker: &TestBroker, series: &str) -> f64 {
    let text = broker.broker.metrics.render(&broker.broker);
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in the metrics:\n{text}"))
}

fn dropped(broker: &TestBroker, reason: &str) -> f64 {
    metric(
        broker,
        &format!("takhin_kafka_connections_dropped_total{{reason=\"{reason}\"}}"),
    )
}

fn rejected(broker: &TestBroker, reason: &str) -> f64 {
    metric(
        broker,
        &format!("takhin_kafka_connections_rejected_total{{reason=\"{reason}\"}}"),
    )
}

/// Sleeps in small steps until `condition` holds; panics with `what` after 30 s.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1_500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

/// Produces `count` records of `value_bytes` each (acks=all) and fetches them back, each
/// request bounded by [`SERVED_WITHIN`].
async fn produce_and_fetch(client: &mut Client, topic: &str, count: usize, value_bytes: usize) {
    let batch_records: Vec<Record> = records(count, 1_700_000_000_000)
        .into_iter()
        .map(|mut record| {
            record.value = Some(vec![b'v'; value_bytes].into());
            record
        })
        .collect();
    let request = produce_request(topic, 0, batch(&batch_records, Compression::None, None), -1);
    let response = tokio::time::timeout(SERVED_WITHIN, client.call(9, &request))
        .await
        .expect("produce not answered: the broker stopped serving");
    let partition = produced(&response);
    assert_eq!(partition.error_code, 0, "{:?}", partition.error_message);
    let fetch = fetch_request(topic, partition.base_offset, 0);
    let response = tokio::time::timeout(SERVED_WITHIN, client.call(12, &fetch))
        .await
        .expect("fetch not answered: the broker stopped serving");
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, 0);
    let fetched = decode_all(data.records.clone().unwrap());
    assert_eq!(fetched.len(), count);
    assert_eq!(fetched[0].offset, partition.base_offset);
    assert_eq!(
        fetched[0].value.as_ref().map(|v| v.len()),
        Some(value_bytes)
    );
}

async fn api_versions_answered(client: &mut Client) {
    let response = tokio::time::timeout(
        SERVED_WITHIN,
        client.call(3, &ApiVersionsRequest::default()),
    )
    .await
    .expect("ApiVersions not answered");
    assert_eq!(response.error_code, 0);
}

async fn connect_from(local_ip: &str, broker: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(local_ip.parse().unwrap(), 0))
        .unwrap();
    socket.connect(broker).await.unwrap()
}

/// Eight connections announce 100 MiB frames (800 MiB, past the 512 MiB request memory) and send
/// nothing more. They hold no request memory, so a normal client's produce and fetch, small and
/// large (a 3 MiB frame, read in steps), are served before, during and after; the eight are
/// closed once `socket.request.read.timeout.ms` passes. Before the fix, the sixth prefix waited
/// for memory the first five held and every later request queued behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_length_prefixes_hold_no_memory_and_are_closed_at_their_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        &[
            ("socket.request.read.timeout.ms", "1500"),
            ("message.max.bytes", "8388608"),
        ],
    )
    .await;
    let mut client = Client::connect(broker.addr).await;
    produce_and_fetch(&mut client, "stalled", 3, 10).await;

    let mut stalled = Vec::new();
    for _ in 0..8 {
        let mut attacker = Client::connect(broker.addr).await;
        attacker
            .write_raw(&(100 * 1024 * 1024i32).to_be_bytes())
            .await;
        stalled.push(attacker);
    }
    // Let the broker read every prefix before the normal client asks again (not a timing
    // assertion: with the old code the broker is stuck however long this is).
    tokio::time::sleep(Duration::from_millis(200)).await;
    produce_and_fetch(&mut client, "stalled", 3, 10).await;
    produce_and_fetch(&mut client, "stalled", 3, 1024 * 1024).await;

    for attacker in &mut stalled {
        assert!(attacker.closed().await, "a stalled connection stayed open");
    }
    eventually("eight request_read_timeout drops counted", || {
        dropped(&broker, "request_read_timeout") == 8.0
    })
    .await;
    produce_and_fetch(&mut client, "stalled", 3, 10).await;
    broker.stop().await;
}

/// Connections that send part of a large frame and stop hold the memory they were given until
/// their deadline; then it is returned. With a pool of twice the largest frame, five such
/// connections exhaust it; the normal client is served once they are closed, and again after,
/// which it would not be if their memory were lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_stalled_half_way_return_their_memory_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let frame_bytes = 4 * 1024 * 1024;
    let broker = start(
        dir.path(),
        &[
            ("socket.request.read.timeout.ms", "1500"),
            ("socket.request.max.bytes", &frame_bytes.to_string()),
            ("queued.max.request.bytes", &(2 * frame_bytes).to_string()),
            ("message.max.bytes", "8388608"),
        ],
    )
    .await;
    let mut client = Client::connect(broker.addr).await;
    produce_and_fetch(&mut client, "half-way", 3, 10).await;
    let mut stalled = Vec::new();
    for _ in 0..5 {
        let mut attacker = Client::connect(broker.addr).await;
        attacker
            .write_raw(&(frame_bytes as i32).to_be_bytes())
            .await;
        // Once the pool is exhausted the broker stops reading, and this write waits until the
        // connection is closed at its deadline (then it fails, which is the point).
        let _ = attacker.stream.write_all(&vec![0u8; frame_bytes / 2]).await;
        stalled.push(attacker);
    }
    for attacker in &mut stalled {
        assert!(attacker.closed().await, "a stalled connection stayed open");
    }
    eventually("five request_read_timeout drops counted", || {
        dropped(&broker, "request_read_timeout") == 5.0
    })
    .await;
    for _ in 0..2 {
        produce_and_fetch(&mut client, "half-way", 2, 1024 * 1024).await;
    }
    broker.stop().await;
}

/// `max.connections` idle sockets that never send a request do not lock a new client out: the
/// oldest of them is closed to make room, and the new client's ApiVersions, Metadata and produce
/// are answered. A client that has completed a request is never the one closed. Before the fix
/// the new client was accepted and closed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_sockets_does_not_lock_out_a_new_client() {
    let dir = tempfile::tempdir().unwrap();
    let max_connections = 150;
    let broker = start(
        dir.path(),
        &[("max.connections", &max_connections.to_string())],
    )
    .await;
    let mut worker = Client::connect(broker.addr).await;
    api_versions_answered(&mut worker).await;
    let mut idle = Vec::new();
    for _ in 1..max_connections {
        idle.push(Client::connect(broker.addr).await);
    }
    eventually("the broker holds max.connections connections", || {
        metric(&broker, "takhin_kafka_connections") == max_connections as f64
    })
    .await;

    let mut newcomer = Client::connect(broker.addr).await;
    api_versions_answered(&mut newcomer).await;
    let metadata = tokio::time::timeout(
        SERVED_WITHIN,
        newcomer.call(12, &MetadataRequest::default().with_topics(None)),
    )
    .await
    .expect("Metadata not answered");
    assert_eq!(metadata.brokers.len(), 1);
    produce_and_fetch(&mut newcomer, "flooded", 3, 10).await;
    assert!(idle[0].closed().await, "the oldest idle socket stayed open");
    eventually("one eviction counted", || {
        dropped(&broker, "evicted") == 1.0
    })
    .await;
    assert_eq!(rejected(&broker, "max_connections"), 0.0);
    produce_and_fetch(&mut worker, "flooded", 3, 10).await;

    // Every connection has now completed a request but the idle ones: a second newcomer
    // evicts the next oldest idle socket, not the worker or the first newcomer.
    let mut second = Client::connect(broker.addr).await;
    api_versions_answered(&mut second).await;
    assert!(
        idle[1].closed().await,
        "the next oldest idle socket stayed open"
    );
    api_versions_answered(&mut worker).await;
    api_versions_answered(&mut newcomer).await;
    broker.stop().await;
}

/// When every connection has completed a request, a newcomer beyond `max.connections` is
/// refused (accepted and closed at once) and counted.
#[tokio::test]
async fn a_broker_full_of_working_clients_refuses_newcomers() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("max.connections", "3")]).await;
    let mut working = Vec::new();
    for _ in 0..3 {
        let mut client = Client::connect(broker.addr).await;
        api_versions_answered(&mut client).await;
        working.push(client);
    }
    let mut refused = Client::connect(broker.addr).await;
    assert!(refused.closed().await, "a fourth connection was served");
    assert_eq!(rejected(&broker, "max_connections"), 1.0);
    for client in &mut working {
        api_versions_answered(client).await;
    }
    broker.stop().await;
}

/// `max.connections.per.ip` refuses an address's connections beyond it, and an override raises
/// it for one address; other addresses are unaffected. Loopback answers on all of 127.0.0.0/8,
/// so clients bound to 127.0.0.2 and 127.0.0.3 come from other addresses.
#[tokio::test]
async fn per_ip_limits_refuse_connections_beyond_them_and_overrides_raise_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        &[
            ("max.connections.per.ip", "2"),
            (
                "max.connections.per.ip.overrides",
                "127.0.0.2:4, 127.0.0.3:0",
            ),
        ],
    )
    .await;
    let mut kept = Vec::new();
    for (ip, allowed) in [("127.0.0.1", 2), ("127.0.0.2", 4)] {
        for _ in 0..allowed {
            let mut client = Client {
                stream: connect_from(ip, broker.addr).await,
                next_correlation_id: 1,
            };
            api_versions_answered(&mut client).await;
            kept.push(client);
        }
        let mut refused = Client {
            stream: connect_from(ip, broker.addr).await,
            next_correlation_id: 1,
        };
        assert!(refused.closed().await, "{ip} got more than {allowed}");
    }
    let mut blocked = Client {
        stream: connect_from("127.0.0.3", broker.addr).await,
        next_correlation_id: 1,
    };
    assert!(
        blocked.closed().await,
        "127.0.0.3 is refused by its override"
    );
    assert_eq!(rejected(&broker, "per_ip_limit"), 3.0);
    // A closed connection frees its address's place.
    drop(kept.remove(0));
    eventually("the closed connection is gone", || {
        metric(&broker, "takhin_kafka_connections") == 5.0
    })
    .await;
    let mut again = Client::connect(broker.addr).await;
    api_versions_answered(&mut again).await;
    broker.stop().await;
}

/// A socket that never completes a request is closed after
/// `connections.first.request.timeout.ms`; a working client that goes quiet is closed after
/// `connections.max.idle.ms`, but not while a request of its own is in progress (a long poll
/// longer than the idle limit is answered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_but_not_while_their_requests_are_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(
        dir.path(),
        &[
            ("connections.first.request.timeout.ms", "500"),
            ("connections.max.idle.ms", "500"),
        ],
    )
    .await;
    let mut silent = Client::connect(broker.addr).await;
    // Half a request is not a request.
    silent.write_raw(&[0, 0]).await;
    assert!(silent.closed().await, "a silent socket stayed open");
    // Counted as the connection closes, not necessarily before the client sees it.
    eventually("the first_request_timeout drop counted", || {
        dropped(&broker, "first_request_timeout") == 1.0
    })
    .await;

    let mut polling = Client::connect(broker.addr).await;
    produce_and_fetch(&mut polling, "quiet", 1, 10).await;
    let poll = fetch_request("quiet", 1, 2_000);
    let response = tokio::time::timeout(SERVED_WITHIN, polling.call(12, &poll))
        .await
        .expect("long poll not answered");
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
    assert_eq!(dropped(&broker, "idle"), 0.0, "closed during its long poll");
    assert!(polling.closed().await, "an idle connection stayed open");
    eventually("the idle drop counted", || dropped(&broker, "idle") == 1.0).await;
    broker.stop().await;
}

/// A request written in small pieces with pauses between them (a slow client, not a stalled
/// one) is read whole within its deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_request_trickled_in_pieces_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path(), &[("message.max.bytes", "8388608")]).await;
    let mut client = Client::connect(broker.addr).await;
    let batch_records: Vec<Record> = records(4, 1_700_000_000_000)
        .into_iter()
        .map(|mut record| {
            record.value = Some(vec![b't'; 700 * 1024].into());
            record
        })
        .collect();
    let request = produce_request(
        "trickled",
        0,
        batch(&batch_records, Compression::None, None),
        -1,
    );
    // Encode through a throwaway connection-less client: the frame is what `send` writes.
    let frame = {
        use bytes::BufMut;
        use kafka_protocol::protocol::{Encodable, StrBytes};
        let mut buf = bytes::BytesMut::new();
        buf.put_i32(0);
        RequestHeader::default()
            .with_request_api_key(0)
            .with_request_api_version(9)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_static_str("trickle")))
            .encode(&mut buf, ApiKey::Produce.request_header_version(9))
            .unwrap();
        request.encode(&mut buf, 9).unwrap();
        let length = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&length.to_be_bytes());
        buf
    };
    for piece in frame.chunks(300 * 1024) {
        client.stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    client.next_correlation_id = 2;
    let response = tokio::time::timeout(SERVED_WITHIN, client.receive::<ProduceRequest>(9, 1))
        .await
        .expect("trickled produce not answered");
    assert_eq!(produced(&response).error_code, 0);
    produce_and_fetch(&mut client, "trickled", 2, 10).await;
    broker.stop().await;
}
