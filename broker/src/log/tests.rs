//! Tests of [`PartitionLog`] as a whole: append, read, roll, restart, recovery, lookups.
//! Retention and DeleteRecords tests are in `retention.rs`.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use super::batch::{BatchHeader, HEADER_SIZE, split_batches, validate_batch};
use super::segment::file_name;
use super::test_batch::{self, batch_of};
use super::*;

pub(super) fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// Appends `count` batches of 1..=5 records with timestamps `1000 + 10*i`; returns the bytes
/// as stored (offsets rewritten).
pub(super) fn append_batches(log: &mut PartitionLog, count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            let mut b = batch_of(1 + i % 5, 1000 + 10 * i as i64, i as u8);
            let info = log.append(&mut b, 1, 5_000).expect("append");
            assert_eq!(
                info.base_offset,
                BatchHeader::parse(&b).expect("header").base_offset
            );
            b
        })
        .collect()
}

/// Every batch from `from` to the end, following segment boundaries.
pub(super) fn read_all(log: &PartitionLog, from: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1000, i64::MAX).expect("read");
        assert!(
            !bytes.is_empty(),
            "no data at {offset} below the end {}",
            log.log_end_offset()
        );
        for (range, _) in split_batches(&bytes).expect("whole valid batches") {
            let batch = bytes[range].to_vec();
            offset = BatchHeader::parse(&batch).expect("header").last_offset() + 1;
            out.push(batch);
        }
    }
    out
}

fn open(dir: &Path, clean: bool) -> PartitionLog {
    PartitionLog::open(dir, small_config(), clean).expect("open")
}

#[test]
fn appends_assign_consecutive_offsets_and_read_back_identical_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes()
        ),
        (0, 0, 0)
    );
    let written = append_batches(&mut log, 40);
    let mut next = 0;
    for b in &written {
        let h = validate_batch(b).expect("stored batches stay valid");
        assert_eq!((h.base_offset, h.partition_leader_epoch), (next, 1));
        next = h.last_offset() + 1;
    }
    assert_eq!(log.log_end_offset(), next);
    assert!(log.segments.len() > 2, "1 KiB segments must have rolled");
    assert_eq!(read_all(&log, 0), written);
    assert_eq!(
        log.size_bytes(),
        written.iter().map(|b| b.len() as u64).sum::<u64>()
    );
}

#[test]
fn a_read_starts_at_the_batch_containing_the_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 40);
    for (i, b) in written.iter().enumerate() {
        let h = validate_batch(b).expect("valid");
        for offset in h.base_offset..=h.last_offset() {
            let bytes = log.read(offset, 1, i64::MAX).expect("read");
            assert_eq!(&bytes[..], &b[..], "offset {offset} is in batch {i}");
        }
    }
}

#[test]
fn reads_respect_max_bytes_but_return_at_least_one_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 6);
    let two = written[0].len() + written[1].len();
    assert_eq!(log.read(0, two, i64::MAX).expect("read").len(), two);
    assert_eq!(log.read(0, two + 1, i64::MAX).expect("read").len(), two);
    assert_eq!(
        log.read(0, 0, i64::MAX).expect("read").len(),
        written[0].len()
    );
}

#[test]
fn reads_stop_below_the_upper_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 6);
    let second = validate_batch(&written[1]).expect("valid");
    let bytes = log
        .read(0, 1 << 20, second.last_offset() + 1)
        .expect("read");
    assert_eq!(bytes.len(), written[0].len() + written[1].len());
    assert!(
        log.read(second.base_offset, 1 << 20, second.base_offset)
            .expect("read")
            .is_empty()
    );
    assert!(
        log.read(second.base_offset, 1 << 20, second.last_offset())
            .expect("read")
            .is_empty()
    );
}

