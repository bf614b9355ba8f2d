//! The cleaner on a real partition directory: what survives a clean, when a clean runs, the
//! bounded key map, the I/O throttle. The crash points of the swap are in `swap_tests.rs`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use super::{Clock, ManualClock, Throttle};
use crate::log::batch::{BatchHeader, validate_stored_batch};
use crate::log::builder::BatchBuilder;
use crate::log::records::BatchRecords;
use crate::log::{LastRecord, LogConfig, PartitionLog, ProducerView};

pub(super) const NOW: i64 = 1_000_000;
pub(super) const BUDGET: usize = 1 << 20;

/// One record as read back: offset, key, value (None = tombstone).
pub(super) type Row = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

pub(super) fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 100,
        retention_ms: -1,
        compact: true,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

pub(super) fn open(dir: &Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config, false).expect("open")
}

/// Appends one batch of `(key, value)` records at `ts`.
pub(super) fn append(
    log: &mut PartitionLog,
    records: &[(&str, Option<&str>)],
    ts: i64,
) -> BatchHeader {
    let mut builder = BatchBuilder::new(ts);
    for (key, value) in records {
        builder = builder.record(Some(key.as_bytes()), value.map(str::as_bytes), ts);
    }
    let mut batch = builder.build();
    log.append(&mut batch, 0, ts).expect("append");
    BatchHeader::parse(&batch).expect("header")
}

/// 300 updates to five keys, key `k4` deleted last, in single-record batches.
pub(super) fn updates(log: &mut PartitionLog) {
    for i in 0..300 {
        let key = format!("k{}", i % 5);
        let value = format!("{key}-v{i}");
        append(log, &[(&key, Some(&value))], NOW - 100_000 + i);
    }
    append(log, &[("k4", None)], NOW - 50_000);
    // Some more so the tombstone's segment closes.
    for i in 0..20 {
        append(log, &[(&format!("f{i}"), Some("filler"))], NOW - 40_000);
    }
}

/// Every batch from the log start, checked: valid CRC, increasing offsets.
pub(super) fn batches(log: &PartitionLog) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    let mut previous_last = -1;
    while offset < log.log_end_offset() {
        let bytes = log.read(offset, 1 << 16, i64::MAX).expect("read");
        assert!(!bytes.is_empty(), "no batch at {offset}");
        for range in split_batches_stored(&bytes) {
            let header = validate_stored_batch(&bytes[range.clone()]).expect("valid stored batch");
            assert!(header.base_offset > previous_last, "offsets go back");
            previous_last = header.last_offset();
            offset = previous_last + 1;
            out.push(bytes[range].to_vec());
        }
    }
    out
}

fn split_batches_stored(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let size = BatchHeader::parse(&bytes[pos..]).expect("header").size();
        ranges.push(pos..pos + size);
        pos += size;
    }
    ranges
}

pub(super) fn rows(log: &PartitionLog) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    for batch in batches(log) {
        let decoded = BatchRecords::new(&batch, 1 << 26).expect("decodes");
        for record in decoded.records() {
            let r = record.expect("record");
            if let Some(last) = out.last() {
                assert!(r.offset > last.0, "record offsets strictly increase");
            }
            out.push((
                r.offset,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
            ));
        }
    }
    out
}

/// What a clean of everything below `end` keeps of `rows` when no tombstone has expired:
/// the last record of each key below `end`, and everything from `end` on.
pub(super) fn compacted(rows: &[Row], end: i64) -> Vec<Row> {
    let mut latest: HashMap<&Option<Vec<u8>>, i64> = HashMap::new();
    for (offset, key, _) in rows.iter().filter(|r| r.0 < end) {
        latest.insert(key, *offset);
    }
    rows.iter()
        .filter(|(offset, key, _)| *offset >= end || latest.get(key) == Some(offset))
        .cloned()
        .collect()
}

