//! Recovery under damage: random byte flips and cuts anywhere in an unflushed log, stale
//! clean-shutdown markers, and the recovery point a roll leaves behind.

use std::fs::{self, OpenOptions};

use proptest::prelude::*;

use super::batch::{BatchHeader, validate_batch};
use super::checkpoint::{self, RECOVERY_POINT};
use super::segment::file_name;
use super::test_batch::batch_of;
use super::tests::{append_batches, copy_dir, read_all, small_config};
use super::*;

/// Where each written batch lives: (segment base offset, position in its `.log`).
fn layout(log: &PartitionLog, written: &[Vec<u8>]) -> Vec<(i64, u64)> {
    let mut positions = Vec::new();
    let mut current = (i64::MIN, 0u64);
    for b in written {
        let h = validate_batch(b).expect("valid");
        let seg = log
            .segments
            .iter()
            .rev()
            .find(|s| s.base_offset <= h.base_offset)
            .expect("a segment holds every batch")
            .base_offset;
        if seg != current.0 {
            current = (seg, 0);
        }
        positions.push(current);
        current.1 += b.len() as u64;
    }
    positions
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Damage one batch anywhere in a log with no recovery point: an unclean open keeps exactly
    /// the batches before it (a flip of baseOffset or partitionLeaderEpoch, which the CRC does
    /// not cover, may keep the damaged batch too; a cut between batches of a closed segment
    /// keeps the later segments), and appends continue after what was kept.
    #[test]
    fn recovery_keeps_exactly_the_batches_before_any_damage(
        victim in 0usize..30, at in 0usize..1000, flip in 1u8..=255, cut in any::<bool>()
    ) {
        let template = tempfile::tempdir().expect("tempdir");
        let mut log = PartitionLog::open(template.path(), small_config(), true).expect("open");
        let written = append_batches(&mut log, 30);
        let places = layout(&log, &written);
        drop(log);
        fs::remove_file(template.path().join(RECOVERY_POINT)).ok();

        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(template.path(), dir.path());
        let (segment, position) = places[victim];
        let at = at % written[victim].len();
        let path = dir.path().join(file_name(segment, "log"));
        if cut {
            let file = OpenOptions::new().write(true).open(&path).expect("open");
            file.set_len(position + at as u64).expect("cut");
        } else {
            let mut bytes = fs::read(&path).expect("read");
            bytes[position as usize + at] ^= flip;
            fs::write(&path, bytes).expect("write");
        }

        let mut log = PartitionLog::open(dir.path(), small_config(), false).expect("recover");
        let kept = read_all(&log, 0);
        let outside_crc = at < 8 || (12..16).contains(&at);
        if cut && at == 0 {
            // A cut exactly between batches leaves a segment that ends early: a gap in the
            // offsets, which Kafka's logs allow (compaction makes them too). Later segments stay.
            let later = places.iter().position(|p| p.0 > segment).unwrap_or(written.len());
            let expected: Vec<Vec<u8>> = written[..victim].iter().chain(&written[later..]).cloned().collect();
            prop_assert_eq!(&kept, &expected);
        } else if cut || !outside_crc {
            prop_assert_eq!(&kept, &written[..victim].to_vec());
        } else {
            prop_assert!(kept.len() >= victim && kept[..victim] == written[..victim]);
        }
        let end = log.log_end_offset();
        let expected_end = kept.last().map_or(0, |b| validate_batch(b).expect("valid").last_offset() + 1);
        prop_assert_eq!(end, expected_end);
        let info = log.append(&mut batch_of(2, 0, 0), 1, 0).expect("append after recovery");
        prop_assert_eq!(info.base_offset, end);
    }
}

#[test]
fn a_roll_fsyncs_the_closed_segment_and_moves_the_recovery_point_to_the_new_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), small_config(), true).expect("open");
    append_batches(&mut log, 30);
    let active_base = log.active().base_offset;
    assert!(active_base > 0, "the log must have rolled");
    // The closed segments are fsynced in the background; waiting for them moves the
    // recovery point to the active segment, never beyond it.
    log.settle_closed(true).expect("settle");
    assert!(log.closing.is_empty());
    assert_eq!(log.recovery_point, active_base);
    // The checkpoint file is written off the append path, and only once.
    assert_eq!(
        checkpoint::read_offset(dir.path(), RECOVERY_POINT).expect("read"),
        None
    );
    assert!(log.recovery_checkpoint().write().expect("write"));
    assert!(!log.recovery_checkpoint().write().expect("write"));
    assert_eq!(
        checkpoint::read_offset(dir.path(), RECOVERY_POINT).expect("read"),
        Some(active_base)
    );
}