#[test]
fn reads_outside_the_log_are_out_of_range_and_the_end_is_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    append_batches(&mut log, 3);
    let end = log.log_end_offset();
    assert!(log.read(end, 100, i64::MAX).expect("at the end").is_empty());
    assert!(matches!(
        log.read(end + 1, 100, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.read(-1, 100, i64::MAX),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn invalid_or_oversized_batches_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            max_message_bytes: 200,
            ..small_config()
        },
        true,
    )
    .expect("open");
    let mut big = batch_of(20, 0, 1);
    assert!(matches!(
        log.append(&mut big, 0, 0),
        Err(LogError::MessageTooLarge { .. })
    ));
    let mut bad = batch_of(1, 0, 1);
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let err = log.append(&mut bad, 0, 0).expect_err("crc");
    assert!(
        matches!(err, LogError::InvalidBatch(BatchError::CorruptMessage(_))),
        "{err}"
    );
    assert!(!err.is_storage_error());
    let mut empty = super::test_batch::encode_batch(0, 0, &[]);
    assert!(matches!(
        log.append(&mut empty, 0, 0),
        Err(LogError::InvalidBatch(_))
    ));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (0, 0));
}

#[test]
fn log_append_time_topics_stamp_the_batch_with_the_broker_clock() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        timestamp_type: TimestampType::LogAppendTime,
        ..small_config()
    };
    let mut log = PartitionLog::open(dir.path(), config, true).expect("open");
    let mut b = batch_of(3, 10, 1);
    let info = log.append(&mut b, 0, 777_000).expect("append");
    assert_eq!(
        (info.log_append_time, info.max_timestamp, info.last_offset),
        (777_000, 777_000, 2)
    );
    let stored = log.read(0, 1000, i64::MAX).expect("read");
    let h = validate_batch(&stored).expect("CRC was recomputed");
    assert!(h.is_log_append_time());
    assert_eq!(h.max_timestamp, 777_000);
    assert_eq!(log.max_timestamp().expect("max"), Some((0, 777_000)));
}

#[test]
fn large_batches_are_written_as_header_and_records_without_a_copy_and_read_back_whole() {
    for timestamp_type in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = LogConfig {
            timestamp_type,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open(dir.path(), config, true).expect("open");
        // Small (one write) and large (header and records written apart) batches, interleaved.
        let big_value = vec![7u8; 40_000];
        let sent: Vec<Vec<u8>> = (0..6)
            .map(|i| {
                let value: &[u8] = if i % 2 == 0 { &big_value } else { b"small" };
                let records = [test_batch::Record::new(b"k", value, 0)];
                test_batch::encode_batch(0, 1_000 + i, &records)
            })
            .collect();
        for (i, batch) in sent.iter().enumerate() {
            let header = validate_batch(batch).expect("valid");
            let info = log
                .append_validated(batch, &header, 3, 900_000)
                .expect("append");
            assert_eq!(info.base_offset, i as i64);
        }
        let stored = read_all(&log, 0);
        assert_eq!(stored.len(), sent.len());
        for (i, (stored, sent)) in stored.iter().zip(&sent).enumerate() {
            let h = validate_batch(stored).expect("the stored CRC holds");
            assert_eq!((h.base_offset, h.partition_leader_epoch), (i as i64, 3));
            assert_eq!(
                stored[HEADER_SIZE..],
                sent[HEADER_SIZE..],
                "records untouched"
            );
            let stamped = timestamp_type == TimestampType::LogAppendTime;
            assert_eq!(h.is_log_append_time(), stamped);
            assert_eq!(
                h.max_timestamp,
                if stamped { 900_000 } else { 1_000 + i as i64 }
            );
        }
    }
}

#[test]
fn segment_ms_rolls_an_old_active_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        segment_ms: 1000,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config, true).expect("open");
    log.append(&mut batch_of(1, 0, 1), 0, 10_000)
        .expect("append");
    log.append(&mut batch_of(1, 0, 1), 0, 10_999)
        .expect("append");
    assert_eq!(log.segments.len(), 1);
    log.append(&mut batch_of(1, 0, 1), 0, 11_000)
        .expect("append");
    assert_eq!(log.segments.len(), 2);
    assert_eq!(log.segments[1].base_offset, 2);
    assert!(dir.path().join(file_name(2, "log")).exists());
}

