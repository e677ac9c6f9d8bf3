//! The watch: streaming anomaly detection on the data flowing through the
//! shards (issue 5; detectors in `sluice-anomaly`).
//!
//! # Place in the data path
//!
//! ```text
//! shard workers ── StepFeed: per tenant and step (anomaly.step of event time):
//!   │               server spans per service/operation (requests, errors,
//!   │               latency sketch), ERROR logs per service, metric points
//!   │ bounded queue, try_send every 0.5 s (full: dropped and counted)
//!   ▼
//! WatchStage thread ── merges the shards' summaries, closes steps in event
//!   │                  time, one observation per series and step:
//!   │                  request_rate, error_ratio, latency_p99, log_errors,
//!   │                  metric (gauge, sum rate, histogram p99)
//!   ▼ SeriesDetector / TrendForecast
//! anomaly changes ──▶ sluice_anomalies (Parquet) and the AnomalySink (alerts)
//! ```
//!
//! Spans are routed by trace id, so every shard sees part of each service:
//! only the merged summary of a step is judged. Ingestion never waits for the
//! watch.

mod config;
mod feed;
mod output;
mod series;
mod stage;
mod step;

pub use config::WatchConfig;
pub use feed::StepFeed;
pub use output::{AnomalyRow, AnomalySink, anomaly_id};
pub use stage::WatchStage;
pub use step::StepBatch;
