//! Everything that can go wrong in the detectors: a configuration value out of
//! range or two values that contradict each other.
//!
//! Detectors themselves never fail on data: a point that cannot be used (out of
//! order, not finite) is skipped and said so in the step's outcome, not raised.
//! None of these errors is retryable: each is a permanent property of the
//! config. [`AnomalyError::http_status`] says how an API answers when one
//! reaches it.

/// An invalid detector configuration. Messages are lowercase, one line, and
/// name the config key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnomalyError {
    /// One key holds a value outside its range.
    #[error("anomaly config key {key}: {message}")]
    InvalidValue { key: &'static str, message: String },
    /// Two keys contradict each other (`close_score` above `open_score`, ...).
    #[error("anomaly config keys {key} and {other}: {message}")]
    Inconsistent {
        key: &'static str,
        other: &'static str,
        message: String,
    },
}

impl AnomalyError {
    pub(crate) fn value(key: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidValue {
            key,
            message: message.into(),
        }
    }

    pub(crate) fn inconsistent(
        key: &'static str,
        other: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Inconsistent {
            key,
            other,
            message: message.into(),
        }
    }

    /// The config key at fault (the first one for [`AnomalyError::Inconsistent`]).
    pub fn key(&self) -> &'static str {
        match self {
            Self::InvalidValue { key, .. } | Self::Inconsistent { key, .. } => key,
        }
    }

    /// 400: a configuration a user got wrong, never a transient condition.
    pub fn http_status(&self) -> u16 {
        400
    }

    /// Always false: retrying the same configuration fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}
