//! `GET /api/v1/anomalies?service=&from=&to=&severity=`: the anomalies the
//! detectors found, from the `sluice_anomalies` table.
//!
//! The detector thread writes one row when an anomaly opens (or escalates)
//! and one when it ends, all with the anomaly's `Id`; the answer keeps the
//! newest row of each. An anomaly is listed when it overlaps `[from, to)`:
//! it started before `to` and is still open or ended after `from`.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use serde::{Deserialize, Serialize};
use sluice_model::Tenant;

use crate::api::{error, invalid_tenant, tenant};
use crate::sli::{parse_time, rfc3339};
use crate::sql::{QueryError, SqlEngine};
use crate::{ApiState, now_nanos};

/// Default look-back without `from`.
const DEFAULT_RANGE_NANOS: i64 = 24 * 3_600_000_000_000;

/// The query of `GET /api/v1/anomalies`.
#[derive(Debug, Deserialize)]
pub struct AnomalyQuery {
    pub service: Option<String>,
    /// RFC 3339 or Unix seconds; default: a day before `to`.
    pub from: Option<String>,
    /// RFC 3339 or Unix seconds; default: now.
    pub to: Option<String>,
    /// `page`, `ticket` or `info`, or several separated by commas.
    pub severity: Option<String>,
}

/// One anomaly, as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub id: String,
    pub service: String,
    pub operation: Option<String>,
    pub signal: String,
    pub labels: BTreeMap<String, String>,
    pub start: String,
    pub end: Option<String>,
    pub observed: f64,
    pub expected: f64,
    pub score: f64,
    pub severity: String,
    pub direction: String,
    pub detector: String,
    #[serde(skip)]
    start_nanos: i64,
    #[serde(skip)]
    end_nanos: Option<i64>,
    #[serde(skip)]
    updated_nanos: i64,
}

pub async fn anomalies(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<AnomalyQuery>,
) -> Response {
    let Some(tenant) = tenant(&headers) else {
        return invalid_tenant();
    };
    let to = match query.to.as_deref().map(parse_time) {
        None => now_nanos(),
        Some(Some(t)) => t,
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "to: expected RFC 3339 or Unix seconds",
            );
        }
    };
    let from = match query.from.as_deref().map(parse_time) {
        None => to.saturating_sub(DEFAULT_RANGE_NANOS),
        Some(Some(t)) => t,
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "from: expected RFC 3339 or Unix seconds",
            );
        }
    };
    if from >= to {
        return error(StatusCode::BAD_REQUEST, "from must be before to");
    }
    let severities: Option<Vec<&str>> = query
        .severity
        .as_deref()
        .map(|s| s.split(',').map(str::trim).collect());
    if let Some(bad) = severities
        .iter()
        .flatten()
        .find(|s| !matches!(**s, "page" | "ticket" | "info"))
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("severity: {bad:?} is not page, ticket or info"),
        );
    }
    match find(&state.sql, &tenant, query.service.as_deref(), from, to).await {
        Ok(found) => Json(
            found
                .into_iter()
                .filter(|a| {
                    severities
                        .as_ref()
                        .is_none_or(|s| s.contains(&a.severity.as_str()))
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The anomalies of `tenant` (of one service, when given) overlapping
/// `[from, to)`, oldest first.
pub async fn find(
    sql: &SqlEngine,
    tenant: &Tenant,
    service: Option<&str>,
    from: i64,
    to: i64,
) -> Result<Vec<Anomaly>, QueryError> {
    let service_filter = service
        .map(|s| format!("AND \"ServiceName\" = '{}'", s.replace('\'', "''")))
        .unwrap_or_default();
    let statement = format!(
        "SELECT \"Id\", CAST(\"Start\" AS BIGINT) AS start, CAST(\"End\" AS BIGINT) AS end_, \
         CAST(\"Updated\" AS BIGINT) AS updated, \"ServiceName\", \"Operation\", \"Signal\", \"Labels\", \
         \"Observed\", \"Expected\", \"Score\", \"Severity\", \"Direction\", \"Detector\" \
         FROM sluice_anomalies WHERE \"Start\" < to_timestamp_nanos({to}) {service_filter}"
    );
    let batches = sql.query_unlimited(tenant, &statement).await?.batches;
    let mut newest: HashMap<String, Anomaly> = HashMap::new();
    for batch in &batches {
        for anomaly in read(batch)? {
            match newest.get(&anomaly.id) {
                Some(kept)
                    if (kept.updated_nanos, kept.end_nanos.is_some())
                        >= (anomaly.updated_nanos, anomaly.end_nanos.is_some()) => {}
                _ => {
                    newest.insert(anomaly.id.clone(), anomaly);
                }
            }
        }
    }
    let mut found: Vec<Anomaly> = newest
        .into_values()
        .filter(|a| a.end_nanos.is_none_or(|end| end >= from))
        .collect();
    found.sort_by(|a, b| (a.start_nanos, &a.id).cmp(&(b.start_nanos, &b.id)));
    Ok(found)
}

fn read(batch: &RecordBatch) -> Result<Vec<Anomaly>, QueryError> {
    let bad =
        |what: &str| QueryError::Internal(format!("sluice_anomalies: unexpected column {what}"));
    let strings = |i: usize| -> Result<ArrayRef, QueryError> {
        cast(batch.column(i), &DataType::Utf8).map_err(|_| bad(batch.schema().field(i).name()))
    };
    let int = |i: usize| {
        batch
            .column(i)
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| bad(batch.schema().field(i).name()))
    };
    let float = |i: usize| {
        batch
            .column(i)
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| bad(batch.schema().field(i).name()))
    };
    let (id, service, operation, signal) = (strings(0)?, strings(4)?, strings(5)?, strings(6)?);
    let (severity, direction, detector) = (strings(11)?, strings(12)?, strings(13)?);
    let (start, end, updated) = (int(1)?, int(2)?, int(3)?);
    let (observed, expected, score) = (float(8)?, float(9)?, float(10)?);
    let labels = batch.column(7).as_map_opt().ok_or_else(|| bad("Labels"))?;
    let text = |a: &ArrayRef, row: usize| a.as_string::<i32>().value(row).to_owned();
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let entries = labels.value(row);
        let (keys, values) = (
            cast(entries.column(0), &DataType::Utf8).map_err(|_| bad("Labels"))?,
            cast(entries.column(1), &DataType::Utf8).map_err(|_| bad("Labels"))?,
        );
        let end_nanos = (!end.is_null(row)).then(|| end.value(row));
        rows.push(Anomaly {
            id: text(&id, row),
            service: text(&service, row),
            operation: (!operation.is_null(row)).then(|| text(&operation, row)),
            signal: text(&signal, row),
            labels: (0..entries.len())
                .map(|i| (text(&keys, i), text(&values, i)))
                .collect(),
            start: rfc3339(start.value(row)),
            end: end_nanos.map(rfc3339),
            observed: observed.value(row),
            expected: expected.value(row),
            score: score.value(row),
            severity: text(&severity, row),
            direction: text(&direction, row),
            detector: text(&detector, row),
            start_nanos: start.value(row),
            end_nanos,
            updated_nanos: updated.value(row),
        });
    }
    Ok(rows)
}
