//! Consumer-group endpoints against a real broker. Groups are made with the
//! Kafka protocol itself: classic members join, sync with a consumer
//! assignment, commit, heartbeat and leave; KIP-848 members heartbeat with
//! ConsumerGroupHeartbeat; a "simple" group only commits offsets, as an
//! admin or an `assign()`-ing consumer does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use kafka_protocol::messages::consumer_group_heartbeat_request::{
    ConsumerGroupHeartbeatRequest, TopicPartitions as OwnedPartitions,
};
use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTopic;
use kafka_protocol::messages::heartbeat_request::HeartbeatRequest;
use kafka_protocol::messages::join_group_request::{JoinGroupRequest, JoinGroupRequestProtocol};
use kafka_protocol::messages::leave_group_request::{LeaveGroupRequest, MemberIdentity};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequest, OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::sync_group_request::{SyncGroupRequest, SyncGroupRequestAssignment};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, GroupId, TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use serde_json::{Value, json};
use takhin_console::client::{ClientError, Connection, KafkaClient};

/// How long a condition may take to become true before a test fails.
const DEADLINE: Duration = Duration::from_secs(30);
const MEMBER_ID_REQUIRED: i16 = 79;
/// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR.
const COORDINATOR_NOT_READY: [i16; 3] = [14, 15, 16];

fn group_id(id: &str) -> GroupId {
    GroupId(StrBytes::from_string(id.to_string()))
}

fn topic_name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// The coordinator of `group`, waiting out a coordinator that is not
/// ready yet (Kafka creates `__consumer_offsets` on first use).
async fn coordinator(kafka: &KafkaClient, group: &str) -> Arc<Connection> {
    let started = Instant::now();
    loop {
        match kafka.coordinator(group).await {
            Ok(connection) => return connection,
            Err(error @ ClientError::Kafka { code: 14..=16, .. }) => {
                assert!(started.elapsed() < DEADLINE, "no coordinator: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("finding the coordinator of {group}: {error}"),
        }
    }
}

/// Polls `check` until it answers `Some`, failing after [`DEADLINE`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn subscription(topics: &[&str]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(0);
    ConsumerProtocolSubscription::default()
        .with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.to_string()))
                .collect(),
        )
        .encode(&mut buf, 0)
        .unwrap();
    buf.freeze()
}

fn assignment(topics: &[(&str, &[i32])]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            topics
                .iter()
                .map(|(topic, partitions)| {
                    AssignedTopic::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions.to_vec())
                })
                .collect(),
        )
        .encode(&mut buf, 1)
        .unwrap();
    buf.freeze()
}

fn commit_request(
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(StrBytes::from_string(member_id.to_string()))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(partition, offset)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*partition)
                                .with_committed_offset(*offset)
                                .with_committed_leader_epoch(-1)
                                .with_committed_metadata(Some(StrBytes::from_static_str(
                                    "test-metadata",
                                )))
                        })
                        .collect(),
                ),
        ])
}

async fn commit(
    kafka: &KafkaClient,
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) {
    let request = commit_request(group, generation, member_id, topic, offsets);
    let response = eventually("a ready coordinator", || async {
        let response = coordinator(kafka, group)
            .await
            .send(&request)
            .await
            .unwrap();
        let code = response.topics[0].partitions[0].error_code;
        (!COORDINATOR_NOT_READY.contains(&code)).then_some(response)
    })
    .await;
    for partition in &response.topics[0].partitions {
        assert_eq!(partition.error_code, 0, "commit of {group} failed");
    }
}

/// Commits without a membership, as an admin or an `assign()`-ing consumer
/// does: the group exists only through its offsets.
async fn commit_standalone(kafka: &KafkaClient, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    commit(kafka, group, -1, "", topic, offsets).await;
}

