//! Every crash point of the swap (`swap.rs`): a partition reopened after a crash at any step,
//! and after any single file operation, reads exactly the old log or exactly the new one, never
//! a mix, keeps no cleaner files, and cleans on.

use std::path::Path;
use std::sync::Arc;

use super::tests::{
    BUDGET, NOW, Row, append, compacted, config, leftovers, open, rows, table, updates,
};
use super::{SwapStep, Throttle};
use crate::log::{FileSync, PartitionLog, ProducerView, Syncer};

/// A log of updates whose closed segments are all due, flushed as a crash would find them.
fn dirty_log(dir: &Path) -> PartitionLog {
    let mut log = open(dir, config());
    updates(&mut log);
    log.flush().expect("flush");
    log
}

/// Skips fsyncs: a process crash keeps the page cache, and the exhaustive test below opens
/// and cleans a log a hundred times.
struct NoSync;

impl FileSync for NoSync {
    fn sync_data(&self, _: &std::fs::File, _: &Path) -> std::io::Result<()> {
        Ok(())
    }

    fn sync_dir(&self, _: &Path) -> std::io::Result<()> {
        Ok(())
    }
}

fn open_unsynced(dir: &Path) -> PartitionLog {
    PartitionLog::open_with_sync(dir, config(), false, Syncer::layered(Arc::new(NoSync)))
        .expect("open")
}

fn plan_and_run(log: &PartitionLog) -> super::Cleaned {
    log.plan_clean(NOW, ProducerView::unbounded())
        .expect("plan")
        .expect("due")
        .run(BUDGET, &Throttle::unlimited())
        .expect("run")
        .expect("cleaned")
}

/// The rows of `rows` in each of `ranges`, and those after the last.
fn split(rows: &[Row], bounds: &[i64]) -> Vec<Vec<Row>> {
    let mut parts = vec![Vec::new(); bounds.len() + 1];
    for row in rows {
        let part = bounds.iter().take_while(|&&b| b <= row.0).count();
        parts[part].push(row.clone());
    }
    parts
}

/// Copies the files of `from` into `to`.
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("list") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
    }
}

#[test]
fn a_crash_after_any_file_operation_of_the_swap_reopens_each_segment_old_or_new() {
    // Updates to three keys in batches of three, a tombstone, and filler to close segments:
    // about eight segments of 600 bytes.
    let template = tempfile::tempdir().expect("tempdir");
    let mut log = open_unsynced(template.path());
    for i in 0..30 {
        let (a, b, c) = (format!("a{i}"), format!("b{i}"), format!("c{i}"));
        append(
            &mut log,
            &[("a", Some(&a)), ("b", Some(&b)), ("c", Some(&c))],
            NOW - 1_000 + i,
        );
    }
    append(&mut log, &[("c", None)], NOW - 500);
    for i in 0..6 {
        append(&mut log, &[(&format!("f{i}"), Some("filler"))], NOW - 400);
    }
    let before = rows(&log);
    let expected = compacted(&before, log.active_base_offset());
    assert_ne!(before, expected, "the clean changes the log");
    drop(log);

    let mut crashes = 0;
    for operations in 1.. {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_dir(template.path(), dir.path());
        let mut log = open_unsynced(dir.path());
        let cleaned = plan_and_run(&log);
        assert!(cleaned.groups.len() > 1, "several cleaned segments");
        // Each cleaned segment replaces its sources on its own, as Kafka's swaps do: a crash
        // between two leaves the first cleaned and the second not, a valid partly compacted
        // log. Within one, never a mix.
        let mut bounds: Vec<i64> = cleaned.groups.iter().skip(1).map(|g| g.base).collect();
        bounds.push(log.active_base_offset());
        let outcome = log
            .swap_in_until(cleaned, Some(SwapStep::Operations(operations)))
            .expect("swap");
        if outcome.is_some() {
            // Fewer operations than that: the swap finished; every point before was crashed at.
            assert_eq!(rows(&log), expected);
            break;
        }
        crashes += 1;
        drop(log); // the crash

        let mut log = open_unsynced(dir.path());
        let reopened = rows(&log);
        let (old, new) = (split(&before, &bounds), split(&expected, &bounds));
        for (i, part) in split(&reopened, &bounds).iter().enumerate() {
            assert!(
                *part == old[i] || *part == new[i],
                "after {operations} operations, segment {i} is neither old nor new"
            );
        }
        assert_eq!(
            table(&reopened),
            table(&before),
            "after {operations} operations"
        );
        assert!(
            leftovers(dir.path()).is_empty(),
            "after {operations} operations: {:?}",
            leftovers(dir.path())
        );
        log.clean(NOW, BUDGET, ProducerView::unbounded())
            .expect("clean");
        assert_eq!(rows(&log), expected, "after {operations} operations");
    }
    // Three renames to .swap and three into place per cleaned segment, one per source retired.
    assert!(crashes >= 2 * 7, "only {crashes} crash points");
}

