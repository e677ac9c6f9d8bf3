//! The `[alerting]` section of the config file: where notifications go, how
//! they are grouped, repeated, rate-limited and retried.
//!
//! [`EXAMPLE_TOML`] lists every key with its default and meaning; a test
//! checks that it parses to [`AlertingConfig::default`].

use serde::{Deserialize, Serialize};
use sluice_model::units::Duration;

use crate::alert::Severity;

/// Every `[alerting]` key with its default and a one-line meaning, ready to
/// paste into `config/sluice.example.toml`.
pub const EXAMPLE_TOML: &str = r#"[alerting]
# Alertmanager base URLs; Sluice posts to <url>/api/v2/alerts. http:// only:
# put an https receiver behind Alertmanager or a local relay.
alertmanager_urls = []
# Generic JSON webhooks, sent Alertmanager's webhook payload (version "4"). http:// only.
webhook_urls = []
# Base of the links to Sluice's API in annotations (api_url) and generatorURL.
external_url = "http://127.0.0.1:4319"
# How long a new service group waits to batch its first alerts.
group_wait = "10s"
# Least time between two notifications of a group when its alerts change.
group_interval = "1m"
# Still-firing alerts are re-sent to Alertmanager this often; each is sent with
# endsAt = now + 4 x repeat_interval, so alerts resolve if Sluice stops. Below 5m.
repeat_interval = "1m"
# Webhooks get a reminder of still-firing groups this often ("0s": never).
webhook_repeat_interval = "4h"
# HTTP requests per minute to each URL; changes beyond it wait for the next send.
max_notifications_per_minute = 60
# First delay before retrying a failed send (connection error, 5xx, 429); doubles, +-20% jitter.
retry_initial_backoff = "1s"
# Longest delay between retries.
retry_max_backoff = "1m"
# Retries of a failed send before it is dropped and counted (firing alerts go again at the next repeat).
max_retries = 10
# Alerts waiting for the dispatcher; when full, new alerts are dropped and counted.
queue_capacity = 1024
# Firing and unsent resolved alerts held; new alerts beyond it are dropped and counted.
max_active_alerts = 10000
# Timeout of one HTTP request.
timeout = "10s"
# What an anomaly without SLO impact becomes: "ticket" (sent with severity=ticket)
# or "dashboard" (not sent). Only SLO burn-rate alerts page.
anomaly_severity = "ticket"
# How often the SLOs' multi-window burn-rate alerts (and exhausted budgets)
# are evaluated and sent.
slo_evaluation_interval = "30s"
"#;

/// What an anomaly without SLO impact becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnomalySeverity {
    /// Sent with `severity = "ticket"`.
    #[default]
    Ticket,
    /// Not sent: visible on dashboards only.
    Dashboard,
}

impl AnomalySeverity {
    /// The severity anomaly alerts are sent with, or `None` when they are not sent.
    pub fn severity(self) -> Option<Severity> {
        match self {
            Self::Ticket => Some(Severity::Ticket),
            Self::Dashboard => None,
        }
    }
}

/// The `[alerting]` section. See [`EXAMPLE_TOML`] for each key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertingConfig {
    pub alertmanager_urls: Vec<String>,
    pub webhook_urls: Vec<String>,
    pub external_url: String,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub webhook_repeat_interval: Duration,
    pub max_notifications_per_minute: u32,
    pub retry_initial_backoff: Duration,
    pub retry_max_backoff: Duration,
    pub max_retries: u32,
    pub queue_capacity: usize,
    pub max_active_alerts: usize,
    pub timeout: Duration,
    pub anomaly_severity: AnomalySeverity,
    pub slo_evaluation_interval: Duration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            alertmanager_urls: Vec::new(),
            webhook_urls: Vec::new(),
            external_url: "http://127.0.0.1:4319".to_owned(),
            group_wait: Duration::from_secs(10),
            group_interval: Duration::from_secs(60),
            repeat_interval: Duration::from_secs(60),
            webhook_repeat_interval: Duration::from_secs(4 * 3600),
            max_notifications_per_minute: 60,
            retry_initial_backoff: Duration::from_secs(1),
            retry_max_backoff: Duration::from_secs(60),
            max_retries: 10,
            queue_capacity: 1024,
            max_active_alerts: 10_000,
            timeout: Duration::from_secs(10),
            anomaly_severity: AnomalySeverity::Ticket,
            slo_evaluation_interval: Duration::from_secs(30),
        }
    }
}

/// Alertmanager's default `resolve_timeout`; `repeat_interval` stays below it.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
const MAX_RETRIES: u32 = 100;
const MAX_PER_MINUTE: u32 = 6000;
const MAX_QUEUE_CAPACITY: usize = 1 << 20;

impl AlertingConfig {
    /// Whether any sink is configured; without one the binary need not start
    /// a [`Notifier`](crate::Notifier).
    pub fn is_enabled(&self) -> bool {
        !self.alertmanager_urls.is_empty() || !self.webhook_urls.is_empty()
    }