/// The group's committed offsets of `partitions` of `topic` (-1: none).
async fn fetch_committed(
    kafka: &KafkaClient,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<i64> {
    let connection = coordinator(kafka, group).await;
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(group_id(group))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(topic_name(topic))
                    .with_partition_indexes(partitions.to_vec()),
            ])),
    ]);
    let response = connection.send(&request).await.unwrap();
    let group = &response.groups[0];
    assert_eq!(group.error_code, 0);
    partitions
        .iter()
        .map(|p| {
            group
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .find(|found| found.partition_index == *p)
                .map_or(-1, |found| found.committed_offset)
        })
        .collect()
}

/// A member of a classic consumer group, kept alive by heartbeats until
/// it leaves (or is dropped).
struct ClassicMember {
    connection: Arc<Connection>,
    group: String,
    member_id: String,
    generation: i32,
    heartbeats: tokio::task::JoinHandle<()>,
}

impl ClassicMember {
    /// Joins `group` alone, subscribed to `topics`, and (as its leader)
    /// assigns itself `assigned`.
    async fn join(
        kafka: &KafkaClient,
        group: &str,
        topics: &[&str],
        assigned: &[(&str, &[i32])],
    ) -> ClassicMember {
        let mut connection = coordinator(kafka, group).await;
        let join = |member_id: &str| {
            JoinGroupRequest::default()
                .with_group_id(group_id(group))
                .with_session_timeout_ms(30_000)
                .with_rebalance_timeout_ms(30_000)
                .with_member_id(StrBytes::from_string(member_id.to_string()))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name(StrBytes::from_static_str("range"))
                        .with_metadata(subscription(topics)),
                ])
        };
        let started = Instant::now();
        let mut joined = connection.send(&join("")).await.unwrap();
        // A coordinator that just took over the group's partition loads it first.
        while COORDINATOR_NOT_READY.contains(&joined.error_code) {
            assert!(
                started.elapsed() < DEADLINE,
                "coordinator of {group} not ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
            connection = coordinator(kafka, group).await;
            joined = connection.send(&join("")).await.unwrap();
        }
        if joined.error_code == MEMBER_ID_REQUIRED {
            // KIP-394: the first join only hands out a member id.
            let member_id = joined.member_id.to_string();
            joined = connection.send(&join(&member_id)).await.unwrap();
        }
        assert_eq!(joined.error_code, 0, "join of {group} failed");
        let member_id = joined.member_id.to_string();
        assert_eq!(joined.leader.as_str(), member_id, "alone, so the leader");
        let sync = SyncGroupRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id(joined.generation_id)
            .with_member_id(StrBytes::from_string(member_id.clone()))
            .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
            .with_protocol_name(Some(StrBytes::from_static_str("range")))
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(StrBytes::from_string(member_id.clone()))
                    .with_assignment(assignment(assigned)),
            ]);
        let synced = connection.send(&sync).await.unwrap();
        assert_eq!(synced.error_code, 0, "sync of {group} failed");
        let heartbeat = HeartbeatRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id(joined.generation_id)
            .with_member_id(StrBytes::from_string(member_id.clone()));
        let beating = connection.clone();
        let heartbeats = tokio::spawn(async move {
            loop {
                let _ = beating.send(&heartbeat).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        ClassicMember {
            connection,
            group: group.to_string(),
            member_id,
            generation: joined.generation_id,
            heartbeats,
        }
    }

    async fn commit(&self, topic: &str, offsets: &[(i32, i64)]) {
        let response = self
            .connection
            .send(&commit_request(
                &self.group,
                self.generation,
                &self.member_id,
                topic,
                offsets,
            ))
            .await
            .unwrap();
        for partition in &response.topics[0].partitions {
            assert_eq!(partition.error_code, 0, "member commit failed");
        }
    }

    async fn leave(self) {
        self.heartbeats.abort();
        let version = self.connection.version_for::<LeaveGroupRequest>().unwrap();
        let request = LeaveGroupRequest::default().with_group_id(group_id(&self.group));
        let request = if version >= 3 {
            request.with_members(vec![
                MemberIdentity::default()
                    .with_member_id(StrBytes::from_string(self.member_id.clone())),
            ])
        } else {
            request.with_member_id(StrBytes::from_string(self.member_id.clone()))
        };
        let response = self.connection.send(&request).await.unwrap();
        assert_eq!(response.error_code, 0, "leave failed");
    }
}

impl Drop for ClassicMember {
    fn drop(&mut self) {
        self.heartbeats.abort();
    }
}

/// A member of a KIP-848 consumer group, kept alive by heartbeats until it
/// leaves (or is dropped).
struct ConsumerMember {
    connection: Arc<Connection>,
    group: String,
    member_id: String,
    epoch: i32,
    heartbeats: tokio::task::JoinHandle<()>,
}

impl ConsumerMember {
    /// Joins `group` subscribed to `topic` and heartbeats until the broker
    /// assigns it `partitions` partitions.
    async fn join(kafka: &KafkaClient, group: &str, topic: &str, partitions: usize) -> Self {
        let mut connection = coordinator(kafka, group).await;
        let member_id = uuid::Uuid::new_v4().simple().to_string();
        let mut epoch = 0;
        let mut owned: Vec<OwnedPartitions> = Vec::new();
        let started = Instant::now();
        loop {
            let request = ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group_id(group))
                .with_member_id(StrBytes::from_string(member_id.clone()))
                .with_member_epoch(epoch)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![topic_name(topic)]))
                .with_topic_partitions(Some(owned.clone()));
            let response = connection.send(&request).await.unwrap();
            if COORDINATOR_NOT_READY.contains(&response.error_code) && epoch == 0 {
                assert!(
                    started.elapsed() < DEADLINE,
                    "coordinator of {group} not ready"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                connection = coordinator(kafka, group).await;
                continue;
            }
            assert_eq!(
                response.error_code, 0,
                "heartbeat failed: {:?}",
                response.error_message
            );
            epoch = response.member_epoch;
            if let Some(assignment) = response.assignment {
                owned = assignment
                    .topic_partitions
                    .iter()
                    .map(|t| {
                        OwnedPartitions::default()
                            .with_topic_id(t.topic_id)
                            .with_partitions(t.partitions.clone())
                    })
                    .collect();
            }
            let count: usize = owned.iter().map(|t| t.partitions.len()).sum();
            if count == partitions {
                break;
            }
            assert!(started.elapsed() < DEADLINE, "no assignment for {group}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let beating = connection.clone();
        let request = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group_id(group))
            .with_member_id(StrBytes::from_string(member_id.clone()))
            .with_member_epoch(epoch)
            .with_topic_partitions(Some(owned));
        let heartbeats = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = beating.send(&request).await;
            }
        });
        ConsumerMember {
            connection,
            group: group.to_string(),
            member_id,
            epoch,
            heartbeats,
        }
    }

    async fn commit(&self, topic: &str, offsets: &[(i32, i64)]) {
        let response = self
            .connection
            .send(&commit_request(
                &self.group,
                self.epoch,
                &self.member_id,
                topic,
                offsets,
            ))
            .await
            .unwrap();
        for partition in &response.topics[0].partitions {
            assert_eq!(partition.error_code, 0, "member commit failed");
        }
    }

    async fn leave(self) {
        self.heartbeats.abort();
        let request = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group_id(&self.group))
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_member_epoch(-1);
        let response = self.connection.send(&request).await.unwrap();
        assert_eq!(response.error_code, 0, "leave failed");
    }
}

