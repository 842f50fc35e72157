//! Any bytes as a request frame body: decoding must return a value or an
//! error, never panic, hang, or allocate beyond the input's size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = takhin_protocol::frame::body_length(data, 100 * 1024 * 1024);
    let _ = takhin_protocol::decode_request(bytes::Bytes::copy_from_slice(data));
});
