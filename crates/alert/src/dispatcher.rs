//! The dispatcher task: the IO loop around [`AlertGroups`]. It takes alerts
//! off the queue, polls the groups for due batches, encodes each for its sink
//! and posts it on a task of its own, and reports each outcome back.
//!
//! # Ordering
//!
//! At most one request per group and sink is in flight, so a group's
//! notifications reach each receiver in order. Different groups and sinks go
//! in parallel, within each sink's rate limit.
//!
//! # Shutdown
//!
//! On [`Notifier::shutdown`](crate::Notifier::shutdown) or once every handle
//! is dropped: the queue is closed and drained, sends in flight finish (each
//! bounded by `alerting.timeout`), then every group with undelivered changes
//! is sent once more, ignoring waits and rate limits, without retries. Firing
//! alerts are not resolved: Alertmanager resolves them at their `endsAt`
//! unless a restarted Sluice refreshes them first.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};

use crate::alert::Alert;
use crate::config::AlertingConfig;
use crate::error::AlertError;
use crate::groups::{
    AlertGroups, Batch, BatchId, Completion, Observed, SendOutcome, SinkKind, Timing,
};
use crate::metrics;
use crate::payload::{alertmanager_body, webhook_message};
use crate::sink::Sink;

/// Longest sleep without a due group: the schedule follows the wall clock,
/// which may jump.
const MAX_IDLE: Duration = Duration::from_secs(30);
/// Alerts taken off the queue before the groups are polled again.
const RECV_BATCH: usize = 256;

type SendResult = Result<(), AlertError>;

pub(crate) struct Dispatcher {
    groups: AlertGroups,
    sinks: Arc<[Sink]>,
    client: reqwest::Client,
    queue: mpsc::Receiver<Alert>,
    stop: watch::Receiver<bool>,
    external_url: String,
    repeat_interval: i64,
    sends: JoinSet<SendResult>,
    /// The batch (and its alert count) each send task carries.
    in_flight: HashMap<tokio::task::Id, (BatchId, usize)>,
}