/// Key → value after replaying `rows` (a tombstone deletes its key).
pub(super) fn table(rows: &[Row]) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut table = BTreeMap::new();
    for (_, key, value) in rows {
        let key = key.clone().expect("keyed");
        match value {
            Some(value) => table.insert(key, value.clone()),
            None => table.remove(&key),
        };
    }
    table
}

pub(super) fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap") || n.ends_with(".deleted"))
        .collect()
}

#[test]
fn many_updates_to_few_keys_clean_down_to_the_latest_value_per_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    updates(&mut log);
    let before = rows(&log);
    let (segments, bytes, end) = (log.segments.len(), log.size_bytes(), log.log_end_offset());
    let active = log.active_base_offset();
    assert!(segments > 10, "the test needs many closed segments");
    // Cleaned segments are grouped up to segment.bytes, counted before cleaning (as Kafka).
    log.set_config(LogConfig {
        segment_bytes: 10_000,
        ..config()
    });

    let outcome = log
        .clean(NOW, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("a clean ran");
    assert_eq!(outcome.first_dirty, active);
    let after = rows(&log);
    assert_eq!(after, compacted(&before, active));
    assert!(
        after.len() < before.len() / 10,
        "{} of {} records left",
        after.len(),
        before.len()
    );
    assert_eq!(
        table(&after),
        table(&before),
        "every key reads its latest value"
    );
    assert!(
        log.size_bytes() < bytes / 4,
        "{} bytes of {bytes}",
        log.size_bytes()
    );
    assert!(
        log.segments.len() < segments,
        "small cleaned segments are grouped"
    );
    assert_eq!(log.log_end_offset(), end);
    // The tombstone is kept for now (delete.retention.ms has not passed).
    assert!(
        after
            .iter()
            .any(|(_, k, v)| k.as_deref() == Some(b"k4") && v.is_none())
    );

    // A fetch inside a removed range gets the next batch; ListOffsets names a kept record.
    let removed = (0..active)
        .find(|o| !after.iter().any(|r| r.0 == *o))
        .expect("some offset was removed");
    let next = batches(&log)
        .into_iter()
        .find(|b| BatchHeader::parse(b).is_ok_and(|h| h.last_offset() >= removed))
        .expect("a later batch");
    let fetched = log.read(removed, 1, i64::MAX).expect("read in a gap");
    assert_eq!(&fetched[..], &next[..], "the fetch gets the next batch");
    let (offset, _) = log
        .offset_for_timestamp(NOW - 100_000)
        .expect("lookup")
        .expect("a record");
    assert_eq!(offset, after[0].0, "the first kept record answers");

    // Reopened, uncleanly: the same records, indexes and all.
    drop(log);
    let log = open(dir.path(), config());
    assert_eq!(rows(&log), after);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn tombstones_survive_until_delete_retention_then_go() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        delete_retention_ms: 1_000,
        ..config()
    };
    let mut log = open(dir.path(), config);
    append(&mut log, &[("a", Some("1")), ("b", Some("1"))], NOW - 10);
    append(&mut log, &[("a", None)], NOW - 5);
    let filler = |log: &mut PartitionLog, round: usize| {
        for i in 0..12 {
            append(
                log,
                &[(&format!("f{round}-{i}"), Some("filler-value"))],
                NOW,
            );
        }
    };
    filler(&mut log, 0);
    let tombstone = |log: &PartitionLog| {
        rows(log)
            .into_iter()
            .any(|(_, k, v)| k.as_deref() == Some(b"a") && v.is_none())
    };
    log.clean(NOW, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    assert!(tombstone(&log), "kept by the first clean");
    let horizon = batches(&log)
        .iter()
        .filter_map(|b| BatchHeader::parse(b).ok())
        .find_map(|h| h.delete_horizon());
    assert_eq!(
        horizon,
        Some(NOW + 1_000),
        "the clean set the delete horizon"
    );
    assert!(
        !rows(&log)
            .iter()
            .any(|(_, k, v)| k.as_deref() == Some(b"a") && v.is_some())
    );

    filler(&mut log, 1);
    log.clean(NOW + 999, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    assert!(tombstone(&log), "kept until the horizon");

    filler(&mut log, 2);
    log.clean(NOW + 1_000, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    assert!(!tombstone(&log), "dropped at the horizon");
    assert!(
        rows(&log)
            .iter()
            .any(|(_, k, _)| k.as_deref() == Some(b"b"))
    );
}

#[test]
fn the_active_segment_is_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    updates(&mut log);
    // Superseded updates in the active segment itself.
    for i in 0..3 {
        append(&mut log, &[("k0", Some(&format!("active-{i}")))], NOW);
    }
    let active = log.active_base_offset();
    let active_bytes = log.read(active, 1 << 20, i64::MAX).expect("read active");
    log.clean(NOW, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    assert_eq!(log.active_base_offset(), active);
    assert_eq!(
        log.read(active, 1 << 20, i64::MAX).expect("read"),
        active_bytes
    );
    let active_rows: Vec<Row> = rows(&log).into_iter().filter(|r| r.0 >= active).collect();
    assert!(
        active_rows
            .iter()
            .filter(|r| r.1.as_deref() == Some(b"k0"))
            .count()
            >= 1,
        "the active segment's updates stay: {active_rows:?}"
    );
}

#[test]
fn producer_fields_and_control_batches_survive_a_clean() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    // Producer 7: a batch whose first record is superseded later, then a batch wholly
    // superseded that is its last batch; producer 8's last batch is wholly superseded too.
    let mut mixed = BatchBuilder::new(NOW)
        .producer(7, 3, 100)
        .record(Some(b"x"), Some(b"old"), NOW)
        .record(Some(b"y"), Some(b"keep"), NOW)
        .build();
    log.append(&mut mixed, 0, NOW).expect("append");
    let mixed = BatchHeader::parse(&mixed).expect("header");
    let mut last7 = BatchBuilder::new(NOW)
        .producer(7, 3, 102)
        .record(Some(b"z"), Some(b"old"), NOW)
        .build();
    log.append(&mut last7, 0, NOW).expect("append");
    let last7 = BatchHeader::parse(&last7).expect("header");
    let mut last8 = BatchBuilder::new(NOW)
        .producer(8, 0, 0)
        .record(Some(b"w"), Some(b"old"), NOW)
        .build();
    log.append(&mut last8, 0, NOW).expect("append");
    let last8 = BatchHeader::parse(&last8).expect("header");
    let mut control = BatchBuilder::new(NOW)
        .producer(9, 1, -1)
        .transactional()
        .control()
        .record(Some(b"\0\0\0\0"), Some(b"\0\0\0\0\0\0"), NOW)
        .build();
    log.append(&mut control, 0, NOW).expect("append");
    append(
        &mut log,
        &[("x", Some("new")), ("z", Some("new")), ("w", Some("new"))],
        NOW,
    );
    for i in 0..12 {
        append(&mut log, &[(&format!("f{i}"), Some("filler-value"))], NOW);
    }
    let view = ProducerView {
        last_stable: i64::MAX,
        producers: HashMap::from([(
            7,
            LastRecord {
                last_data_offset: Some(last7.last_offset()),
                epoch: 3,
            },
        )]),
    };
    log.clean(NOW, BUDGET, view).expect("clean").expect("ran");

    let after: Vec<Vec<u8>> = batches(&log);
    let find = |base: i64| {
        after
            .iter()
            .find(|b| BatchHeader::parse(b).is_ok_and(|h| h.base_offset == base))
            .cloned()
    };
    let rewritten = BatchHeader::parse(&find(mixed.base_offset).expect("kept")).expect("header");
    assert_eq!(rewritten.record_count, 1);
    assert_eq!(
        (
            rewritten.last_offset_delta,
            rewritten.producer_id,
            rewritten.producer_epoch,
            rewritten.base_sequence
        ),
        (1, 7, 3, 100)
    );
    let emptied =
        BatchHeader::parse(&find(last7.base_offset).expect("kept empty")).expect("header");
    assert_eq!(
        (
            emptied.record_count,
            emptied.last_offset(),
            emptied.producer_id,
            emptied.base_sequence
        ),
        (0, last7.last_offset(), 7, 102)
    );
    assert!(
        find(last8.base_offset).is_none(),
        "an untracked producer's batch goes"
    );
    // An ABORT marker of a transaction without data: kept, its record whole, with a delete
    // horizon set (see `txn_tests.rs` for what follows).
    let control_header = BatchHeader::parse(&control).expect("h");
    let marker = find(control_header.base_offset).expect("kept");
    let marker_header = BatchHeader::parse(&marker).expect("header");
    assert_eq!(
        marker_header.delete_horizon(),
        Some(NOW + LogConfig::default().delete_retention_ms)
    );
    assert_eq!(
        crate::log::control::EndTxnMarker::from_batch(&marker),
        crate::log::control::EndTxnMarker::from_batch(&control)
    );
    assert_eq!(
        (marker_header.producer_id, marker_header.producer_epoch),
        (9, 1)
    );
}

#[test]
fn the_dirty_ratio_and_min_compaction_lag_gate_cleaning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        min_cleanable_dirty_ratio: 0.5,
        min_compaction_lag_ms: 60_000,
        ..config()
    };
    let mut log = open(dir.path(), config);
    for i in 0..60 {
        append(
            &mut log,
            &[(&format!("k{}", i % 30), Some("a value of some length"))],
            NOW,
        );
    }
    // Everything is younger than min.compaction.lag.ms.
    assert_eq!(log.cleanable(NOW, i64::MAX).expect("measure"), None);
    assert!(
        log.clean(NOW, BUDGET, ProducerView::unbounded())
            .expect("clean")
            .is_none()
    );
    let later = NOW + 60_001;
    let dirty = log
        .cleanable(later, i64::MAX)
        .expect("measure")
        .expect("dirty");
    assert_eq!(dirty.dirty_ratio, 1.0);
    assert!(
        log.clean(later, BUDGET, ProducerView::unbounded())
            .expect("clean")
            .is_some()
    );
    // A little new data is below the ratio...
    append(&mut log, &[("k0", Some("a value of some length"))], NOW);
    for i in 0..6 {
        append(
            &mut log,
            &[(&format!("n{i}"), Some("a value of some length"))],
            NOW,
        );
    }
    let small = log
        .cleanable(later, i64::MAX)
        .expect("measure")
        .expect("dirty");
    assert!(small.dirty_ratio < 0.5 && !small.due, "{small:?}");
    assert!(
        log.clean(later, BUDGET, ProducerView::unbounded())
            .expect("clean")
            .is_none()
    );
    // ...unless a dirty batch is older than max.compaction.lag.ms.
    log.set_config(LogConfig {
        max_compaction_lag_ms: 1_000,
        ..log.config().clone()
    });
    let overdue = log
        .cleanable(later, i64::MAX)
        .expect("measure")
        .expect("dirty");
    assert!(overdue.overdue && overdue.due, "{overdue:?}");
    assert!(
        log.clean(later, BUDGET, ProducerView::unbounded())
            .expect("clean")
            .is_some()
    );
    // A log that is not compacted is never cleaned.
    log.set_config(LogConfig {
        compact: false,
        ..log.config().clone()
    });
    assert_eq!(log.cleanable(later, i64::MAX).expect("measure"), None);
}