#[test]
fn closed_segments_hold_no_open_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    append_batches(&mut log, 40);
    let (closed, active) = log.segments.split_at(log.segments.len() - 1);
    assert!(closed.iter().all(|s| s.log_handle().is_none()));
    assert!(active[0].log_handle().is_some());
    log.close().expect("close");
    let reopened = open(dir.path(), true);
    assert!(
        reopened.segments.iter().all(|s| s.log_handle().is_none()),
        "opening opens nothing"
    );
    assert!(reopened.read(0, 100, i64::MAX).is_ok());
    assert!(
        reopened.segments.iter().all(|s| s.log_handle().is_none()),
        "reads do not keep files"
    );
}

#[test]
fn a_restart_reads_back_identical_batches_clean_or_not() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), true);
        let written = append_batches(&mut log, 30);
        let end = log.log_end_offset();
        if clean {
            log.close().expect("close");
        } else {
            drop(log); // a crash without flush: no checkpoints beyond the last roll
        }
        let mut log = open(dir.path(), clean);
        assert_eq!(log.log_end_offset(), end, "clean={clean}");
        assert_eq!(read_all(&log, 0), written, "clean={clean}");
        let newest = written
            .iter()
            .map(|b| validate_batch(b).expect("valid"))
            .max_by_key(|h| h.max_timestamp);
        // `batch_of` stamps its records 0, 1, ..: the newest is each batch's last record.
        assert_eq!(
            log.max_timestamp().expect("max"),
            newest.map(|h| (h.last_offset(), h.max_timestamp)),
            "clean={clean}"
        );
        let mut more = batch_of(2, 99, 9);
        assert_eq!(
            log.append(&mut more, 1, 0).expect("append").base_offset,
            end
        );
    }
}

#[test]
fn a_torn_tail_is_cut_at_every_byte_position_of_the_last_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 30);
    log.close().expect("close");
    let last = validate_batch(written.last().expect("batches")).expect("valid");
    let active = file_name(
        {
            let log = open(dir.path(), true);
            log.active().base_offset
        },
        "log",
    );
    let pristine = fs::read(dir.path().join(&active)).expect("read active segment");
    let last_len = last.size();
    let keep = pristine.len() - last_len;
    let before_last: Vec<Vec<u8>> = written[..written.len() - 1].to_vec();
    for cut in keep..pristine.len() {
        let case = tempfile::tempdir().expect("tempdir");
        copy_dir(dir.path(), case.path());
        let file = OpenOptions::new()
            .write(true)
            .open(case.path().join(&active))
            .expect("open");
        file.set_len(cut as u64).expect("truncate");
        drop(file);
        let mut log = open(case.path(), false);
        assert_eq!(log.log_end_offset(), last.base_offset, "cut at {cut}");
        assert_eq!(read_all(&log, 0), before_last, "cut at {cut}");
        assert_eq!(
            fs::metadata(case.path().join(&active)).expect("stat").len(),
            keep as u64
        );
        let mut again = batch_of(1, 5, 5);
        assert_eq!(
            log.append(&mut again, 2, 0).expect("append").base_offset,
            last.base_offset
        );
    }
}

#[test]
fn garbage_after_the_last_batch_is_cut_on_unclean_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 8);
    let path = log.active().log_path().to_path_buf();
    drop(log);
    let mut bytes = fs::read(&path).expect("read");
    bytes.extend_from_slice(&[0xab; 100]);
    fs::write(&path, &bytes).expect("write");
    let log = open(dir.path(), false);
    assert_eq!(read_all(&log, 0), written);
}

