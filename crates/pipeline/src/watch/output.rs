//! Where anomalies go: rows of `sluice_anomalies`, and the alert sink.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use sluice_anomaly::{AnomalyRecord, Transition};
use sluice_model::Tenant;
use sluice_model::attributes::{StringPairs, append_pairs, attributes_builder, finish_attributes};
use sluice_model::schema::schema;
use sluice_model::{Table, time::PartitionHour};

/// Receives every anomaly change as it is found, e.g. to notify an alert
/// manager. Called on the detector thread: it must not block.
pub trait AnomalySink: Send + Sync + std::fmt::Debug {
    /// `change` is `opened`, `updated` or `resolved`.
    fn anomaly(&self, tenant: &Tenant, id: &str, record: &AnomalyRecord, change: &'static str);
}

/// One row to write.
#[derive(Debug, Clone)]
pub struct AnomalyRow {
    pub id: String,
    pub record: AnomalyRecord,
    /// Event time of the step that made the change.
    pub updated: i64,
}

impl AnomalyRow {
    pub fn new(tenant: &Tenant, record: AnomalyRecord, updated: i64) -> Self {
        Self {
            id: anomaly_id(tenant, &record),
            record,
            updated,
        }
    }
}

/// The same anomaly gets the same id on every row and every run (the rows of
/// a replayed WAL repeat, they do not duplicate): FNV-1a of the tenant, the
/// series, the detector and the start.
pub fn anomaly_id(tenant: &Tenant, record: &AnomalyRecord) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes.iter().chain([&0xffu8]) {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    let series = &record.series;
    eat(tenant.as_str().as_bytes());
    eat(series.service.as_bytes());
    eat(series.operation.as_deref().unwrap_or("\u{0}").as_bytes());
    eat(series.signal.as_str().as_bytes());
    for (k, v) in &series.labels {
        eat(k.as_bytes());
        eat(v.as_bytes());
    }
    eat(record.event.detector.as_str().as_bytes());
    eat(&record.event.start.to_le_bytes());
    format!("{hash:016x}")
}

/// The record of a transition.
pub fn record_of(series: sluice_anomaly::SeriesKey, transition: Transition) -> AnomalyRecord {
    AnomalyRecord {
        series,
        event: transition.into_event(),
    }
}

/// Rows grouped by tenant and hour of their start, as batches to write.
pub fn batches(rows: Vec<(Tenant, AnomalyRow)>) -> Vec<(Tenant, PartitionHour, RecordBatch)> {
    let mut grouped: BTreeMap<(String, PartitionHour), (Tenant, Vec<AnomalyRow>)> = BTreeMap::new();
    for (tenant, row) in rows {
        let hour = PartitionHour::of_nanos(row.record.event.start);
        grouped
            .entry((tenant.as_str().to_owned(), hour))
            .or_insert_with(|| (tenant.clone(), Vec::new()))
            .1
            .push(row);
    }
    grouped
        .into_iter()
        .map(|((_, hour), (tenant, rows))| (tenant, hour, batch(&rows)))
        .collect()
}

fn batch(rows: &[AnomalyRow]) -> RecordBatch {
    let time = || TimestampNanosecondBuilder::with_capacity(rows.len()).with_timezone("UTC");
    let (mut id, mut service, mut operation, mut signal) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut severity, mut direction, mut detector) = (
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    );
    let (mut start, mut end, mut updated) = (time(), time(), time());
    let (mut observed, mut expected, mut score) = (
        Float64Builder::new(),
        Float64Builder::new(),
        Float64Builder::new(),
    );
    let mut labels = attributes_builder();
    for row in rows {
        let (series, event) = (&row.record.series, &row.record.event);
        id.append_value(&row.id);
        start.append_value(event.start);
        end.append_option(event.end);
        updated.append_value(row.updated);
        service.append_value(&series.service);
        operation.append_option(series.operation.as_deref());
        signal.append_value(series.signal.as_str());
        append_pairs(
            &mut labels,
            &StringPairs::new(
                series
                    .labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
        );
        observed.append_value(event.observed);
        expected.append_value(event.expected);
        score.append_value(event.score);
        severity.append_value(event.severity.as_str());
        direction.append_value(event.direction.as_str());
        detector.append_value(event.detector.as_str());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(updated.finish()),
        Arc::new(service.finish()),
        Arc::new(operation.finish()),
        Arc::new(signal.finish()),
        finish_attributes(&mut labels),
        Arc::new(observed.finish()),
        Arc::new(expected.finish()),
        Arc::new(score.finish()),
        Arc::new(severity.finish()),
        Arc::new(direction.finish()),
        Arc::new(detector.finish()),
    ];
    RecordBatch::try_new(schema(Table::Anomalies), columns)
        .expect("the builders follow the sluice_anomalies schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_anomaly::{AnomalyEvent, DetectorKind, Direction, SeriesKey, Severity, Signal};

    fn record(start: i64, end: Option<i64>) -> AnomalyRecord {
        AnomalyRecord {
            series: SeriesKey {
                service: "checkout".into(),
                operation: Some("POST /pay".into()),
                signal: Signal::ErrorRatio,
                labels: BTreeMap::new(),
            },
            event: AnomalyEvent {
                start,
                end,
                observed: 0.5,
                expected: 0.01,
                score: 12.0,
                severity: Severity::Page,
                direction: Direction::Up,
                detector: DetectorKind::RobustBaseline,
                time_to_limit_seconds: None,
            },
        }
    }

    #[test]
    fn both_rows_of_an_anomaly_share_its_id_and_hour() {
        let tenant = Tenant::default_tenant();
        let opened = AnomalyRow::new(&tenant, record(3_600_000_000_000, None), 3_600_000_000_000);
        let resolved = AnomalyRow::new(
            &tenant,
            record(3_600_000_000_000, Some(3_700_000_000_000)),
            3_700_000_000_000,
        );
        assert_eq!(opened.id, resolved.id);
        assert_ne!(opened.id, AnomalyRow::new(&tenant, record(1, None), 1).id);
        let written = batches(vec![(tenant.clone(), opened), (tenant, resolved)]);
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].2.num_rows(), 2);
    }
}