#[test]
fn a_dedupe_budget_too_small_for_every_key_cleans_part_and_the_next_pass_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    for round in 0..3 {
        for i in 0..40 {
            append(
                &mut log,
                &[(&format!("key-{i:02}"), Some(&format!("v{round}")))],
                NOW,
            );
        }
    }
    let before = rows(&log);
    let active = log.active_base_offset();
    // Room for 15 of the 40 keys.
    let budget = 15 * (6 + super::ENTRY_OVERHEAD);
    let first = log
        .clean(NOW, budget, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    assert!(first.first_dirty < active, "{first:?}");
    assert_eq!(rows(&log), compacted(&before, first.first_dirty));
    let mut passes = 1;
    while let Some(outcome) = log
        .clean(NOW, budget, ProducerView::unbounded())
        .expect("clean")
    {
        passes += 1;
        assert!(passes < 20, "the clean point must advance");
        if outcome.first_dirty == active {
            break;
        }
    }
    assert!(passes >= 3, "{passes} passes");
    assert_eq!(rows(&log), compacted(&before, active));
    // A budget too small for one key cleans nothing.
    append(&mut log, &[("late", Some("v"))], NOW);
    for i in 0..12 {
        append(&mut log, &[(&format!("f{i}"), Some("filler-value"))], NOW);
    }
    assert!(
        log.clean(NOW, 10, ProducerView::unbounded())
            .expect("clean")
            .is_none()
    );
}

