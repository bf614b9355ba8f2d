//! ListOffsets by time against a real log: the exact record, in every codec.

use std::os::unix::fs::FileExt;

use super::*;
use crate::api::errors::log_error;
use crate::log::batch::validate_batch;
use crate::log::segment::file_name;
use crate::log::test_batch::{Codec, Record, encode_batch_with, encode_records, wrap_records};
use crate::log::tests::small_config;
use crate::log::{LogConfig, TimestampType};
use crate::protocol::ResponseError;

/// A log with `batches` batches of 10 records each; record `i` (its offset) has timestamp
/// `10_000 + 10 * i`. Returns the log and its directory.
/// An empty log over a new temporary directory.
fn empty_log(config: LogConfig) -> (tempfile::TempDir, PartitionLog) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = PartitionLog::open(dir.path(), config, true).expect("open");
    (dir, log)
}

fn log_of(codec: Codec, batches: usize, config: LogConfig) -> (tempfile::TempDir, PartitionLog) {
    let (dir, mut log) = empty_log(config);
    let value = [7u8; 30];
    for b in 0..batches {
        let records: Vec<Record<'_>> = (0..10).map(|i| Record::new(b"k", &value, 10 * i)).collect();
        let mut batch = encode_batch_with(0, 10_000 + 100 * b as i64, &records, codec);
        log.append(&mut batch, 0, 0).expect("append");
    }
    (dir, log)
}

fn lookup(log: &PartitionLog, ts: i64) -> Option<(i64, i64)> {
    log.offset_for_timestamp(ts).expect("lookup")
}

#[test]
fn a_time_inside_a_batch_names_the_first_record_at_or_after_it_in_every_codec() {
    for codec in Codec::ALL {
        // Small segments: the lookup crosses segment and time index boundaries too.
        let (_dir, log) = log_of(codec, 12, small_config());
        assert!(log.segments.len() > 1, "{codec:?}: several segments");
        for offset in [0i64, 3, 9, 10, 15, 57, 119] {
            let ts = 10_000 + 10 * offset;
            assert_eq!(lookup(&log, ts), Some((offset, ts)), "{codec:?} exact {ts}");
            // Between two records: the later one, with its own timestamp.
            assert_eq!(
                lookup(&log, ts - 5),
                Some((offset, ts)),
                "{codec:?} before {ts}"
            );
        }
        assert_eq!(lookup(&log, 0), Some((0, 10_000)), "{codec:?}");
        assert_eq!(
            log.max_timestamp().expect("max"),
            Some((119, 11_190)),
            "{codec:?}"
        );
    }
}

#[test]
fn a_time_at_a_batch_boundary_names_the_batch_that_holds_it() {
    let (_dir, log) = log_of(Codec::Lz4, 3, LogConfig::default());
    // The last record of batch 0 is 10_090; batch 1 starts at 10_100.
    assert_eq!(lookup(&log, 10_090), Some((9, 10_090)));
    assert_eq!(lookup(&log, 10_091), Some((10, 10_100)));
    assert_eq!(lookup(&log, 10_100), Some((10, 10_100)));
}

#[test]
fn a_time_past_the_last_record_finds_nothing() {
    let (_dir, log) = log_of(Codec::Zstd, 3, LogConfig::default());
    assert_eq!(lookup(&log, 10_290), Some((29, 10_290)));
    assert_eq!(lookup(&log, 10_291), None);
    let (_empty, log) = empty_log(LogConfig::default());
    assert_eq!(lookup(&log, 0), None);
    assert_eq!(log.max_timestamp().expect("max"), None);
}

/// One batch whose record timestamps are `base + deltas[i]`, in offset order.
fn append_deltas(log: &mut PartitionLog, base: i64, deltas: &[i64], codec: Codec) -> i64 {
    let records: Vec<Record<'_>> = deltas.iter().map(|d| Record::new(b"k", b"v", *d)).collect();
    let mut batch = encode_batch_with(0, base, &records, codec);
    log.append(&mut batch, 0, 0).expect("append").base_offset
}

#[test]
fn timestamps_out_of_order_within_a_batch_are_scanned_in_offset_order() {
    for codec in Codec::ALL {
        let (_dir, mut log) = empty_log(LogConfig::default());
        append_deltas(&mut log, 1_000, &[0, 50, 20, 60, 10, 60], codec);
        append_deltas(&mut log, 1_100, &[0, 5], codec);
        assert_eq!(lookup(&log, 1_015), Some((1, 1_050)), "{codec:?}");
        assert_eq!(lookup(&log, 1_055), Some((3, 1_060)), "{codec:?}");
        assert_eq!(lookup(&log, 1_061), Some((6, 1_100)), "{codec:?}");
        // The largest timestamp appears twice: the first record carrying it.
        let (_dir, mut log) = empty_log(LogConfig::default());
        append_deltas(&mut log, 1_000, &[0, 5], codec);
        append_deltas(&mut log, 1_000, &[0, 70, 20, 70], codec);
        append_deltas(&mut log, 1_000, &[70, 1], codec);
        assert_eq!(
            log.max_timestamp().expect("max"),
            Some((3, 1_070)),
            "{codec:?}"
        );
    }
}

