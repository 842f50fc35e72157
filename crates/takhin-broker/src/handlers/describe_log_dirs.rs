//! DescribeLogDirs (key 35): the data directory, the partitions in it and
//! their sizes.
//!
//! Takhin has one log directory, reported by its absolute path as Kafka
//! does. Null `topics` asks for every partition; otherwise only the named
//! partitions that exist are listed (Kafka leaves unknown ones out rather
//! than failing). Partitions are never being moved between directories, so
//! `offset_lag` is 0 and `is_future_key` false. v4 adds the file system's
//! total and usable bytes, -1 when they cannot be read.

use std::path::Path;
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::partition::Topic;

/// Total and usable (available to unprivileged users) bytes of the file
/// system holding `path`.
fn file_system_bytes(path: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the
    // call, and `stats` points to writable memory of the right size;
    // statvfs only writes to it.
    #[allow(unsafe_code)]
    let status = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled `stats` in.
    #[allow(unsafe_code)]
    let stats = unsafe { stats.assume_init() };
    // The field types differ between platforms (32-bit c_ulong on some).
    #[allow(clippy::unnecessary_cast)]
    let (block, blocks, available) = (
        stats.f_frsize as u64,
        stats.f_blocks as u64,
        stats.f_bavail as u64,
    );
    let block = u128::from(block);
    let total = u128::from(blocks) * block;
    let usable = u128::from(available) * block;
    Some((
        i64::try_from(total).unwrap_or(i64::MAX),
        i64::try_from(usable).unwrap_or(i64::MAX),
    ))
}

fn describe_topic(topic: &Topic, partitions: Option<&[i32]>) -> Option<DescribeLogDirsTopic> {
    let found: Vec<_> = match partitions {
        None => topic.partitions(),
        Some(indexes) => indexes.iter().filter_map(|i| topic.partition(*i)).collect(),
    };
    if found.is_empty() {
        return None;
    }
    let partitions = found
        .iter()
        .map(|partition| {
            DescribeLogDirsPartition::default()
                .with_partition_index(partition.index)
                .with_partition_size(
                    i64::try_from(partition.log().size_bytes()).unwrap_or(i64::MAX),
                )
                .with_offset_lag(0)
                .with_is_future_key(false)
        })
        .collect();
    Some(
        DescribeLogDirsTopic::default()
            .with_name(TopicName(StrBytes::from_string(topic.name.to_string())))
            .with_partitions(partitions),
    )
}

pub fn handle(
    broker: &Arc<Broker>,
    _version: i16,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    let topics: Vec<DescribeLogDirsTopic> = match &request.topics {
        None => broker
            .topics()
            .iter()
            .filter_map(|topic| describe_topic(topic, None))
            .collect(),
        Some(wanted) => wanted
            .iter()
            .filter_map(|w| {
                let topic = broker.topic(w.topic.as_str())?;
                describe_topic(&topic, Some(&w.partitions))
            })
            .collect(),
    };
    let path = broker.log_dir().path();
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (total_bytes, usable_bytes) = file_system_bytes(&absolute).unwrap_or((-1, -1));
    let result = DescribeLogDirsResult::default()
        .with_error_code(0)
        .with_log_dir(StrBytes::from_string(
            absolute.to_string_lossy().into_owned(),
        ))
        .with_topics(topics)
        .with_total_bytes(total_bytes)
        .with_usable_bytes(usable_bytes);
    DescribeLogDirsResponse::default()
        .with_error_code(0)
        .with_results(vec![result])
}

#[cfg(test)]
mod tests {
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;

    use crate::handlers::describe_configs::testing::{assert_encodes, open_broker, topic_name};

    use super::*;

    #[test]
    fn file_system_bytes_of_a_real_directory() {
        let dir = tempfile::tempdir().unwrap();
        let (total, usable) = file_system_bytes(dir.path()).unwrap();
        assert!(total > 0);
        assert!((0..=total).contains(&usable));
        assert!(file_system_bytes(Path::new("/no/such/dir/anywhere")).is_none());
    }

    #[test]
    fn lists_the_partitions_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let broker = open_broker(dir.path());
        broker.create_topic("t", 2, 1, Default::default()).unwrap();
        let response = handle(
            &broker,
            4,
            DescribeLogDirsRequest::default().with_topics(None),
        );
        assert_encodes(&response, 1..=4);
        let result = &response.results[0];
        assert!(Path::new(result.log_dir.as_str()).is_absolute());
        assert!(result.total_bytes > 0);
        assert_eq!(result.topics[0].partitions.len(), 2);
        let some = DescribeLogDirsRequest::default().with_topics(Some(vec![
            DescribableLogDirTopic::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![1, 9]),
            DescribableLogDirTopic::default()
                .with_topic(topic_name("zz"))
                .with_partitions(vec![0]),
        ]));
        let response = handle(&broker, 4, some);
        let topics = &response.results[0].topics;
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].partitions.len(), 1);
        assert_eq!(topics[0].partitions[0].partition_index, 1);
    }
}
