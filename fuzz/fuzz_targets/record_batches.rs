//! Any bytes as a Produce request's records: batch splitting and validation
//! accept or refuse, never panic; what they accept parses as a header.
#![no_main]

use fjord_broker::log::batch::{BatchHeader, split_batches};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(batches) = split_batches(data) {
        for (range, header) in batches {
            let parsed = BatchHeader::parse(&data[range.clone()]).expect("accepted batches parse");
            assert_eq!(parsed, header, "the returned header is the batch's");
            assert_eq!(range.len(), 12 + header.batch_length as usize);
        }
    }
});
