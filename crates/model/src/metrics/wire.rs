//! OTLP metric requests checked and indexed in the protobuf bytes they came
//! in.
//!
//! A receiver turns a protobuf `ExportMetricsServiceRequest` into
//! [`WireMetrics`]: it checks the body as `prost` would, reading each
//! metric as it checks it ([`MetricView`]), validates each data point where
//! it lies ([`validate::check_point`]) and notes where each metric lies and
//! which of its points are invalid. The routing stage splits that index
//! over the shards by resource, all sharing the one body; each shard reads
//! its metrics and their valid points in place ([`WireMetrics::metrics`],
//! [`PointView`]) into its rows and the watch's summaries, on its own core.
//! No point becomes a message of owned strings on the way: decoding each
//! metric with `prost` was most of building its rows.

use std::sync::Arc;

use bytes::Bytes;
use prost::Message;

use crate::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use crate::otlp::metrics::v1::metric::Data;
use crate::otlp::metrics::v1::{Metric, ResourceMetrics, ScopeMetrics};
use crate::otlp::resource::v1::Resource;
use crate::protowire::{CheckedFields, WireError, occurrences, otlp as schema};
use crate::validate::{self, Rejected};
use crate::wire::{At, Indexed, MAX_BODY, RequestSchemas, WireContexts, decode_checked, nesting};
use crate::{Table, protowire};

use super::points::PointView;

/// The messages of a metric request.
static SCHEMAS: RequestSchemas = RequestSchemas {
    request: &schema::EXPORT_METRICS_REQUEST,
    resource: &schema::RESOURCE_METRICS,
    scope: &schema::SCOPE_METRICS,
};

/// The fields of `Metric`'s `data` oneof.
pub const GAUGE: u32 = 5;
pub const SUM: u32 = 7;
pub const HISTOGRAM: u32 = 9;
pub const EXPONENTIAL_HISTOGRAM: u32 = 10;
pub const SUMMARY: u32 = 11;

/// The `data_points` field of each of them.
const DATA_POINTS: u32 = 1;

/// A metric of the request kept with a name and data: its `ScopeMetrics`,
/// its bytes, and which of its points are invalid (a range of
/// [`WireMetrics::invalid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MetricAt {
    scope: u32,
    metric: At,
    /// Its valid points.
    points: u32,
    invalid: (u32, u32),
}

/// The metrics of a protobuf `ExportMetricsServiceRequest` with a name and
/// data, located in its body, with their resources and scopes and the
/// positions of their invalid data points.
#[derive(Debug, Clone)]
pub struct WireMetrics {
    body: Bytes,
    /// Each `ResourceMetrics` and `ScopeMetrics` message.
    contexts: WireContexts,
    metrics: Vec<MetricAt>,
    /// The positions, among their metric's points, of the invalid points of
    /// each metric, metric after metric (shared by the request's shares).
    invalid: Arc<[u32]>,
    rejected: Rejected,
}

impl PartialEq for WireMetrics {
    fn eq(&self, other: &Self) -> bool {
        self.to_request() == other.to_request()
    }
}

/// One metric of a [`WireMetrics`], read in place, with the indices of its
/// resource and scope.
#[derive(Debug, Clone, Copy)]
pub struct WireMetric<'a> {
    pub resource: usize,
    pub scope: usize,
    pub metric: MetricView<'a>,
    pub data: DataFields,
    /// The positions of its invalid points.
    invalid: &'a [u32],
}

impl<'a> WireMetric<'a> {
    /// The metric's valid points, in the order `prost` decodes them.
    pub fn points(&self) -> impl Iterator<Item = PointView<'a>> + use<'a> {
        let kind = self.metric.kind().unwrap_or_default();
        let mut invalid = self.invalid.iter().copied().peekable();
        self.metric
            .points()
            .enumerate()
            .filter_map(
                move |(position, bytes)| match invalid.next_if_eq(&(position as u32)) {
                    Some(_) => None,
                    None => PointView::read(kind, bytes),
                },
            )
    }
}

