//! Metric names of alerting. Labels: `sink` (`alertmanager` or `webhook`) and
//! `url` (the configured URL) on per-sink metrics, `reason` or `outcome` on
//! counters.

/// Alerts accepted by [`Notifier::notify`](crate::Notifier::notify), by `severity`.
pub const RECEIVED: &str = "sluice_alert_received_total";
/// Alerts dropped before they reached the dispatcher or its table, by `reason`:
/// `queue_full`, `closed` (the dispatcher has stopped), `too_many_active`.
pub const DROPPED: &str = "sluice_alert_dropped_total";
/// Anomaly alerts not sent because `alerting.anomaly_severity = "dashboard"`.
pub const DASHBOARD_ONLY: &str = "sluice_alert_dashboard_only_total";
/// Notifications (HTTP requests) by `sink`, `url` and `outcome`: `sent`,
/// `retried` (failed, will be sent again), `gave_up` (failed `max_retries`
/// times in a row), `rejected` (a 4xx other than 429: never retried).
pub const NOTIFICATIONS: &str = "sluice_alert_notifications_total";
/// Firing alerts held by the dispatcher.
pub const FIRING: &str = "sluice_alert_firing";
/// Service groups held by the dispatcher.
pub const GROUPS: &str = "sluice_alert_groups";
