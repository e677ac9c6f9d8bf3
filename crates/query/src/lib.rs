//! The API port: the end of the data path that people and tools query.
//!
//! Operational endpoints: `/healthz` (the process is up), `/readyz` (receivers
//! bound and shards running; not ready while shutting down) and `/metrics`
//! (Prometheus text format). Query endpoints ([`api`]): SQL over the stored
//! tables through DataFusion ([`sql`]) and trace lookup.

pub mod anomalies;
pub mod api;
pub mod metrics;
mod ratio;
mod rollup_files;
pub mod sli;
pub mod slo;
mod slo_api;
mod slo_index;
pub mod sql;

pub use slo::SloEngine;
pub use sql::{QueryConfig, SqlEngine};

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

/// The `[api]` section of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// API listen address.
    pub listen: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:4319".to_owned(),
        }
    }
}

impl ApiConfig {
    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        self.listen
            .parse::<std::net::SocketAddr>()
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "api.listen: {:?} is not an address like 127.0.0.1:4319 ({e})",
                    self.listen
                )
            })
    }
}

/// Whether the node takes traffic: set once everything is started, cleared
/// when shutdown begins, so load balancers move away before the ports close.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What the API handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub readiness: Readiness,
    pub metrics: PrometheusHandle,
    pub sql: SqlEngine,
    pub slo: SloEngine,
}

/// The API routes.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/v1/sql", axum::routing::post(api::sql))
        .route("/api/v1/traces/{trace_id}", get(api::trace))
        .route("/api/v1/sli", get(sli::sli))
        .route("/api/v1/slos", get(slo_api::list))
        .route("/api/v1/slos/{name}", get(slo_api::one))
        .route("/api/v1/gate", get(slo_api::gate))
        .route("/api/v1/anomalies", get(anomalies::anomalies))
        .with_state(state)
}

async fn readyz(State(state): State<ApiState>) -> impl IntoResponse {
    if state.readiness.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(state): State<ApiState>) -> impl IntoResponse {
    // Fresh SLO gauges for every tenant that has data.
    if !state.slo.definitions().is_empty() {
        let now = now_nanos();
        for tenant in state.slo.tenants().await {
            match state.slo.statuses(&tenant, now, |_| true).await {
                Ok(statuses) => statuses
                    .iter()
                    .for_each(|s| crate::metrics::record(&tenant, s)),
                Err(error) => {
                    tracing::warn!(tenant = %tenant, %error, "cannot evaluate SLOs for /metrics")
                }
            }
        }
    }
    state.metrics.run_upkeep();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// The wall clock in nanoseconds since the Unix epoch: the `now` the SLO and
/// SLI answers are computed at.
pub(crate) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