#[test]
fn retention_removing_a_segment_during_a_clean_abandons_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = LogConfig {
        retention_ms: 1_000,
        ..config()
    };
    let mut log = open(dir.path(), config);
    updates(&mut log);
    let plan = log
        .plan_clean(NOW, ProducerView::unbounded())
        .expect("plan")
        .expect("due");
    let cleaned = plan
        .run(BUDGET, &Throttle::unlimited())
        .expect("run")
        .expect("cleaned");
    assert!(log.apply_retention(NOW + 1_000_000).expect("retention") > 0);
    log.take_retired().unlink();
    let kept = rows(&log);
    assert!(log.swap_in(cleaned).expect("swap").is_none(), "abandoned");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    assert_eq!(rows(&log), kept);

    // A plan whose segment disappears before it is read gives up the same way.
    for i in 0..40 {
        append(
            &mut log,
            &[(&format!("k{}", i % 3), Some("again"))],
            NOW + 1_000_000,
        );
    }
    let plan = log
        .plan_clean(NOW + 1_000_000, ProducerView::unbounded())
        .expect("plan")
        .expect("due");
    assert!(log.apply_retention(NOW + 3_000_000).expect("retention") > 0);
    log.take_retired().unlink();
    assert!(matches!(
        plan.run(BUDGET, &Throttle::unlimited()),
        Err(crate::log::LogError::SegmentRemoved { .. })
    ));
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn compressed_batches_are_rewritten_in_their_codec() {
    use crate::log::test_batch::{Codec, Record, encode_batch_with};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    for (i, codec) in Codec::ALL.into_iter().enumerate() {
        let key = format!("b{i}");
        let records = [
            Record::new(b"a", b"superseded", 0),
            Record::new(key.as_bytes(), b"kept", 1),
        ];
        let mut batch = encode_batch_with(0, NOW, &records, codec);
        log.append(&mut batch, 0, NOW).expect("append");
        append(&mut log, &[("a", Some("newer"))], NOW);
    }
    for i in 0..12 {
        append(&mut log, &[(&format!("f{i}"), Some("filler-value"))], NOW);
    }
    log.clean(NOW, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    let codecs: Vec<u8> = batches(&log)
        .iter()
        .filter_map(|b| BatchHeader::parse(b).ok())
        .filter(|h| h.last_offset_delta == 1)
        .map(|h| h.compression())
        .collect();
    assert_eq!(codecs, vec![0, 1, 2, 2, 3, 4]);
    let kept: Vec<_> = rows(&log)
        .into_iter()
        .filter(|(_, k, _)| k.as_ref().is_some_and(|k| k.starts_with(b"b")))
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(kept, vec![Some(b"kept".to_vec()); 6]);
    let a: Vec<_> = rows(&log)
        .into_iter()
        .filter(|(_, k, _)| k.as_deref() == Some(b"a"))
        .map(|(_, _, v)| v)
        .collect();
    assert_eq!(a, vec![Some(b"newer".to_vec())], "only the latest a");
}

#[test]
fn a_read_planned_before_a_swap_plans_again_rather_than_read_the_cleaned_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    updates(&mut log);
    let offset = log.segments[1].base_offset;
    let before = log.read(offset, 1 << 16, i64::MAX).expect("read");
    let stale = log.plan_read(offset, 1 << 16, i64::MAX).expect("plan");
    log.clean(NOW, BUDGET, ProducerView::unbounded())
        .expect("clean")
        .expect("ran");
    assert!(matches!(
        stale.read(),
        Err(crate::log::LogError::SegmentRemoved { .. })
    ));
    let again = log.read(offset, 1 << 16, i64::MAX).expect("planned again");
    assert_ne!(again, before, "the cleaned segment reads differently");
}

