use std::io::Write as _;

use super::*;

fn entry(index: u64) -> Entry {
    Entry {
        log_id: LogId { term: 1, index },
        payload: EntryPayload::Normal(Command::AllocateProducerIds {
            count: index as i64,
        }),
    }
}

fn appended(dir: &Path, indexes: std::ops::RangeInclusive<u64>) -> FileLog {
    let mut log = FileLog::open(dir).unwrap();
    for index in indexes {
        log.append(&[entry(index)]).unwrap();
    }
    log
}

fn only_segment(dir: &Path) -> PathBuf {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments.pop().unwrap()
}

#[test]
fn appended_entries_are_read_back_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let log = appended(dir.path(), 1..=3);
    assert_eq!(
        log.get_log_state().last_log_id,
        Some(LogId { term: 1, index: 3 })
    );
    drop(log);
    let reopened = FileLog::open(dir.path()).unwrap();
    assert_eq!(reopened.entries(1, 4), vec![entry(1), entry(2), entry(3)]);
    assert_eq!(reopened.entries(2, 3), vec![entry(2)]);
    assert_eq!(reopened.get_log_state().last_purged_log_id, None);
}

#[test]
fn an_append_out_of_order_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = appended(dir.path(), 1..=2);
    assert!(log.append(&[entry(4)]).is_err());
    assert!(log.append(&[entry(2)]).is_err());
    log.append(&[entry(3)]).unwrap();
}

#[test]
fn a_torn_last_entry_is_cut_off_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    drop(appended(dir.path(), 1..=2));
    let path = only_segment(dir.path());
    let whole = std::fs::read(&path).unwrap();
    let mut third = Vec::new();
    encode_frame(&entry(3), &mut third);
    // Every prefix of a third frame, and the whole frame with its last byte damaged.
    let mut damaged = third.clone();
    *damaged.last_mut().unwrap() ^= 0xff;
    let tails = (1..third.len())
        .map(|n| third[..n].to_vec())
        .chain([damaged, vec![0; 64]]);
    for tail in tails {
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&tail);
        std::fs::write(&path, &bytes).unwrap();
        let mut log = FileLog::open(dir.path()).unwrap();
        assert_eq!(
            log.get_log_state().last_log_id.map(|id| id.index),
            Some(2),
            "tail of {} bytes",
            tail.len()
        );
        assert_eq!(std::fs::read(&path).unwrap(), whole, "the tail was cut off");
        // The log goes on where the torn entry was.
        log.append(&[entry(3)]).unwrap();
        drop(log);
        assert_eq!(
            FileLog::open(dir.path()).unwrap().entries(3, 4),
            vec![entry(3)]
        );
        std::fs::write(&path, &whole).unwrap();
    }
}

#[test]
fn a_damaged_entry_in_the_middle_stops_the_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(appended(dir.path(), 1..=3));
    let path = only_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    // A byte inside the first entry's payload.
    bytes[HEADER_LEN + FRAME_HEADER_LEN + 5] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let error = FileLog::open(dir.path())
        .err()
        .expect("a corrupt log opened");
    assert!(
        error.to_string().contains("cannot be read safely"),
        "{error}"
    );
    assert!(
        error.to_string().contains(&path.display().to_string()),
        "{error}"
    );
}

#[test]
fn a_segment_of_another_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(appended(dir.path(), 1..=1));
    let path = only_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[7] = 9;
    std::fs::write(&path, &bytes).unwrap();
    let error = FileLog::open(dir.path()).err().expect("opened");
    assert!(error.to_string().contains("version 9"), "{error}");
    bytes[..MAGIC.len()].copy_from_slice(b"NOTLOG");
    std::fs::write(&path, &bytes).unwrap();
    let error = FileLog::open(dir.path()).err().expect("opened");
    assert!(
        error.to_string().contains("not a metadata log segment"),
        "{error}"
    );
}

#[test]
fn a_gap_between_entries_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(appended(dir.path(), 1..=1));
    let path = only_segment(dir.path());
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    let mut frame = Vec::new();
    encode_frame(&entry(3), &mut frame);
    encode_frame(&entry(4), &mut frame);
    file.write_all(&frame).unwrap();
    drop(file);
    let error = FileLog::open(dir.path()).err().expect("opened");
    assert!(error.to_string().contains("entry 3"), "{error}");
}

#[test]
fn the_vote_is_kept_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = FileLog::open(dir.path()).unwrap();
    assert_eq!(log.read_vote(), None);
    let vote = Vote {
        term: 1,
        voted_for: Some(3),
        committed: true,
    };
    log.save_vote(&vote).unwrap();
    drop(log);
    assert_eq!(FileLog::open(dir.path()).unwrap().read_vote(), Some(vote));
    std::fs::write(dir.path().join(VOTE_FILE), r#"{"version": 2, "value": {}}"#).unwrap();
    let error = FileLog::open(dir.path()).err().expect("opened");
    assert!(error.to_string().contains("version 2"), "{error}");
}

#[test]
fn purging_removes_emptied_segments_and_the_log_goes_on_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = appended(dir.path(), 1..=4);
    log.purge(LogId { term: 1, index: 4 }).unwrap();
    assert!(log.entries(1, 10).is_empty());
    assert_eq!(
        log.get_log_state().last_log_id,
        Some(LogId { term: 1, index: 4 })
    );
    log.append(&[entry(5)]).unwrap();
    log.append(&[entry(6)]).unwrap();
    // The first segment held only purged entries: gone.
    assert!(only_segment(dir.path()).ends_with(format!("{:020}.log", 5)));
    log.purge(LogId { term: 1, index: 5 }).unwrap();
    drop(log);
    let reopened = FileLog::open(dir.path()).unwrap();
    assert_eq!(reopened.entries(1, 10), vec![entry(6)]);
    assert_eq!(
        reopened.get_log_state().last_purged_log_id,
        Some(LogId { term: 1, index: 5 })
    );
}

#[test]
fn truncating_removes_the_tail_durably() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = appended(dir.path(), 1..=4);
    log.truncate(LogId { term: 1, index: 3 }).unwrap();
    assert_eq!(
        log.get_log_state().last_log_id,
        Some(LogId { term: 1, index: 2 })
    );
    let replacement = Entry {
        log_id: LogId { term: 2, index: 3 },
        payload: EntryPayload::Blank,
    };
    log.append(std::slice::from_ref(&replacement)).unwrap();
    drop(log);
    let reopened = FileLog::open(dir.path()).unwrap();
    assert_eq!(
        reopened.entries(1, 10),
        vec![entry(1), entry(2), replacement]
    );
}
