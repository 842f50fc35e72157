//! Topic endpoints against a real broker: every endpoint and its error paths.
mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

fn topic_path(topic: &str, rest: &str) -> String {
    TestConsole::path(&format!("/topics/{topic}{rest}"))
}

#[tokio::test]
async fn create_list_describe_and_delete_a_topic() {
    let console = start().await;
    let topic = unique("orders");
    let answer = console
        .post(
            &TestConsole::path("/topics"),
            json!({"name": topic, "partitions": 3, "replication_factor": 1,
                   "configs": {"retention.ms": "3600000", "cleanup.policy": "compact"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let created = answer.json();
    assert_eq!(created["name"], topic.as_str());
    assert_eq!(created["partition_count"], 3);
    assert_eq!(created["cleanup_policy"], "compact");
    assert_eq!(created["overrides"]["retention.ms"], "3600000");

    console
        .produce(&topic, 0, &[(Some("a"), Some("1")), (Some("b"), Some("2"))])
        .await;
    console.produce(&topic, 2, &[(Some("c"), Some("3"))]).await;

    let details = console.get(&topic_path(&topic, "")).await;
    assert_eq!(details.status, StatusCode::OK, "{}", details.text());
    let details = details.json();
    assert_eq!(details["message_count"], 3);
    let partitions = details["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3);
    assert_eq!(partitions[0]["high_watermark"], 2);
    assert_eq!(partitions[0]["log_start_offset"], 0);
    assert_eq!(partitions[1]["high_watermark"], 0);
    assert_eq!(partitions[2]["high_watermark"], 1);
    assert!(partitions[0]["leader"].as_i64().unwrap() >= 0);
    assert_eq!(partitions[0]["replicas"].as_array().unwrap().len(), 1);
    assert!(partitions[0]["size_bytes"].as_i64().unwrap() > 0);

    let page = console
        .get(&TestConsole::path(&format!(
            "/topics?search={}",
            &topic[..10].to_uppercase()
        )))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let page = page.json();
    let item = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == topic.as_str())
        .expect("search finds the topic, case-insensitively")
        .clone();
    assert_eq!(item["partition_count"], 3);
    assert_eq!(item["message_count"], 3);
    assert_eq!(item["cleanup_policy"], "compact");

    let answer = console.delete(&topic_path(&topic, "")).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text());
    let answer = console.get(&topic_path(&topic, "")).await;
    answer.problem(StatusCode::NOT_FOUND);
    let answer = console.delete(&topic_path(&topic, "")).await;
    let problem = answer.problem(StatusCode::NOT_FOUND);
    assert_eq!(problem["kafka_error"], "UNKNOWN_TOPIC_OR_PARTITION");
    console.stop().await;
}

#[tokio::test]
async fn list_sorts_and_pages() {
    let console = start().await;
    let prefix = unique("page");
    for (suffix, partitions) in [("b", 1), ("a", 3), ("c", 2)] {
        console
            .create_topic(&format!("{prefix}-{suffix}"), partitions)
            .await;
    }
    let console_ref = &console;
    let list = |query: String| {
        let uri = TestConsole::path(&format!("/topics?search={prefix}{query}"));
        async move {
            let answer = console_ref.get(&uri).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
            answer.json()
        }
    };
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["name"]
                    .as_str()
                    .unwrap()
                    .rsplit('-')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(names(&list(String::new()).await), ["a", "b", "c"]);
    assert_eq!(
        names(&list("&sort=partitions&order=desc".into()).await),
        ["a", "c", "b"]
    );
    let second = list("&page=2&page_size=2".into()).await;
    assert_eq!(names(&second), ["c"]);
    assert_eq!(second["total"], 3);
    assert_eq!(second["page"], 2);

    for bad in [
        "&page=0",
        "&page_size=0",
        "&page_size=100000",
        "&sort=colour",
        "&order=up",
        "&page=x",
    ] {
        let answer = console
            .get(&TestConsole::path(&format!("/topics?{bad}")))
            .await;
        answer.problem(StatusCode::BAD_REQUEST);
    }
    // Internal topics are hidden unless asked for.
    let all = console
        .get(&TestConsole::path(
            "/topics?include_internal=true&page_size=1000",
        ))
        .await
        .json();
    let visible = console
        .get(&TestConsole::path("/topics?page_size=1000"))
        .await
        .json();
    assert!(all["total"].as_u64() >= visible["total"].as_u64());
    assert!(
        visible["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["internal"] == false)
    );
    console.stop().await;
}

#[tokio::test]
async fn create_refuses_bad_input_with_precise_problems() {
    let console = start().await;
    let topic = unique("dup");
    console.create_topic(&topic, 1).await;
    let topics_path = TestConsole::path("/topics");
    let create = |body: serde_json::Value| console.post(&topics_path, body);

    let problem = create(json!({"name": topic, "partitions": 1}))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(problem["kafka_error"], "TOPIC_ALREADY_EXISTS");
    create(json!({"name": "bad name!", "partitions": 1}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    create(json!({"name": "..", "partitions": 1}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    create(json!({"name": "a".repeat(250)}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    create(json!({"name": unique("zero"), "partitions": 0}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    create(json!({"name": unique("rf"), "replication_factor": 0}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    create(json!({"name": unique("rf"), "partitions": 1, "replication_factor": 5}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let problem = create(
        json!({"name": unique("cfg"), "partitions": 1, "configs": {"retention.ms": "soon"}}),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["kafka_error"], "INVALID_CONFIG");
    create(json!({"name": unique("cfg"), "partitions": 1, "configs": {"no.such.config": "1"}}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    create(json!({"name": unique("x"), "colour": "red"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    create(json!({"partitions": 1}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let answer = console
        .call(
            axum::http::Method::POST,
            &TestConsole::path("/topics"),
            None,
        )
        .await;
    assert!(answer.status.is_client_error());

    // validate_only creates nothing.
    let name = unique("dry");
    let answer = create(json!({"name": name, "partitions": 2, "validate_only": true})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    console
        .get(&topic_path(&name, ""))
        .await
        .problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

#[tokio::test]
async fn configs_show_defaults_and_overrides_and_change_incrementally() {
    let console = start().await;
    let topic = unique("cfg");
    console.create_topic(&topic, 1).await;
    let find = |configs: &serde_json::Value, name: &str| {
        configs
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
            .clone()
    };
    let configs = console.get(&topic_path(&topic, "/configs")).await;
    assert_eq!(configs.status, StatusCode::OK, "{}", configs.text());
    let configs = configs.json();
    let retention = find(&configs, "retention.ms");
    assert_eq!(retention["is_default"], true);
    let default_retention = retention["value"].clone();

    let answer = console
        .patch(
            &topic_path(&topic, "/configs"),
            json!({"set": {"retention.ms": "60000", "segment.bytes": "1048576"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let configs = answer.json();
    let retention = find(&configs, "retention.ms");
    assert_eq!(retention["value"], "60000");
    assert_eq!(retention["is_default"], false);
    assert_eq!(retention["source"], "DYNAMIC_TOPIC_CONFIG");
    // Takhin lists the default among the synonyms; Kafka lists only the
    // levels that are set, so the default may be unknown (null).
    assert!(
        retention["default_value"] == default_retention || retention["default_value"].is_null(),
        "{retention}"
    );
    assert_eq!(find(&configs, "segment.bytes")["value"], "1048576");

    // Deleting one override leaves the other.
    let configs = console
        .patch(
            &topic_path(&topic, "/configs"),
            json!({"delete": ["retention.ms"]}),
        )
        .await
        .json();
    assert_eq!(find(&configs, "retention.ms")["is_default"], true);
    assert_eq!(find(&configs, "segment.bytes")["value"], "1048576");

    let configs_path = topic_path(&topic, "/configs");
    let patch = |body| console.patch(&configs_path, body);
    patch(json!({}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    patch(json!({"set": {"retention.ms": "x"}}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    patch(json!({"set": {"a": "1"}, "delete": ["a"]}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    patch(json!({"set": {"retention.ms": 5}}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    console
        .patch(
            &topic_path("missing-topic-xyz", "/configs"),
            json!({"set": {"retention.ms": "1"}}),
        )
        .await
        .problem(StatusCode::NOT_FOUND);
    console
        .get(&topic_path("missing-topic-xyz", "/configs"))
        .await
        .problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

#[tokio::test]
async fn add_partitions_only_grows() {
    let console = start().await;
    let topic = unique("grow");
    console.create_topic(&topic, 2).await;
    let answer = console
        .post(&topic_path(&topic, "/partitions"), json!({"count": 5}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["partition_count"], 5);
    let problem = console
        .post(&topic_path(&topic, "/partitions"), json!({"count": 3}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["kafka_error"], "INVALID_PARTITIONS");
    console
        .post(&topic_path(&topic, "/partitions"), json!({"count": 0}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    console
        .post(
            &topic_path("missing-topic-xyz", "/partitions"),
            json!({"count": 3}),
        )
        .await
        .problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

#[tokio::test]
async fn delete_records_and_empty_move_the_log_start() {
    let console = start().await;
    let topic = unique("trim");
    console.create_topic(&topic, 2).await;
    let records: Vec<(Option<&str>, Option<&str>)> = (0..10).map(|_| (None, Some("v"))).collect();
    console.produce(&topic, 0, &records).await;
    console.produce(&topic, 1, &records[..4]).await;

    let answer = console
        .post(
            &topic_path(&topic, "/delete-records"),
            json!({"partitions": [{"partition": 0, "offset": 6}]}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()[0]["low_watermark"], 6);
    let details = console.get(&topic_path(&topic, "")).await.json();
    assert_eq!(details["partitions"][0]["log_start_offset"], 6);
    assert_eq!(details["message_count"], 4 + 4);

    let delete_path = topic_path(&topic, "/delete-records");
    let post = |body| console.post(&delete_path, body);
    post(json!({"partitions": []}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    post(json!({"partitions": [{"partition": 9, "offset": 1}]}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    post(json!({"partitions": [{"partition": 0, "offset": -5}]}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    post(json!({"partitions": [{"partition": 0, "offset": 1}, {"partition": 0, "offset": 2}]}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Beyond the high watermark: the partition reports Kafka's error.
    let answer = post(json!({"partitions": [{"partition": 1, "offset": 100}]})).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()[0]["error"], "OFFSET_OUT_OF_RANGE");

    let answer = console.post(&topic_path(&topic, "/empty"), json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let details = console.get(&topic_path(&topic, "")).await.json();
    assert_eq!(details["message_count"], 0);
    assert_eq!(details["partitions"][0]["log_start_offset"], 10);
    assert_eq!(details["partitions"][1]["log_start_offset"], 4);
    console
        .post(&topic_path("missing-topic-xyz", "/empty"), json!({}))
        .await
        .problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

#[tokio::test]
async fn oversized_and_non_json_bodies_are_refused_before_the_cluster_is_asked() {
    let console = start().await;
    let huge = "x".repeat(3 * 1024 * 1024);
    let answer = console
        .post(&TestConsole::path("/topics"), json!({ "name": huge }))
        .await;
    answer.problem(StatusCode::PAYLOAD_TOO_LARGE);
    let answer = console
        .call(
            axum::http::Method::POST,
            &TestConsole::path("/topics"),
            None,
        )
        .await;
    answer.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    console.stop().await;
}
