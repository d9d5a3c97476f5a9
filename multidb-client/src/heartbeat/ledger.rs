//! The heartbeat ledger: which databases write heartbeats, when each heartbeat was
//! acknowledged, and the lag verdict a reading implies. Pure state over tokio time: no I/O.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::event::DatabaseId;

/// Heartbeats remembered per writer at most, whatever happens: `build()` keeps the bound
/// within 1000 intervals, so pruning by age keeps far fewer.
const MAX_REMEMBERED: usize = 1024;

/// What a database showed of one writer's heartbeat key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shown {
    /// No key (never replicated here, or expired).
    Nothing,
    /// The sequence number it holds.
    Sequence(u64),
}

/// Why a database has a lag verdict against it: the reason of its failed lag check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stale {
    /// It does not show a heartbeat `writer` acknowledged `behind` ago, more than `bound`.
    Behind {
        writer: DatabaseId,
        behind: Duration,
        bound: Duration,
    },
    /// `writer`'s heartbeat key holds something that is not a sequence number.
    NotASequence { writer: DatabaseId },
    /// The read of the heartbeat keys failed or was answered with the wrong shape.
    Unread { reason: String },
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stale::Behind {
                writer,
                behind,
                bound,
            } => write!(
                f,
                "heartbeat: a heartbeat {writer} acknowledged {behind:?} ago is not visible here (lag bound {bound:?})"
            ),
            Stale::NotASequence { writer } => write!(
                f,
                "heartbeat: the heartbeat key of {writer} holds something other than a sequence number"
            ),
            Stale::Unread { reason } => {
                write!(f, "heartbeat: could not read the heartbeats: {reason}")
            }
        }
    }
}

/// One acknowledged heartbeat: its sequence number and when its writer acknowledged it.
#[derive(Clone, Copy, Debug)]
struct Ack {
    sequence: u64,
    at: Instant,
}

/// A database heartbeats are written on.
#[derive(Debug, Default)]
struct Writer {
    /// Acknowledged heartbeats, oldest first: those of the last lag bound, and the newest
    /// one before it (any reading older than that one is late by more than the bound).
    acks: VecDeque<Ack>,
    /// Its last write was refused with `READONLY`: a replica, not a writer.
    read_only: bool,
}

/// See the module docs. Owned by [`super::Heartbeat`].
#[derive(Debug)]
pub(crate) struct Ledger {
    bound: Duration,
    /// Every member, enrolled when it is made and forgotten when it goes.
    writers: BTreeMap<DatabaseId, Writer>,
}

impl Ledger {
    pub(crate) fn new(bound: Duration) -> Self {
        Ledger {
            bound,
            writers: BTreeMap::new(),
        }
    }

    /// `id` is a member now: its heartbeats are recorded from now on.
    pub(crate) fn enroll(&mut self, id: DatabaseId) {
        self.writers.entry(id).or_default();
    }

    /// `id` is no member any more: nothing of it is kept, nor recorded later.
    pub(crate) fn forget(&mut self, id: DatabaseId) {
        self.writers.remove(&id);
    }

    /// `id` acknowledged heartbeat `sequence` at `at`. Returns whether it was refusing
    /// heartbeats until now (it turned writer).
    pub(crate) fn acknowledged(&mut self, id: DatabaseId, sequence: u64, at: Instant) -> bool {
        let bound = self.bound;
        let Some(writer) = self.writers.get_mut(&id) else {
            return false;
        };
        let was_read_only = std::mem::replace(&mut writer.read_only, false);
        if writer
            .acks
            .back()
            .is_some_and(|last| last.sequence >= sequence)
        {
            return was_read_only;
        }
        writer.acks.push_back(Ack { sequence, at });
        // Keep the newest heartbeat older than the bound, and every one after it.
        if let Some(cut) = at.checked_sub(bound) {
            while writer.acks.get(1).is_some_and(|next| next.at <= cut) {
                writer.acks.pop_front();
            }
        }
        while writer.acks.len() > MAX_REMEMBERED {
            writer.acks.pop_front();
        }
        was_read_only
    }

    /// `id` refused a heartbeat with `READONLY`: it is not a writer, and what it wrote
    /// before no longer says anything. Returns whether it was a writer until now.
    pub(crate) fn refused(&mut self, id: DatabaseId) -> bool {
        let Some(writer) = self.writers.get_mut(&id) else {
            return false;
        };
        writer.acks.clear();
        !std::mem::replace(&mut writer.read_only, true)
    }

