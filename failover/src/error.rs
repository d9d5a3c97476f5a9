//! Errors: a rejected call never changes the engine's state.

use thiserror::Error;

use crate::InitialPolicy;

/// Why the engine refused a call.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Error)]
pub enum EngineError<Id> {
    /// No candidate has this id.
    #[error("unknown candidate {0:?}")]
    UnknownCandidate(Id),
    /// A candidate with this id already exists.
    #[error("duplicate candidate {0:?}")]
    DuplicateCandidate(Id),
    /// The candidate must be available for this call (manual or forced switch).
    #[error("candidate {0:?} is unavailable")]
    Unavailable(Id),
    /// A weight must be finite and greater than zero.
    #[error("invalid weight {weight} for candidate {id:?}: must be finite and greater than zero")]
    InvalidWeight {
        /// The candidate.
        id: Id,
        /// The rejected weight.
        weight: f64,
    },
    /// Manual and forced switches need an initialized engine.
    #[error("engine not initialized: call initialize first")]
    NotInitialized,
}

/// [`initialize`](crate::FailoverEngine::initialize) could not pick a database.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error(
    "initial policy {policy:?} not met: {} of {} databases available",
    available.len(),
    available.len() + failed.len()
)]
pub struct InitialError<Id> {
    /// The policy that was not met.
    pub policy: InitialPolicy,
    /// The candidates that were available, in insertion order.
    pub available: Vec<Id>,
    /// The candidates that were not, in insertion order.
    pub failed: Vec<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_error_counts_databases() {
        let e = InitialError {
            policy: InitialPolicy::MajorityAvailable,
            available: vec!["a"],
            failed: vec!["b", "c"],
        };
        assert_eq!(
            e.to_string(),
            "initial policy MajorityAvailable not met: 1 of 3 databases available"
        );
    }

    #[test]
    fn invalid_weight_names_field_and_value() {
        let e = EngineError::InvalidWeight {
            id: "east",
            weight: -1.0,
        };
        assert_eq!(
            e.to_string(),
            "invalid weight -1 for candidate \"east\": must be finite and greater than zero"
        );
    }
}
