//! Which database should be active: deterministic failover decisions for multi-database
//! clients.
//!
//! A client that talks to several equivalent databases (Redis Active-Active members, say)
//! must always pick one to send commands to, move away when it fails, and move back when a
//! better one recovers — without flapping. This crate is that decision logic alone: pure,
//! synchronous and deterministic. It does no I/O and reads no clock: every call takes `now`,
//! a [`Duration`](std::time::Duration) since an origin of your choosing, so tests replay
//! exactly. It is generic over the database id (an index, a name, an `Arc<str>`…).
//!
//! You feed a [`FailoverEngine`] availability changes (from circuit breakers and health
//! checks), membership and weight changes, manual commands and ticks; it answers with at
//! most one [`Decision`] per call, which you apply (point traffic at `to`). Hold it behind a
//! mutex off the command hot path: it is touched when something changes, not per command.
//!
//! ```
//! use std::time::Duration;
//! use multidb_failover::{FailoverEngine, EngineConfig, InitialPolicy, SwitchReason, Unavailability};
//!
//! let s = Duration::from_secs;
//! let mut engine = FailoverEngine::new(EngineConfig::default());
//! engine.add("east", 2.0, s(60), true, s(0))?;
//! engine.add("west", 1.0, s(60), true, s(0))?;
//! let first = engine.initialize(InitialPolicy::OneAvailable, s(0))?;
//! assert_eq!(first.to, "east");
//!
//! // East's circuit opens: fail over to west at once.
//! let d = engine.set_available(&"east", false, Unavailability::CircuitOpen, s(10))?.unwrap();
//! assert_eq!((d.from, d.to, d.reason), (Some("east"), "west", SwitchReason::CircuitOpened));
//!
//! // East recovers at 20 s, but must stay up for its 60 s grace period; the fallback check
//! // at 120 s moves traffic back.
//! assert_eq!(engine.set_available(&"east", true, Unavailability::CircuitOpen, s(20))?, None);
//! assert_eq!(engine.next_deadline(s(20)), Some(s(80))); // grace ends: stability only
//! assert_eq!(engine.tick(s(80)), None);
//! let back = engine.tick(s(120)).unwrap();
//! assert_eq!((back.to, back.reason), ("east", SwitchReason::AutoFallback));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Rules
//!
//! **Before [`initialize`](FailoverEngine::initialize)** nothing is decided: calls record
//! candidates and their availability and return no decision; the status is
//! [`Status::Uninitialized`]. `initialize(policy)` counts the available candidates; if the
//! [`InitialPolicy`] is not met it fails with an [`InitialError`] listing which were
//! available and which failed; otherwise it picks the best available one (ungated if any
//! is, see *Gating*) and reports it as `Decision { from: None, reason: Initial }`. The default policy is one available: the
//! others join when they recover. (With a majority policy, one database of two down blocks
//! start-up — this is why it is not the default.)
//!
//! **Stable candidates, and why (anti-flapping).** A database that comes back is often not
//! back for good. A candidate that turns available at time `t` is *stable* from
//! `t + grace_period`. When the active database works, only stable candidates may take its
//! place, so a flapping database never attracts traffic. A candidate added as available is
//! stable at once (you just checked it), and so is availability reported before
//! `initialize`.
//!
//! **Failover.** When the active database becomes unavailable, the engine switches at once
//! to the best stable available candidate, or, if none is stable, the best available one
//! (something beats nothing) — ungated candidates first, see *Gating*. The reason follows the cause: [`Unavailability::CircuitOpen`]
//! gives [`SwitchReason::CircuitOpened`], [`Unavailability::HealthCheckFailed`] gives
//! [`SwitchReason::HealthCheckFailed`].
//!
//! **Nothing available.** Then there is no decision and [`active`](FailoverEngine::active)
//! keeps the old database. [`status`](FailoverEngine::status) reports
//! [`Status::TemporarilyUnavailable`] until `failover_attempts × failover_delay` (120 s by
//! default) has passed since the active database was last available, then
//! [`Status::NoValidDatabase`] — both carry how long it has been. Neither is terminal: the
//! first candidate to become available is switched to ([`SwitchReason::Recovered`]); if it
//! is the old active database itself there is no decision, the status just returns to
//! [`Status::Active`].
//!
//! **Auto-fallback.** With `auto_fallback_interval = Some(i)`, at every multiple of `i`
//! since `initialize` (call [`tick`](FailoverEngine::tick) at
//! [`next_deadline`](FailoverEngine::next_deadline)) the engine switches to a stable
//! available ungated candidate that the strategy ranks above the active database
//! ([`SwitchReason::AutoFallback`]). Between checks, a better database waits: fallback is a
//! deliberate, rate-limited move. `None` disables it.
//!
//! **Manual switch** ([`switch_to`](FailoverEngine::switch_to)): the target must be
//! available; it may be gated (the operator decides). The choice sticks — unlike redis-py, where the next fallback check undoes it —
//! until the database becomes unavailable and the engine fails over away from it.
//! Auto-fallback, weight changes and additions leave it alone.
//!
//! **Forced switch** ([`force`](FailoverEngine::force)): the target must be available (it
//! may be gated, as for a manual switch); it is then pinned until `now + duration` (saturating, so `Duration::MAX` pins for good): use
//! it for maintenance or drills. While the pinned database is available, nothing moves
//! traffic automatically — auto-fallback, weight changes and additions leave it alone. A pin
//! holds a working database, not a dead one: if the pinned database becomes unavailable,
//! the pin ends at once and the engine fails over as for any active database, with
//! [`SwitchReason::ForcedDatabaseFailed`]; if nothing else is available the pin still ends,
//! the status reports the outage and the first database to recover is switched to as usual
//! ([`SwitchReason::Recovered`]). When the pin expires, normal selection runs and switches
//! with [`SwitchReason::ForceExpired`] if it picks another database;
//! [`release_force`](FailoverEngine::release_force) ends it early the same way, with
//! [`SwitchReason::ForceReleased`]. After either, the choice is automatic again (not sticky
//! like a manual switch). A new force replaces the pin; removing the pinned database or a
//! manual switch ends it.
//!
//! **Membership and weights.** [`add`](FailoverEngine::add) rejects weights that are not
//! finite and positive; a new candidate that outranks the active database (or is the only
//! available one) is switched to ([`SwitchReason::DatabaseAdded`]).
//! [`remove`](FailoverEngine::remove) of the active database switches to the best eligible
//! one ([`SwitchReason::DatabaseRemoved`]). [`set_weight`](FailoverEngine::set_weight)
//! re-evaluates and switches ([`SwitchReason::WeightChanged`]) if the best eligible database
//! changed.
//!
//! **Gating** ([`set_gated`](FailoverEngine::set_gated)): a gated candidate is available —
//! it may stay active, it serves — but must not *become* active while an ungated
//! alternative exists; think of a Redis Enterprise member whose PING passes but whose
//! replication lags. Candidates start ungated; grace periods run as usual while gated.
//! - Gating never moves traffic off the active database by itself: gating it returns no
//!   decision, and a gated active database stays until it becomes unavailable, an operator
//!   switches or forces another, or a move that happens anyway (auto-fallback, a weight
//!   change, an addition, a pin ending) finds an *ungated* stable candidate that outranks
//!   it. An ungated candidate that becomes available while a gated active database works
//!   waits for auto-fallback like any other.
//! - Gated candidates are not targets while ungated ones are: the failover choice is the
//!   best stable ungated available candidate, else the best ungated available one, else
//!   (any database beats none) the best stable gated one, else the best gated available
//!   one. The same order serves removal of the active database, additions, weight changes
//!   and pin ends; fallback considers only ungated stable candidates as replacements;
//!   [`initialize`](FailoverEngine::initialize) takes a gated database only if no
//!   ungated one is available (its [`InitialPolicy`] counts available candidates, gated
//!   or not).
//! - Ungating while the active database works switches nothing (auto-fallback will, as for
//!   a newly stable candidate). While the active database is unavailable a gating change
//!   runs the failover choice again, like a candidate recovering
//!   ([`SwitchReason::Recovered`]).
//! - [`switch_to`](FailoverEngine::switch_to) and [`force`](FailoverEngine::force) accept
//!   a gated target: the operator decides (a lag-aware client refuses lagging targets
//!   itself).
//!
//! **Reporting.** Every [`Decision`] has `from` equal to the previously active database and
//! `to` equal to the new one, never the same; each switch is reported exactly once. When
//! one call triggers several steps (a pin that lapsed before an event, then the event),
//! they are folded into one net decision carrying the last step's reason.
//!
//! **Time** is whatever `now` you pass; an earlier `now` than one already seen counts as the
//! latest, so decisions never depend on a clock going backwards. Deadlines saturate at
//! `Duration::MAX` rather than overflow.
//!
//! Ranking among eligible candidates is a [`FailoverStrategy`]; the default
//! [`WeightedStrategy`] takes the highest weight and breaks ties by insertion order. A
//! custom strategy that panics never takes the engine down with it: that choice is made by
//! [`WeightedStrategy`] among the same candidates, and the engine counts the panic
//! ([`strategy_panics`](FailoverEngine::strategy_panics),
//! [`last_strategy_panic`](FailoverEngine::last_strategy_panic)) for you to report. (The
//! panic hook still runs, so the panic is printed as usual.)
//!
//! This crate has no feature flags.

mod candidates;
mod config;
mod decision;
mod engine;
mod error;
mod strategy;

pub use config::{EngineConfig, InitialPolicy};
pub use decision::{Decision, Status, SwitchReason, Unavailability};
pub use engine::FailoverEngine;
pub use error::{EngineError, InitialError};
pub use strategy::{CandidateView, FailoverStrategy, WeightedStrategy};