#[test]
fn a_crash_while_the_cleaned_segment_is_written_rolls_back_to_the_old_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dirty_log(dir.path());
    let before = rows(&log);
    let cleaned = plan_and_run(&log);
    drop(log);
    // The crash came mid-write: the last cleaned segment is torn and has no indexes yet.
    let base = cleaned.groups.last().expect("a group").base;
    let name = |kind: &str| dir.path().join(format!("{base:020}.{kind}.cleaned"));
    let torn = std::fs::OpenOptions::new()
        .write(true)
        .open(name("log"))
        .expect("open cleaned log");
    let size = torn.metadata().expect("stat").len();
    torn.set_len(size / 2).expect("tear");
    for kind in ["index", "timeindex"] {
        std::fs::remove_file(name(kind)).expect("remove index");
    }
    let log = open(dir.path(), config());
    assert_eq!(rows(&log), before);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn every_crash_point_of_the_swap_reopens_to_the_old_or_the_new_log() {
    for stop in [
        SwapStep::Written,
        SwapStep::Renamed,
        SwapStep::Retired,
        SwapStep::Installed,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = open(dir.path(), config());
        updates(&mut log);
        log.flush().expect("flush");
        let before = rows(&log);
        let expected = compacted(&before, log.active_base_offset());
        let plan = log
            .plan_clean(NOW, ProducerView::unbounded())
            .expect("plan")
            .expect("due");
        let cleaned = plan
            .run(BUDGET, &Throttle::unlimited())
            .expect("run")
            .expect("cleaned");
        assert!(
            log.swap_in_until(cleaned, Some(stop))
                .expect("swap")
                .is_none()
        );
        drop(log); // the crash

        let mut log = open(dir.path(), config());
        let want = if stop == SwapStep::Written {
            &before
        } else {
            &expected
        };
        assert_eq!(&rows(&log), want, "reopened after {stop:?}");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{stop:?}: {:?}",
            leftovers(dir.path())
        );
        // The log cleans on as before.
        log.clean(NOW, BUDGET, ProducerView::unbounded())
            .expect("clean");
        assert_eq!(rows(&log), expected, "{stop:?}");
    }
}

#[test]
fn a_crash_while_renaming_to_swap_rolls_back_to_the_old_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    updates(&mut log);
    log.flush().expect("flush");
    let before = rows(&log);
    let plan = log
        .plan_clean(NOW, ProducerView::unbounded())
        .expect("plan")
        .expect("due");
    let cleaned = plan
        .run(BUDGET, &Throttle::unlimited())
        .expect("run")
        .expect("cleaned");
    let base = cleaned.groups[0].base;
    drop(log);
    // The indexes reached .swap, the .log did not.
    for kind in ["index", "timeindex"] {
        let name = |suffix: &str| dir.path().join(format!("{base:020}.{kind}{suffix}"));
        std::fs::rename(name(".cleaned"), name(".swap")).expect("rename");
    }
    let log = open(dir.path(), config());
    assert_eq!(rows(&log), before);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
    drop(cleaned);
}

#[test]
fn a_crash_midway_through_installing_completes_the_swap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut log = open(dir.path(), config());
    updates(&mut log);
    log.flush().expect("flush");
    let expected = compacted(&rows(&log), log.active_base_offset());
    let plan = log
        .plan_clean(NOW, ProducerView::unbounded())
        .expect("plan")
        .expect("due");
    let cleaned = plan
        .run(BUDGET, &Throttle::unlimited())
        .expect("run")
        .expect("cleaned");
    let bases: Vec<i64> = cleaned.groups.iter().map(|g| g.base).collect();
    assert!(bases.len() > 1, "several cleaned segments");
    assert!(
        log.swap_in_until(cleaned, Some(SwapStep::Retired))
            .expect("swap")
            .is_none()
    );
    drop(log);
    // The first segment is fully in place, the second has only its index.
    let name =
        |base: i64, kind: &str, suffix: &str| dir.path().join(format!("{base:020}.{kind}{suffix}"));
    for kind in ["index", "timeindex", "log"] {
        std::fs::rename(name(bases[0], kind, ".swap"), name(bases[0], kind, "")).expect("rename");
    }
    std::fs::rename(
        name(bases[1], "index", ".swap"),
        name(bases[1], "index", ""),
    )
    .expect("rename");
    let log = open(dir.path(), config());
    assert_eq!(rows(&log), expected);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}
