//! Faults a [`FakeRedis`](super::FakeRedis) can be told to show, and how each request is
//! treated while they are active.

use std::mem::discriminant;
use std::time::Duration;

/// A failure mode of a fake server; inject with [`FakeRedis::inject`](super::FakeRedis::inject).
///
/// Several faults of different kinds can be active at once; injecting a fault of a kind
/// already active replaces it. When several apply to one request the order is: `Blackhole`,
/// then `Garbage`, then `FailEveryNth`, then `ErrorReply`; `Latency` delays whatever is sent.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// The listener is closed, so connecting fails with "connection refused", and open
    /// connections are dropped. [`FakeRedis::recover`](super::FakeRedis::recover) reopens
    /// the listener on the same port.
    Down,
    /// New connections are accepted and closed at once; open connections are untouched.
    ResetOnAccept,
    /// Connections are accepted and stay open, but nothing is answered: requests are read
    /// and discarded (pub/sub messages are not sent either), so clients time out.
    Blackhole,
    /// Every batch of replies (one read's worth of pipelined requests) is delayed by `fixed`
    /// plus a random part up to `jitter`.
    Latency {
        /// Delay added to every reply.
        fixed: Duration,
        /// Upper bound of a uniformly random extra delay.
        jitter: Duration,
    },
    /// Every data command is answered with this error line, e.g.
    /// `"LOADING Redis is loading the dataset in memory"`. Connection setup commands
    /// (HELLO, AUTH, CLIENT, SELECT, PING, ECHO, QUIT) still succeed, so clients connect.
    ErrorReply(String),
    /// Every request is answered with bytes that are not RESP.
    Garbage,
    /// Every Nth data command (counted across connections since injection) closes its
    /// connection instead of being answered. `FailEveryNth(1)` fails them all; `0` none.
    FailEveryNth(u64),
}

/// What to do with one request.
#[derive(Debug, PartialEq)]
pub(crate) enum Action {
    Execute,
    Discard,
    Garbage,
    Close,
    Error(String),
}

/// Bytes no RESP parser accepts: no valid type byte.
pub(crate) const GARBAGE: &[u8] = b"\x00\x01 this is not RESP \xff\r\n";

#[derive(Debug, Default)]
pub(crate) struct Faults {
    active: Vec<Fault>,
    data_commands: u64,
}

impl Faults {
    /// Adds `fault`, replacing one of the same kind.
    pub(crate) fn inject(&mut self, fault: Fault) {
        if matches!(fault, Fault::FailEveryNth(_)) {
            self.data_commands = 0;
        }
        self.active
            .retain(|active| discriminant(active) != discriminant(&fault));
        self.active.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.active.clear();
        self.data_commands = 0;
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.active.clone()
    }

    pub(crate) fn has(&self, fault: &Fault) -> bool {
        self.active
            .iter()
            .any(|active| discriminant(active) == discriminant(fault))
    }

    /// Whether a new connection is closed at once.
    pub(crate) fn refuses_accept(&self) -> bool {
        self.has(&Fault::Down) || self.has(&Fault::ResetOnAccept)
    }

    /// Decides the fate of one request (`data`: not a connection setup command).
    pub(crate) fn on_command(&mut self, data: bool) -> Action {
        if self.has(&Fault::Blackhole) {
            return Action::Discard;
        }
        if self.has(&Fault::Garbage) {
            return Action::Garbage;
        }
        if !data {
            return Action::Execute;
        }
        let mut action = Action::Execute;
        for fault in &self.active {
            match fault {
                Fault::FailEveryNth(n) if *n > 0 => {
                    self.data_commands += 1;
                    if self.data_commands.is_multiple_of(*n) {
                        return Action::Close;
                    }
                }
                Fault::ErrorReply(text) => action = Action::Error(text.clone()),
                _ => {}
            }
        }
        action
    }

    /// The delay for the next batch of replies, if a `Latency` fault is active.
    pub(crate) fn latency(&self) -> Option<Duration> {
        self.active.iter().find_map(|fault| match fault {
            Fault::Latency { fixed, jitter } => Some(jittered(*fixed, *jitter)),
            _ => None,
        })
    }
}

/// `fixed` plus a uniformly random duration in `0..=jitter`.
pub(crate) fn jittered(fixed: Duration, jitter: Duration) -> Duration {
    let max = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
    fixed.saturating_add(Duration::from_nanos(fastrand::u64(0..=max)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injecting_a_kind_again_replaces_it() {
        let mut faults = Faults::default();
        faults.inject(Fault::ErrorReply("LOADING a".into()));
        faults.inject(Fault::Blackhole);
        faults.inject(Fault::ErrorReply("LOADING b".into()));
        assert_eq!(
            faults.list(),
            vec![Fault::Blackhole, Fault::ErrorReply("LOADING b".into())]
        );
    }

    #[test]
    fn every_nth_data_command_closes_and_setup_commands_do_not_count() {
        use Action::{Close, Execute};
        let mut faults = Faults::default();
        faults.inject(Fault::FailEveryNth(3));
        let got: Vec<Action> = [true, false, true, true, true, true, true]
            .iter()
            .map(|&d| faults.on_command(d))
            .collect();
        assert_eq!(
            got,
            vec![Execute, Execute, Execute, Close, Execute, Execute, Close]
        );
    }

    #[test]
    fn error_reply_spares_setup_commands() {
        let mut faults = Faults::default();
        faults.inject(Fault::ErrorReply("LOADING x".into()));
        assert_eq!(faults.on_command(false), Action::Execute);
        assert_eq!(faults.on_command(true), Action::Error("LOADING x".into()));
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..100 {
            let d = jittered(Duration::from_millis(5), Duration::from_millis(2));
            assert!(d >= Duration::from_millis(5) && d <= Duration::from_millis(7));
        }
    }
}
