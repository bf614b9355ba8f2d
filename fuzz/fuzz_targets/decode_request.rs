//! Any bytes as a request frame: decoding returns a request or an error,
//! never panics or aborts (hostile counts included).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fjord_broker::protocol::codec::decode_request(bytes::Bytes::copy_from_slice(data));
});
