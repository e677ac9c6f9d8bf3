//! A mergeable relative-accuracy quantile sketch (DDSketch: Masson, Rim and
//! Lee, VLDB 2019; the layout of DataDog's `sketches-go`).
//!
//! # Place in the data path
//!
//! Each [`crate::SliRollup`] holds two of these, for successful and failed
//! requests. The shard workers add span durations as spans arrive; storage
//! writes each sketch with [`DdSketch::to_bytes`] into the binary columns
//! `LatencySketchSuccess` / `LatencySketchFailure` of `sluice_rollups`; the
//! query API decodes them with [`DdSketch::from_bytes`], merges the minutes,
//! shards and nodes it needs, and reads percentiles with [`DdSketch::quantile`].
//!
//! # Accuracy
//!
//! A positive value `v` lands in bucket `i = ceil(log_γ v)`, which covers
//! `(γ^(i-1), γ^i]` with `γ = (1 + α) / (1 - α)`; the bucket answers with
//! `(1 - α) γ^i`, within relative error `α` of every value in it. A quantile is
//! the value of rank `floor(q × (count - 1))` in the sorted input (the lower
//! one, no interpolation), answered within `α` of the true value, and clamped
//! to the exact minimum and maximum. `q = 0` and `q = 1` are exact.
//!
//! # Units and domain
//!
//! Values are `f64` in whatever unit the caller uses; rollups use nanoseconds.
//! The sketch is for non-negative quantities: values below the smallest
//! indexable positive value, including negative values, are counted as 0 in a
//! separate zero bucket. NaN and infinities carry no position and are ignored
//! (not counted).
//!
//! # Bounded memory
//!
//! The bucket store is dense (one `u64` per bucket between the lowest and the
//! highest) and holds at most `max_buckets`. When a value would widen it past
//! that, the lowest buckets collapse into one, so high quantiles (the ones an
//! SRE reads) stay accurate and low quantiles lose accuracy first. With the
//! defaults (α = 1%, 2048 buckets) 1 ns to 19 years fits uncollapsed. The
//! result of collapsing depends only on the multiset of values, not on their
//! order, so merging stays exact.

pub mod encoding;
mod store;
#[cfg(test)]
mod tests;

use crate::SloError;
pub use encoding::SKETCH_ENCODING_VERSION;
use store::BucketStore;

/// The relative accuracy and the bucket bound of a sketch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SketchConfig {
    relative_accuracy: f64,
    max_buckets: usize,
}

impl SketchConfig {
    /// 1%: every quantile within 1% of the true value.
    pub const DEFAULT_RELATIVE_ACCURACY: f64 = 0.01;
    /// 2048 buckets: 1 ns to about 19 years at 1%.
    pub const DEFAULT_MAX_BUCKETS: usize = 2048;
    /// Finer than this, bucket indexes could overflow `i32`.
    pub const MIN_RELATIVE_ACCURACY: f64 = 1e-6;
    /// Coarser than this, a "quantile" says little.
    pub const MAX_RELATIVE_ACCURACY: f64 = 0.5;
    /// The most buckets a sketch may hold (512 KiB of counts).
    pub const MAX_BUCKETS_LIMIT: usize = 1 << 16;

    /// The defaults; rollups always use these, so every rollup ever written
    /// merges with every other.
    pub const DEFAULT: Self = Self {
        relative_accuracy: Self::DEFAULT_RELATIVE_ACCURACY,
        max_buckets: Self::DEFAULT_MAX_BUCKETS,
    };

    pub fn new(relative_accuracy: f64, max_buckets: usize) -> Result<Self, SloError> {
        if !(Self::MIN_RELATIVE_ACCURACY..=Self::MAX_RELATIVE_ACCURACY).contains(&relative_accuracy)
        {
            return Err(SloError::InvalidAccuracy {
                accuracy: relative_accuracy,
                min: Self::MIN_RELATIVE_ACCURACY,
                max: Self::MAX_RELATIVE_ACCURACY,
            });
        }
        if !(1..=Self::MAX_BUCKETS_LIMIT).contains(&max_buckets) {
            return Err(SloError::InvalidMaxBuckets {
                max_buckets,
                limit: Self::MAX_BUCKETS_LIMIT,
            });
        }
        Ok(Self {
            relative_accuracy,
            max_buckets,
        })
    }

    pub fn relative_accuracy(&self) -> f64 {
        self.relative_accuracy
    }

    pub fn max_buckets(&self) -> usize {
        self.max_buckets
    }
}

impl Default for SketchConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The logarithmic mapping between values and bucket indexes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LogMapping {
    relative_accuracy: f64,
    /// `1 / ln γ`.
    multiplier: f64,
    /// `ln γ`.
    ln_gamma: f64,
    /// The smallest value with a bucket of its own; below it, the zero bucket.
    min_indexable: f64,
}

impl LogMapping {
    fn new(relative_accuracy: f64) -> Self {
        // γ - 1 = 2α / (1 - α); ln_1p keeps precision for small α.
        let ln_gamma = (2.0 * relative_accuracy / (1.0 - relative_accuracy)).ln_1p();
        Self {
            relative_accuracy,
            multiplier: 1.0 / ln_gamma,
            ln_gamma,
            min_indexable: f64::MIN_POSITIVE * ln_gamma.exp(),
        }
    }

