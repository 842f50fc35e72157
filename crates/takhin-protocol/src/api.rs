//! The registry of Kafka APIs Takhin serves, with their version ranges.
//!
//! One line per API. The ranges are those Apache Kafka 4.1 serves (KIP-896
//! removed the oldest versions), so a client negotiates exactly what it would
//! with Kafka. Two deliberate exceptions, both copied from Kafka itself:
//! Produce advertises v0-v2 although they are refused (older librdkafka turns
//! compression off when Produce v0 is missing), and Metadata keeps v0-v3.

use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, VersionRange};

macro_rules! apis {
    ($($variant:ident($request:ty, $response:ty) versions $min:literal ..= $max:literal, decodable from $decode_min:literal;)*) => {
        /// Every API Takhin serves: `(key, advertised min, advertised max)`.
        pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[$((ApiKey::$variant, $min, $max),)*];

        /// A decoded request body, one variant per supported API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $($variant($request),)*
        }

        /// A response body, one variant per supported API.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Response {
            $($variant($response),)*
        }

        /// Lowest version whose body this crate can decode (may exceed the
        /// advertised minimum, see the module docs).
        pub(crate) fn decodable_min(api_key: ApiKey) -> Option<i16> {
            match api_key {
                $(ApiKey::$variant => Some($decode_min),)*
                _ => None,
            }
        }

        /// The versions the request's message schema defines (the crate's
        /// generated `VERSIONS`), which may be narrower than the API key's.
        #[cfg(test)]
        pub(crate) fn schema_versions(api_key: ApiKey) -> Option<VersionRange> {
            use kafka_protocol::protocol::Message;
            match api_key {
                $(ApiKey::$variant => Some(<$request as Message>::VERSIONS),)*
                _ => None,
            }
        }

        pub(crate) fn decode_body(
            api_key: ApiKey,
            version: i16,
            body: &mut bytes::Bytes,
        ) -> anyhow::Result<Option<Request>> {
            Ok(match api_key {
                $(ApiKey::$variant => Some(Request::$variant(<$request>::decode(body, version)?)),)*
                _ => None,
            })
        }

        impl Request {
            /// The API this request belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Request::$variant(_) => ApiKey::$variant,)*
                }
            }
        }

        impl Response {
            /// The API this response belongs to.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(Response::$variant(_) => ApiKey::$variant,)*
                }
            }

            pub(crate) fn encode_body<B: kafka_protocol::protocol::buf::ByteBufMut>(
                &self,
                buf: &mut B,
                version: i16,
            ) -> anyhow::Result<()> {
                match self {
                    $(Response::$variant(body) => body.encode(buf, version),)*
                }
            }
        }
    };
}

apis! {
    Produce(ProduceRequest, ProduceResponse) versions 0 ..= 13, decodable from 3;
    Fetch(FetchRequest, FetchResponse) versions 4 ..= 18, decodable from 4;
    ListOffsets(ListOffsetsRequest, ListOffsetsResponse) versions 1 ..= 10, decodable from 1;
    Metadata(MetadataRequest, MetadataResponse) versions 0 ..= 13, decodable from 0;
    FindCoordinator(FindCoordinatorRequest, FindCoordinatorResponse) versions 0 ..= 6, decodable from 0;
    OffsetCommit(OffsetCommitRequest, OffsetCommitResponse) versions 2 ..= 9, decodable from 2;
    OffsetFetch(OffsetFetchRequest, OffsetFetchResponse) versions 1 ..= 9, decodable from 1;
    JoinGroup(JoinGroupRequest, JoinGroupResponse) versions 0 ..= 9, decodable from 0;
    Heartbeat(HeartbeatRequest, HeartbeatResponse) versions 0 ..= 4, decodable from 0;
    LeaveGroup(LeaveGroupRequest, LeaveGroupResponse) versions 0 ..= 5, decodable from 0;
    SyncGroup(SyncGroupRequest, SyncGroupResponse) versions 0 ..= 5, decodable from 0;
    DescribeGroups(DescribeGroupsRequest, DescribeGroupsResponse) versions 0 ..= 6, decodable from 0;
    ListGroups(ListGroupsRequest, ListGroupsResponse) versions 0 ..= 5, decodable from 0;
    DeleteGroups(DeleteGroupsRequest, DeleteGroupsResponse) versions 0 ..= 2, decodable from 0;
    OffsetDelete(OffsetDeleteRequest, OffsetDeleteResponse) versions 0 ..= 0, decodable from 0;
    ConsumerGroupHeartbeat(ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse) versions 0 ..= 1, decodable from 0;
    ConsumerGroupDescribe(ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse) versions 0 ..= 1, decodable from 0;
    ApiVersions(ApiVersionsRequest, ApiVersionsResponse) versions 0 ..= 4, decodable from 0;
    CreateTopics(CreateTopicsRequest, CreateTopicsResponse) versions 2 ..= 7, decodable from 2;
    DeleteTopics(DeleteTopicsRequest, DeleteTopicsResponse) versions 1 ..= 6, decodable from 1;
    DeleteRecords(DeleteRecordsRequest, DeleteRecordsResponse) versions 0 ..= 2, decodable from 0;
    InitProducerId(InitProducerIdRequest, InitProducerIdResponse) versions 0 ..= 5, decodable from 0;
    OffsetForLeaderEpoch(OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse) versions 2 ..= 4, decodable from 2;
    DescribeConfigs(DescribeConfigsRequest, DescribeConfigsResponse) versions 1 ..= 4, decodable from 1;
    AlterConfigs(AlterConfigsRequest, AlterConfigsResponse) versions 0 ..= 2, decodable from 0;
    DescribeLogDirs(DescribeLogDirsRequest, DescribeLogDirsResponse) versions 1 ..= 4, decodable from 1;
    CreatePartitions(CreatePartitionsRequest, CreatePartitionsResponse) versions 0 ..= 3, decodable from 0;
    IncrementalAlterConfigs(IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse) versions 0 ..= 1, decodable from 0;
    DescribeCluster(DescribeClusterRequest, DescribeClusterResponse) versions 0 ..= 2, decodable from 0;
    DescribeTopicPartitions(DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse) versions 0 ..= 0, decodable from 0;
}

/// The advertised version range of `api_key`, or `None` if Takhin does not
/// serve it.
pub fn supported_versions(api_key: ApiKey) -> Option<VersionRange> {
    SUPPORTED
        .iter()
        .find(|(key, _, _)| *key == api_key)
        .map(|&(_, min, max)| VersionRange { min, max })
}

/// The entries of an ApiVersions response.
pub fn api_versions() -> Vec<api_versions_response::ApiVersion> {
    SUPPORTED
        .iter()
        .map(|&(key, min, max)| {
            api_versions_response::ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_ranges_are_within_what_the_message_schemas_define() {
        for &(key, min, max) in SUPPORTED {
            let schema = schema_versions(key).unwrap();
            let decode_min = decodable_min(key).unwrap();
            assert!(min <= max, "{key:?}");
            assert!(
                decode_min >= schema.min && max <= schema.max,
                "{key:?}: {min}..={max} vs schema {schema}"
            );
        }
    }

    #[test]
    fn each_api_is_listed_once() {
        for (i, &(key, _, _)) in SUPPORTED.iter().enumerate() {
            assert!(SUPPORTED[i + 1..].iter().all(|(other, _, _)| *other != key));
        }
    }
}
