//! What a stall is, measured cheaply: per database, the commands in flight and the replies
//! they got, and the sampler that turns those counts into "silent for so long".
//!
//! The command path pays two relaxed atomic additions per command and reads no clock; the
//! watchdog (`control::watchdog`) samples the counts on its own schedule and keeps the
//! time. A reply counts as progress; a command that ended without one (a timeout, an I/O
//! error, a caller that gave up) does not, so a stalled server cannot look alive because
//! its callers cancel.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The stall tolerance by default: above a 100 ms network blip and a 150 ms busy server
/// (neither even probes), and small enough that a stall — this long silent, then a probe
/// that gets no answer within as long again — moves traffic in about 250 ms.
pub(crate) const DEFAULT_TOLERANCE: Duration = Duration::from_millis(125);

/// Samples per tolerance: a stall is seen at most a fifth of the tolerance late.
pub(crate) const SAMPLES_PER_TOLERANCE: u32 = 5;

/// In-flight commands (low 32 bits) and replies received (high 32 bits, wrapping) of one
/// database, in one word so that ending a command is one addition.
#[derive(Debug, Default)]
pub(crate) struct Activity(AtomicU64);

const ONE_IN_FLIGHT: u64 = 1;
/// Adding this ends one command with a reply: the low half goes down by one, its borrow
/// carries one into the high half.
const ANSWERED: u64 = (1 << 32) - 1;

impl Activity {
    /// A command is sent now; end it with [`InFlight::end`].
    #[inline]
    pub(crate) fn begin(&self) -> InFlight<'_> {
        self.0.fetch_add(ONE_IN_FLIGHT, Ordering::Relaxed);
        InFlight(self)
    }

    /// (replies received, commands in flight).
    fn load(&self) -> (u32, u32) {
        let word = self.0.load(Ordering::Relaxed);
        // Truncation is the encoding: the high and the low half.
        #[allow(clippy::cast_possible_truncation)]
        ((word >> 32) as u32, word as u32)
    }
}

/// One command in flight; dropped without [`Self::end`] (its future was dropped), it
/// counts as ended without a reply.
#[must_use = "a command in flight is ended with `end`"]
pub(crate) struct InFlight<'a>(&'a Activity);

impl InFlight<'_> {
    /// The command ended; `answered` when the database replied (an error reply too).
    #[inline]
    pub(crate) fn end(self, answered: bool) {
        if answered {
            (self.0).0.fetch_add(ANSWERED, Ordering::Relaxed);
            std::mem::forget(self);
        }
    }
}

impl Drop for InFlight<'_> {
    #[inline]
    fn drop(&mut self) {
        (self.0).0.fetch_sub(ONE_IN_FLIGHT, Ordering::Relaxed);
    }
}

/// The watchdog's view of one database between samples.
#[derive(Debug)]
pub(crate) struct Watch {
    replies: u32,
    /// Since when (as sampled) it has had commands in flight and sent no reply.
    silent_since: Option<Duration>,
}

impl Watch {
    pub(crate) fn new(activity: &Activity) -> Self {
        Watch {
            replies: activity.load().0,
            silent_since: None,
        }
    }

    /// Samples `activity` at `now`: how long the database has been silent with commands in
    /// flight, or `None` when it is idle or replied since the last sample. Counted from
    /// the sample that saw its last reply (or, after idling, its first command), so it
    /// errs short by up to one sampling period, never long: a pause shorter than the
    /// tolerance is never reported.
    pub(crate) fn sample(&mut self, activity: &Activity, now: Duration) -> Option<Duration> {
        let (replies, in_flight) = activity.load();
        if in_flight == 0 {
            self.replies = replies;
            self.silent_since = None;
            return None;
        }
        if replies != self.replies {
            self.replies = replies;
            self.silent_since = Some(now);
            return None;
        }
        let since = *self.silent_since.get_or_insert(now);
        Some(now.saturating_sub(since))
    }

    /// Counts silence afresh from `now`: after a probe that found the database alive.
    pub(crate) fn restart(&mut self, activity: &Activity, now: Duration) {
        *self = Watch::new(activity);
        self.silent_since = Some(now);
    }

