//! The stall watchdog: it samples the active database's activity
//! ([`crate::stall::Activity`]) a few times per stall tolerance and, when the database has
//! been silent with commands in flight for longer than the tolerance, probes it on a
//! connection of its own; a probe with no answer within the tolerance either fails it over
//! ([`Controller::on_stall`]).
//!
//! That connection stays open while the database is active — made when it becomes active,
//! checked with a `PING` every health-check interval — so that a probe is one round trip
//! and not a connect, and those `PING`s time the round trips the tolerance never drops
//! below (until the first one is timed, nothing is probed). A probe that finds the database
//! alive (any reply, an error reply too), or a reply on the main connection meanwhile,
//! starts the count afresh; so does a stall with nowhere to fail over to (said once per
//! silence). Members with no connections of their own (clusters, pools, application
//! connections) are probed through their health checks instead.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use redis::aio::ConnectionLike as _;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Controller;
use crate::blocking_pool::Dedicated;
use crate::member::Database;
use crate::stall::{RoundTrips, SAMPLES_PER_TOLERANCE, Watch};

/// Starts the watchdog of `controller`, which ends with it (or when `close()` aborts it).
pub(super) fn spawn(
    controller: Weak<Controller>,
    tolerance: Duration,
    ping_every: Duration,
) -> JoinHandle<()> {
    tokio::spawn(run(controller, tolerance, ping_every))
}

/// A `PING` over the watchdog's own connection (made first when there is none or it
/// closed), bounded: the connection and the round trip, or why not.
type Ping = BoxFuture<'static, Result<(Dedicated, Duration), String>>;

fn ping(db: Arc<Database>, con: Option<Dedicated>, bound: Duration) -> Ping {
    async move {
        let work = async {
            let mut con = match con.filter(|c| c.driver.is_alive()) {
                Some(con) => con,
                None => db
                    .open_dedicated()
                    .await
                    .map_err(|e| format!("could not connect: {e}"))?,
            };
            let started = Instant::now();
            let reply = con.con.req_packed_command(&redis::cmd("PING")).await;
            if let Err(e) = &reply
                && !crate::replay::replied(&reply)
            {
                return Err(format!("ping failed: {e}"));
            }
            Ok((con, started.elapsed()))
        };
        tokio::time::timeout(bound, work)
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {bound:?}")))
    }
    .boxed()
}

/// The database being watched.
struct Watched {
    db: Arc<Database>,
    watch: Watch,
    /// For members with connections of their own.
    link: Option<Link>,
    /// A stall with nowhere to go was said during this silence.
    said_stuck: bool,
}

/// The watchdog's own connection to the watched database.
struct Link {
    idle: Option<Dedicated>,
    /// A `PING` under way; the connection is in it.
    pending: Option<Ping>,
    rtts: RoundTrips,
    next_ping: Instant,
}

impl Link {
    fn settle(&mut self, pinged: Result<(Dedicated, Duration), String>) {
        self.pending = None;
        if let Ok((con, rtt)) = pinged {
            self.idle = Some(con);
            self.rtts.record(rtt);
        }
    }
}

impl Watched {
    /// Watches `db`; its first `PING` connects, within the member's connection timeout.
    fn new(db: Arc<Database>, tolerance: Duration) -> Self {
        let first_ping = db.spec.connection_timeout.saturating_add(tolerance);
        let link = db.connection.connector().map(|_| Link {
            idle: None,
            pending: Some(ping(db.clone(), None, first_ping)),
            rtts: RoundTrips::default(),
            next_ping: Instant::now(),
        });
        Watched {
            watch: Watch::new(&db.activity),
            db,
            link,
            said_stuck: false,
        }
    }

    /// Keeps `watched` on the active database.
    fn follow(watched: &mut Option<Watched>, active: Option<Arc<Database>>, tolerance: Duration) {
        if active.as_ref().map(Arc::as_ptr) != watched.as_ref().map(|w| Arc::as_ptr(&w.db)) {
            *watched = active.map(|db| Watched::new(db, tolerance));
        }
    }

    /// The tolerance for it, and the bound of its probes: floored by its round trips.
    fn bound(&self, tolerance: Duration) -> Duration {
        self.link
            .as_ref()
            .map_or(tolerance, |l| l.rtts.tolerance(tolerance))
    }