    /// Checks the values a type cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        for (i, url) in self.alertmanager_urls.iter().enumerate() {
            check_sink_url(&format!("alerting.alertmanager_urls[{i}]"), url)?;
        }
        for (i, url) in self.webhook_urls.iter().enumerate() {
            check_sink_url(&format!("alerting.webhook_urls[{i}]"), url)?;
        }
        match reqwest::Url::parse(&self.external_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(format!(
                    "alerting.external_url: {:?} is not an http(s) URL like http://127.0.0.1:4319",
                    self.external_url
                ));
            }
        }
        let positive = [
            ("group_interval", self.group_interval),
            ("repeat_interval", self.repeat_interval),
            ("retry_initial_backoff", self.retry_initial_backoff),
            ("retry_max_backoff", self.retry_max_backoff),
            ("timeout", self.timeout),
            ("slo_evaluation_interval", self.slo_evaluation_interval),
        ];
        for (key, value) in positive {
            if value.get().is_zero() {
                return Err(format!("alerting.{key}: must be above 0"));
            }
        }
        if self.repeat_interval.get() >= RESOLVE_TIMEOUT {
            return Err(format!(
                "alerting.repeat_interval: {} must be below 5m, alertmanager's default \
                 resolve_timeout, so firing alerts are refreshed before they expire",
                self.repeat_interval
            ));
        }
        if self.retry_initial_backoff > self.retry_max_backoff {
            return Err(format!(
                "alerting.retry_initial_backoff: {} is above alerting.retry_max_backoff ({})",
                self.retry_initial_backoff, self.retry_max_backoff
            ));
        }
        if !(1..=MAX_PER_MINUTE).contains(&self.max_notifications_per_minute) {
            return Err(format!(
                "alerting.max_notifications_per_minute: {} is not between 1 and {MAX_PER_MINUTE}",
                self.max_notifications_per_minute
            ));
        }
        if self.max_retries > MAX_RETRIES {
            return Err(format!(
                "alerting.max_retries: {} is above the maximum of {MAX_RETRIES}",
                self.max_retries
            ));
        }
        if self.queue_capacity == 0 || self.queue_capacity > MAX_QUEUE_CAPACITY {
            return Err(format!(
                "alerting.queue_capacity: {} is not between 1 and {MAX_QUEUE_CAPACITY}",
                self.queue_capacity
            ));
        }
        if self.max_active_alerts == 0 {
            return Err("alerting.max_active_alerts: must be at least 1".into());
        }
        Ok(())
    }
}

/// A sink URL must be plain `http://`: the HTTP client is built without TLS.
fn check_sink_url(key: &str, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("{key}: {url:?} is not a URL like http://127.0.0.1:9093 ({e})"))?;
    match parsed.scheme() {
        "http" if parsed.host_str().is_some() => Ok(()),
        "https" => Err(format!(
            "{key}: {url:?} uses https, which Sluice does not speak; put the https receiver \
             behind Alertmanager or a local relay and give its http:// address"
        )),
        _ => Err(format!(
            "{key}: {url:?} is not an http:// URL like http://127.0.0.1:9093"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_the_default() {
        #[derive(Deserialize)]
        struct File {
            alerting: AlertingConfig,
        }
        let file: File = toml::from_str(EXAMPLE_TOML).expect("the example parses");
        assert_eq!(file.alerting, AlertingConfig::default());
        assert_eq!(AlertingConfig::default().validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases: [(&str, &str); 12] = [
            (
                r#"alertmanager_urls = ["https://am:9093"]"#,
                "alerting.alertmanager_urls[0]: \"https://am:9093\" uses https",
            ),
            (r#"webhook_urls = ["nope"]"#, "alerting.webhook_urls[0]:"),
            (r#"webhook_urls = ["ftp://x"]"#, "alerting.webhook_urls[0]:"),
            (r#"external_url = "x""#, "alerting.external_url:"),
            (r#"group_interval = "0s""#, "alerting.group_interval:"),
            (
                r#"repeat_interval = "5m""#,
                "alerting.repeat_interval: 5m must be below 5m",
            ),
            (r#"timeout = 0"#, "alerting.timeout:"),
            (
                "retry_initial_backoff = \"2m\"\nretry_max_backoff = \"1m\"",
                "alerting.retry_initial_backoff:",
            ),
            (
                "max_notifications_per_minute = 0",
                "alerting.max_notifications_per_minute:",
            ),
            ("max_retries = 1000", "alerting.max_retries:"),
            ("queue_capacity = 0", "alerting.queue_capacity:"),
            ("max_active_alerts = 0", "alerting.max_active_alerts:"),
        ];
        for (toml_text, expected) in cases {
            let config: AlertingConfig = toml::from_str(toml_text).expect(toml_text);
            let error = config.validate().expect_err(toml_text);
            assert!(error.starts_with(expected), "{toml_text}: {error}");
        }
    }

    #[test]
    fn good_values_pass() {
        let config: AlertingConfig = toml::from_str(
            r#"
            alertmanager_urls = ["http://127.0.0.1:9093", "http://am.internal:9093/"]
            webhook_urls = ["http://relay:8080/hooks/sluice"]
            external_url = "https://sluice.example.com"
            group_wait = "0s"
            repeat_interval = "4m"
            webhook_repeat_interval = 0
            anomaly_severity = "dashboard"
            "#,
        )
        .expect("parses");
        assert_eq!(config.validate(), Ok(()));
        assert!(config.is_enabled());
        assert_eq!(config.anomaly_severity.severity(), None);
        assert!(!AlertingConfig::default().is_enabled());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = toml::from_str::<AlertingConfig>("group_wiat = \"1s\"")
            .expect_err("typo")
            .to_string();
        assert!(error.contains("group_wiat"), "{error}");
    }
}
