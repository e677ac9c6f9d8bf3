//! The data points of a metric read in place from the protobuf bytes the
//! receivers checked ([`wire`](super::wire)).
//!
//! A shard appends each valid point of its share of a request to the rows
//! of its table and summarizes it for the watch, reading it where it lies:
//! gauge and sum points ([`NumberPoint`]) and histogram points
//! ([`HistogramPoint`]), what nearly every SDK sends, field by field;
//! exponential histogram and summary points decoded with `prost` one at a
//! time ([`DecodedPoint`]). Every view reads its fields as `prost` would
//! (the last occurrence of a scalar wins; repeated scalars, packed or not,
//! concatenate), and its attributes and exemplars stay messages in the
//! body, read by the columns that take them.

use crate::otlp::metrics::v1::{ExponentialHistogramDataPoint, SummaryDataPoint};
use crate::protowire::{Fields, Value, occurrences};
use crate::wire::decode_checked;

use super::wire::{EXPONENTIAL_HISTOGRAM, GAUGE, HISTOGRAM, SUM, SUMMARY};

/// A valid data point of a metric, read in place; its type is the
/// metric's.
#[derive(Debug, Clone)]
pub enum PointView<'a> {
    /// A gauge's or a sum's point.
    Number(NumberPoint<'a>),
    Histogram(HistogramPoint<'a>),
    ExponentialHistogram(DecodedPoint<'a, ExponentialHistogramDataPoint>),
    Summary(DecodedPoint<'a, SummaryDataPoint>),
}

impl<'a> PointView<'a> {
    /// Reads `bytes`, a checked point of a metric whose data field is
    /// `kind` (one of [`GAUGE`], [`SUM`], [`HISTOGRAM`],
    /// [`EXPONENTIAL_HISTOGRAM`], [`SUMMARY`]); `None` for another field.
    pub fn read(kind: u32, bytes: &'a [u8]) -> Option<Self> {
        Some(match kind {
            GAUGE | SUM => Self::Number(NumberPoint::read(bytes)),
            HISTOGRAM => Self::Histogram(HistogramPoint::read(bytes)),
            EXPONENTIAL_HISTOGRAM => Self::ExponentialHistogram(DecodedPoint::read(bytes, 1, 11)),
            SUMMARY => Self::Summary(DecodedPoint::read(bytes, 7, 0)),
            _ => return None,
        })
    }

    /// The fields every point type has.
    pub fn common(&self) -> &PointCommon<'a> {
        match self {
            Self::Number(p) => &p.common,
            Self::Histogram(p) => &p.common,
            Self::ExponentialHistogram(p) => &p.common,
            Self::Summary(p) => &p.common,
        }
    }
}

/// What every point type holds: its times (fields 2 and 3 of each), its
/// attributes and its exemplars (fields that differ by type), and its bytes.
#[derive(Debug, Clone, Copy)]
pub struct PointCommon<'a> {
    pub start_time_unix_nano: u64,
    pub time_unix_nano: u64,
    bytes: &'a [u8],
    attributes_field: u32,
    /// 0 for a type without exemplars (summaries).
    exemplars_field: u32,
    /// Whether the point has exemplars (rare): when not, they are not
    /// looked for.
    has_exemplars: bool,
}

impl<'a> PointCommon<'a> {
    fn new(bytes: &'a [u8], attributes_field: u32, exemplars_field: u32) -> Self {
        Self {
            start_time_unix_nano: 0,
            time_unix_nano: 0,
            bytes,
            attributes_field,
            exemplars_field,
            has_exemplars: false,
        }
    }

    /// Takes the field if it is one of the times, notes it if it is an
    /// exemplar.
    #[inline(always)]
    fn note(&mut self, tag: u32, value: Value<'_>) {
        match tag {
            2 => self.start_time_unix_nano = value.int(),
            3 => self.time_unix_nano = value.int(),
            _ => self.has_exemplars |= tag == self.exemplars_field,
        }
    }

    /// The attributes: `KeyValue` messages, in the order they came.
    pub fn attributes(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        occurrences(self.bytes, self.attributes_field)
    }

    /// The exemplars: `Exemplar` messages, in the order they came (none
    /// for a summary point).
    pub fn exemplars(&self) -> impl Iterator<Item = &'a [u8]> + Clone + use<'a> {
        let bytes = if self.has_exemplars {
            self.bytes
        } else {
            &[][..]
        };
        occurrences(bytes, self.exemplars_field)
    }
}

/// A `NumberDataPoint` (of a gauge or a sum) read in place.
#[derive(Debug, Clone, Copy)]
pub struct NumberPoint<'a> {
    pub common: PointCommon<'a>,
    /// `as_double`, or `as_int` converted; `None` when the point has
    /// neither.
    pub value: Option<f64>,
    pub flags: u32,
}

