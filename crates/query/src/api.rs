//! The query endpoints of the API port: `POST /api/v1/sql` and
//! `GET /api/v1/traces/{trace_id}`.
//!
//! Results are a JSON array of row objects, or Arrow IPC
//! (`application/vnd.apache.arrow.stream`) or CSV (`text/csv`) by `Accept`. The
//! tenant is the `X-Scope-OrgID` header, `default` without one. A SQL error is a
//! 400 with DataFusion's message; a result cut at `query.max_rows` carries
//! `Sluice-Truncated: true`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::RecordBatch;
use serde::Deserialize;
use serde_json::json;
use sluice_model::Tenant;

use crate::ApiState;
use crate::sql::{QueryError, QueryResult};

/// The header that selects the tenant, as on ingest.
const TENANT_HEADER: &str = "x-scope-orgid";

/// An error answered as `{"error": "..."}` with its status.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The tenant a request names, `default` without a header; `None` when the
/// header is not a valid tenant id.
pub(crate) fn tenant(headers: &HeaderMap) -> Option<Tenant> {
    match headers.get(TENANT_HEADER) {
        None => Some(Tenant::default_tenant()),
        Some(value) => value.to_str().ok().and_then(|v| v.trim().parse().ok()),
    }
}

pub(crate) fn invalid_tenant() -> Response {
    error(StatusCode::BAD_REQUEST, "invalid X-Scope-OrgID header")
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let status = match self {
            QueryError::Sql(_) => StatusCode::BAD_REQUEST,
            QueryError::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            QueryError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self.to_string())
    }
}

/// The result formats clients may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    ArrowIpc,
    Csv,
}

impl Format {
    fn from_accept(headers: &HeaderMap) -> Self {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if accept.contains("application/vnd.apache.arrow.stream") {
            Self::ArrowIpc
        } else if accept.contains("text/csv") {
            Self::Csv
        } else {
            Self::Json
        }
    }
}

fn encode(batches: &[RecordBatch], format: Format) -> Result<(Vec<u8>, &'static str), String> {
    let mut out = Vec::new();
    match format {
        Format::Json => {
            let mut writer = datafusion::arrow::json::ArrayWriter::new(&mut out);
            for batch in batches {
                writer.write(batch).map_err(|e| e.to_string())?;
            }
            writer.finish().map_err(|e| e.to_string())?;
            if out.is_empty() {
                out.extend_from_slice(b"[]");
            }
            Ok((out, "application/json"))
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::Writer::new(&mut out);
            for batch in batches {
                writer.write(batch).map_err(|e| e.to_string())?;
            }
            drop(writer);
            Ok((out, "text/csv"))
        }
        Format::ArrowIpc => {
            let Some(first) = batches.first() else {
                return Ok((out, "application/vnd.apache.arrow.stream"));
            };
            let mut writer =
                datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut out, &first.schema())
                    .map_err(|e| e.to_string())?;
            for batch in batches {
                writer.write(batch).map_err(|e| e.to_string())?;
            }
            writer.finish().map_err(|e| e.to_string())?;
            drop(writer);
            Ok((out, "application/vnd.apache.arrow.stream"))
        }
    }
}

fn respond(result: QueryResult, format: Format) -> Response {
    match encode(&result.batches, format) {
        Ok((body, content_type)) => {
            let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
            if result.truncated {
                response
                    .headers_mut()
                    .insert("sluice-truncated", HeaderValue::from_static("true"));
            }
            response
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the result: {e}"),
        ),
    }
}

/// The body of `POST /api/v1/sql`.
#[derive(Debug, Deserialize)]
pub struct SqlRequest {
    pub sql: String,
}

pub async fn sql(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Json(request): Json<SqlRequest>,
) -> Response {
    let Some(tenant) = tenant(&headers) else {
        return invalid_tenant();
    };
    match state.sql.query(&tenant, &request.sql).await {
        Ok(result) => respond(result, Format::from_accept(&headers)),
        Err(e) => e.into_response(),
    }
}

pub async fn trace(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
) -> Response {
    let Some(tenant) = tenant(&headers) else {
        return invalid_tenant();
    };
    let id = trace_id.to_ascii_lowercase();
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return error(StatusCode::BAD_REQUEST, "a trace id is 32 hex characters");
    }
    // Equality on TraceId lets the Parquet reader skip row groups by their
    // bloom filters.
    let sql =
        format!("SELECT * FROM otel_traces WHERE \"TraceId\" = '{id}' ORDER BY \"Timestamp\"");
    match state.sql.query(&tenant, &sql).await {
        Ok(result) if result.batches.iter().all(|b| b.num_rows() == 0) => {
            error(StatusCode::NOT_FOUND, format!("no span of trace {id}"))
        }
        Ok(result) => respond(result, Format::from_accept(&headers)),
        Err(e) => e.into_response(),
    }
}