impl WireMetrics {
    /// Checks `body` and indexes its metrics and their valid points; the
    /// invalid points (and the metrics without a name or data) are left out
    /// and counted in [`rejected`](Self::rejected). Fails, like `prost`,
    /// when the body is not a valid `ExportMetricsServiceRequest`.
    pub fn index(body: Bytes) -> Result<Self, WireError> {
        if body.len() > MAX_BODY {
            return Err(WireError::new("a metric request must be under 4 GiB"));
        }
        let mut metrics = Vec::new();
        let mut invalid = Vec::new();
        let mut rejected = Rejected::default();
        let contexts = WireContexts::index(&body, &SCHEMAS, |scope, metric, depth| {
            let view = MetricView::checked(metric, depth)?;
            let name = view.name;
            if name.is_empty() {
                let points = view.points().count() as i64;
                rejected.reject(points, || "metric without a name".to_owned());
                return Ok(());
            }
            let Some(kind) = view.kind() else {
                rejected.note(|| format!("metric {name:?} has no data"));
                return Ok(());
            };
            let first_invalid = invalid.len() as u32;
            let mut points = 0;
            for (i, point) in view.points().enumerate() {
                match validate::check_point(kind, point) {
                    Ok(()) => points += 1,
                    Err(reason) => {
                        rejected.reject(1, || format!("metric {name:?}: {reason}"));
                        invalid.push(i as u32);
                    }
                }
            }
            rejected.accepted += i64::from(points);
            metrics.push(MetricAt {
                scope,
                metric: At::of(&body, metric),
                points,
                invalid: (first_invalid, invalid.len() as u32),
            });
            Ok(())
        })?;
        Ok(Self {
            body,
            contexts,
            metrics,
            invalid: invalid.into(),
            rejected,
        })
    }

    /// Encodes `request` and indexes it.
    pub fn from_request(request: &ExportMetricsServiceRequest) -> Self {
        Self::index(Bytes::from(request.encode_to_vec()))
            .expect("prost encodes valid messages under 4 GiB")
    }

    /// The request body, as received (invalid points included).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// What indexing left out.
    pub fn rejected(&self) -> &Rejected {
        &self.rejected
    }

    /// The valid data points kept.
    pub fn points(&self) -> usize {
        self.metrics.iter().map(|at| at.points as usize).sum()
    }

    /// Whether no metric is kept (a metric whose points were all invalid
    /// is kept, with none).
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The resources and scopes of the request.
    pub fn contexts(&self) -> &WireContexts {
        &self.contexts
    }

    /// The kept metrics, in request order, read in place.
    pub fn metrics(&self) -> impl Iterator<Item = WireMetric<'_>> {
        self.metrics.iter().map(|at| {
            let (from, to) = at.invalid;
            let metric = MetricView::read(at.metric.slice(&self.body));
            WireMetric {
                resource: self.contexts.resource_of(at.scope as usize),
                scope: at.scope as usize,
                data: metric.data_fields(),
                metric,
                invalid: &self.invalid[from as usize..to as usize],
            }
        })
    }

    /// The metric of `at`, decoded, its invalid points left out.
    fn decode(&self, at: &MetricAt) -> Metric {
        let mut metric: Metric = decode_checked(at.metric.slice(&self.body));
        let (from, to) = at.invalid;
        let invalid = &self.invalid[from as usize..to as usize];
        if !invalid.is_empty() {
            match &mut metric.data {
                Some(Data::Gauge(g)) => drop_positions(&mut g.data_points, invalid),
                Some(Data::Sum(s)) => drop_positions(&mut s.data_points, invalid),
                Some(Data::Histogram(h)) => drop_positions(&mut h.data_points, invalid),
                Some(Data::ExponentialHistogram(h)) => drop_positions(&mut h.data_points, invalid),
                Some(Data::Summary(s)) => drop_positions(&mut s.data_points, invalid),
                None => {}
            }
        }
        metric
    }

    /// Splits the metrics into `parts` shares by `part_of(resource)`, their
    /// resource as `prost` would decode it; every share keeps the whole body
    /// (shared, not copied) and the empty ones are left out. Returns
    /// `(part, share)` pairs in part order.
    pub fn partition(
        self,
        parts: usize,
        part_of: impl Fn(Option<&Resource>) -> usize,
    ) -> Vec<(usize, WireMetrics)> {
        let shares = self.contexts.split_by_resource(
            &self.body,
            self.metrics,
            |at| at.scope,
            parts,
            part_of,
        );
        shares
            .into_iter()
            .map(|(part, metrics)| {
                let points = metrics.iter().map(|at| at.points as usize).sum();
                let share = Self {
                    body: self.body.clone(),
                    contexts: self.contexts.clone(),
                    metrics,
                    invalid: self.invalid.clone(),
                    rejected: Rejected::accepting(points),
                };
                (part, share)
            })
            .collect()
    }

    /// The kept metrics and points as a message, grouped under their
    /// resources and scopes as they came (for OTLP/JSON and for tests).
    pub fn to_request(&self) -> ExportMetricsServiceRequest {
        let metrics = self.metrics.iter().map(|at| (at.scope, self.decode(at)));
        ExportMetricsServiceRequest {
            resource_metrics: self.contexts.rebuild::<Metrics>(&self.body, metrics),
        }
    }
}

nesting!(
    Metrics,
    ResourceMetrics,
    scope_metrics,
    ScopeMetrics,
    metrics,
    Metric
);

impl Indexed for WireMetrics {
    fn body(&self) -> &Bytes {
        &self.body
    }

    fn contexts(&self) -> &WireContexts {
        &self.contexts
    }
}

