//! Shared by the console's API tests: a real Takhin broker in-process on an
//! ephemeral port, the console router in front of it (called in-process, no
//! HTTP socket needed), and helpers to call endpoints and produce records.
//!
//! `TAKHIN_CONSOLE_TEST_BOOTSTRAP=host:port` points the tests at an external
//! cluster instead (Apache Kafka, see tests/compat/console_kafka.sh); the
//! tests then use unique topic and group names and do not assume a fresh
//! cluster.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::Value;
use takhin_console::client::{ClientConfig, KafkaClient};
use takhin_console::{ClusterConfig, ConsoleConfig};
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

pub const CLUSTER: &str = "local";

/// A broker (in-process Takhin, or external) and the console in front of it.
pub struct TestConsole {
    pub router: Router,
    pub bootstrap: String,
    /// A Kafka client of its own, to set up data behind the console's back.
    pub kafka: Arc<KafkaClient>,
    broker: Option<InProcessBroker>,
    _dir: Option<tempfile::TempDir>,
}

struct InProcessBroker {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), takhin_broker::RunError>>,
}

/// Whether the tests run against an external cluster (Apache Kafka).
pub fn external_bootstrap() -> Option<String> {
    std::env::var("TAKHIN_CONSOLE_TEST_BOOTSTRAP")
        .ok()
        .filter(|v| !v.is_empty())
}

/// A name unique to this test run, so tests against a shared external
/// cluster do not collide.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

pub async fn start() -> TestConsole {
    start_with(&[]).await
}

/// Starts a broker with extra broker settings (ignored for an external one).
pub async fn start_with(extra: &[(&str, &str)]) -> TestConsole {
    start_with_console_config(extra, |_| {}).await
}

/// Like [`start_with`], with the console's configuration (authentication,
/// audit log) adjusted by `configure`.
pub async fn start_with_console_config(
    extra: &[(&str, &str)],
    configure: impl FnOnce(&mut ConsoleConfig),
) -> TestConsole {
    if external_bootstrap().is_some() {
        return start_inner(None, extra, configure).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut console = start_inner(Some(dir.path()), extra, configure).await;
    console._dir = Some(dir);
    console
}

/// Starts a broker on the data in `data_dir` (kept by the caller, so a test
/// can stop the broker, change its files and start it again). In-process
/// only: not for an external cluster.
pub async fn start_in(data_dir: &std::path::Path, extra: &[(&str, &str)]) -> TestConsole {
    assert!(
        external_bootstrap().is_none(),
        "start_in needs the in-process broker"
    );
    start_inner(Some(data_dir), extra, |_| {}).await
}

/// `data_dir` is where the in-process broker keeps its data; `None` for an
/// external cluster.
async fn start_inner(
    data_dir: Option<&std::path::Path>,
    extra: &[(&str, &str)],
    configure: impl FnOnce(&mut ConsoleConfig),
) -> TestConsole {
    let (bootstrap, broker, storage_health) = match data_dir {
        None => (external_bootstrap().unwrap(), None, None),
        Some(dir) => {
            let mut values: BTreeMap<String, String> = BTreeMap::new();
            values.insert("data.dir".into(), dir.display().to_string());
            values.insert("kafka.addr".into(), "127.0.0.1:0".into());
            values.insert("http.addr".into(), "127.0.0.1:0".into());
            values.insert("auto.create.topics.enable".into(), "false".into());
            values.insert("group.initial.rebalance.delay.ms".into(), "0".into());
            for (k, v) in extra {
                values.insert(k.to_string(), v.to_string());
            }
            let config = takhin_broker::BrokerConfig::from_map(values).unwrap();
            let (shutdown, shutdown_rx) = watch::channel(false);
            let (ready_tx, ready_rx) = oneshot::channel();
            let task = tokio::spawn(takhin_broker::run(config, shutdown_rx, ready_tx));
            let (addr, broker) = ready_rx.await.expect("broker failed to start");
            (
                addr.to_string(),
                Some(InProcessBroker { shutdown, task }),
                Some(storage_health_of(&broker)),
            )
        }
    };
    let mut cluster = ClusterConfig::new(CLUSTER, vec![bootstrap.clone()]);
    cluster.storage_health = storage_health;
    let mut config = ConsoleConfig::single(cluster);
    configure(&mut config);
    TestConsole {
        router: takhin_console::router(config),
        kafka: Arc::new(KafkaClient::new(ClientConfig::new(vec![bootstrap.clone()]))),
        bootstrap,
        broker,
        _dir: None,
    }
}

/// The broker's logs as a storage-health source, as `takhin serve` hands
/// them to its console (crates/takhin/src/main.rs).
fn storage_health_of(
    broker: &Arc<takhin_broker::Broker>,
) -> Arc<dyn takhin_console::storage_health::StorageHealthSource> {
    let broker = Arc::downgrade(broker);
    Arc::new(move || {
        let broker = broker.upgrade()?;
        let mut partitions = Vec::new();
        for topic in broker.topics() {
            for partition in topic.partitions() {
                partitions.push(takhin_console::storage_health::PartitionLogHealth::of(
                    &topic.name,
                    partition.index,
                    &partition.log(),
                ));
            }
        }
        Some(partitions)
    })
}

/// An answer of the API.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// Asserts a problem-details answer with `status`, returning it.
    pub fn problem(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json"),
            "body: {}",
            self.text()
        );
        let problem = self.json();
        assert_eq!(problem["status"], status.as_u16());
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
        problem
    }
}

