//! Alert notifications: the end of the data path that tells people. SLO
//! burn-rate alerts and anomalies become notifications to Prometheus
//! Alertmanager and to JSON webhooks (Slack- or PagerDuty-style receivers sit
//! behind either).
//!
//! This first part is pure: the alert value, the config, the receivers'
//! payloads and the state machine that decides what goes where and when. The
//! notifier that runs it over HTTP comes next.
//!
//! - [`alert`]: the [`Alert`] value, its labels, annotations and identity.
//! - [`config`]: the `[alerting]` section ([`AlertingConfig`], [`EXAMPLE_TOML`]).
//! - [`groups`]: the pure state machine: dedup, grouping by service, group
//!   wait and interval, repeats, per-sink rate limits, retries with backoff.
//! - [`payload`]: the Alertmanager and webhook bodies.

pub mod alert;
mod backoff;
pub mod config;
mod error;
pub mod groups;
pub mod payload;
mod rate_limit;

pub use alert::{Alert, AlertState, Fingerprint, Severity};
pub use backoff::Backoff;
pub use config::{AlertingConfig, AnomalySeverity, EXAMPLE_TOML};
pub use error::AlertError;