#[test]
fn a_corrupt_batch_in_an_unflushed_segment_cuts_the_log_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 40);
    drop(log);
    // Forget every checkpoint (if one was written yet): the whole log is unflushed.
    let _ = fs::remove_file(dir.path().join(super::checkpoint::RECOVERY_POINT));
    assert!(!dir.path().join(super::checkpoint::RECOVERY_POINT).exists());
    let first_segment = dir.path().join(file_name(0, "log"));
    let mut bytes = fs::read(&first_segment).expect("read");
    let victim = written[0].len() + written[1].len() + 70; // inside the third batch's records
    bytes[victim] ^= 0xff;
    fs::write(&first_segment, &bytes).expect("write");
    let log = open(dir.path(), false);
    assert_eq!(
        log.segments.len(),
        1,
        "segments after the damage are deleted"
    );
    assert_eq!(read_all(&log, 0), written[..2].to_vec());
    assert_eq!(
        log.log_end_offset(),
        validate_batch(&written[1]).expect("valid").last_offset() + 1
    );
}

#[test]
fn missing_or_corrupt_indexes_are_rebuilt_even_after_a_clean_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 40);
    let max = log.max_timestamp().expect("max");
    let found = log.offset_for_timestamp(1_205).expect("lookup");
    log.close().expect("close");
    fs::remove_file(dir.path().join(file_name(0, "index"))).expect("remove");
    fs::remove_file(dir.path().join(file_name(0, "timeindex"))).expect("remove");
    let second = {
        let log = open(dir.path(), true);
        log.segments[1].base_offset
    };
    fs::write(dir.path().join(file_name(second, "index")), [1, 2, 3]).expect("corrupt");
    let log = open(dir.path(), true);
    assert_eq!(read_all(&log, 0), written);
    assert_eq!(log.max_timestamp().expect("max"), max);
    assert_eq!(log.offset_for_timestamp(1_205).expect("lookup"), found);
    let len = fs::metadata(dir.path().join(file_name(second, "index")))
        .expect("stat")
        .len();
    assert!(
        len > 0 && len.is_multiple_of(8),
        "rebuilt index has whole entries"
    );
}

/// Every record of `batches` (as stored) as `(offset, timestamp)`, in offset order.
fn record_stamps(batches: &[Vec<u8>]) -> Vec<(i64, i64)> {
    batches
        .iter()
        .flat_map(|b| {
            let decoded = records::BatchRecords::new(b, 1 << 20).expect("decodes");
            decoded
                .records()
                .map(|r| r.map(|r| (r.offset, r.timestamp)).expect("valid"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn offset_for_timestamp_finds_the_first_record_reaching_the_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    let written = append_batches(&mut log, 40);
    let stamps = record_stamps(&written);
    for ts in [
        0, 1000, 1001, 1004, 1005, 1200, 1203, 1389, 1390, 1394, 1395,
    ] {
        let expected = stamps.iter().copied().find(|(_, t)| *t >= ts);
        assert_eq!(
            log.offset_for_timestamp(ts).expect("lookup"),
            expected,
            "ts {ts}"
        );
    }
    let newest = stamps.iter().map(|(_, t)| *t).max().expect("records");
    assert_eq!(
        log.max_timestamp().expect("max"),
        stamps.iter().copied().find(|(_, t)| *t == newest)
    );
}

#[test]
fn leader_epochs_answer_offset_for_leader_epoch_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    for epoch in [0, 0, 2, 2, 5] {
        log.append(&mut batch_of(2, 0, 1), epoch, 0)
            .expect("append");
    }
    assert_eq!(log.end_offset_for_epoch(0), Some((0, 4)));
    assert_eq!(log.end_offset_for_epoch(1), Some((0, 4)));
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 8)));
    assert_eq!(log.end_offset_for_epoch(5), Some((5, 10)));
    assert_eq!(log.end_offset_for_epoch(6), None);
    drop(log);
    let log = open(dir.path(), false);
    assert_eq!(log.end_offset_for_epoch(2), Some((2, 8)));
    assert_eq!(log.end_offset_for_epoch(5), Some((5, 10)));
}

