//! Unit tests of one segment: index cadence, reads through the index, load and rebuild.

use super::*;
use crate::log::batch::{HEADER_SIZE, assign_offset, validate_batch};
use crate::log::test_batch::batch_of;

/// Appends `n` batches with offsets assigned from `base`; returns them as stored.
fn fill(seg: &mut Segment, n: usize, interval: u64) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut b = batch_of(1 + i % 4, 100 * i as i64, i as u8);
            assign_offset(&mut b, seg.next_offset, 0);
            let h = validate_batch(&b).expect("valid");
            let (head, records) = b.split_at(HEADER_SIZE);
            seg.append(head.try_into().expect("header"), records, &h, interval)
                .expect("append");
            b
        })
        .collect()
}

#[test]
fn file_names_are_twenty_zero_padded_digits() {
    assert_eq!(file_name(0, LOG_SUFFIX), "00000000000000000000.log");
    assert_eq!(
        file_name(52_113, INDEX_SUFFIX),
        "00000000000000052113.index"
    );
}

#[test]
fn an_index_entry_follows_every_interval_of_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seg = Segment::new(dir.path(), 10, &Syncer::os());
    let written = fill(&mut seg, 50, 300);
    let sizes: Vec<u64> = written.iter().map(|b| b.len() as u64).collect();
    // Replay Kafka's rule: an entry before a batch once more than `interval` bytes went by.
    let (mut since, mut expected) = (0, 0);
    for size in &sizes {
        if since > 300 {
            expected += 1;
            since = 0;
        }
        since += size;
    }
    assert!(expected > 5);
    assert_eq!(seg.index_entries, expected);
    let len = fs::metadata(seg.index_path()).expect("stat").len();
    assert_eq!(
        len,
        expected * 8,
        "no preallocation: the file is exactly its entries"
    );
    assert_eq!(
        seg.next_offset,
        10 + written
            .iter()
            .map(|b| validate_batch(b).expect("valid").record_count as i64)
            .sum::<i64>()
    );
}

#[test]
fn every_offset_reads_from_its_own_batch_through_the_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seg = Segment::new(dir.path(), 0, &Syncer::os());
    let written = fill(&mut seg, 50, 200);
    for b in &written {
        let h = validate_batch(b).expect("valid");
        for offset in h.base_offset..=h.last_offset() {
            let read = seg
                .read(offset, 0, i64::MAX)
                .expect("read")
                .expect("in segment");
            assert_eq!(&read[..], &b[..]);
        }
    }
    assert!(
        seg.read(seg.next_offset, 100, i64::MAX)
            .expect("read")
            .is_none()
    );
}

#[test]
fn loading_a_closed_active_segment_finds_its_end_and_max_timestamp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seg = Segment::new(dir.path(), 0, &Syncer::os());
    fill(&mut seg, 30, 200);
    seg.finish_time_index().expect("final entry");
    seg.sync().expect("sync");
    let mut epochs = LeaderEpochCache::load(dir.path()).expect("epochs");
    let (loaded, truncated) =
        Segment::load(dir.path(), 0, None, 200, &mut epochs, &Syncer::os()).expect("load");
    assert_eq!(truncated, 0);
    assert_eq!(
        (
            loaded.size,
            loaded.next_offset,
            loaded.max_timestamp,
            loaded.offset_of_max_timestamp
        ),
        (
            seg.size,
            seg.next_offset,
            seg.max_timestamp,
            seg.offset_of_max_timestamp
        )
    );
    assert_eq!(
        (loaded.index_entries, loaded.time_entries),
        (seg.index_entries, seg.time_entries)
    );
    assert!(loaded.log_handle().is_none(), "loading keeps no file open");
}

#[test]
fn recovery_rebuilds_identical_indexes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seg = Segment::new(dir.path(), 0, &Syncer::os());
    fill(&mut seg, 40, 200);
    seg.finish_time_index().expect("final entry");
    seg.sync().expect("sync");
    let index = fs::read(seg.index_path()).expect("index");
    let time_index = fs::read(seg.time_index_path()).expect("time index");
    let mut epochs = LeaderEpochCache::load(dir.path()).expect("epochs");
    let mut again = Segment::new(dir.path(), 0, &Syncer::os());
    assert_eq!(again.recover(None, 200, &mut epochs).expect("recover"), 0);
    assert_eq!(fs::read(again.index_path()).expect("index"), index);
    assert_eq!(
        fs::read(again.time_index_path()).expect("time index"),
        time_index
    );
    assert_eq!(
        epochs.latest_epoch(),
        Some(0),
        "recovery notes leader epochs"
    );
}

#[test]
fn a_new_segment_file_has_its_directory_entry_fsynced_by_its_first_sync() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seg = Segment::new(dir.path(), 0, &Syncer::os());
    fill(&mut seg, 3, 200);
    let log = seg.log_handle().expect("written, so open");
    let pending = |log: &LogFile| log.unsynced_entry.lock().expect("lock").clone();
    assert_eq!(pending(&log), Some(dir.path().to_path_buf()));
    log.sync().expect("sync");
    assert_eq!(pending(&log), None, "the entry is durable after one sync");

    // Reopening an existing file owes no directory fsync.
    seg.close_files();
    fill(&mut seg, 1, 200);
    assert_eq!(pending(&seg.log_handle().expect("open")), None);
}