/// Drops the points at `positions` (in increasing order) from `points`.
fn drop_positions<P>(points: &mut Vec<P>, positions: &[u32]) {
    let mut position = 0;
    let mut dropped = positions.iter().peekable();
    points.retain(|_| {
        let keep = dropped.next_if_eq(&&position).is_none();
        position += 1;
        keep
    });
}

/// A metric read in place from its protobuf bytes: its name, description
/// and unit (read as text once, for all the metric's rows), and where its
/// data lies.
#[derive(Debug, Clone, Copy, Default)]
pub struct MetricView<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub unit: &'a str,
    /// The `data` field that holds the metric's data, and where in `bytes`
    /// its run of occurrences begins: `prost` merges the occurrences of one
    /// field of the oneof and starts afresh at another field's.
    data: Option<(u32, usize)>,
    bytes: &'a [u8],
}

/// The fields of a metric's data message besides its points, as `prost`
/// merges the data's occurrences: 0 and false where the type has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataFields {
    pub aggregation_temporality: i32,
    pub is_monotonic: bool,
}

impl<'a> MetricView<'a> {
    /// Checks `bytes` as a metric nested `depth` messages deep, as
    /// [`protowire::check`](crate::protowire::check) does, and reads it in
    /// the same pass.
    pub fn checked(bytes: &'a [u8], depth: u32) -> Result<Self, WireError> {
        let mut metric = Self {
            bytes,
            ..Self::default()
        };
        let mut fields = CheckedFields::new(bytes, &schema::METRIC, depth);
        while let Some(field) = fields.next()? {
            metric.note(field.tag, field.value, field.start);
            field.check_nested()?;
        }
        Ok(metric)
    }

    /// Reads `bytes`, a metric of a checked body (or one `prost` encoded).
    pub fn read(bytes: &'a [u8]) -> Self {
        let mut metric = Self {
            bytes,
            ..Self::default()
        };
        let mut fields = protowire::Fields::new(bytes);
        let mut start = 0;
        while let Some((tag, value)) = fields.next() {
            metric.note(tag, value, start);
            start = bytes.len() - fields.remaining();
        }
        metric
    }

    /// Takes field `tag`, which begins at `start` of the metric's bytes, as
    /// `prost` would.
    #[inline(always)]
    fn note(&mut self, tag: u32, value: protowire::Value<'a>, start: usize) {
        match tag {
            1 => self.name = value.str(),
            2 => self.description = value.str(),
            3 => self.unit = value.str(),
            // A run of one data field begins at its first occurrence.
            GAUGE | SUM | HISTOGRAM | EXPONENTIAL_HISTOGRAM | SUMMARY
                if self.data.is_none_or(|(data, _)| data != tag) =>
            {
                self.data = Some((tag, start));
            }
            _ => {}
        }
    }

    /// The field of the `data` oneof that holds the metric's data (one of
    /// [`GAUGE`], [`SUM`], [`HISTOGRAM`], [`EXPONENTIAL_HISTOGRAM`],
    /// [`SUMMARY`]), `None` for a metric without data.
    pub fn kind(&self) -> Option<u32> {
        self.data.map(|(tag, _)| tag)
    }

    /// The metric's protobuf bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The table the metric's points go to.
    pub fn table(&self) -> Option<Table> {
        Some(match self.kind()? {
            GAUGE => Table::MetricsGauge,
            SUM => Table::MetricsSum,
            HISTOGRAM => Table::MetricsHistogram,
            EXPONENTIAL_HISTOGRAM => Table::MetricsExponentialHistogram,
            SUMMARY => Table::MetricsSummary,
            _ => return None,
        })
    }

    /// The data points (messages of the type [`kind`](Self::kind) names),
    /// in the order `prost` decodes them.
    pub fn points(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        self.data_messages()
            .flat_map(|data| occurrences(data, DATA_POINTS))
    }

    /// The data's own fields (a sum's temporality and monotonicity, a
    /// histogram's temporality), the last occurrence of each winning.
    pub fn data_fields(&self) -> DataFields {
        let mut fields = DataFields::default();
        let kind = self.kind();
        if !matches!(kind, Some(SUM | HISTOGRAM | EXPONENTIAL_HISTOGRAM)) {
            return fields;
        }
        for data in self.data_messages() {
            for (tag, value) in protowire::Fields::new(data) {
                match tag {
                    2 => fields.aggregation_temporality = value.int() as i32,
                    3 if kind == Some(SUM) => fields.is_monotonic = value.int() != 0,
                    _ => {}
                }
            }
        }
        fields
    }

    /// The run of occurrences of the data field, in order.
    fn data_messages(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let (tag, from) = self.data.unwrap_or((0, self.bytes.len()));
        occurrences(&self.bytes[from..], tag)
    }
}

#[cfg(test)]
mod tests;