#[test]
fn max_timestamp_names_the_record_in_the_middle_of_its_batch_after_a_restart_too() {
    let (dir, mut log) = empty_log(small_config());
    for b in 0..20 {
        append_deltas(&mut log, 1_000 + b, &[0, 1, 2, 3], Codec::Gzip);
    }
    append_deltas(&mut log, 5_000, &[0, 900, 3], Codec::Gzip);
    for b in 0..20 {
        append_deltas(&mut log, 2_000 + b, &[0, 1, 2, 3], Codec::Gzip);
    }
    assert_eq!(log.max_timestamp().expect("max"), Some((81, 5_900)));
    log.close().expect("close");
    let log = PartitionLog::open(dir.path(), small_config(), true).expect("reopen");
    assert_eq!(log.max_timestamp().expect("max"), Some((81, 5_900)));
    assert_eq!(lookup(&log, 5_001), Some((81, 5_900)));
}

#[test]
fn records_below_the_log_start_offset_are_skipped() {
    let (_dir, mut log) = log_of(Codec::SnappyXerial, 2, LogConfig::default());
    log.delete_records_before(14).expect("delete records");
    assert_eq!(lookup(&log, 0), Some((14, 10_140)));
    assert_eq!(lookup(&log, 10_150), Some((15, 10_150)));
}

#[test]
fn log_append_time_records_carry_the_batch_timestamp() {
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let (_dir, mut log) = empty_log(config);
    for (i, now) in [50_000, 60_000].into_iter().enumerate() {
        let records: Vec<Record<'_>> = (0..5).map(|i| Record::new(b"k", b"v", i)).collect();
        let mut batch = encode_batch_with(0, 1_000 + i as i64, &records, Codec::Zstd);
        log.append(&mut batch, 0, now).expect("append");
    }
    assert_eq!(lookup(&log, 1_003), Some((0, 50_000)));
    assert_eq!(lookup(&log, 50_001), Some((5, 60_000)));
    assert_eq!(log.max_timestamp().expect("max"), Some((5, 60_000)));
    log.delete_records_before(7).expect("delete records");
    assert_eq!(lookup(&log, 50_001), Some((7, 60_000)));
}

#[test]
fn a_batch_whose_header_promises_a_later_time_than_its_records_is_passed_over() {
    let (_dir, mut log) = empty_log(LogConfig::default());
    let body = encode_records(&[Record::new(b"k", b"v", 0), Record::new(b"k", b"v", 1)]);
    let mut lying = wrap_records(0, (1_000, 9_000), (2, 1), 0, &body);
    log.append(&mut lying, 0, 0).expect("append");
    append_deltas(&mut log, 2_000, &[0, 1], Codec::None);
    assert_eq!(lookup(&log, 1_500), Some((2, 2_000)));
    // No record carries the header's maximum: nothing to name, as Kafka answers.
    assert_eq!(log.max_timestamp().expect("max"), None);
}

#[test]
fn undecodable_records_with_a_good_crc_are_corrupt_message() {
    for codec in [Codec::None, Codec::Zstd] {
        let (_dir, mut log) = empty_log(LogConfig::default());
        let body = codec.compress(&encode_records(&[Record::new(b"k", b"v", 0)]));
        // Three records announced, one present; the header promises a later time than the
        // record has, so the lookup reads on into the missing ones.
        let mut batch = wrap_records(0, (1_000, 2_000), (3, 2), codec.id(), &body);
        validate_batch(&batch).expect("the header and CRC check out");
        log.append(&mut batch, 0, 0)
            .expect("append reads only the header");
        let err = log
            .offset_for_timestamp(1_500)
            .expect_err("records do not decode");
        assert!(
            matches!(err, LogError::CorruptRecords { offset: 0, .. }),
            "{err}"
        );
        assert_eq!(log_error(&err), ResponseError::CorruptMessage);
        let err = log.max_timestamp().expect_err("records do not decode");
        assert_eq!(log_error(&err), ResponseError::CorruptMessage);
    }
}

#[test]
fn a_batch_damaged_on_disk_is_a_storage_error() {
    let (dir, log) = log_of(Codec::Gzip, 2, LogConfig::default());
    drop(log);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join(file_name(0, "log")))
        .expect("open segment");
    // A byte of the first batch's records: the header still parses, the CRC fails.
    file.write_all_at(&[0xff], 80).expect("damage");
    let log = PartitionLog::open(dir.path(), LogConfig::default(), true).expect("open");
    let err = log.offset_for_timestamp(10_050).expect_err("damaged");
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    assert_eq!(log_error(&err), ResponseError::KafkaStorageError);
}