impl TestConsole {
    /// `/api/v1/clusters/local` + `path`.
    pub fn path(path: &str) -> String {
        format!("/api/v1/clusters/{CLUSTER}{path}")
    }

    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(value) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(serde_json::to_vec(&value).unwrap())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            content_type,
            body,
        }
    }

    /// Sends `request` as is (custom headers), answering the response
    /// headers too.
    pub async fn request(&self, request: Request<Body>) -> (Answer, axum::http::HeaderMap) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let answer = Answer {
            status,
            content_type,
            body,
        };
        (answer, headers)
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, None).await
    }
    pub async fn post(&self, uri: &str, body: Value) -> Answer {
        self.call(Method::POST, uri, Some(body)).await
    }
    pub async fn patch(&self, uri: &str, body: Value) -> Answer {
        self.call(Method::PATCH, uri, Some(body)).await
    }
    pub async fn delete(&self, uri: &str) -> Answer {
        self.call(Method::DELETE, uri, None).await
    }

    /// Creates `name` through the API and checks it worked.
    pub async fn create_topic(&self, name: &str, partitions: i32) {
        let answer = self
            .post(
                &Self::path("/topics"),
                serde_json::json!({"name": name, "partitions": partitions, "replication_factor": 1}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    }

    /// Produces `records` (key, value) to one partition through Kafka, not
    /// the console, and returns the base offset.
    pub async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &[(Option<&str>, Option<&str>)],
    ) -> i64 {
        produce_records(
            &self.kafka,
            topic,
            partition,
            records,
            takhin_storage::Compression::None,
        )
        .await
    }

    pub async fn stop(mut self) {
        if let Some(broker) = self.broker.take() {
            broker.shutdown.send(true).unwrap();
            broker.task.await.unwrap().unwrap();
        }
    }
}

/// Produces with acks=all through `client`; returns the base offset.
pub async fn produce_records(
    client: &KafkaClient,
    topic: &str,
    partition: i32,
    records: &[(Option<&str>, Option<&str>)],
    compression: takhin_storage::Compression,
) -> i64 {
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    use kafka_protocol::protocol::StrBytes;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<takhin_storage::Record> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| takhin_storage::Record {
            offset: i as i64,
            timestamp: now,
            key: key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
            value: value.map(|v| Bytes::copy_from_slice(v.as_bytes())),
            headers: vec![],
        })
        .collect();
    let params = takhin_storage::BatchBuilderParams {
        compression,
        ..Default::default()
    };
    let batch = takhin_storage::batch::encode_batch(&params, &records)
        .unwrap()
        .freeze();
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let leader = client.leader(topic, partition).await.unwrap();
    // Produce v13+ names topics by id (KIP-516).
    let topic_id = client
        .metadata()
        .await
        .unwrap()
        .topic(topic)
        .unwrap()
        .topic_id;
    let mut request = request;
    request.topic_data[0].topic_id = topic_id;
    let response = client.send_to(leader, &request).await.unwrap();
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(answer.error_code, 0, "produce failed");
    answer.base_offset
}

/// A console router without a broker of the test's own.
pub struct TestConsoleRouter(pub Router);

impl TestConsoleRouter {
    pub async fn get(&self, uri: &str) -> Answer {
        let response = self
            .0
            .clone()
            .oneshot(Request::builder().uri(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            content_type,
            body,
        }
    }
}
