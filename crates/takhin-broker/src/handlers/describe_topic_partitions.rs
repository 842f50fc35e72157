//! DescribeTopicPartitions (key 75): topics and their partitions, paged, for
//! clusters with more partitions than one Metadata response should carry
//! (KIP-966; the Java admin client's `describeTopics` uses it).
//!
//! Copies Kafka's paging: topics are listed in name order (all topics when
//! the request names none); at most `response_partition_limit` partitions
//! are returned, capped at 2000 like Kafka's
//! `max.request.partition.size.limit`; listing starts at the cursor's topic
//! and partition; when the limit cuts the listing, `next_cursor` names the
//! first partition left out (the next topic's partition 0 when the cut falls
//! on a topic boundary). A name that is invalid is INVALID_TOPIC_EXCEPTION,
//! one that does not exist UNKNOWN_TOPIC_OR_PARTITION; errors take no room
//! in the page. On a single node every partition's leader, replica set and
//! ISR is this node at epoch 0, with no eligible leader replicas.

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::metadata::ALL_TOPIC_OPERATIONS;
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;

/// Most partitions in one response (Kafka's default
/// `max.request.partition.size.limit`).
pub const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

/// A topic as the pager sees it: its partition count, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listing {
    Found { partitions: i32 },
    Error(ResponseError),
}

/// One topic of the page: the partitions `start..end`, or its error.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PageEntry {
    name: String,
    listing: Listing,
    start: i32,
    end: i32,
}

/// Cuts one page out of `topics` (sorted by name): from `cursor`, at most
/// `limit` partitions. Returns the page and the cursor of the next one.
fn page(
    topics: &[(String, Listing)],
    cursor: Option<(&str, i32)>,
    limit: i32,
) -> (Vec<PageEntry>, Option<(String, i32)>) {
    let mut remaining = limit.max(1);
    let mut entries = Vec::new();
    let mut iter = topics
        .iter()
        .filter(|(name, _)| cursor.is_none_or(|(cursor_topic, _)| name.as_str() >= cursor_topic))
        .peekable();
    while let Some((name, listing)) = iter.next() {
        let start = match cursor {
            Some((cursor_topic, partition)) if cursor_topic == name => partition.max(0),
            _ => 0,
        };
        let Listing::Found { partitions } = listing else {
            entries.push(PageEntry {
                name: name.clone(),
                listing: listing.clone(),
                start: 0,
                end: 0,
            });
            continue;
        };
        let end = (*partitions).min(start.saturating_add(remaining));
        entries.push(PageEntry {
            name: name.clone(),
            listing: listing.clone(),
            start,
            end: end.max(start),
        });
        remaining -= (end - start).max(0);
        if end < *partitions {
            return (entries, Some((name.clone(), end)));
        }
        if remaining == 0 {
            let next = iter.peek().map(|(next, _)| (next.clone(), 0));
            return (entries, next);
        }
    }
    (entries, None)
}

fn listing_of(broker: &Broker, name: &str) -> Listing {
    if crate::metadata::validate_topic_name(name).is_err() {
        return Listing::Error(ResponseError::InvalidTopicException);
    }
    match broker.topic(name) {
        Some(topic) => Listing::Found {
            partitions: topic.partition_count(),
        },
        None => Listing::Error(ResponseError::UnknownTopicOrPartition),
    }
}

fn topic_response(broker: &Broker, entry: PageEntry) -> DescribeTopicPartitionsResponseTopic {
    let name = Some(TopicName(StrBytes::from_string(entry.name.clone())));
    let topic = match entry.listing {
        Listing::Found { .. } => broker.topic(&entry.name),
        Listing::Error(_) => None,
    };
    let Some(topic) = topic else {
        let error = match entry.listing {
            Listing::Error(error) => error,
            // Deleted since the page was cut.
            Listing::Found { .. } => ResponseError::UnknownTopicOrPartition,
        };
        return DescribeTopicPartitionsResponseTopic::default()
            .with_error_code(error.code())
            .with_name(name)
            .with_partitions(Vec::new());
    };
    let node = BrokerId(broker.config.node_id);
    let end = entry.end.min(topic.partition_count());
    let partitions = (entry.start..end)
        .map(|index| {
            DescribeTopicPartitionsResponsePartition::default()
                .with_error_code(0)
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(LEADER_EPOCH)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
                .with_offline_replicas(Vec::new())
        })
        .collect();
    DescribeTopicPartitionsResponseTopic::default()
        .with_error_code(0)
        .with_name(name)
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
        .with_topic_authorized_operations(ALL_TOPIC_OPERATIONS)
}