impl Drop for ConsumerMember {
    fn drop(&mut self) {
        self.heartbeats.abort();
    }
}

/// Produces `count` records to one partition.
async fn produce_n(console: &TestConsole, topic: &str, partition: i32, count: usize) {
    let records: Vec<(Option<&str>, Option<&str>)> = vec![(None, Some("v")); count];
    console.produce(topic, partition, &records).await;
}

/// Produces records with the given timestamps (ms) to one partition.
async fn produce_at(kafka: &KafkaClient, topic: &str, partition: i32, timestamps: &[i64]) {
    use kafka_protocol::messages::produce_request::{
        PartitionProduceData, ProduceRequest, TopicProduceData,
    };
    let records: Vec<takhin_storage::Record> = timestamps
        .iter()
        .enumerate()
        .map(|(i, timestamp)| takhin_storage::Record {
            offset: i as i64,
            timestamp: *timestamp,
            key: None,
            value: Some(Bytes::from_static(b"timed")),
            headers: vec![],
        })
        .collect();
    let batch = takhin_storage::batch::encode_batch(
        &takhin_storage::BatchBuilderParams::default(),
        &records,
    )
    .unwrap()
    .freeze();
    let topic_id = kafka
        .metadata()
        .await
        .unwrap()
        .topic(topic)
        .unwrap()
        .topic_id;
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_topic_id(topic_id)
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch)),
                ]),
        ]);
    let leader = kafka.leader(topic, partition).await.unwrap();
    let response = kafka.send_to(leader, &request).await.unwrap();
    assert_eq!(
        response.responses[0].partition_responses[0].error_code, 0,
        "produce failed"
    );
}

