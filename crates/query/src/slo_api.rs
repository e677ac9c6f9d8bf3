//! `GET /api/v1/slos`, `GET /api/v1/slos/{name}` and `GET /api/v1/gate`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sluice_slo::GateDecision;

use crate::api::{error, invalid_tenant, tenant};
use crate::{ApiState, now_nanos};

pub async fn list(State(state): State<ApiState>, headers: HeaderMap) -> Response {
    let Some(tenant) = tenant(&headers) else {
        return invalid_tenant();
    };
    match state.slo.statuses(&tenant, now_nanos(), |_| true).await {
        Ok(statuses) => Json(statuses).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn one(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let Some(tenant) = tenant(&headers) else {
        return invalid_tenant();
    };
    let definitions = state.slo.definitions();
    if definitions.get(&name).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no SLO named {name:?}"));
    };
    match state
        .slo
        .statuses(&tenant, now_nanos(), |d| d.name == name)
        .await
    {
        Ok(mut statuses) => match statuses.pop() {
            Some(status) => Json(status).into_response(),
            None => error(StatusCode::NOT_FOUND, format!("no SLO named {name:?}")),
        },
        Err(e) => e.into_response(),
    }
}

/// The query of `GET /api/v1/gate`.
#[derive(Debug, Deserialize)]
pub struct GateQuery {
    pub service: String,
}

pub async fn gate(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(query): Query<GateQuery>,
) -> Response {
    let Some(tenant) = tenant(&headers) else {
        return invalid_tenant();
    };
    match state
        .slo
        .statuses(&tenant, now_nanos(), |d| d.service == query.service)
        .await
    {
        Ok(statuses) => Json(GateDecision::evaluate(&query.service, &statuses)).into_response(),
        Err(e) => e.into_response(),
    }
}
