//! Pure arithmetic over measurements: latency percentiles and rates.
//!
//! Latencies are kept as whole microseconds, one entry per record (or per
//! batch for the raw baseline), and summarised by the nearest-rank method: the
//! p-th percentile is the smallest sample with at least p % of the samples at
//! or below it. With fewer than 1,000 samples p99.9 is simply the maximum.

use std::time::Duration;

use serde::Serialize;

/// p50 / p99 / p99.9 of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
}

/// Nearest-rank percentile of `sorted` (ascending); `None` when empty.
///
/// `quantile` is a fraction in `0.0..=1.0` (0.99 for p99).
pub fn percentile(sorted: &[u32], quantile: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let quantile = quantile.clamp(0.0, 1.0);
    // Rank is 1-based: ceil(q * n), at least 1.
    let rank = (quantile * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

impl Latency {
    /// Sorts `micros` in place and summarises it; `None` when empty.
    pub fn from_micros(micros: &mut [u32]) -> Option<Self> {
        micros.sort_unstable();
        let ms = |q| percentile(micros, q).map(|us| f64::from(us) / 1000.0);
        Some(Self {
            p50_ms: ms(0.50)?,
            p99_ms: ms(0.99)?,
            p999_ms: ms(0.999)?,
        })
    }
}

/// Decimal megabytes (10^6 bytes) per second, as Kafka's own tools report.
pub fn mb_per_sec(bytes: u64, elapsed: Duration) -> f64 {
    per_sec(bytes as f64 / 1e6, elapsed)
}

/// Events per second; 0 for a zero-length interval.
pub fn per_sec(count: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count / secs } else { 0.0 }
}

/// `value / baseline`, or `None` when the baseline is missing or zero.
pub fn ratio(value: f64, baseline: Option<f64>) -> Option<f64> {
    baseline.filter(|b| *b > 0.0).map(|b| value / b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_of_an_empty_set_is_none() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(Latency::from_micros(&mut []), None);
    }

    #[test]
    fn percentile_uses_the_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.50), Some(50));
        assert_eq!(percentile(&sorted, 0.99), Some(99));
        assert_eq!(percentile(&sorted, 0.999), Some(100));
        assert_eq!(percentile(&sorted, 0.0), Some(1));
        assert_eq!(percentile(&sorted, 1.0), Some(100));
    }

    #[test]
    fn percentile_of_one_sample_is_that_sample() {
        assert_eq!(percentile(&[7], 0.0), Some(7));
        assert_eq!(percentile(&[7], 0.999), Some(7));
    }

    #[test]
    fn p999_separates_the_slowest_thousandth() {
        // 10,000 samples: 9,990 fast ones and 10 slow ones.
        let mut micros = vec![1_000u32; 9_990];
        micros.extend([50_000u32; 10]);
        let latency = Latency::from_micros(&mut micros).expect("non-empty");
        assert_eq!(latency.p50_ms, 1.0);
        assert_eq!(latency.p99_ms, 1.0);
        assert_eq!(latency.p999_ms, 1.0);
        micros.push(60_000);
        let latency = Latency::from_micros(&mut micros).expect("non-empty");
        assert_eq!(latency.p999_ms, 50.0);
    }

    #[test]
    fn latency_sorts_unsorted_input() {
        let mut micros = vec![3_000, 1_000, 2_000];
        let latency = Latency::from_micros(&mut micros).expect("non-empty");
        assert_eq!(latency.p50_ms, 2.0);
        assert_eq!(latency.p99_ms, 3.0);
    }

    #[test]
    fn rates_are_decimal_and_guard_against_zero_time() {
        assert_eq!(mb_per_sec(5_000_000, Duration::from_secs(2)), 2.5);
        assert_eq!(per_sec(10.0, Duration::ZERO), 0.0);
    }

    #[test]
    fn ratio_needs_a_positive_baseline() {
        assert_eq!(ratio(70.0, Some(100.0)), Some(0.7));
        assert_eq!(ratio(70.0, Some(0.0)), None);
        assert_eq!(ratio(70.0, None), None);
    }
}