pub fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let names: BTreeSet<String> = if request.topics.is_empty() {
        broker.topics().iter().map(|t| t.name.to_string()).collect()
    } else {
        request.topics.iter().map(|t| t.name.to_string()).collect()
    };
    let topics: Vec<(String, Listing)> = names
        .into_iter()
        .map(|name| {
            let listing = listing_of(broker, &name);
            (name, listing)
        })
        .collect();
    let cursor = request
        .cursor
        .as_ref()
        .map(|c| (c.topic_name.as_str(), c.partition_index));
    let limit = request
        .response_partition_limit
        .clamp(1, MAX_PARTITIONS_PER_RESPONSE);
    let (entries, next) = page(&topics, cursor, limit);
    DescribeTopicPartitionsResponse::default()
        .with_topics(
            entries
                .into_iter()
                .map(|entry| topic_response(broker, entry))
                .collect(),
        )
        .with_next_cursor(next.map(|(topic, partition)| {
            Cursor::default()
                .with_topic_name(TopicName(StrBytes::from_string(topic)))
                .with_partition_index(partition)
        }))
}

#[cfg(test)]
mod tests {

    use super::*;

    fn found(name: &str, partitions: i32) -> (String, Listing) {
        (name.to_string(), Listing::Found { partitions })
    }

    fn ranges(entries: &[PageEntry]) -> Vec<(&str, i32, i32)> {
        entries
            .iter()
            .map(|e| (e.name.as_str(), e.start, e.end))
            .collect()
    }

    #[test]
    fn everything_fits() {
        let topics = [found("a", 2), found("b", 3)];
        let (entries, next) = page(&topics, None, 10);
        assert_eq!(ranges(&entries), vec![("a", 0, 2), ("b", 0, 3)]);
        assert_eq!(next, None);
    }

    #[test]
    fn a_cut_inside_a_topic_points_at_the_next_partition() {
        let topics = [found("a", 2), found("b", 3)];
        let (entries, next) = page(&topics, None, 3);
        assert_eq!(ranges(&entries), vec![("a", 0, 2), ("b", 0, 1)]);
        assert_eq!(next, Some(("b".to_string(), 1)));
        let (entries, next) = page(&topics, Some(("b", 1)), 3);
        assert_eq!(ranges(&entries), vec![("b", 1, 3)]);
        assert_eq!(next, None);
    }

    #[test]
    fn a_cut_on_a_topic_boundary_points_at_the_next_topic() {
        let topics = [found("a", 2), found("b", 3)];
        let (entries, next) = page(&topics, None, 2);
        assert_eq!(ranges(&entries), vec![("a", 0, 2)]);
        assert_eq!(next, Some(("b".to_string(), 0)));
        let (_, next) = page(&topics, Some(("b", 0)), 3);
        assert_eq!(next, None);
    }

    #[test]
    fn errors_take_no_room() {
        let topics = [
            found("a", 1),
            (
                "b".to_string(),
                Listing::Error(ResponseError::UnknownTopicOrPartition),
            ),
            found("c", 1),
        ];
        let (entries, next) = page(&topics, None, 2);
        assert_eq!(entries.len(), 3);
        assert_eq!(next, None);
    }

    #[test]
    fn the_cursor_skips_earlier_topics() {
        let topics = [found("a", 5), found("b", 1)];
        let (entries, _) = page(&topics, Some(("b", 0)), 10);
        assert_eq!(ranges(&entries), vec![("b", 0, 1)]);
    }

    #[test]
    fn pages_through_every_topic() {
        let dir = tempfile::tempdir().unwrap();
        let broker = crate::handlers::describe_configs::testing::open_broker(dir.path());
        broker.create_topic("b", 3, 1, Default::default()).unwrap();
        broker.create_topic("a", 2, 1, Default::default()).unwrap();
        let request = DescribeTopicPartitionsRequest::default().with_response_partition_limit(3);
        let first = handle(&broker, 0, request.clone());
        crate::handlers::describe_configs::testing::assert_encodes(&first, 0..=0);
        let names: Vec<_> = first
            .topics
            .iter()
            .map(|t| t.name.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(names, vec!["a", "b"]);
        assert_eq!(first.topics[1].partitions.len(), 1);
        let cursor = first.next_cursor.clone().unwrap();
        assert_eq!(
            (cursor.topic_name.as_str(), cursor.partition_index),
            ("b", 1)
        );
        let second = handle(
            &broker,
            0,
            request.with_cursor(Some(
                kafka_protocol::messages::describe_topic_partitions_request::Cursor::default()
                    .with_topic_name(cursor.topic_name)
                    .with_partition_index(cursor.partition_index),
            )),
        );
        assert_eq!(second.topics.len(), 1);
        assert_eq!(second.topics[0].partitions.len(), 2);
        assert!(second.next_cursor.is_none());
        let named = DescribeTopicPartitionsRequest::default()
            .with_response_partition_limit(2000)
            .with_topics(vec![
                kafka_protocol::messages::describe_topic_partitions_request::TopicRequest::default(
                )
                .with_name(TopicName(StrBytes::from_static_str("nope"))),
            ]);
        let response = handle(&broker, 0, named);
        assert_eq!(
            response.topics[0].error_code,
            ResponseError::UnknownTopicOrPartition.code()
        );
    }
}