#[test]
fn a_torn_first_batch_of_a_new_epoch_drops_that_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), true);
    log.append(&mut batch_of(2, 0, 1), 3, 0).expect("append");
    log.append(&mut batch_of(2, 0, 1), 4, 0).expect("append");
    let path = log.active().log_path().to_path_buf();
    let len = log.size_bytes();
    drop(log);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(len - 1)
        .expect("cut");
    let log = open(dir.path(), false);
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.end_offset_for_epoch(3), Some((3, 2)));
    assert_eq!(log.end_offset_for_epoch(4), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flusher_syncs_many_logs_for_many_concurrent_callers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let flusher = Arc::new(Flusher::start());
    let logs: Vec<Arc<std::sync::Mutex<PartitionLog>>> = (0..4)
        .map(|p| {
            let log = PartitionLog::open(&dir.path().join(format!("t-{p}")), small_config(), true)
                .expect("open");
            Arc::new(std::sync::Mutex::new(log))
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let log = Arc::clone(&logs[i % logs.len()]);
        let flusher = Arc::clone(&flusher);
        tasks.spawn(async move {
            let handle = {
                let mut log = log.lock().expect("not poisoned");
                log.append(&mut batch_of(2, 0, i as u8), 0, 0)
                    .expect("append");
                log.sync_handle()
            };
            flusher.sync(handle).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.expect("task").expect("synced");
    }
    for log in &logs {
        assert_eq!(log.lock().expect("not poisoned").log_end_offset(), 32);
    }
}

pub(super) fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        fs::copy(&path, to.join(path.file_name().expect("file name"))).expect("copy");
    }
}

mod timestamp_lookup {
    use super::*;
    use crate::log::test_batch::{Codec, Record, encode_batch_with};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Producers' clocks disagree: batch timestamps arrive in any order, and so do the
        /// records' within a batch. Lookups through the time index must still agree with a
        /// linear scan of every record, before and after a restart (when the indexes come from
        /// disk), whatever the codec.
        #[test]
        fn timestamp_lookups_agree_with_a_linear_scan_of_records(
            stamps in proptest::collection::vec((0i64..10_000, -50i64..50), 1..60),
            queries in proptest::collection::vec(-10i64..10_100, 1..20),
            start in 0usize..60,
            codec in proptest::sample::select(Codec::ALL.to_vec()),
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut log = open(dir.path(), true);
            let mut written = Vec::new();
            for (i, (ts, spread)) in stamps.iter().enumerate() {
                let mut b = encode_batch_with(0, *ts, &[
                    Record::new(b"k", &[i as u8; 40], 0),
                    Record::new(b"k", b"v", *spread),
                    Record::new(b"k", b"w", spread / 2),
                ], codec);
                log.append(&mut b, 0, 0).expect("append");
                written.push(b);
            }
            let stamps = record_stamps(&written);
            let newest = stamps.iter().map(|(_, t)| *t).max();
            let first_newest = stamps.iter().copied().find(|(_, t)| Some(*t) == newest);
            prop_assert_eq!(log.max_timestamp().expect("max"), first_newest);
            log.close().expect("close");
            log = open(dir.path(), true);
            prop_assert_eq!(log.max_timestamp().expect("max"), first_newest, "after a restart");

            let start = stamps[start % stamps.len()].0 + 1;
            log.delete_records_before(start).expect("delete records");
            let expect = |ts: i64| {
                stamps.iter().copied().find(|(offset, t)| *offset >= start && *t >= ts)
            };
            for clean in [true, false] {
                for ts in &queries {
                    prop_assert_eq!(log.offset_for_timestamp(*ts).expect("lookup"), expect(*ts), "ts {}", ts);
                }
                log.close().expect("close");
                log = open(dir.path(), clean);
            }
        }
    }
}