    /// Whether the database replied to anything since the last sample (without sampling).
    pub(crate) fn replied_since(&self, activity: &Activity) -> bool {
        activity.load().0 != self.replies
    }
}

/// The shortest of the last few round trips to a database, so that the tolerance never
/// falls below what its network needs: a far database is not a stalled one.
#[derive(Debug, Default)]
pub(crate) struct RoundTrips {
    last: [Option<Duration>; 8],
    next: usize,
}

impl RoundTrips {
    /// Times a stall must exceed the shortest round trip to count.
    const FACTOR: u32 = 4;

    pub(crate) fn record(&mut self, rtt: Duration) {
        self.last[self.next % self.last.len()] = Some(rtt);
        self.next = self.next.wrapping_add(1);
    }

    /// Whether any round trip was timed yet.
    pub(crate) fn measured(&self) -> bool {
        self.last.iter().any(Option::is_some)
    }

    /// `tolerance`, or four times the shortest recent round trip if that is longer.
    pub(crate) fn tolerance(&self, tolerance: Duration) -> Duration {
        let shortest = self.last.iter().flatten().min().copied();
        shortest.map_or(tolerance, |rtt| {
            tolerance.max(rtt.saturating_mul(Self::FACTOR))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_reply_is_progress_and_a_command_ended_without_one_is_not() {
        let activity = Activity::default();
        let mut watch = Watch::new(&activity);
        assert_eq!(watch.sample(&activity, Duration::ZERO), None, "idle");
        let a = activity.begin();
        let b = activity.begin();
        assert_eq!(watch.sample(&activity, MS * 10), Some(Duration::ZERO));
        assert_eq!(watch.sample(&activity, MS * 30), Some(MS * 20));
        a.end(true);
        assert_eq!(watch.sample(&activity, MS * 40), None, "a reply came");
        assert_eq!(watch.sample(&activity, MS * 50), Some(MS * 10));
        drop(b);
        assert_eq!(watch.sample(&activity, MS * 60), None, "nothing in flight");
        let c = activity.begin();
        assert_eq!(watch.sample(&activity, MS * 70), Some(Duration::ZERO));
        c.end(false);
        let d = activity.begin();
        assert_eq!(
            watch.sample(&activity, MS * 90),
            Some(MS * 20),
            "an unanswered end is no progress"
        );
        d.end(true);
        assert_eq!(activity.load(), (2, 0));
    }

    #[test]
    fn the_reply_count_wraps_without_touching_the_in_flight_count() {
        let activity = Activity(AtomicU64::new((u64::from(u32::MAX) << 32) | 3));
        let mut watch = Watch::new(&activity);
        activity.begin().end(true);
        assert_eq!(activity.load(), (0, 3));
        assert_eq!(watch.sample(&activity, MS), None);
        assert!(!watch.replied_since(&activity));
    }

    #[test]
    fn after_a_passing_probe_silence_is_counted_afresh() {
        let activity = Activity::default();
        let mut watch = Watch::new(&activity);
        let _a = activity.begin();
        watch.sample(&activity, Duration::ZERO);
        assert_eq!(watch.sample(&activity, MS * 200), Some(MS * 200));
        watch.restart(&activity, MS * 300);
        assert_eq!(watch.sample(&activity, MS * 350), Some(MS * 50));
    }

    #[test]
    fn the_tolerance_never_falls_below_four_round_trips() {
        let mut rtts = RoundTrips::default();
        assert_eq!(rtts.tolerance(MS * 125), MS * 125);
        rtts.record(MS * 50);
        rtts.record(MS * 40);
        assert_eq!(rtts.tolerance(MS * 125), MS * 160);
        for _ in 0..8 {
            rtts.record(MS);
        }
        assert_eq!(rtts.tolerance(MS * 125), MS * 125, "old samples age out");
        rtts.record(Duration::MAX);
        assert_eq!(rtts.tolerance(MS * 125), MS * 125);
    }
}
