//! `GET /api/v1/sli`: the golden signals of a service (and operation) as a
//! time series, from the rollups: throughput, error ratio, and latency
//! percentiles for all, successful and failed requests (server spans).
//!
//! Only the hour partitions of the range are listed and read, and of each
//! file only the service's server-span rows (see [`crate::rollup_files`]).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sluice_model::Tenant;
use sluice_model::units::Duration;
use sluice_slo::{DdSketch, Minute, MinuteRange, NANOS_PER_MINUTE, SliRollup};

use crate::api::{error, invalid_tenant, tenant};
use crate::sql::QueryError;
use crate::{ApiState, SloEngine, now_nanos};

/// Points one answer holds at most.
const MAX_POINTS: i64 = 10_000;

/// The query of `GET /api/v1/sli`.
#[derive(Debug, Deserialize)]
pub struct SliQuery {
    pub service: String,
    pub operation: Option<String>,
    /// RFC 3339 or Unix seconds; default: an hour before `to`.
    pub from: Option<String>,
    /// RFC 3339 or Unix seconds; default: now.
    pub to: Option<String>,
    /// A whole number of minutes, e.g. `1m`, `5m`, `1h`; default `1m`.
    pub step: Option<String>,
}

/// Latency percentiles, in milliseconds; `null` without requests.
#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Percentiles {
    fn of(sketch: &DdSketch) -> Self {
        let ms = |q| sketch.quantile(q).map(|nanos| nanos / 1e6);
        Self {
            p50: ms(0.50),
            p90: ms(0.90),
            p95: ms(0.95),
            p99: ms(0.99),
        }
    }
}

/// Latency of all, successful and failed requests.
#[derive(Debug, Serialize)]
pub struct LatencyPoint {
    pub all: Percentiles,
    pub success: Percentiles,
    pub failure: Percentiles,
}

/// One step of the series.
#[derive(Debug, Serialize)]
pub struct SliPoint {
    /// Start of the step, RFC 3339.
    pub time: String,
    pub requests: u64,
    pub errors: u64,
    /// Requests per second over the step.
    pub throughput: f64,
    /// `errors / requests`; `null` without requests.
    pub error_ratio: Option<f64>,
    pub latency_ms: LatencyPoint,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct SliSeries {
    pub service: String,
    pub operation: Option<String>,
    pub from: String,
    pub to: String,
    pub step: String,
    pub points: Vec<SliPoint>,
}

/// RFC 3339 or Unix seconds to nanoseconds.
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return Some((seconds * 1e9) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|t| t.timestamp_nanos_opt())
}

pub(crate) fn rfc3339(nanos: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(nanos).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A validated golden-signal question.
#[derive(Debug, Clone)]
pub struct SeriesRequest {
    pub service: String,
    pub operation: Option<String>,
    /// Nanoseconds since the Unix epoch; `from < to`.
    pub from: i64,
    pub to: i64,
    /// A whole number of minutes.
    pub step: Duration,
}

impl SeriesRequest {
    /// Checks the query of `GET /api/v1/sli` at `now`; the error is the
    /// client's to fix.
    fn parse(query: SliQuery, now: i64) -> Result<Self, String> {
        let to = match query.to.as_deref().map(parse_time) {
            None => now,
            Some(Some(t)) => t,
            Some(None) => return Err("to: expected RFC 3339 or Unix seconds".into()),
        };
        let from = match query.from.as_deref().map(parse_time) {
            None => to - 60 * NANOS_PER_MINUTE,
            Some(Some(t)) => t,
            Some(None) => return Err("from: expected RFC 3339 or Unix seconds".into()),
        };
        let step: Duration = query
            .step
            .as_deref()
            .unwrap_or("1m")
            .parse()
            .map_err(|e| format!("step: {e}"))?;
        let step_nanos = i64::try_from(step.as_nanos_u64()).unwrap_or(i64::MAX);
        if step_nanos < NANOS_PER_MINUTE || step_nanos % NANOS_PER_MINUTE != 0 {
            return Err("step: must be a whole number of minutes".into());
        }
        if from >= to {
            return Err("from must be before to".into());
        }
        let steps = to.saturating_sub(from).saturating_add(step_nanos - 1) / step_nanos;
        if steps > MAX_POINTS {
            return Err(format!(
                "{steps} points asked; at most {MAX_POINTS}: widen the step"
            ));
        }
        Ok(Self {
            service: query.service,
            operation: query.operation,
            from,
            to,
            step,
        })
    }
}

pub async fn sli(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<SliQuery>,
) -> Response {
    let Some(tenant) = tenant(&headers) else {
        return invalid_tenant();
    };
    let request = match SeriesRequest::parse(query, now_nanos()) {
        Ok(request) => request,
        Err(message) => return error(StatusCode::BAD_REQUEST, message),
    };
    match golden_signals(&state.slo, &tenant, request).await {
        Ok(series) => Json(series).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The golden signals `request` asks for, from the stored rollups: one point
/// per step that has requests, steps counted from `from`.
pub async fn golden_signals(
    slo: &SloEngine,
    tenant: &Tenant,
    request: SeriesRequest,
) -> Result<SliSeries, QueryError> {
    let SeriesRequest {
        service,
        operation,
        from,
        to,
        step,
    } = request;
    let step_nanos = i64::try_from(step.as_nanos_u64()).unwrap_or(i64::MAX);
    let first = Minute::of_nanos(from);
    let range = MinuteRange {
        start: first,
        end: Minute::of_nanos(to - 1).plus(1),
    };
    let rows = slo.server_rollups(tenant, &service, range).await?;
    let origin = first.start_nanos();
    let mut buckets: BTreeMap<i64, SliRollup> = BTreeMap::new();
    for (row_operation, minute, rollup) in rows {
        if operation.as_deref().is_some_and(|op| row_operation != op) {
            continue;
        }
        let at = minute.start_nanos();
        let bucket = origin + (at - origin) / step_nanos * step_nanos;
        buckets
            .entry(bucket)
            .or_default()
            .merge(&rollup)
            .map_err(|e| QueryError::Internal(e.to_string()))?;
    }
    let seconds = step_nanos as f64 / 1e9;
    let points = buckets
        .into_iter()
        .map(|(start, rollup)| SliPoint {
            time: rfc3339(start),
            requests: rollup.requests(),
            errors: rollup.errors(),
            throughput: rollup.requests() as f64 / seconds,
            error_ratio: (rollup.requests() > 0)
                .then(|| rollup.errors() as f64 / rollup.requests() as f64),
            latency_ms: LatencyPoint {
                all: Percentiles::of(&rollup.all_latency()),
                success: Percentiles::of(rollup.success_latency()),
                failure: Percentiles::of(rollup.failure_latency()),
            },
        })
        .collect();
    Ok(SliSeries {
        service,
        operation,
        from: rfc3339(from),
        to: rfc3339(to),
        step: step.to_string(),
        points,
    })
}