    /// Starts the periodic `PING` of its connection when one is due.
    fn ping_if_due(&mut self, every: Duration, bound: Duration) {
        if let Some(link) = self.link.as_mut()
            && link.pending.is_none()
            && link.next_ping <= Instant::now()
        {
            link.next_ping = Instant::now()
                .checked_add(every)
                .unwrap_or_else(crate::member::far_future);
            link.pending = Some(ping(self.db.clone(), link.idle.take(), bound));
        }
    }
}

enum Wake {
    Sample,
    Pinged(Result<(Dedicated, Duration), String>),
}

async fn run(controller: Weak<Controller>, tolerance: Duration, ping_every: Duration) {
    let period = (tolerance / SAMPLES_PER_TOLERANCE).max(Duration::from_millis(1));
    let mut watched: Option<Watched> = None;
    // Samples are timed by their schedule, not by when the task woke: silences are then
    // whole sampling periods, and a wake a little late does not read as a silence a little
    // short of the tolerance (one period more to wait).
    let origin = Instant::now();
    let mut next_sample = origin;
    loop {
        let pending = watched
            .as_mut()
            .and_then(|w| w.link.as_mut())
            .and_then(|l| l.pending.as_mut());
        // Biased: the same inputs give the same steps, so a seeded simulation replays.
        let wake = tokio::select! {
            biased;
            pinged = async {
                match pending {
                    Some(ping) => ping.await,
                    None => std::future::pending().await,
                }
            } => Wake::Pinged(pinged),
            () = tokio::time::sleep_until(next_sample) => Wake::Sample,
        };
        if let Wake::Pinged(pinged) = wake {
            if let Some(link) = watched.as_mut().and_then(|w| w.link.as_mut()) {
                link.settle(pinged);
            }
            continue;
        }
        let sampled_at = next_sample.saturating_duration_since(origin);
        // At a fixed rate: a sample late by the work of the last one does not push every
        // later one back.
        next_sample = next_sample
            .checked_add(period)
            .unwrap_or_else(crate::member::far_future)
            .max(Instant::now());
        let Some(this) = controller.upgrade() else {
            return;
        };
        if this.router.is_closed() {
            return;
        }
        Watched::follow(&mut watched, this.router.active(), tolerance);
        let Some(w) = watched.as_mut() else {
            continue;
        };
        let bound = w.bound(tolerance);
        w.ping_if_due(ping_every, bound);
        let Some(silent) = w.watch.sample(&w.db.activity, sampled_at) else {
            w.said_stuck = false;
            continue;
        };
        if silent < bound {
            continue;
        }
        let Some(link) = w.link.as_mut() else {
            // No connection of its own: its health checks decide.
            this.monitor.request_check(&w.db.id);
            w.watch.restart(&w.db.activity, sampled_at);
            continue;
        };
        if !link.rtts.measured() {
            // Its round trip is unknown yet (the first PING is under way): a far database
            // must not look stalled. Its commands' timeouts still apply.
            continue;
        }
        drop(this);
        // A PING under way is the probe; otherwise one now, whose own bound is longer than
        // the wait below, which decides.
        let probe = link
            .pending
            .take()
            .unwrap_or_else(|| ping(w.db.clone(), link.idle.take(), bound.saturating_mul(2)));
        let mut probe = std::pin::pin!(probe);
        let verdict = if let Ok(verdict) = tokio::time::timeout(bound, probe.as_mut()).await {
            verdict
        } else {
            // Its reply may have arrived with the deadline, unread: let the connections'
            // tasks run once before judging.
            tokio::task::yield_now().await;
            probe
                .as_mut()
                .now_or_never()
                .unwrap_or_else(|| Err(format!("no answer within {bound:?}")))
        };
        let failure = verdict.as_ref().err().cloned();
        link.settle(verdict);
        let Some(this) = controller.upgrade() else {
            return;
        };
        if this.router.is_closed() {
            return;
        }
        if let Some(reason) = failure
            && !w.watch.replied_since(&w.db.activity)
            && !this.on_stall(&w.db, silent, &reason)
            && !std::mem::replace(&mut w.said_stuck, true)
        {
            tracing::warn!(database = %w.db.id, endpoint = %w.db.endpoint, ?silent, reason, "database stalled, but no other database is usable: staying on it");
        }
        // Failed over (the next sample watches the new database), alive, or stuck: count
        // afresh.
        w.watch.restart(
            &w.db.activity,
            Instant::now().saturating_duration_since(origin),
        );
    }
}
