//! Cluster endpoints against a real broker.
mod common;

use axum::http::StatusCode;
use common::*;

#[tokio::test]
async fn clusters_lists_the_configured_cluster_as_default() {
    let console = start().await;
    let answer = console.get("/api/v1/clusters").await;
    assert_eq!(answer.status, StatusCode::OK);
    let clusters = answer.json();
    assert_eq!(clusters[0]["name"], CLUSTER);
    assert_eq!(clusters[0]["default"], true);
    assert_eq!(
        clusters[0]["bootstrap_servers"][0],
        console.bootstrap.as_str()
    );
    console.stop().await;
}

#[tokio::test]
async fn overview_counts_topics_partitions_and_disk() {
    let console = start().await;
    let topic = unique("overview");
    let before = console.get(&TestConsole::path("/overview")).await.json();
    console.create_topic(&topic, 3).await;
    console
        .produce(&topic, 1, &[(Some("k"), Some("hello"))])
        .await;
    let answer = console.get(&TestConsole::path("/overview")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let overview = answer.json();
    assert_eq!(
        overview["topic_count"].as_u64().unwrap(),
        before["topic_count"].as_u64().unwrap() + 1
    );
    assert_eq!(
        overview["partition_count"].as_u64().unwrap(),
        before["partition_count"].as_u64().unwrap() + 3
    );
    assert_eq!(overview["offline_partitions"], 0);
    assert_eq!(overview["under_replicated_partitions"], 0);
    let brokers = overview["brokers"].as_array().unwrap();
    assert!(!brokers.is_empty());
    let controller = overview["controller_id"].as_i64().unwrap();
    assert!(
        brokers
            .iter()
            .any(|b| b["is_controller"] == true && b["node_id"].as_i64() == Some(controller))
    );
    assert!(!brokers[0]["log_dirs"].as_array().unwrap().is_empty());
    assert!(
        overview["total_size_bytes"].as_i64().unwrap()
            > before["total_size_bytes"].as_i64().unwrap(),
        "a produced record adds to the total size"
    );
    console.stop().await;
}

#[tokio::test]
async fn unknown_cluster_is_404_problem() {
    let console = start().await;
    let answer = console.get("/api/v1/clusters/nope/overview").await;
    let problem = answer.problem(StatusCode::NOT_FOUND);
    assert!(problem["detail"].as_str().unwrap().contains("nope"));
    let answer = console.get("/api/v1/no/such/endpoint").await;
    answer.problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

#[tokio::test]
async fn broker_configs_have_sources_and_docs() {
    let console = start().await;
    let overview = console.get(&TestConsole::path("/overview")).await.json();
    let broker_id = overview["brokers"][0]["node_id"].as_i64().unwrap();
    let answer = console
        .get(&TestConsole::path(&format!("/brokers/{broker_id}/configs")))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let configs = answer.json();
    let retention = configs
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "log.retention.ms")
        .expect("log.retention.ms is listed");
    assert!(retention["source"].as_str().unwrap().ends_with("CONFIG"));
    assert_eq!(retention["type"], "LONG");

    let answer = console
        .get(&TestConsole::path("/brokers/987654/configs"))
        .await;
    answer.problem(StatusCode::NOT_FOUND);
    let answer = console
        .get(&TestConsole::path("/brokers/abc/configs"))
        .await;
    answer.problem(StatusCode::BAD_REQUEST);
    console.stop().await;
}

#[tokio::test]
async fn api_versions_name_each_api() {
    let console = start().await;
    let answer = console.get(&TestConsole::path("/api-versions")).await;
    assert_eq!(answer.status, StatusCode::OK);
    let versions = answer.json();
    let produce = versions
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["api_key"] == 0)
        .unwrap();
    assert_eq!(produce["name"], "Produce");
    assert!(produce["max_version"].as_i64().unwrap() >= 9);
    console.stop().await;
}

#[tokio::test]
async fn unreachable_cluster_is_502_not_a_hang() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = takhin_console::ConsoleConfig::single(takhin_console::ClusterConfig::new(
        CLUSTER,
        vec![addr.to_string()],
    ));
    let router = takhin_console::router(config);
    let console = TestConsoleRouter(router);
    let answer = console.get(&TestConsole::path("/overview")).await;
    answer.problem(StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn throughput_is_unavailable_without_a_metrics_source() {
    let console = start().await;
    let answer = console.get(&TestConsole::path("/throughput")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let throughput = answer.json();
    assert_eq!(throughput["available"], false);
    assert_eq!(throughput["points"].as_array().unwrap().len(), 0);
    console
        .get("/api/v1/clusters/nope/throughput")
        .await
        .problem(StatusCode::NOT_FOUND);
    console.stop().await;
}

#[tokio::test]
async fn api_requests_are_counted_by_route_template() {
    let metrics = std::sync::Arc::new(takhin_console::metrics::ConsoleMetrics::new());
    let mut config = takhin_console::ConsoleConfig::single(takhin_console::ClusterConfig::new(
        CLUSTER,
        vec!["127.0.0.1:1".to_string()],
    ));
    config.metrics = metrics.clone();
    let console = TestConsoleRouter(takhin_console::router(config));
    console.get("/api/v1/clusters").await;
    console.get("/api/v1/clusters/nope/overview").await;
    console.get("/api/v1/no/such/thing").await;
    let text = metrics.render();
    assert!(
        text.contains(
            r#"takhin_console_requests_total{method="GET",route="/api/v1/clusters",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/clusters/{cluster}/overview",status="404"} 1"#),
        "{text}"
    );
}
