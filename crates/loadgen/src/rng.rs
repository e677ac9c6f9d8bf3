//! The random numbers behind generated records: a seeded xorshift generator
//! (the one `benches/src/payload.rs` uses) with the few distributions the
//! generators need.
//!
//! Each worker owns one generator, seeded from the run's `--seed` and its
//! index, so a run with a given seed and concurrency generates the same
//! records (only the timestamps, which are "now", differ). The pool of
//! synthetic attribute values is the run's, drawn from the seed alone.

/// The xorshift64 generator of Marsaglia (2003): tiny, fast and reproducible.
#[derive(Debug, Clone)]
pub struct XorShift64(u64);

impl XorShift64 {
    /// A generator from `seed`; zero (a fixed point of xorshift) is replaced.
    pub fn new(seed: u64) -> Self {
        // SplitMix64 finaliser: neighbouring seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n`; 0 when `n` is 0 (the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// An index into a slice of `len` items.
    pub fn index(&mut self, len: usize) -> usize {
        // usize -> u64 -> usize round-trips on every supported target.
        self.below(len as u64) as usize
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal deviate (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        // 1 - unit() is in (0, 1], so the logarithm is finite.
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `N` bytes, never all zero (xorshift never yields 0), as OTLP ids need.
    pub fn id<const N: usize>(&mut self) -> [u8; N] {
        let mut id = [0; N];
        for chunk in id.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        id
    }

    /// `len` lowercase alphanumeric characters.
    pub fn text(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(ALPHABET[self.index(ALPHABET.len())]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_ids_are_never_zero() {
        let mut a = XorShift64::new(7);
        let mut b = XorShift64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        assert_ne!(XorShift64::new(0).next_u64(), XorShift64::new(1).next_u64());
        for _ in 0..1000 {
            let id = a.id::<16>();
            assert_eq!(id.len(), 16);
            assert!(id.iter().any(|b| *b != 0));
        }
    }

    #[test]
    fn distributions_have_the_expected_moments() {
        let mut rng = XorShift64::new(42);
        let n = 100_000;
        let units: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = units.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let mean = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.02, "{mean}");
        assert!((var - 1.0).abs() < 0.03, "{var}");
    }
}
