//! The cleaner's I/O rate limit, `log.cleaner.io.max.bytes.per.second`: every byte a clean
//! reads (building the key map, then rewriting) and writes passes through one [`Throttle`],
//! shared by all cleaner threads, as Kafka's cleaner shares one `Throttler`.
//!
//! A token bucket: tokens accrue at the rate, up to [`BURST`] worth of them (Kafka's throttler
//! checks its rate every 300 ms, so it too lets that much through at full speed). Taking more
//! than the bucket holds leaves it in debt and the taker sleeps until the debt is paid, so
//! concurrent cleans queue behind each other and the total stays at the rate. The default,
//! `f64::MAX` (Kafka's `Double.MAX_VALUE`), never sleeps and never reads the clock.
//!
//! Sleeps are cut into slices of at most [`SLICE`] so that [`Throttle::stop`] (the broker
//! shutting down) ends a throttled clean promptly: a stopped throttle answers `false` and the
//! clean is abandoned, its `.cleaned` files deleted. The clock is a seam ([`Clock`]), so tests
//! drive time by hand and never sleep.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much the bucket holds: this long at the rate.
const BURST: Duration = Duration::from_millis(300);
/// The longest single sleep, so that a stop is noticed.
const SLICE: Duration = Duration::from_millis(100);

/// Time as the throttle sees it.
pub(crate) trait Clock: Send + Sync {
    /// Time since some fixed origin; never goes back.
    fn now(&self) -> Duration;
    fn sleep(&self, duration: Duration);
}

/// The real clock.
struct SystemClock {
    origin: Instant,
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Limits the bytes per second of every clean it is passed to.
pub struct Throttle {
    /// Bytes per second; `None` when unlimited.
    rate: Option<f64>,
    clock: Arc<dyn Clock>,
    bucket: Mutex<Bucket>,
    stopped: AtomicBool,
}

struct Bucket {
    /// Bytes that may pass now; negative when in debt.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Duration,
}

impl Throttle {
    /// No limit (`log.cleaner.io.max.bytes.per.second` at its default).
    pub fn unlimited() -> Throttle {
        Throttle::new(f64::MAX)
    }

    /// At most `bytes_per_second` (positive; `f64::MAX` or more means unlimited).
    pub fn new(bytes_per_second: f64) -> Throttle {
        Throttle::with_clock(
            bytes_per_second,
            Arc::new(SystemClock {
                origin: Instant::now(),
            }),
        )
    }

    pub(crate) fn with_clock(bytes_per_second: f64, clock: Arc<dyn Clock>) -> Throttle {
        let rate = (bytes_per_second.is_finite() && bytes_per_second > 0.0)
            .then_some(bytes_per_second)
            .filter(|&rate| rate < f64::MAX);
        let now = match rate {
            Some(_) => clock.now(),
            None => Duration::ZERO,
        };
        Throttle {
            rate,
            bucket: Mutex::new(Bucket {
                tokens: rate.map_or(0.0, |rate| rate * BURST.as_secs_f64()),
                at: now,
            }),
            clock,
            stopped: AtomicBool::new(false),
        }
    }

    /// Accounts for `bytes` read or written, sleeping as long as the rate requires. `false`
    /// once [`Self::stop`] was called: the caller abandons its clean.
    pub fn acquire(&self, bytes: usize) -> bool {
        if self.is_stopped() {
            return false;
        }
        let Some(rate) = self.rate else {
            return true;
        };
        let mut wait = {
            let mut bucket = self
                .bucket
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = self.clock.now();
            let elapsed = now.saturating_sub(bucket.at).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(rate * BURST.as_secs_f64());
            bucket.at = now;
            bucket.tokens -= bytes as f64;
            if bucket.tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::try_from_secs_f64(-bucket.tokens / rate).unwrap_or(Duration::MAX)
            }
        };
        while !wait.is_zero() {
            if self.is_stopped() {
                return false;
            }
            let slice = wait.min(SLICE);
            self.clock.sleep(slice);
            wait -= slice;
        }
        !self.is_stopped()
    }

    /// Ends every throttled clean at its next read or write, and every later one.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }
}

/// A clock that only moves when slept on, recording every sleep.
#[cfg(test)]
#[derive(Default)]
pub(crate) struct ManualClock {
    pub(crate) now: Mutex<Duration>,
    pub(crate) sleeps: Mutex<Vec<Duration>>,
}

