//! Any bytes as a Produce record set: validation and record decoding must
//! return a value or an error, never panic or allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = takhin_storage::validate(bytes::BytesMut::from(data));
    let _ = takhin_storage::decode_records(data, 1 << 20);
});
