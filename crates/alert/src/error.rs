//! Everything that can go wrong when alerting: a config the notifier cannot
//! start with, and a notification a receiver did not take.
//!
//! No variant reaches an API client: send errors are logged, counted and, when
//! [`AlertError::is_retryable`], retried with backoff.

/// An alerting error. Messages are lowercase, one line, and name the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// `[alerting]` failed [`validate`](crate::AlertingConfig::validate); the
    /// message names the key.
    #[error("{0}")]
    InvalidConfig(String),
    #[error("cannot build the http client: {message}")]
    Client { message: String },
    /// The request did not get an answer: connection refused or reset, timeout.
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// The receiver answered with a status other than 2xx; `body` is its
    /// answer, truncated.
    #[error("{url} answered {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("cannot encode the notification: {message}")]
    Encode { message: String },
}

impl AlertError {
    /// Whether sending the same notification again may succeed: no answer, a
    /// 5xx, or 429 (too many requests). Any other 4xx means the receiver will
    /// refuse it again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::InvalidConfig(_) | Self::Client { .. } | Self::Encode { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retried() {
        let status = |status| AlertError::Status {
            url: "http://am".into(),
            status,
            body: String::new(),
        };
        assert!(status(500).is_retryable());
        assert!(status(503).is_retryable());
        assert!(status(429).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(!status(404).is_retryable());
        let unreachable = AlertError::Unreachable {
            url: "http://am".into(),
            message: "connection refused".into(),
        };
        assert!(unreachable.is_retryable());
        assert!(
            !AlertError::Encode {
                message: String::new()
            }
            .is_retryable()
        );
    }
}
