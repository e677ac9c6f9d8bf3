//! A small seeded random number generator (SplitMix64) and the few
//! distributions the scenarios draw from. Deterministic across platforms, so
//! a seed names the same series everywhere.

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, passes BigCrush,
/// plenty for test data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for a sub-stream: same seed and labels, same stream.
    pub fn derive(seed: u64, labels: &[u64]) -> Self {
        let mut rng = Self::new(seed);
        for &label in labels {
            rng.state ^= label.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            rng.next_u64();
        }
        rng
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [low, high).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// Uniform in [low, high), log-spaced: as many series at 10 as at 1000.
    pub fn log_uniform(&mut self, low: f64, high: f64) -> f64 {
        (low.ln() + (high.ln() - low.ln()) * self.unit()).exp()
    }

    /// Uniform integer in [low, high).
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        if high <= low {
            return low;
        }
        low + (self.next_u64() % (high - low) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit(); // (0, 1]: ln is finite
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Poisson with mean `lambda`: exact (Knuth) below 30, normal
    /// approximation above, never negative.
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda < 30.0 {
            let limit = (-lambda).exp();
            let mut k = 0.0;
            let mut p = self.unit();
            while p > limit {
                k += 1.0;
                p *= self.unit();
            }
            return k;
        }
        (lambda + lambda.sqrt() * self.normal()).round().max(0.0)
    }

    /// Binomial successes of `n` trials at `p`, approximated: Poisson when
    /// rare, normal otherwise; within [0, n].
    pub fn binomial(&mut self, n: f64, p: f64) -> f64 {
        let p = p.clamp(0.0, 1.0);
        let mean = n * p;
        let k = if mean < 30.0 {
            self.poisson(mean)
        } else {
            (mean + (mean * (1.0 - p)).sqrt() * self.normal()).round()
        };
        k.clamp(0.0, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        for _ in 0..5 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(
            SplitMix64::derive(7, &[1]).next_u64(),
            SplitMix64::derive(7, &[2]).next_u64()
        );
        // The reference output of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn distributions_have_their_moments() {
        let mut rng = SplitMix64::new(42);
        let n = 20_000;
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
        for lambda in [3.0, 200.0] {
            let m = (0..n).map(|_| rng.poisson(lambda)).sum::<f64>() / n as f64;
            assert!((m - lambda).abs() < 0.03 * lambda, "{lambda}: {m}");
        }
        let u = (0..n).map(|_| rng.unit()).fold(0.0f64, f64::max);
        assert!(u < 1.0);
    }
}
