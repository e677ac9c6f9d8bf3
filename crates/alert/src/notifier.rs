//! The handle callers hold: [`Notifier::notify`] puts an alert on a bounded
//! queue and returns at once; the dispatcher task started by
//! [`Notifier::start`] does the rest.
//!
//! # Backpressure
//!
//! `notify` never blocks and never awaits: it is called from shard threads
//! and async tasks alike. When the queue (`alerting.queue_capacity`) is full
//! the alert is dropped and counted in `sluice_alert_dropped_total{reason =
//! "queue_full"}`; the caller evaluating SLOs sends firing alerts again at its
//! next evaluation, so a drop delays an alert rather than losing it.
//!
//! # Shutdown
//!
//! [`Notifier::shutdown`], or dropping every handle, stops the dispatcher
//! after a final flush (sends in flight finish, then each undelivered change
//! goes once, without retries); await the `JoinHandle` to
//! wait for it, at most about twice `alerting.timeout`.

use std::sync::Arc;

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::alert::Alert;
use crate::config::{AlertingConfig, AnomalySeverity};
use crate::dispatcher::Dispatcher;
use crate::error::AlertError;
use crate::metrics;

/// A cheap, clonable handle to the alert dispatcher.
#[derive(Debug, Clone)]
pub struct Notifier {
    queue: mpsc::Sender<Alert>,
    stop: Arc<watch::Sender<bool>>,
    anomaly_severity: AnomalySeverity,
}

impl Notifier {
    /// Validates `config`, then spawns the dispatcher on the current Tokio
    /// runtime. The `JoinHandle` ends after [`shutdown`](Self::shutdown) or
    /// once every handle is dropped.
    pub fn start(config: AlertingConfig) -> Result<(Self, JoinHandle<()>), AlertError> {
        config.validate().map_err(AlertError::InvalidConfig)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| AlertError::Client {
            message: format!("the alert dispatcher needs a tokio runtime: {e}"),
        })?;
        let client = reqwest::Client::builder()
            .timeout(config.timeout.get())
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlertError::Client {
                message: e.to_string(),
            })?;
        let (queue, receiver) = mpsc::channel(config.queue_capacity);
        let (stop, stopped) = watch::channel(false);
        let anomaly_severity = config.anomaly_severity;
        let dispatcher = Dispatcher::new(&config, client, receiver, stopped);
        let handle = runtime.spawn(dispatcher.run());
        let notifier = Self {
            queue,
            stop: Arc::new(stop),
            anomaly_severity,
        };
        Ok((notifier, handle))
    }

    /// Hands an alert to the dispatcher without waiting; `false` when it was
    /// dropped (queue full, or the dispatcher stopped) and counted.
    pub fn notify(&self, alert: Alert) -> bool {
        let severity = alert.severity;
        let reason = match self.queue.try_send(alert) {
            Ok(()) => {
                ::metrics::counter!(metrics::RECEIVED, "severity" => severity.as_str())
                    .increment(1);
                return true;
            }
            Err(TrySendError::Full(_)) => "queue_full",
            Err(TrySendError::Closed(_)) => "closed",
        };
        ::metrics::counter!(metrics::DROPPED, "reason" => reason).increment(1);
        tracing::debug!(reason, "alert dropped");
        false
    }

    /// Hands over an anomaly without SLO impact: sent with the severity of
    /// `alerting.anomaly_severity` (`ticket`), or not at all (`dashboard`;
    /// counted in `sluice_alert_dashboard_only_total`, returns `false`). SLO
    /// burn-rate alerts go through [`notify`](Self::notify) with their own
    /// severity: only they page.
    pub fn notify_anomaly(&self, mut alert: Alert) -> bool {
        match self.anomaly_severity.severity() {
            Some(severity) => {
                alert.severity = severity;
                self.notify(alert)
            }
            None => {
                ::metrics::counter!(metrics::DASHBOARD_ONLY).increment(1);
                false
            }
        }
    }

    /// Asks the dispatcher to flush and stop; later alerts are dropped.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }
}