#[test]
fn every_byte_a_clean_reads_and_writes_passes_through_the_throttle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    updates(&mut log);
    let closed = &log.segments[..log.segments.len() - 1];
    let read: u64 = closed.iter().map(|s| s.size).sum();
    let plan = log
        .plan_clean(NOW, ProducerView::unbounded())
        .expect("plan")
        .expect("due");
    let clock = Arc::new(ManualClock::default());
    let rate = 1_000.0;
    let io = Throttle::with_clock(rate, clock.clone());
    let cleaned = plan.run(BUDGET, &io).expect("run").expect("cleaned");
    let written: u64 = cleaned.groups.iter().map(|g| g.size).sum();
    // The first clean's map reads every closed byte, the rewrite reads them again and writes
    // the cleaned segments; the bucket starts with 300 ms worth.
    let want = ((2 * read + written) as f64 - rate * 0.3) / rate;
    let slept = clock.slept().as_secs_f64();
    assert!(
        (slept - want).abs() < 1e-3,
        "slept {slept} s, want {want} s"
    );
    let outcome = log.swap_in(cleaned).expect("swap").expect("swapped");
    assert_eq!((outcome.bytes_before, outcome.bytes_after), (read, written));
}

/// Stops its throttle once it has slept `stop_after`, noting whether a `.cleaned` file was
/// being written then.
struct StopMidClean {
    clock: ManualClock,
    throttle: std::sync::OnceLock<Arc<Throttle>>,
    stop_after: std::time::Duration,
    dir: std::path::PathBuf,
    saw_cleaned: std::sync::atomic::AtomicBool,
}