    /// The bucket of a finite `value >= min_indexable`.
    fn index(&self, value: f64) -> i32 {
        // |ln v| <= 710 and multiplier <= 1 / ln(γ at α = 1e-6) ≈ 5e5, so the
        // result is within ±3.6e8 and the cast never saturates.
        (value.ln() * self.multiplier).ceil() as i32
    }

    /// The value a bucket answers with: `(1 - α) γ^i`.
    fn value(&self, index: i32) -> f64 {
        (f64::from(index) * self.ln_gamma).exp() * (1.0 - self.relative_accuracy)
    }
}

/// A DDSketch of non-negative values; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct DdSketch {
    mapping: LogMapping,
    store: BucketStore,
    zero_count: u64,
    count: u64,
    sum: f64,
    /// `+inf` while empty.
    min: f64,
    /// `-inf` while empty.
    max: f64,
}

impl Default for DdSketch {
    fn default() -> Self {
        Self::new(SketchConfig::DEFAULT)
    }
}

impl DdSketch {
    pub fn new(config: SketchConfig) -> Self {
        Self {
            mapping: LogMapping::new(config.relative_accuracy),
            store: BucketStore::new(config.max_buckets),
            zero_count: 0,
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    pub fn config(&self) -> SketchConfig {
        SketchConfig {
            relative_accuracy: self.mapping.relative_accuracy,
            max_buckets: self.store.max_buckets(),
        }
    }

    pub fn relative_accuracy(&self) -> f64 {
        self.mapping.relative_accuracy
    }

    /// Adds one value.
    pub fn add(&mut self, value: f64) {
        self.add_n(value, 1);
    }

    /// Adds `n` occurrences of one value. NaN and infinities are ignored;
    /// negative values count as 0.
    pub fn add_n(&mut self, value: f64, n: u64) {
        if n == 0 || !value.is_finite() {
            return;
        }
        let value = value.max(0.0);
        if value < self.mapping.min_indexable {
            self.zero_count = self.zero_count.saturating_add(n);
        } else {
            self.store.add(self.mapping.index(value), n);
        }
        self.count = self.count.saturating_add(n);
        // u64 -> f64 is exact up to 2^53 and within 1 ulp beyond.
        self.sum += value * n as f64;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// Adds everything `other` holds. Both must have the same relative
    /// accuracy; the bucket bound stays this sketch's.
    pub fn merge(&mut self, other: &DdSketch) -> Result<(), SloError> {
        self.check_mergeable(other)?;
        if other.count == 0 {
            return Ok(());
        }
        for (index, count) in other.store.buckets() {
            self.store.add(index, count);
        }
        self.zero_count = self.zero_count.saturating_add(other.zero_count);
        self.count = self.count.saturating_add(other.count);
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        Ok(())
    }

    /// Whether [`DdSketch::merge`] would accept `other`.
    pub fn check_mergeable(&self, other: &DdSketch) -> Result<(), SloError> {
        if self.mapping.relative_accuracy.to_bits() == other.mapping.relative_accuracy.to_bits() {
            Ok(())
        } else {
            Err(SloError::AccuracyMismatch {
                ours: self.mapping.relative_accuracy,
                theirs: other.mapping.relative_accuracy,
            })
        }
    }

    /// The value at quantile `q` in `[0, 1]`: `None` when empty or `q` is out of
    /// range (or NaN).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        if q == 0.0 {
            return Some(self.min);
        }
        if q == 1.0 {
            return Some(self.max);
        }
        // The rank of the lower value, 0-based. `q < 1`, so it is < count - 1.
        let rank = (q * (self.count - 1) as f64).floor() as u64;
        if rank < self.zero_count {
            return Some(0.0_f64.clamp(self.min, self.max));
        }
        let mut seen = self.zero_count;
        for (index, count) in self.store.buckets() {
            seen = seen.saturating_add(count);
            if seen > rank {
                return Some(self.mapping.value(index).clamp(self.min, self.max));
            }
        }
        // Counts saturated at u64::MAX: the rank lies past the buckets.
        Some(self.max)
    }

    /// How many values were at most `threshold`, estimated: exact for values
    /// further than the relative accuracy from `threshold`; a value within it may
    /// be counted on either side.
    pub fn count_at_most(&self, threshold: f64) -> u64 {
        if self.count == 0 || threshold.is_nan() || threshold < self.min {
            return 0;
        }
        if threshold >= self.max {
            return self.count;
        }
        let mut below = self.zero_count;
        for (index, count) in self.store.buckets() {
            if self.mapping.value(index) > threshold {
                break;
            }
            below = below.saturating_add(count);
        }
        below
    }

    /// How many values were added (NaN and infinities excluded).
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The sum of the values, in floating point (order of merges may change the
    /// last bits).
    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// How many values fell in the zero bucket (0, negative, or tiny).
    pub fn zero_count(&self) -> u64 {
        self.zero_count
    }

    /// The non-empty buckets, `(index, count)` by ascending index.
    pub fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.store.buckets()
    }
}