    /// The databases other than `reader` whose heartbeats it is judged by at `now`: those
    /// that acknowledged one within the bound. A writer that stopped answering longer ago
    /// says nothing about anyone else's replication.
    pub(crate) fn writers_besides(&self, reader: DatabaseId, now: Instant) -> Vec<DatabaseId> {
        self.writers
            .iter()
            .filter(|(id, writer)| {
                **id != reader
                    && !writer.read_only
                    && writer
                        .acks
                        .back()
                        .is_some_and(|last| now.saturating_duration_since(last.at) <= self.bound)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    /// The verdict on a database that showed `readings` at `now`: stale when it does not
    /// show a heartbeat some writer acknowledged more than the bound ago. Its lag against
    /// a writer is how long ago the oldest heartbeat it does not show was acknowledged;
    /// zero when it shows the newest. Writers no longer judging it are left out.
    pub(crate) fn judge(
        &self,
        reader: DatabaseId,
        readings: &[(DatabaseId, Shown)],
        now: Instant,
    ) -> Result<(), Stale> {
        match self.worst(reader, readings, now) {
            Some((writer, behind)) if behind > self.bound => Err(Stale::Behind {
                writer,
                behind,
                bound: self.bound,
            }),
            _ => Ok(()),
        }
    }

    /// The writer a database that showed `readings` at `now` lags furthest behind, and by
    /// how much; `None` when no writer judges it.
    pub(crate) fn worst(
        &self,
        reader: DatabaseId,
        readings: &[(DatabaseId, Shown)],
        now: Instant,
    ) -> Option<(DatabaseId, Duration)> {
        let writers = self.writers_besides(reader, now);
        readings
            .iter()
            .filter(|(writer, _)| writers.contains(writer))
            .filter_map(|(writer, shown)| Some((*writer, self.lag(*writer, *shown, now)?)))
            .max_by_key(|(_, lag)| *lag)
    }

    /// How far behind `writer` a database that shows `shown` is at `now`; `None` for a
    /// writer not known.
    fn lag(&self, writer: DatabaseId, shown: Shown, now: Instant) -> Option<Duration> {
        let acks = &self.writers.get(&writer)?.acks;
        let missing = acks.iter().find(|ack| match shown {
            Shown::Nothing => true,
            Shown::Sequence(seen) => ack.sequence > seen,
        });
        Some(missing.map_or(Duration::ZERO, |ack| now.saturating_duration_since(ack.at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(1);
    const INTERVAL: Duration = Duration::from_millis(100);
    const A: DatabaseId = DatabaseId(1);
    const B: DatabaseId = DatabaseId(2);
    const C: DatabaseId = DatabaseId(3);

    fn ledger() -> Ledger {
        let mut ledger = Ledger::new(BOUND);
        for id in [A, B, C] {
            ledger.enroll(id);
        }
        ledger
    }

    /// `id` acknowledges heartbeats `from..=to`, one every interval, as time passes.
    async fn beats(ledger: &mut Ledger, id: DatabaseId, from: u64, to: u64) {
        for sequence in from..=to {
            ledger.acknowledged(id, sequence, Instant::now());
            tokio::time::advance(INTERVAL).await;
        }
    }

    fn behind(result: Result<(), Stale>) -> Duration {
        match result {
            Err(Stale::Behind { behind, .. }) => behind,
            other => panic!("expected a lag verdict, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_database_that_shows_the_newest_heartbeat_is_current() {
        let mut l = ledger();
        beats(&mut l, A, 1, 30).await;
        assert_eq!(
            l.judge(B, &[(A, Shown::Sequence(30))], Instant::now()),
            Ok(())
        );
        // A heartbeat it shows that was never acknowledged (a write that timed out but ran)
        // is newer still.
        assert_eq!(
            l.judge(B, &[(A, Shown::Sequence(31))], Instant::now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn lag_is_timed_from_the_oldest_heartbeat_not_shown_on_this_clients_clock() {
        let mut l = ledger();
        beats(&mut l, A, 1, 30).await;
        // 30 was acknowledged 100 ms ago; B shows 20, so 21 (acknowledged 1 s ago) is the
        // oldest it misses: more than the bound only once time moves on.
        assert_eq!(
            l.judge(B, &[(A, Shown::Sequence(20))], Instant::now()),
            Ok(())
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        let lag = behind(l.judge(B, &[(A, Shown::Sequence(20))], Instant::now()));
        assert_eq!(lag, Duration::from_millis(1001));
        // Not timed from the newest heartbeat: that one is only 101 ms old.
        assert_eq!(
            l.judge(B, &[(A, Shown::Sequence(25))], Instant::now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_database_that_never_showed_a_heartbeat_is_behind_since_the_first_it_misses() {
        let mut l = ledger();
        beats(&mut l, A, 1, 5).await;
        assert_eq!(l.judge(B, &[(A, Shown::Nothing)], Instant::now()), Ok(()));
        beats(&mut l, A, 6, 11).await;
        assert_eq!(
            behind(l.judge(B, &[(A, Shown::Nothing)], Instant::now())),
            Duration::from_millis(1100)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_worst_writer_decides_and_is_named() {
        let mut l = ledger();
        for sequence in 1..=20 {
            l.acknowledged(A, sequence, Instant::now());
            l.acknowledged(C, sequence, Instant::now());
            tokio::time::advance(INTERVAL).await;
        }
        let verdict = l.judge(
            B,
            &[(A, Shown::Sequence(20)), (C, Shown::Sequence(5))],
            Instant::now(),
        );
        let Err(Stale::Behind { writer, .. }) = &verdict else {
            panic!("{verdict:?}");
        };
        assert_eq!(*writer, C);
        let text = verdict.unwrap_err().to_string();
        assert!(
            text.starts_with("heartbeat: a heartbeat db3 acknowledged"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_database_refusing_heartbeats_is_no_writer_and_judges_nobody() {
        let mut l = ledger();
        beats(&mut l, A, 1, 20).await;
        assert!(l.refused(A), "a writer turned replica");
        assert!(!l.refused(A), "said once");
        assert!(l.writers_besides(B, Instant::now()).is_empty());
        // No writer elsewhere: no verdict, however old the reading.
        assert_eq!(l.judge(B, &[(A, Shown::Nothing)], Instant::now()), Ok(()));
        // Promoted: a writer again, judged by its new heartbeats only.
        assert!(l.acknowledged(A, 21, Instant::now()));
        assert_eq!(
            l.judge(B, &[(A, Shown::Sequence(20))], Instant::now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_writer_silent_for_longer_than_the_bound_stops_judging() {
        let mut l = ledger();
        beats(&mut l, A, 1, 20).await;
        // Its writes fail from now on (nothing is recorded for a failed write): B, which
        // shows 5, is judged late until A's newest heartbeat (100 ms old now) is older than
        // the bound.
        assert!(
            l.judge(B, &[(A, Shown::Sequence(5))], Instant::now())
                .is_err()
        );
        tokio::time::advance(Duration::from_millis(900)).await;
        assert_eq!(l.writers_besides(B, Instant::now()), vec![A]);
        assert!(
            l.judge(B, &[(A, Shown::Sequence(5))], Instant::now())
                .is_err()
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(l.writers_besides(B, Instant::now()).is_empty());
        assert_eq!(
            l.judge(B, &[(A, Shown::Sequence(5))], Instant::now()),
            Ok(())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_database_is_never_judged_by_its_own_heartbeats() {
        let mut l = ledger();
        beats(&mut l, A, 1, 20).await;
        assert!(l.writers_besides(A, Instant::now()).is_empty());
        assert_eq!(l.judge(A, &[(A, Shown::Nothing)], Instant::now()), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_kept_is_bounded_and_still_tells_a_database_far_behind() {
        let mut l = ledger();
        beats(&mut l, A, 1, 500).await;
        let kept = l.writers[&A].acks.len();
        // The bound's worth of heartbeats (10) and the one before it.
        assert!(kept <= 12, "{kept}");
        assert!(behind(l.judge(B, &[(A, Shown::Sequence(3))], Instant::now())) > BOUND);
        assert!(behind(l.judge(B, &[(A, Shown::Nothing)], Instant::now())) > BOUND);
    }

    #[tokio::test(start_paused = true)]
    async fn a_database_gone_is_not_recorded_again() {
        let mut l = ledger();
        l.forget(A);
        assert!(!l.acknowledged(A, 1, Instant::now()));
        assert!(!l.refused(A));
        assert!(l.writers_besides(B, Instant::now()).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn an_old_acknowledgement_arriving_late_changes_nothing() {
        let mut l = ledger();
        beats(&mut l, A, 1, 5).await;
        l.acknowledged(A, 3, Instant::now());
        assert_eq!(l.writers[&A].acks.back().map(|a| a.sequence), Some(5));
    }
}
