//! Why a load run could not start or could not reach its endpoint.
//!
//! Refusals and transport errors during a run are not errors of the run: they
//! are counted in the [`crate::Summary`]. Only what makes the run meaningless
//! ends it with a [`LoadgenError`]: an invalid option, or an endpoint nothing
//! could connect to.

/// A run that could not start or reached nothing. Messages are lowercase, one
/// line, with the offending value quoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadgenError {
    #[error("invalid {option} {input:?}: {reason}")]
    InvalidOption {
        option: &'static str,
        input: String,
        reason: String,
    },
    #[error("cannot connect to {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("cannot build the {protocol} client: {reason}")]
    Client {
        protocol: &'static str,
        reason: String,
    },
}

impl LoadgenError {
    pub(crate) fn invalid(
        option: &'static str,
        input: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidOption {
            option,
            input: input.into(),
            reason: reason.into(),
        }
    }

    /// Whether the user can fix this by changing the command line (exit code
    /// 2, as for a clap error) rather than by starting the endpoint (1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::InvalidOption { .. })
    }
}