impl Dispatcher {
    pub(crate) fn new(
        config: &AlertingConfig,
        client: reqwest::Client,
        queue: mpsc::Receiver<Alert>,
        stop: watch::Receiver<bool>,
    ) -> Self {
        let sinks: Vec<Sink> = config
            .alertmanager_urls
            .iter()
            .map(|url| Sink::alertmanager(url))
            .chain(config.webhook_urls.iter().map(|url| Sink::webhook(url)))
            .collect();
        let timing = Timing::from_config(config);
        let repeat_interval = timing.repeat_interval;
        let seed = std::collections::hash_map::RandomState::new().hash_one(now_nanos());
        let groups = AlertGroups::new(timing, sinks.iter().map(|s| s.kind).collect(), seed);
        Self {
            groups,
            sinks: sinks.into(),
            client,
            queue,
            stop,
            external_url: config.external_url.trim_end_matches('/').to_owned(),
            repeat_interval,
            sends: JoinSet::new(),
            in_flight: HashMap::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        tracing::info!(sinks = self.sinks.len(), "alert dispatcher started");
        loop {
            let now = now_nanos();
            for batch in self.groups.poll(now) {
                self.spawn(batch);
            }
            self.record_gauges();
            let idle = self.groups.next_due(now).map_or(MAX_IDLE, |due| {
                Duration::from_nanos(u64::try_from(due.saturating_sub(now)).unwrap_or(0))
                    .min(MAX_IDLE)
            });
            tokio::select! {
                biased;
                _ = self.stop.changed() => break,
                // Outcomes before new alerts: a flood of alerts must not keep
                // groups in flight.
                Some(done) = self.sends.join_next_with_id() => self.finish(done),
                received = self.queue.recv() => match received {
                    Some(alert) => {
                        self.observe(alert);
                        for _ in 1..RECV_BATCH {
                            match self.queue.try_recv() {
                                Ok(alert) => self.observe(alert),
                                Err(_) => break,
                            }
                        }
                    }
                    None => break,
                },
                () = tokio::time::sleep(idle) => {}
            }
        }
        self.drain().await;
    }

    /// The final flush of the module docs.
    async fn drain(mut self) {
        self.queue.close();
        while let Ok(alert) = self.queue.try_recv() {
            self.observe(alert);
        }
        while let Some(done) = self.sends.join_next_with_id().await {
            self.finish(done);
        }
        for batch in self.groups.flush(now_nanos()) {
            self.spawn(batch);
        }
        while let Some(done) = self.sends.join_next_with_id().await {
            self.finish(done);
        }
        self.record_gauges();
        tracing::info!(firing = self.groups.firing(), "alert dispatcher stopped");
    }

    fn observe(&mut self, alert: Alert) {
        let (name, service) = (alert.name.clone(), alert.service.clone());
        match self.groups.observe(alert, now_nanos()) {
            Observed::TooManyActive => {
                ::metrics::counter!(metrics::DROPPED, "reason" => "too_many_active").increment(1);
                tracing::warn!(alert = %name, %service, "too many active alerts; alert dropped");
            }
            observed => tracing::debug!(alert = %name, %service, ?observed, "alert observed"),
        }
    }

    fn spawn(&mut self, batch: Batch) {
        let sink = &self.sinks[batch.id.sink];
        let body = match sink.kind {
            SinkKind::Alertmanager => serde_json::to_vec(&alertmanager_body(
                &batch.alerts,
                batch.at,
                self.repeat_interval,
                &self.external_url,
            )),
            SinkKind::Webhook => serde_json::to_vec(&webhook_message(
                &batch.id.service,
                &batch.alerts,
                &self.external_url,
            )),
        };
        let body = body.map_err(|e| AlertError::Encode {
            message: e.to_string(),
        });
        let (sinks, client, index) = (Arc::clone(&self.sinks), self.client.clone(), batch.id.sink);
        let task = self.sends.spawn(async move {
            let sink = &sinks[index];
            sink.post(&client, body?).await
        });
        self.in_flight
            .insert(task.id(), (batch.id, batch.alerts.len()));
    }

    fn finish(&mut self, done: Result<(tokio::task::Id, SendResult), JoinError>) {
        let (task, result) = match done {
            Ok((task, result)) => (task, result),
            Err(error) => (
                error.id(),
                Err(AlertError::Client {
                    message: format!("the send task failed: {error}"),
                }),
            ),
        };
        let Some((id, alerts)) = self.in_flight.remove(&task) else {
            return;
        };
        let outcome = match &result {
            Ok(()) => SendOutcome::Sent,
            Err(error) => SendOutcome::Failed {
                retryable: error.is_retryable(),
            },
        };
        let now = now_nanos();
        let completion = self.groups.complete(&id, outcome, now);
        let sink = &self.sinks[id.sink];
        let (kind, url, service) = (sink.kind.as_str(), sink.url.as_str(), id.service.as_str());
        let error = result.err().map(|e| e.to_string()).unwrap_or_default();
        let outcome = match completion {
            Completion::Sent => {
                tracing::debug!(sink = kind, url, service, alerts, "notification sent");
                "sent"
            }
            Completion::RetryAt(at) => {
                let retry_in = Duration::from_nanos(u64::try_from(at - now).unwrap_or(0));
                tracing::warn!(sink = kind, url, service, %error, ?retry_in, "notification failed; will retry");
                "retried"
            }
            Completion::GaveUp => {
                tracing::error!(sink = kind, url, service, alerts, %error, "notification failed too often; dropped");
                "gave_up"
            }
            Completion::Rejected => {
                tracing::error!(sink = kind, url, service, alerts, %error, "notification refused by the receiver; dropped");
                "rejected"
            }
            Completion::Unknown => return,
        };
        ::metrics::counter!(
            metrics::NOTIFICATIONS,
            "sink" => kind,
            "url" => url.to_owned(),
            "outcome" => outcome
        )
        .increment(1);
    }

    fn record_gauges(&self) {
        ::metrics::gauge!(metrics::FIRING).set(self.groups.firing() as f64);
        ::metrics::gauge!(metrics::GROUPS).set(self.groups.groups() as f64);
    }
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("sinks", &self.sinks)
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

/// The wall clock in nanoseconds since the Unix epoch: the `now` of the groups.
fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
