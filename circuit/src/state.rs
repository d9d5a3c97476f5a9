//! Breaker states, and their encoding in one atomic word.
//!
//! Everything a transition changes lives in a single `u64`, so every transition is one
//! compare-and-swap: exactly one thread wins it (and reports it), and no reader ever sees a
//! half-made state. Layout (low bits first):
//!
//! - bits 0-1: the state tag;
//! - Open: bit 2 = forced (held open), bits 3-63 = the half-open deadline in nanoseconds
//!   since the breaker's origin (about 73 years);
//! - Closed and HalfOpen: bits 2-23 = episode, a number that changes on every entry into
//!   Closed or HalfOpen so that a permit from an earlier episode is recognised as stale;
//!   HalfOpen adds bits 24-43 = trial calls in flight, bits 44-63 = consecutive successes.

use std::fmt;

/// The state of a circuit breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Calls flow; outcomes feed the failure window.
    Closed,
    /// Calls are rejected until the grace period ends (or, if forced, until closed by hand).
    Open,
    /// A limited number of trial calls decide between Closed and Open.
    HalfOpen,
}

impl State {
    /// The state's name in snake case, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const TAG_MASK: u64 = 0b11;
const TAG_CLOSED: u64 = 0;
const TAG_OPEN: u64 = 1;
const TAG_HALF_OPEN: u64 = 2;
const FORCED: u64 = 1 << 2;
const DEADLINE_SHIFT: u32 = 3;
/// Largest storable deadline; later ones are clamped (never reached in practice).
pub(crate) const MAX_DEADLINE: u64 = u64::MAX >> DEADLINE_SHIFT;
const EPISODE_SHIFT: u32 = 2;
pub(crate) const EPISODE_MASK: u32 = (1 << 22) - 1;
const IN_FLIGHT_SHIFT: u32 = 24;
const STREAK_SHIFT: u32 = 44;
const FIELD_MASK: u64 = (1 << 20) - 1;

/// The decoded state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Word {
    Closed {
        episode: u32,
    },
    /// `deadline` is `None` when forced open.
    Open {
        deadline: Option<u64>,
    },
    HalfOpen {
        episode: u32,
        in_flight: u32,
        streak: u32,
    },
}

impl Word {
    /// Whether `raw` encodes Closed: the one test on the hot path.
    #[inline]
    pub(crate) fn is_closed(raw: u64) -> bool {
        raw & TAG_MASK == TAG_CLOSED
    }

    pub(crate) fn encode(self) -> u64 {
        match self {
            Self::Closed { episode } => {
                TAG_CLOSED | (u64::from(episode & EPISODE_MASK) << EPISODE_SHIFT)
            }
            Self::Open { deadline: None } => TAG_OPEN | FORCED,
            Self::Open { deadline: Some(at) } => {
                TAG_OPEN | (at.min(MAX_DEADLINE) << DEADLINE_SHIFT)
            }
            Self::HalfOpen {
                episode,
                in_flight,
                streak,
            } => {
                TAG_HALF_OPEN
                    | (u64::from(episode & EPISODE_MASK) << EPISODE_SHIFT)
                    | ((u64::from(in_flight) & FIELD_MASK) << IN_FLIGHT_SHIFT)
                    | ((u64::from(streak) & FIELD_MASK) << STREAK_SHIFT)
            }
        }
    }

    pub(crate) fn decode(raw: u64) -> Self {
        let episode = ((raw >> EPISODE_SHIFT) as u32) & EPISODE_MASK;
        match raw & TAG_MASK {
            TAG_OPEN if raw & FORCED != 0 => Self::Open { deadline: None },
            TAG_OPEN => Self::Open {
                deadline: Some(raw >> DEADLINE_SHIFT),
            },
            TAG_HALF_OPEN => Self::HalfOpen {
                episode,
                in_flight: ((raw >> IN_FLIGHT_SHIFT) & FIELD_MASK) as u32,
                streak: ((raw >> STREAK_SHIFT) & FIELD_MASK) as u32,
            },
            _ => Self::Closed { episode },
        }
    }

    pub(crate) fn state(self) -> State {
        match self {
            Self::Closed { .. } => State::Closed,
            Self::Open { .. } => State::Open,
            Self::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        let words = [
            Word::Closed { episode: 0 },
            Word::Closed {
                episode: EPISODE_MASK,
            },
            Word::Open { deadline: None },
            Word::Open { deadline: Some(0) },
            Word::Open {
                deadline: Some(MAX_DEADLINE),
            },
            Word::HalfOpen {
                episode: 12_345,
                in_flight: crate::MAX_HALF_OPEN,
                streak: crate::MAX_HALF_OPEN,
            },
            Word::HalfOpen {
                episode: EPISODE_MASK,
                in_flight: 0,
                streak: 1,
            },
        ];
        for w in words {
            assert_eq!(Word::decode(w.encode()), w);
        }
    }

    #[test]
    fn late_deadline_is_clamped() {
        let w = Word::Open {
            deadline: Some(u64::MAX),
        };
        assert_eq!(
            Word::decode(w.encode()),
            Word::Open {
                deadline: Some(MAX_DEADLINE)
            }
        );
    }

    #[test]
    fn state_displays_snake_case() {
        assert_eq!(State::HalfOpen.to_string(), "half_open");
        assert_eq!(State::Closed.to_string(), "closed");
        assert_eq!(State::Open.to_string(), "open");
    }
}