impl<'a> NumberPoint<'a> {
    pub fn read(bytes: &'a [u8]) -> Self {
        let mut point = Self {
            common: PointCommon::new(bytes, 7, 5),
            value: None,
            flags: 0,
        };
        for (tag, value) in Fields::new(bytes) {
            match tag {
                4 => point.value = Some(f64::from_bits(value.int())),
                6 => point.value = Some(value.int() as i64 as f64),
                8 => point.flags = value.int() as u32,
                _ => point.common.note(tag, value),
            }
        }
        point
    }
}

/// A `HistogramDataPoint` read in place.
#[derive(Debug, Clone, Copy)]
pub struct HistogramPoint<'a> {
    pub common: PointCommon<'a>,
    pub count: u64,
    pub sum: Option<f64>,
    pub flags: u32,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl<'a> HistogramPoint<'a> {
    pub fn read(bytes: &'a [u8]) -> Self {
        let mut point = Self {
            common: PointCommon::new(bytes, 9, 8),
            count: 0,
            sum: None,
            flags: 0,
            min: None,
            max: None,
        };
        for (tag, value) in Fields::new(bytes) {
            match tag {
                4 => point.count = value.int(),
                5 => point.sum = Some(f64::from_bits(value.int())),
                10 => point.flags = value.int() as u32,
                11 => point.min = Some(f64::from_bits(value.int())),
                12 => point.max = Some(f64::from_bits(value.int())),
                _ => point.common.note(tag, value),
            }
        }
        point
    }

    /// The bucket counts.
    pub fn bucket_counts(&self) -> impl Iterator<Item = u64> + Clone + use<'a> {
        fixed64s(self.common.bytes, 6)
    }

    /// The explicit bounds.
    pub fn explicit_bounds(&self) -> impl Iterator<Item = f64> + Clone + use<'a> {
        fixed64s(self.common.bytes, 7).map(f64::from_bits)
    }
}

/// The values of a repeated 64-bit scalar field (`fixed64`, `double`) of a
/// checked message, as `prost` reads them: each occurrence packed (a run of
/// 8-byte values) or one value.
fn fixed64s(message: &[u8], tag: u32) -> impl Iterator<Item = u64> + Clone + use<'_> {
    Fields::new(message)
        .filter(move |(t, _)| *t == tag)
        .flat_map(|(_, value)| {
            let (run, single) = match value {
                Value::Bytes(run) => (run, None),
                single => (&[][..], Some(single.int())),
            };
            let packed = run
                .chunks_exact(8)
                .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or_default()));
            packed.chain(single)
        })
}

/// A point of a rarer type, decoded with `prost`: its attributes and
/// exemplars are read in place all the same (`point`'s are not used).
#[derive(Debug, Clone)]
pub struct DecodedPoint<'a, P> {
    pub common: PointCommon<'a>,
    pub point: P,
}

impl<'a, P: prost::Message + Default> DecodedPoint<'a, P> {
    fn read(bytes: &'a [u8], attributes_field: u32, exemplars_field: u32) -> Self {
        let mut common = PointCommon::new(bytes, attributes_field, exemplars_field);
        for (tag, value) in Fields::new(bytes) {
            common.note(tag, value);
        }
        Self {
            common,
            point: decode_checked(bytes),
        }
    }
}
