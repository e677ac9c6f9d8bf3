//! What the schedule of [`AlertGroups`](super::AlertGroups) depends on: the
//! kinds of sink and the `[alerting]` durations, in nanoseconds.

use crate::backoff::Backoff;
use crate::config::AlertingConfig;

/// The kind of receiver behind a sink: what it is sent and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// Alertmanager's `POST /api/v2/alerts`, re-sent every `repeat_interval`.
    Alertmanager,
    /// Alertmanager's webhook payload, re-sent every `webhook_repeat_interval`.
    Webhook,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Alertmanager => "alertmanager",
            Self::Webhook => "webhook",
        }
    }
}

/// The schedule parameters, in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub group_wait: i64,
    pub group_interval: i64,
    pub repeat_interval: i64,
    /// 0: never.
    pub webhook_repeat_interval: i64,
    pub max_per_minute: u32,
    pub backoff: Backoff,
    pub max_retries: u32,
    pub max_active: usize,
}

fn nanos(d: sluice_model::units::Duration) -> i64 {
    i64::try_from(d.as_nanos_u64()).unwrap_or(i64::MAX)
}

impl Timing {
    pub fn from_config(config: &AlertingConfig) -> Self {
        Self {
            group_wait: nanos(config.group_wait),
            group_interval: nanos(config.group_interval),
            repeat_interval: nanos(config.repeat_interval),
            webhook_repeat_interval: nanos(config.webhook_repeat_interval),
            max_per_minute: config.max_notifications_per_minute,
            backoff: Backoff {
                initial: config.retry_initial_backoff.get(),
                max: config.retry_max_backoff.get(),
            },
            max_retries: config.max_retries,
            max_active: config.max_active_alerts,
        }
    }

    pub(super) fn repeat(&self, kind: SinkKind) -> i64 {
        match kind {
            SinkKind::Alertmanager => self.repeat_interval,
            SinkKind::Webhook => self.webhook_repeat_interval,
        }
    }
}
