//! Length-prefixed frames: every Kafka request and response is a big-endian
//! `i32` byte count followed by that many bytes.
//!
//! The prefix is validated before the body is buffered, so a peer claiming a
//! 2 GiB request costs four bytes of memory, not two gigabytes.

/// Kafka's default `socket.request.max.bytes`: 100 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// Size of the length prefix in bytes.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Why a frame's length prefix was refused; the connection must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("negative frame length {0}")]
    Negative(i32),
    #[error("frame of {length_bytes} bytes exceeds socket.request.max.bytes ({max_bytes})")]
    TooLarge {
        length_bytes: usize,
        max_bytes: usize,
    },
}

/// Reads the length prefix at the start of `buf`.
///
/// Returns `Ok(None)` while fewer than four bytes are buffered, otherwise the
/// body length, which is at most `max_bytes`.
pub fn body_length(buf: &[u8], max_bytes: usize) -> Result<Option<usize>, FrameError> {
    let Some(prefix) = buf.get(..LENGTH_PREFIX_BYTES) else {
        return Ok(None);
    };
    let length = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if length < 0 {
        return Err(FrameError::Negative(length));
    }
    let length_bytes = length as usize;
    if length_bytes > max_bytes {
        return Err(FrameError::TooLarge {
            length_bytes,
            max_bytes,
        });
    }
    Ok(Some(length_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_whole_prefix() {
        assert_eq!(body_length(&[0, 0, 1], 10), Ok(None));
    }

    #[test]
    fn refuses_negative_and_oversized_lengths() {
        assert_eq!(
            body_length(&[0xff, 0xff, 0xff, 0xff], 10),
            Err(FrameError::Negative(-1))
        );
        assert_eq!(
            body_length(&[0, 0, 0, 11], 10),
            Err(FrameError::TooLarge {
                length_bytes: 11,
                max_bytes: 10
            })
        );
        assert_eq!(body_length(&[0, 0, 0, 10, 9], 10), Ok(Some(10)));
    }
}