fn groups_path(suffix: &str) -> String {
    TestConsole::path(&format!("/groups{suffix}"))
}

/// The group named `group` in a list answer.
fn find_group<'a>(list: &'a Value, group: &str) -> Option<&'a Value> {
    list.as_array()
        .unwrap()
        .iter()
        .find(|g| g["group_id"] == group)
}

async fn reset(console: &TestConsole, group: &str, body: Value) -> Answer {
    console
        .post(&groups_path(&format!("/{group}/reset-offsets")), body)
        .await
}

/// `[(partition, previous, new)]` of a reset answer.
fn reset_rows(answer: &Answer) -> Vec<(i64, Option<i64>, i64)> {
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row["partition"].as_i64().unwrap(),
                row["previous_offset"].as_i64(),
                row["new_offset"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_list_shows_a_stopped_group_with_its_lag() {
    let console = start().await;
    let topic = unique("list-lag");
    let group = unique("list-group");
    console.create_topic(&topic, 2).await;
    produce_n(&console, &topic, 0, 10).await;
    produce_n(&console, &topic, 1, 4).await;
    let member = ClassicMember::join(&console.kafka, &group, &[&topic], &[(&topic, &[0, 1])]).await;
    member.commit(&topic, &[(0, 3), (1, 4)]).await;
    member.leave().await;

    let answer = console.get(&groups_path(&format!("?search={group}"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let list = answer.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let listed = find_group(&list, &group).unwrap();
    assert_eq!(listed["state"], "Empty");
    assert_eq!(listed["members"], 0);
    assert_eq!(listed["total_lag"], 7);
    assert_eq!(listed["protocol_type"], "consumer");
    assert_eq!(listed["type"], "classic");
    let overview = console.get(&TestConsole::path("/overview")).await.json();
    assert!(
        overview["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["node_id"] == listed["coordinator"]),
        "the coordinator is a broker: {listed}"
    );

    // The search is a case-insensitive substring; the state filter too.
    let upper = group.to_uppercase();
    let list = console
        .get(&groups_path(&format!("?search={}", &upper[5..])))
        .await
        .json();
    assert!(find_group(&list, &group).is_some());
    let list = console
        .get(&groups_path(&format!("?search={group}&state=empty")))
        .await
        .json();
    assert!(find_group(&list, &group).is_some());
    let list = console
        .get(&groups_path(&format!("?search={group}&state=Stable")))
        .await
        .json();
    assert!(find_group(&list, &group).is_none());

    // The unfiltered list has it too, and a group without lag has a null one.
    let simple = unique("list-simple");
    commit_standalone(&console.kafka, &simple, &topic, &[(0, 10)]).await;
    let list = console.get(&groups_path("")).await.json();
    assert_eq!(find_group(&list, &group).unwrap()["total_lag"], 7);
    let listed = find_group(&list, &simple).unwrap();
    assert_eq!(listed["total_lag"], 0);
    assert_eq!(listed["protocol_type"], "");
    assert_eq!(listed["state"], "Empty");
    console.stop().await;
}

#[tokio::test]
async fn details_show_members_assignments_and_lag_of_an_active_group() {
    let console = start().await;
    let topic = unique("details");
    let group = unique("details-group");
    console.create_topic(&topic, 2).await;
    produce_n(&console, &topic, 0, 10).await;
    produce_n(&console, &topic, 1, 5).await;
    let member = ClassicMember::join(&console.kafka, &group, &[&topic], &[(&topic, &[1, 0])]).await;
    member.commit(&topic, &[(0, 3)]).await;

    let answer = console.get(&groups_path(&format!("/{group}"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let details = answer.json();
    assert_eq!(details["group_id"], group.as_str());
    assert_eq!(details["state"], "Stable");
    assert_eq!(details["type"], "classic");
    assert_eq!(details["protocol_type"], "consumer");
    assert_eq!(details["protocol"], "range");
    assert!(details["coordinator"].as_i64().unwrap() >= 0);
    let members = details["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["member_id"], member.member_id.as_str());
    assert_eq!(members[0]["client_id"], "takhin-console");
    assert!(members[0]["client_host"].as_str().unwrap().starts_with('/'));
    assert_eq!(members[0]["group_instance_id"], Value::Null);
    assert_eq!(
        members[0]["assignments"],
        json!([{"topic": topic, "partitions": [0, 1]}])
    );
    let offsets = details["offsets"].as_array().unwrap();
    assert_eq!(offsets.len(), 1, "only committed partitions: {details}");
    assert_eq!(offsets[0]["topic"], topic.as_str());
    assert_eq!(offsets[0]["partition"], 0);
    assert_eq!(offsets[0]["committed_offset"], 3);
    assert_eq!(offsets[0]["end_offset"], 10);
    assert_eq!(offsets[0]["lag"], 7);
    assert_eq!(offsets[0]["metadata"], "test-metadata");
    assert_eq!(offsets[0]["leader_epoch"], Value::Null);
    assert_eq!(details["total_lag"], 7);

    // The list agrees.
    let list = console
        .get(&groups_path(&format!("?search={group}")))
        .await
        .json();
    let listed = find_group(&list, &group).unwrap();
    assert_eq!(listed["state"], "Stable");
    assert_eq!(listed["members"], 1);
    assert_eq!(listed["protocol"], "range");
    assert_eq!(listed["total_lag"], 7);

    // The topic's consumers: committed partition 0, assigned partition 1.
    let answer = console
        .get(&TestConsole::path(&format!("/topics/{topic}/consumers")))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        answer.json(),
        json!([{
            "group_id": group,
            "state": "Stable",
            "members": 1,
            "lag": 7,
            "partitions": [
                {"partition": 0, "committed_offset": 3, "end_offset": 10, "lag": 7},
                {"partition": 1, "committed_offset": null, "end_offset": 5, "lag": null},
            ],
        }])
    );

    // An active group can be neither deleted, reset, nor lose the offsets
    // of a topic it subscribes to.
    let problem = console
        .delete(&groups_path(&format!("/{group}")))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(problem["kafka_error"], "NON_EMPTY_GROUP");
    let problem = reset(
        &console,
        &group,
        json!({"topic": topic, "strategy": "earliest", "dry_run": true}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("1 active member"),
        "{problem}"
    );
    let problem = console
        .delete(&groups_path(&format!("/{group}/topics/{topic}")))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(problem["kafka_error"], "GROUP_SUBSCRIBED_TO_TOPIC");
    assert_eq!(
        fetch_committed(&console.kafka, &group, &topic, &[0]).await,
        [3]
    );
    member.leave().await;

    // Stopped: the topic's offsets go, then the group.
    let answer = console
        .delete(&groups_path(&format!("/{group}/topics/{topic}")))
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text());
    assert_eq!(
        fetch_committed(&console.kafka, &group, &topic, &[0, 1]).await,
        [-1, -1]
    );
    console
        .delete(&groups_path(&format!("/{group}/topics/{topic}")))
        .await
        .problem(StatusCode::NOT_FOUND);
    let consumers = console
        .get(&TestConsole::path(&format!("/topics/{topic}/consumers")))
        .await
        .json();
    assert_eq!(consumers, json!([]));
    let answer = console.delete(&groups_path(&format!("/{group}"))).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text());
    console
        .get(&groups_path(&format!("/{group}")))
        .await
        .problem(StatusCode::NOT_FOUND);
    let problem = console
        .delete(&groups_path(&format!("/{group}")))
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(problem["kafka_error"], "GROUP_ID_NOT_FOUND");
    console.stop().await;
}

#[tokio::test]
async fn reset_offsets_dry_run_changes_nothing_and_every_strategy_commits() {
    let console = start().await;
    let topic = unique("reset");
    let group = unique("reset-group");
    console.create_topic(&topic, 2).await;
    // Partition 0: ten records one second apart, ending a minute ago.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let first = now - 70_000;
    let times: Vec<i64> = (0..10).map(|i| first + i * 1000).collect();
    produce_at(&console.kafka, &topic, 0, &times).await;
    produce_n(&console, &topic, 1, 5).await;
    commit_standalone(&console.kafka, &group, &topic, &[(0, 5), (1, 2)]).await;
    let committed = || fetch_committed(&console.kafka, &group, &topic, &[0, 1]);

    let plan = reset(
        &console,
        &group,
        json!({"topic": topic, "strategy": "latest", "dry_run": true}),
    )
    .await;
    assert_eq!(
        reset_rows(&plan),
        [(0, Some(5), 10), (1, Some(2), 5)],
        "the plan"
    );
    assert_eq!(plan.json()[0]["topic"], topic.as_str());
    assert_eq!(committed().await, [5, 2], "a dry run commits nothing");

    let cases: Vec<(Value, [i64; 2])> = vec![
        (json!({"strategy": "earliest"}), [0, 0]),
        (json!({"strategy": "latest"}), [10, 5]),
        (json!({"strategy": "offset", "value": 7}), [7, 5]),
        (json!({"strategy": "shift", "value": -3}), [4, 2]),
        (json!({"strategy": "shift", "value": i64::MAX}), [10, 5]),
        (json!({"strategy": "shift", "value": i64::MIN}), [0, 0]),
        (json!({"strategy": "offset", "value": i64::MAX}), [10, 5]),
        (
            json!({"strategy": "timestamp", "value": first + 3000}),
            [3, 0],
        ),
        (
            json!({"strategy": "timestamp", "value": first + 3500}),
            [4, 0],
        ),
        (json!({"strategy": "timestamp", "value": 0}), [0, 0]),
        (
            json!({"strategy": "timestamp", "value": now + 86_400_000}),
            [10, 5],
        ),
    ];
    for (mut body, expected) in cases {
        body["topic"] = json!(topic);
        body["dry_run"] = json!(false);
        let before = committed().await;
        let rows = reset_rows(&reset(&console, &group, body.clone()).await);
        let previous: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
        assert_eq!(previous, [Some(before[0]), Some(before[1])], "{body}");
        let new: Vec<i64> = rows.iter().map(|r| r.2).collect();
        assert_eq!(new, expected, "{body}");
        assert_eq!(committed().await, expected, "committed after {body}");
    }

    // Some partitions only.
    let rows = reset_rows(
        &reset(
            &console,
            &group,
            json!({"topic": topic, "partitions": [1], "strategy": "earliest", "dry_run": false}),
        )
        .await,
    );
    assert_eq!(rows, [(1, Some(5), 0)]);
    assert_eq!(committed().await, [10, 0]);

    // A group that does not exist yet is created with the offsets.
    let fresh = unique("reset-new");
    let rows = reset_rows(
        &reset(
            &console,
            &fresh,
            json!({"topic": topic, "strategy": "offset", "value": 2, "dry_run": false}),
        )
        .await,
    );
    assert_eq!(rows, [(0, None, 2), (1, None, 2)]);
    assert_eq!(
        fetch_committed(&console.kafka, &fresh, &topic, &[0, 1]).await,
        [2, 2]
    );
    let details = console.get(&groups_path(&format!("/{fresh}"))).await.json();
    assert_eq!(details["state"], "Empty");
    assert_eq!(details["total_lag"], 8 + 3);
    console.stop().await;
}

#[tokio::test]
async fn reset_offsets_rejects_bad_input_precisely() {
    let console = start().await;
    let topic = unique("reset-bad");
    let group = unique("reset-bad-group");
    console.create_topic(&topic, 2).await;
    produce_n(&console, &topic, 0, 3).await;
    commit_standalone(&console.kafka, &group, &topic, &[(0, 1)]).await;

    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"topic": "no-such-topic-here", "strategy": "earliest", "dry_run": true}),
            StatusCode::NOT_FOUND,
            "no-such-topic-here",
        ),
        (
            json!({"topic": topic, "partitions": [7], "strategy": "earliest", "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no partition 7",
        ),
        (
            json!({"topic": topic, "partitions": [-1], "strategy": "earliest", "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no partition -1",
        ),
        (
            json!({"topic": topic, "partitions": [], "strategy": "earliest", "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty",
        ),
        (
            json!({"topic": topic, "strategy": "offset", "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "needs a value",
        ),
        (
            json!({"topic": topic, "strategy": "timestamp", "value": null, "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "needs a value",
        ),
        (
            json!({"topic": topic, "strategy": "earliest", "value": 3, "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "takes no value",
        ),
        (
            json!({"topic": topic, "strategy": "offset", "value": -1, "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "negative",
        ),
        (
            json!({"topic": topic, "strategy": "timestamp", "value": -2, "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "negative",
        ),
        (
            json!({"topic": topic, "strategy": "middle", "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "strategy",
        ),
        (
            json!({"topic": topic, "strategy": "offset", "value": 1.5, "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "value",
        ),
        (
            json!({"topic": topic, "strategy": "offset", "value": 1e30, "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "value",
        ),
        (
            json!({"topic": topic, "strategy": "earliest"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dry_run",
        ),
        (
            json!({"topic": topic, "strategy": "earliest", "dry_run": true, "dryRun": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "dryRun",
        ),
        (
            // Partition 1 has nothing committed to shift from.
            json!({"topic": topic, "strategy": "shift", "value": 1, "dry_run": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no committed offset",
        ),
    ];
    for (body, status, needle) in cases {
        let answer = reset(&console, &group, body.clone()).await;
        let problem = answer.problem(status);
        assert!(
            problem["detail"].as_str().unwrap().contains(needle),
            "{body}: {problem}"
        );
    }
    // Malformed JSON is 400, no JSON at all 415.
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(groups_path(&format!("/{group}/reset-offsets")))
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"topic\": "))
        .unwrap();
    let answer = call_raw(&console, request).await;
    answer.problem(StatusCode::BAD_REQUEST);
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(groups_path(&format!("/{group}/reset-offsets")))
        .body(axum::body::Body::from("topic=x"))
        .unwrap();
    call_raw(&console, request)
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Nothing moved.
    assert_eq!(
        fetch_committed(&console.kafka, &group, &topic, &[0, 1]).await,
        [1, -1]
    );
    // An unknown cluster.
    let answer = console
        .post(
            &format!("/api/v1/clusters/nope/groups/{group}/reset-offsets"),
            json!({"topic": topic, "strategy": "earliest", "dry_run": true}),
        )
        .await;
    answer.problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

async fn call_raw(console: &TestConsole, request: axum::http::Request<axum::body::Body>) -> Answer {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = console.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        content_type,
        body,
    }
}

#[tokio::test]
async fn unknown_groups_and_topics_are_404_problems() {
    let console = start().await;
    let group = unique("never-existed");
    // Make sure the coordinator is up (a fresh Kafka creates it on demand).
    coordinator(&console.kafka, &group).await;
    let problem = console
        .get(&groups_path(&format!("/{group}")))
        .await
        .problem(StatusCode::NOT_FOUND);
    assert!(problem["detail"].as_str().unwrap().contains(&group));
    let problem = console
        .delete(&groups_path(&format!("/{group}")))
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(problem["kafka_error"], "GROUP_ID_NOT_FOUND");
    console
        .delete(&groups_path(&format!("/{group}/topics/whatever")))
        .await
        .problem(StatusCode::NOT_FOUND);
    console
        .get(&TestConsole::path("/topics/no-such-topic-here/consumers"))
        .await
        .problem(StatusCode::NOT_FOUND);
    console
        .get("/api/v1/clusters/nope/groups")
        .await
        .problem(StatusCode::NOT_FOUND);
    console
        .get(&format!("/api/v1/clusters/nope/groups/{group}"))
        .await
        .problem(StatusCode::NOT_FOUND);
    // Longer than Kafka can encode.
    let long = "g".repeat(40_000);
    console
        .get(&groups_path(&format!("/{long}")))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    // A group id with a slash, percent-encoded, is one id.
    let slashed = format!("{group}/x");
    let answer = console
        .get(&groups_path(&format!("/{}", slashed.replace('/', "%2F"))))
        .await;
    let problem = answer.problem(StatusCode::NOT_FOUND);
    assert!(problem["detail"].as_str().unwrap().contains(&slashed));
    console.stop().await;
}

#[tokio::test]
async fn a_kip848_consumer_group_shows_its_broker_made_assignment() {
    let console = start().await;
    let topic = unique("kip848");
    let group = unique("kip848-group");
    console.create_topic(&topic, 2).await;
    produce_n(&console, &topic, 0, 6).await;
    produce_n(&console, &topic, 1, 2).await;
    let member = ConsumerMember::join(&console.kafka, &group, &topic, 2).await;
    member.commit(&topic, &[(0, 1), (1, 2)]).await;

    let list = console
        .get(&groups_path(&format!("?search={group}")))
        .await
        .json();
    let listed = find_group(&list, &group).expect("the consumer group is listed");
    assert_eq!(listed["type"], "consumer");
    assert_eq!(listed["members"], 1);
    assert_eq!(listed["protocol_type"], "consumer");
    assert_eq!(listed["total_lag"], 5);

    let details = eventually("a stable consumer group", || async {
        let details = console.get(&groups_path(&format!("/{group}"))).await.json();
        (details["state"] == "Stable").then_some(details)
    })
    .await;
    assert_eq!(details["type"], "consumer");
    assert!(
        !details["protocol"].as_str().unwrap().is_empty(),
        "{details}"
    );
    let members = details["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["member_id"], member.member_id.as_str());
    assert_eq!(
        members[0]["assignments"],
        json!([{"topic": topic, "partitions": [0, 1]}])
    );
    assert_eq!(details["total_lag"], 5);

    reset(
        &console,
        &group,
        json!({"topic": topic, "strategy": "earliest", "dry_run": false}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    member.leave().await;

    let details = eventually("an empty consumer group", || async {
        let details = console.get(&groups_path(&format!("/{group}"))).await.json();
        (details["state"] == "Empty").then_some(details)
    })
    .await;
    assert_eq!(details["members"], json!([]));
    let rows = reset_rows(
        &reset(
            &console,
            &group,
            json!({"topic": topic, "strategy": "earliest", "dry_run": false}),
        )
        .await,
    );
    assert_eq!(rows, [(0, Some(1), 0), (1, Some(2), 0)]);
    assert_eq!(
        fetch_committed(&console.kafka, &group, &topic, &[0, 1]).await,
        [0, 0]
    );
    console.stop().await;
}