#[test]
fn many_quick_rolls_keep_at_most_a_few_background_fsyncs_and_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), small_config(), true).expect("open");
    let written = append_batches(&mut log, 300);
    assert!(log.segments.len() > 20, "{} segments", log.segments.len());
    assert!(log.closing.len() <= super::partition::MAX_CLOSING);
    let end = log.log_end_offset();
    log.close().expect("close waits for every fsync");
    assert_eq!(
        checkpoint::read_offset(dir.path(), RECOVERY_POINT).expect("read"),
        Some(end)
    );
    let reopened = PartitionLog::open(dir.path(), small_config(), false).expect("reopen");
    assert_eq!(read_all(&reopened, 0), written);
}

#[test]
fn a_failed_background_fsync_fails_the_log_and_keeps_the_recovery_point() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), small_config(), true).expect("open");
    append_batches(&mut log, 30);
    log.settle_closed(true).expect("settle");
    log.recovery_checkpoint().write().expect("checkpoint");
    let point = log.recovery_point;
    let end = log.log_end_offset();
    log.closing.push_back(super::partition::Closing {
        end,
        sync: Some(std::thread::spawn(|| {
            Err(LogError::Io {
                op: "fsync segment",
                path: "x.log".into(),
                source: std::io::Error::from_raw_os_error(5),
            })
        })),
    });
    let err = log.settle_closed(true).expect_err("the fsync failed");
    assert!(err.is_storage_error(), "{err}");
    assert_eq!(log.recovery_point, point);
    assert_eq!(
        checkpoint::read_offset(dir.path(), RECOVERY_POINT).expect("read"),
        Some(point)
    );
    let err = log
        .append(&mut batch_of(2, 0, 0), 1, 0)
        .expect_err("a failed log takes no appends");
    assert!(matches!(err, LogError::LogFailed { .. }), "{err}");
}

#[test]
fn a_stale_clean_shutdown_marker_still_gets_a_torn_tail_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), small_config(), true).expect("open");
    let written = append_batches(&mut log, 30);
    let path = log.active().log_path().to_path_buf();
    log.close().expect("close");
    let len = fs::metadata(&path).expect("stat").len();
    OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open")
        .set_len(len - 10)
        .expect("cut");
    let log = PartitionLog::open(dir.path(), small_config(), true).expect("open");
    assert_eq!(read_all(&log, 0), written[..written.len() - 1].to_vec());
}

#[test]
fn an_empty_directory_opens_as_an_empty_log_and_creates_no_segment_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("topic-0");
    for clean in [true, false] {
        let log = PartitionLog::open(&path, LogConfig::default(), clean).expect("open");
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
        assert_eq!(log.max_timestamp().expect("max"), None);
        assert_eq!(log.offset_for_timestamp(0).expect("lookup"), None);
        assert_eq!(log.end_offset_for_epoch(0), None);
        log.close().expect("close");
    }
    assert!(!path.join(file_name(0, "log")).exists());
}

#[test]
fn a_partition_log_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PartitionLog>();
    assert_send_sync::<Flusher>();
    assert_send_sync::<SyncHandle>();
}

#[test]
fn a_failed_fsync_takes_the_log_out_of_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = PartitionLog::open(dir.path(), small_config(), true).expect("open");
    append_batches(&mut log, 2);
    let handle = log.sync_handle();
    handle.sync_now().expect("a real file syncs");
    log.mark_failed_for_test();
    let err = log
        .append(&mut batch_of(1, 0, 0), 0, 0)
        .expect_err("failed log");
    assert!(
        matches!(err, LogError::LogFailed { .. }) && err.is_storage_error(),
        "{err}"
    );
    assert!(matches!(log.flush(), Err(LogError::LogFailed { .. })));
    assert!(matches!(handle.sync_now(), Err(LogError::LogFailed { .. })));
    drop(log);
    let mut reopened = PartitionLog::open(dir.path(), small_config(), false).expect("reopen");
    let h = BatchHeader::parse(&reopened.read(0, 10, i64::MAX).expect("read")).expect("header");
    assert_eq!(h.base_offset, 0);
    reopened
        .append(&mut batch_of(1, 0, 0), 0, 0)
        .expect("a reopened log takes writes");
}
