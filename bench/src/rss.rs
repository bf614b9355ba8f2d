//! Resident memory of a child process, read from `/proc/<pid>/status`.
//!
//! `VmRSS` is the resident set now; `VmHWM` is the kernel's high-water mark of
//! it since the process started, so a peak between two samples is not missed.
//! A [`RssSampler`] thread also samples `VmRSS` every 100 ms and keeps the
//! maximum, for kernels or sandboxes that do not report `VmHWM`.
//!
//! ```text
//!   sampler thread ──every 100 ms──► /proc/<pid>/status ──► max(VmRSS) (atomic)
//!   stop() ──► join, final read of VmHWM ──► peak = max(VmHWM, sampled)
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Memory figures from one read of `/proc/<pid>/status`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Status {
    pub rss: Option<u64>,
    pub hwm: Option<u64>,
}

/// Parses the `VmRSS:` and `VmHWM:` lines (values in kB) of a status file.
pub fn parse_status(text: &str) -> Status {
    let field = |name: &str| {
        text.lines().find_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix(':')?;
            let mut words = rest.split_whitespace();
            let value: u64 = words.next()?.parse().ok()?;
            match words.next() {
                Some("kB") | None => value.checked_mul(1024),
                Some(_) => None,
            }
        })
    };
    Status {
        rss: field("VmRSS"),
        hwm: field("VmHWM"),
    }
}

/// Reads the status of `pid`; `None` once the process is gone.
pub fn read_status(pid: u32) -> Option<Status> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .map(|text| parse_status(&text))
}

/// CPU time (user + system) of `pid` so far; `None` once the process is gone.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks_per_sec = u64::try_from(ticks_per_sec).ok().filter(|t| *t > 0)?;
    let ticks = parse_cpu_ticks(&stat)?;
    Some(Duration::from_secs_f64(ticks as f64 / ticks_per_sec as f64))
}

/// `utime + stime` (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat`
/// line. The command name in field 2 may hold spaces and parentheses, so
/// fields are counted from its last `)`.
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The 1-minute load average of the machine, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    parse_load_average(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

/// The first field of a `/proc/loadavg` line.
pub fn parse_load_average(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Samples the resident set of one process in a background thread.
pub struct RssSampler {
    pid: u32,
    max_rss: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let max_rss = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (max_rss, stop) = (max_rss.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match read_status(pid) {
                        Some(status) => {
                            if let Some(rss) = status.rss {
                                max_rss.fetch_max(rss, Ordering::Relaxed);
                            }
                        }
                        None => break,
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            pid,
            max_rss,
            stop,
            thread: Some(thread),
        }
    }

    /// The peak so far: the larger of the kernel's `VmHWM` and the sampled
    /// maximum of `VmRSS`. Call before the process exits.
    pub fn peak(&self) -> Option<u64> {
        let sampled = self.max_rss.load(Ordering::Relaxed);
        let hwm = read_status(self.pid).and_then(|s| s.hwm).unwrap_or(0);
        Some(sampled.max(hwm)).filter(|peak| *peak > 0)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tfjord-broker\nUmask:\t0022\nState:\tS (sleeping)\n\
        VmPeak:\t  612344 kB\nVmSize:\t  612340 kB\nVmLck:\t       0 kB\n\
        VmHWM:\t   48212 kB\nVmRSS:\t   30100 kB\nRssAnon:\t   20000 kB\nThreads:\t5\n";

    #[test]
    fn status_gives_rss_and_high_water_mark_in_bytes() {
        let status = parse_status(STATUS);
        assert_eq!(status.rss, Some(30_100 * 1024));
        assert_eq!(status.hwm, Some(48_212 * 1024));
    }

    #[test]
    fn rss_anon_is_not_mistaken_for_rss() {
        let status = parse_status("RssAnon:\t 1 kB\nVmRSS:\t 2 kB\n");
        assert_eq!(status.rss, Some(2 * 1024));
    }

    #[test]
    fn missing_or_garbled_fields_are_none() {
        assert_eq!(parse_status(""), Status::default());
        let status = parse_status("VmRSS:\tlots kB\nVmHWM:\t12 MB\n");
        assert_eq!(status, Status::default());
    }

    #[test]
    fn cpu_ticks_are_user_plus_system_time() {
        let stat = "4242 (fjord-broker) S 1 4242 4242 0 -1 4194560 2188 0 0 0 \
            150 25 0 0 20 0 9 0 123456 612340000 7525 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_fields() {
        let stat = "7 (a) b (c)) S 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1 1";
        assert_eq!(parse_cpu_ticks(stat), Some(7));
        assert_eq!(parse_cpu_ticks("7 (x) S 1"), None);
    }

    #[test]
    fn load_average_is_the_one_minute_figure() {
        assert_eq!(
            parse_load_average("5.78 5.47 5.44 3/412 23900\n"),
            Some(5.78)
        );
        assert_eq!(parse_load_average(""), None);
    }

    #[test]
    fn own_process_has_a_resident_set() {
        let status = read_status(std::process::id()).expect("own /proc entry");
        assert!(status.rss.is_some_and(|rss| rss > 0), "{status:?}");
    }
}
