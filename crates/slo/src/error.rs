//! Everything that can go wrong in the SRE maths: an SLO definition the config
//! should not have held, a sketch configuration out of range, and stored rollup
//! bytes that do not decode.
//!
//! None of these is retryable: each is a permanent property of the config or of
//! the stored data. [`SloError::http_status`] says how the query API answers when
//! one reaches it.

/// An SLO, sketch or rollup error. Messages are lowercase, one line, and name
/// the SLO entry and key where there is one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SloError {
    /// An `[[slo]]` entry is invalid; `slo` is the quoted name, or `(unnamed)`.
    #[error("slo {slo}: {message}")]
    InvalidDefinition { slo: String, message: String },
    #[error("slo {name:?} is defined more than once")]
    DuplicateName { name: String },
    #[error("invalid slo window {input:?}: {reason}")]
    InvalidWindow { input: String, reason: &'static str },
    #[error("objective must be between 0 and 1, exclusive (0.999 for 99.9%), got {objective}")]
    InvalidObjective { objective: f64 },
    #[error("sketch relative accuracy must be between {min} and {max}, got {accuracy}")]
    InvalidAccuracy { accuracy: f64, min: f64, max: f64 },
    #[error("sketch bucket limit must be between 1 and {limit}, got {max_buckets}")]
    InvalidMaxBuckets { max_buckets: usize, limit: usize },
    #[error("cannot merge sketches of relative accuracy {ours} and {theirs}")]
    AccuracyMismatch { ours: f64, theirs: f64 },
    #[error("unsupported sketch encoding version {version}")]
    UnsupportedSketchVersion { version: u8 },
    #[error("malformed sketch: {reason}")]
    MalformedSketch { reason: &'static str },
    #[error("inconsistent rollup: {reason}")]
    InconsistentRollup { reason: &'static str },
}

impl SloError {
    /// The HTTP status the query API answers with: 400 for definitions and
    /// parameters a user got wrong, 500 for stored data the server cannot read
    /// (never a transient condition, so never 503).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::InvalidDefinition { .. }
            | Self::DuplicateName { .. }
            | Self::InvalidWindow { .. }
            | Self::InvalidObjective { .. }
            | Self::InvalidAccuracy { .. }
            | Self::InvalidMaxBuckets { .. } => 400,
            Self::AccuracyMismatch { .. }
            | Self::UnsupportedSketchVersion { .. }
            | Self::MalformedSketch { .. }
            | Self::InconsistentRollup { .. } => 500,
        }
    }
}
