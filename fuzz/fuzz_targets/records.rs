//! Any bytes as a stored batch whose records are decoded (ListOffsets by time, later
//! compaction): decompression and record decoding accept or refuse, never panic, and never
//! inflate past the cap. Mirrors the property tests in `broker/src/log/records_tests.rs`.
#![no_main]

use fjord_broker::log::records::{BatchRecords, RecordError, decode_all};
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // The bytes as a whole batch, header included.
    let _ = decode_all(data, LIMIT);

    // The bytes as a records section behind a well-formed header, so the decompressors and the
    // record decoder see them: byte 0 picks the codec (and the LogAppendTime bit), byte 1 the
    // record count. The decoder does not read the CRC, so it is left zero.
    let [flags, count, body @ ..] = data else {
        return;
    };
    let attributes = i16::from(flags & 0x0f);
    let count = i32::from(*count);
    let mut batch = Vec::with_capacity(61 + body.len());
    batch.extend_from_slice(&0i64.to_be_bytes()); // base offset
    batch.extend_from_slice(&((49 + body.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    batch.push(2); // magic
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc
    batch.extend_from_slice(&attributes.to_be_bytes());
    batch.extend_from_slice(&(count - 1).max(0).to_be_bytes()); // last offset delta
    batch.extend_from_slice(&1_000i64.to_be_bytes()); // base timestamp
    batch.extend_from_slice(&2_000i64.to_be_bytes()); // max timestamp
    batch.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    batch.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    batch.extend_from_slice(&count.to_be_bytes());
    batch.extend_from_slice(body);
    match BatchRecords::new(&batch, LIMIT) {
        Ok(records) => {
            assert!(records.body().len() <= LIMIT, "decompressed past the cap");
            let mut previous = -1;
            for record in records.records() {
                let Ok(record) = record else { break };
                assert!(record.offset > previous, "offsets increase");
                assert!(record.offset < i64::from(count.max(1)), "offsets stay in the batch");
                previous = record.offset;
            }
        }
        Err(RecordError::TooLarge { limit }) => assert_eq!(limit, LIMIT),
        Err(_) => {}
    }
});