impl Clock for StopMidClean {
    fn now(&self) -> std::time::Duration {
        self.clock.now()
    }

    fn sleep(&self, duration: std::time::Duration) {
        self.clock.sleep(duration);
        if self.clock.slept() >= self.stop_after {
            let writing = leftovers(&self.dir).iter().any(|n| n.ends_with(".cleaned"));
            self.saw_cleaned
                .store(writing, std::sync::atomic::Ordering::SeqCst);
            self.throttle.get().expect("throttle set").stop();
        }
    }
}

#[test]
fn a_throttle_stopped_mid_clean_abandons_it_and_leaves_no_cleaner_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    updates(&mut log);
    let before = rows(&log);
    let closed = &log.segments[..log.segments.len() - 1];
    let read: u64 = closed.iter().map(|s| s.size).sum();
    let plan = log
        .plan_clean(NOW, ProducerView::unbounded())
        .expect("plan")
        .expect("due");
    // At 1000 bytes/s the map takes read/1000 s; stop halfway through the rewrite.
    let clock = Arc::new(StopMidClean {
        clock: ManualClock::default(),
        throttle: std::sync::OnceLock::new(),
        stop_after: std::time::Duration::from_millis(read * 3 / 2),
        dir: dir.path().to_path_buf(),
        saw_cleaned: std::sync::atomic::AtomicBool::new(false),
    });
    let io = Arc::new(Throttle::with_clock(1_000.0, clock.clone()));
    let _ = clock.throttle.set(io.clone());
    assert!(matches!(
        plan.run(BUDGET, &io),
        Err(crate::log::LogError::CleanAborted)
    ));
    assert!(
        clock.saw_cleaned.load(std::sync::atomic::Ordering::SeqCst),
        "stopped while writing"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    assert_eq!(rows(&log), before);
}
