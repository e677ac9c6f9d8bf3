//! The stable binary encoding of a [`DdSketch`], as stored in the
//! `LatencySketch*` binary columns of `sluice_rollups`.
//!
//! # Format, version 1
//!
//! Little-endian; `uvarint` is unsigned LEB128 (7 bits a byte, low bits first,
//! at most 10 bytes, no redundant trailing zero bytes); `svarint` is a zigzag
//! encoded signed LEB128.
//!
//! | field         | encoding | meaning                                        |
//! |---------------|----------|------------------------------------------------|
//! | version       | `u8`     | `1`                                            |
//! | accuracy      | `f64`    | relative accuracy α, in `[1e-6, 0.5]`          |
//! | max_buckets   | uvarint  | bucket bound, in `[1, 65536]`                  |
//! | zero_count    | uvarint  | values in the zero bucket                      |
//! | sum           | `f64`    | sum of the values (not NaN, not negative)      |
//! | min           | `f64`    | smallest value (0 when empty)                  |
//! | max           | `f64`    | largest value (0 when empty)                   |
//! | bucket count  | uvarint  | `n`, the non-empty buckets that follow         |
//! | n × bucket    |          | by strictly ascending index:                   |
//! |   index       | svarint / uvarint | the first index, then the gap (≥ 1) to the previous one |
//! |   count       | uvarint  | values in the bucket, ≥ 1                      |
//!
//! Bucket `i` covers `(γ^(i-1), γ^i]` with `γ = (1 + α) / (1 - α)`. An empty
//! sketch at the defaults takes 37 bytes; a bucket 2 to 4 bytes. The encoding is
//! canonical: a sketch has exactly one, and decoding then encoding gives the
//! same bytes back.
//!
//! A reader never trusts the bytes: every field is checked, allocation is
//! bounded by `max_buckets` and the input length, and anything malformed is an
//! error, never a panic.

use super::{BucketStore, DdSketch, LogMapping, SketchConfig};
use crate::SloError;

/// The version this code writes.
pub const SKETCH_ENCODING_VERSION: u8 = 1;

impl DdSketch {
    /// The stable encoding described in [`crate::sketch::encoding`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let buckets = self.store.non_empty();
        let mut out = Vec::with_capacity(37 + 4 * buckets);
        out.push(SKETCH_ENCODING_VERSION);
        out.extend_from_slice(&self.mapping.relative_accuracy.to_le_bytes());
        put_uvarint(&mut out, self.store.max_buckets() as u64);
        put_uvarint(&mut out, self.zero_count);
        let (min, max) = if self.count == 0 {
            (0.0, 0.0)
        } else {
            (self.min, self.max)
        };
        for v in [self.sum, min, max] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        put_uvarint(&mut out, buckets as u64);
        let mut previous = None;
        for (index, count) in self.store.buckets() {
            match previous {
                None => put_uvarint(&mut out, zigzag(i64::from(index))),
                Some(p) => put_uvarint(&mut out, (i64::from(index) - i64::from(p)) as u64),
            }
            put_uvarint(&mut out, count);
            previous = Some(index);
        }
        out
    }

    /// Decodes [`DdSketch::to_bytes`] output; refuses anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SloError> {
        let mut r = Reader { bytes };
        let version = r.u8()?;
        if version != SKETCH_ENCODING_VERSION {
            return Err(SloError::UnsupportedSketchVersion { version });
        }
        let accuracy = r.f64()?;
        let max_buckets = usize::try_from(r.uvarint()?).unwrap_or(usize::MAX);
        let config = SketchConfig::new(accuracy, max_buckets)
            .map_err(|_| malformed("relative accuracy or bucket bound out of range"))?;
        let zero_count = r.uvarint()?;
        let sum = r.f64()?;
        let min = r.f64()?;
        let max = r.f64()?;
        let n = r.uvarint()?;
        // Each bucket takes at least 2 bytes: refuse before allocating.
        if n > max_buckets as u64 || n > (r.bytes.len() / 2) as u64 {
            return Err(malformed("more buckets than the bound or the input allows"));
        }
        let mut store = BucketStore::new(max_buckets);
        let mut count = zero_count;
        let mut first = None;
        let mut index: i64 = 0;
        for i in 0..n {
            if i == 0 {
                index = unzigzag(r.uvarint()?);
                first = Some(index);
            } else {
                let gap = r.uvarint()?;
                if gap == 0 {
                    return Err(malformed("bucket indexes not strictly ascending"));
                }
                index = index.saturating_add(i64::try_from(gap).unwrap_or(i64::MAX));
            }
            let index32 =
                i32::try_from(index).map_err(|_| malformed("bucket index out of range"))?;
            if first.is_some_and(|f| index - f >= max_buckets as i64) {
                return Err(malformed("buckets span more than the bound"));
            }
            let c = r.uvarint()?;
            if c == 0 {
                return Err(malformed("empty bucket"));
            }
            count = count
                .checked_add(c)
                .ok_or_else(|| malformed("total count overflows"))?;
            store.add(index32, c);
        }
        if !r.bytes.is_empty() {
            return Err(malformed("trailing bytes"));
        }
        if sum.is_nan() || sum < 0.0 {
            return Err(malformed("sum is NaN or negative"));
        }
        let (min, max) = if count == 0 {
            if sum.to_bits() != 0 || min.to_bits() != 0 || max.to_bits() != 0 {
                return Err(malformed("empty sketch with a sum, min or max"));
            }
            (f64::INFINITY, f64::NEG_INFINITY)
        } else {
            if !(min.is_finite() && max.is_finite() && 0.0 <= min && min <= max) {
                return Err(malformed("min and max are not 0 <= min <= max"));
            }
            (min, max)
        };
        Ok(Self {
            mapping: LogMapping::new(config.relative_accuracy),
            store,
            zero_count,
            count,
            sum,
            min,
            max,
        })
    }
}

