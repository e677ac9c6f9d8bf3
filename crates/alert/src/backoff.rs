//! The retry schedule of failed notifications: exponential backoff with
//! jitter, computed from the retry number and a jitter draw passed in, so the
//! schedule is testable without a clock or a random source.

use std::time::Duration;

/// Doubling delays from `initial`, capped at `max`, each scaled by a factor
/// drawn from ±20% so that many groups failing together do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

/// Half-width of the jitter band, as a fraction of the delay.
const JITTER: f64 = 0.2;

impl Backoff {
    /// The delay before retry `retry` (0 for the first retry after the first
    /// failure). `jitter` in `[0, 1)` picks the point in the ±20% band: 0.5 is
    /// the nominal delay. The result never exceeds `max`.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let nominal = self
            .initial
            .saturating_mul(1u32 << retry.min(31))
            .min(self.max);
        let factor = 1.0 - JITTER + 2.0 * JITTER * jitter.clamp(0.0, 1.0);
        nominal.mul_f64(factor).min(self.max)
    }
}

/// A small xorshift64* generator for jitter: not for anything secret.
#[derive(Debug, Clone)]
pub struct JitterSource(u64);

impl JitterSource {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next draw in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        let out = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        // The top 53 bits give an exact f64 in [0, 1).
        (out >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEDULE: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
    };

    #[test]
    fn delays_double_up_to_the_cap() {
        let nominal: Vec<u64> = (0..9).map(|r| SCHEDULE.delay(r, 0.5).as_secs()).collect();
        assert_eq!(nominal, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(SCHEDULE.delay(u32::MAX, 0.5), Duration::from_secs(60));
    }

    #[test]
    fn jitter_stays_in_the_band_and_under_the_cap() {
        assert_eq!(SCHEDULE.delay(2, 0.0), Duration::from_millis(3200));
        assert_eq!(SCHEDULE.delay(2, 1.0), Duration::from_millis(4800));
        assert_eq!(SCHEDULE.delay(10, 1.0), Duration::from_secs(60));
        assert_eq!(SCHEDULE.delay(10, 0.0), Duration::from_secs(48));
    }

    #[test]
    fn jitter_draws_are_spread_over_the_unit_interval() {
        let mut source = JitterSource::new(42);
        let draws: Vec<f64> = (0..1000).map(|_| source.next_unit()).collect();
        assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
        let low = draws.iter().filter(|d| **d < 0.5).count();
        assert!((400..600).contains(&low), "{low} of 1000 below 0.5");
    }
}