#[cfg(test)]
impl ManualClock {
    pub(crate) fn advance(&self, by: Duration) {
        *self.now.lock().expect("clock lock") += by;
    }

    pub(crate) fn slept(&self) -> Duration {
        self.sleeps.lock().expect("clock lock").iter().sum()
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *self.now.lock().expect("clock lock")
    }

    fn sleep(&self, duration: Duration) {
        self.sleeps.lock().expect("clock lock").push(duration);
        self.advance(duration);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(rate: f64) -> (Throttle, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::default());
        (Throttle::with_clock(rate, clock.clone()), clock)
    }

    #[test]
    fn bytes_within_the_burst_pass_without_sleeping() {
        let (throttle, clock) = throttle(1000.0);
        assert!(throttle.acquire(200));
        assert!(throttle.acquire(100));
        assert_eq!(clock.slept(), Duration::ZERO);
    }

    #[test]
    fn bytes_past_the_burst_sleep_until_the_rate_is_met() {
        let (throttle, clock) = throttle(1000.0);
        // 300 bytes of burst, then 10 000 bytes at 1000 bytes/s: ten seconds.
        assert!(throttle.acquire(10_300));
        assert_eq!(clock.slept(), Duration::from_secs(10));
        // The bucket is empty now: the next 500 bytes wait half a second.
        assert!(throttle.acquire(500));
        assert_eq!(clock.slept(), Duration::from_millis(10_500));
    }

    #[test]
    fn a_steady_stream_averages_the_rate() {
        let (throttle, clock) = throttle(4096.0);
        let total = 4096 * 60;
        for _ in 0..total / 512 {
            assert!(throttle.acquire(512));
        }
        let burst = 4096.0 * BURST.as_secs_f64();
        let want = (total as f64 - burst) / 4096.0;
        let slept = clock.slept().as_secs_f64();
        assert!(
            (slept - want).abs() < 0.001,
            "slept {slept} s, want {want} s"
        );
    }

    #[test]
    fn idle_time_refills_the_bucket_only_up_to_the_burst() {
        let (throttle, clock) = throttle(1000.0);
        assert!(throttle.acquire(300));
        clock.advance(Duration::from_secs(3600));
        // An hour idle buys 300 bytes, not 3.6 MB.
        assert!(throttle.acquire(1300));
        assert_eq!(clock.slept(), Duration::from_secs(1));
    }

    #[test]
    fn long_waits_sleep_in_slices() {
        let (throttle, clock) = throttle(100.0);
        assert!(throttle.acquire(30 + 100));
        let sleeps = clock.sleeps.lock().unwrap().clone();
        assert_eq!(sleeps.len(), 10);
        assert!(sleeps.iter().all(|&s| s == SLICE));
    }

    #[test]
    fn the_default_rate_never_sleeps_nor_reads_the_clock() {
        for rate in [f64::MAX, f64::INFINITY] {
            let (throttle, clock) = throttle(rate);
            assert!(throttle.acquire(usize::MAX));
            assert!(throttle.acquire(1 << 40));
            assert_eq!(clock.slept(), Duration::ZERO);
            assert_eq!(*clock.now.lock().unwrap(), Duration::ZERO);
        }
    }

    #[test]
    fn a_stopped_throttle_refuses_and_ends_a_wait() {
        struct StopWhileAsleep {
            clock: ManualClock,
            throttle: std::sync::OnceLock<Arc<Throttle>>,
        }
        impl Clock for StopWhileAsleep {
            fn now(&self) -> Duration {
                self.clock.now()
            }
            fn sleep(&self, duration: Duration) {
                self.clock.sleep(duration);
                self.throttle.get().unwrap().stop();
            }
        }
        let clock = Arc::new(StopWhileAsleep {
            clock: ManualClock::default(),
            throttle: std::sync::OnceLock::new(),
        });
        let throttle = Arc::new(Throttle::with_clock(10.0, clock.clone()));
        let _ = clock.throttle.set(throttle.clone());
        // A wait of a day ends after the first slice.
        assert!(!throttle.acquire(864_000));
        assert_eq!(clock.clock.slept(), SLICE);
        assert!(!throttle.acquire(1), "a stopped throttle stays stopped");
        let unlimited = Throttle::unlimited();
        unlimited.stop();
        assert!(!unlimited.acquire(1));
    }
}