fn malformed(reason: &'static str) -> SloError {
    SloError::MalformedSketch { reason }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SloError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or_else(|| malformed("truncated"))?;
        self.bytes = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, SloError> {
        Ok(self.take::<1>()?[0])
    }

    fn f64(&mut self) -> Result<f64, SloError> {
        Ok(f64::from_le_bytes(self.take::<8>()?))
    }

    fn uvarint(&mut self) -> Result<u64, SloError> {
        let mut value = 0u64;
        for i in 0..10 {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(malformed("varint overflows 64 bits"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(malformed("varint has a redundant zero byte"));
                }
                return Ok(value);
            }
        }
        Err(malformed("varint longer than 10 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_uvarint(&mut out, v);
            let mut r = Reader { bytes: &out };
            assert_eq!(r.uvarint(), Ok(v), "{v}");
            assert!(r.bytes.is_empty());
        }
        for v in [0, 1, -1, 63, -64, i64::from(i32::MIN), i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v, "{v}");
        }
        for bad in [
            &[0x80, 0x00][..],
            &[0xff; 11][..],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02][..],
            &[0x80][..],
        ] {
            assert!(Reader { bytes: bad }.uvarint().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn documented_layout() {
        let mut s = DdSketch::default();
        assert_eq!(s.to_bytes().len(), 37, "empty sketch size in the docs");
        s.add(0.0);
        s.add(1.0);
        let bytes = s.to_bytes();
        assert_eq!(bytes[0], 1, "version");
        assert_eq!(&bytes[1..9], &0.01f64.to_le_bytes(), "accuracy");
        assert_eq!(&bytes[9..11], &[0x80, 0x10], "max buckets 2048");
        assert_eq!(bytes[11], 1, "zero count");
        assert_eq!(&bytes[12..20], &1.0f64.to_le_bytes(), "sum");
        assert_eq!(&bytes[20..28], &0.0f64.to_le_bytes(), "min");
        assert_eq!(&bytes[28..36], &1.0f64.to_le_bytes(), "max");
        assert_eq!(bytes[36], 1, "one bucket");
        // 1.0 is in bucket ceil(ln 1 / ln γ) = 0: zigzag 0, then count 1.
        assert_eq!(&bytes[37..], &[0, 1]);
    }

    #[test]
    fn refuses_malformed_input() {
        let mut s = DdSketch::default();
        for v in [0.0, 5.0, 7.0, 1e6] {
            s.add(v);
        }
        let good = s.to_bytes();
        assert_eq!(DdSketch::from_bytes(&good), Ok(s));
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "truncated"),
            (good[..good.len() - 1].to_vec(), "truncated"),
            ([good.clone(), vec![0]].concat(), "trailing bytes"),
            (
                [&[2], &good[1..]].concat(),
                "unsupported sketch encoding version 2",
            ),
            (
                [&[1], &0.9f64.to_le_bytes()[..], &good[9..]].concat(),
                "out of range",
            ),
            ([&good[..9], &[0], &good[11..]].concat(), "out of range"),
            (
                [&good[..12], &f64::NAN.to_le_bytes()[..], &good[20..]].concat(),
                "sum",
            ),
            (
                [&good[..20], &2e6f64.to_le_bytes()[..], &good[28..]].concat(),
                "min and max",
            ),
            ([&good[..36], &[100]].concat(), "more buckets"),
        ];
        for (bytes, expected) in cases {
            let err = DdSketch::from_bytes(&bytes)
                .map(|_| ())
                .expect_err(expected)
                .to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    fn refuses_non_canonical_buckets() {
        let mut head = DdSketch::default().to_bytes();
        head.truncate(36);
        let with_buckets = |buckets: &[u8]| [&head[..], buckets].concat();
        // Two buckets, the second at gap 0.
        let err = DdSketch::from_bytes(&with_buckets(&[2, 0, 1, 0, 1]));
        assert_eq!(err, Err(malformed("bucket indexes not strictly ascending")));
        // An empty bucket.
        let err = DdSketch::from_bytes(&with_buckets(&[1, 0, 0]));
        assert_eq!(err, Err(malformed("empty bucket")));
        // A span wider than 2048 buckets: gap 2048 = 0x80 0x10.
        let err = DdSketch::from_bytes(&with_buckets(&[2, 0, 1, 0x80, 0x10, 1]));
        assert_eq!(err, Err(malformed("buckets span more than the bound")));
    }
}
