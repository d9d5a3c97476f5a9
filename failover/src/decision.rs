//! What the engine reports: switches, their reasons, and the overall status.

use std::fmt;
use std::time::Duration;

/// Why the active database changed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SwitchReason {
    /// [`initialize`](crate::FailoverEngine::initialize) picked the first active database.
    Initial,
    /// The active database's circuit opened.
    CircuitOpened,
    /// The active database failed its health checks.
    HealthCheckFailed,
    /// A periodic fallback check found a stably available database that outranks the
    /// active one.
    AutoFallback,
    /// [`switch_to`](crate::FailoverEngine::switch_to) was called.
    Manual,
    /// [`force`](crate::FailoverEngine::force) was called.
    Forced,
    /// A forced pin expired and normal selection chose another database.
    ForceExpired,
    /// The forced (pinned) database became unavailable: the pin ended at once and the
    /// engine failed over as for any active database.
    ForcedDatabaseFailed,
    /// [`release_force`](crate::FailoverEngine::release_force) ended a pin early and normal
    /// selection chose another database.
    ForceReleased,
    /// A newly added database outranks the active one (or nothing else was available).
    DatabaseAdded,
    /// The active database was removed.
    DatabaseRemoved,
    /// A weight change made another database the best one.
    WeightChanged,
    /// A database became available while the active one was not.
    Recovered,
}

impl SwitchReason {
    /// A stable lowercase name, suitable for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Initial => "initial",
            Self::CircuitOpened => "circuit_opened",
            Self::HealthCheckFailed => "health_check_failed",
            Self::AutoFallback => "auto_fallback",
            Self::Manual => "manual",
            Self::Forced => "forced",
            Self::ForceExpired => "force_expired",
            Self::ForcedDatabaseFailed => "forced_database_failed",
            Self::ForceReleased => "force_released",
            Self::DatabaseAdded => "database_added",
            Self::DatabaseRemoved => "database_removed",
            Self::WeightChanged => "weight_changed",
            Self::Recovered => "recovered",
        }
    }
}

impl fmt::Display for SwitchReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a candidate became unavailable; it becomes the [`SwitchReason`] of the failover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailability {
    /// Its circuit breaker opened (becomes [`SwitchReason::CircuitOpened`]).
    CircuitOpen,
    /// Its health checks failed (becomes [`SwitchReason::HealthCheckFailed`]).
    HealthCheckFailed,
}

impl From<Unavailability> for SwitchReason {
    fn from(cause: Unavailability) -> Self {
        match cause {
            Unavailability::CircuitOpen => Self::CircuitOpened,
            Unavailability::HealthCheckFailed => Self::HealthCheckFailed,
        }
    }
}

/// A change of the active database, to be applied by the caller.
///
/// `from` is the previously active database (`None` for [`SwitchReason::Initial`], or when
/// every candidate had been removed); `from != Some(to)` always holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<Id> {
    /// The database that was active.
    pub from: Option<Id>,
    /// The database that is active now.
    pub to: Id,
    /// Why.
    pub reason: SwitchReason,
}

/// Whether the engine has a usable database right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status<Id> {
    /// [`initialize`](crate::FailoverEngine::initialize) has not succeeded yet.
    Uninitialized,
    /// This database is active and available.
    Active(Id),
    /// The active database is unavailable (and nothing could replace it) since
    /// `unavailable_for`, which is still within the unavailability budget:
    /// callers should fail fast with a retryable error.
    TemporarilyUnavailable {
        /// Time since the active database was last available.
        unavailable_for: Duration,
    },
    /// As [`TemporarilyUnavailable`](Self::TemporarilyUnavailable), but for longer than
    /// the budget (`failover_attempts × failover_delay`). Not terminal: a database that
    /// becomes available is switched to at once.
    NoValidDatabase {
        /// Time since the active database was last available.
        unavailable_for: Duration,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_map_to_reasons() {
        assert_eq!(
            SwitchReason::from(Unavailability::CircuitOpen),
            SwitchReason::CircuitOpened
        );
        assert_eq!(
            SwitchReason::from(Unavailability::HealthCheckFailed),
            SwitchReason::HealthCheckFailed
        );
    }

    #[test]
    fn reasons_display_as_snake_case() {
        assert_eq!(SwitchReason::AutoFallback.to_string(), "auto_fallback");
        assert_eq!(SwitchReason::ForceExpired.to_string(), "force_expired");
        assert_eq!(
            SwitchReason::ForcedDatabaseFailed.to_string(),
            "forced_database_failed"
        );
        assert_eq!(SwitchReason::ForceReleased.to_string(), "force_released");
    }
}
