//! Where the client's Pub/Sub subscribers are subscribed, so that a `PUBLISH` through the
//! client after a switch is not published to nobody.
//!
//! A switch moves commands at once, while each subscriber learns of it from the event and
//! then needs a connection and a `SUBSCRIBE` on the new database: a message the client
//! published in between reached no subscriber of its own. So a `PUBLISH` (`SPUBLISH`, or a
//! pipeline holding one) waits, bounded, until every subscriber with subscriptions reports
//! itself on the active database. Subscribers elsewhere (another client, another process)
//! are outside the client's knowledge: Pub/Sub stays at-most-once across a switch for them.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::event::DatabaseId;

/// One subscriber's placement, written by its worker.
#[derive(Debug, Default)]
pub(crate) struct Placement(Mutex<Placed>);

#[derive(Clone, Copy, Debug, Default)]
struct Placed {
    /// The database whose connection carries its subscriptions (`None` while none does).
    on: Option<DatabaseId>,
    /// Whether it has any subscription (an empty subscriber holds nothing up).
    subscribed: bool,
}

/// The live subscribers' placements.
#[derive(Debug, Default)]
pub(crate) struct Subscribers {
    placements: Mutex<Vec<Weak<Placement>>>,
    moved: Notify,
}

impl Subscribers {
    /// A new subscriber's placement; it leaves the list when dropped.
    pub(crate) fn register(&self) -> Arc<Placement> {
        let placement = Arc::new(Placement::default());
        let mut all = self.lock();
        all.retain(|p| p.strong_count() > 0);
        all.push(Arc::downgrade(&placement));
        placement
    }

    /// `placement`'s subscriptions are now on `on`.
    pub(crate) fn report(&self, placement: &Placement, on: Option<DatabaseId>, subscribed: bool) {
        *placement.0.lock().unwrap_or_else(PoisonError::into_inner) = Placed { on, subscribed };
        self.moved.notify_waiters();
    }

    /// Whether every subscriber with subscriptions is on `active`.
    fn all_on(&self, active: DatabaseId) -> bool {
        self.lock().iter().filter_map(Weak::upgrade).all(|p| {
            let placed = *p.0.lock().unwrap_or_else(PoisonError::into_inner);
            !placed.subscribed || placed.on == Some(active)
        })
    }

    /// Waits until every subscriber with subscriptions is on the database `active()` names
    /// (read again after each move), until `until` at the latest.
    pub(crate) async fn caught_up(&self, active: impl Fn() -> Option<DatabaseId>, until: Instant) {
        let wait = async {
            loop {
                let moved = self.moved.notified();
                tokio::pin!(moved);
                // Registered before the check: a report in between still wakes us.
                moved.as_mut().enable();
                match active() {
                    Some(active) if !self.all_on(active) => moved.await,
                    _ => return,
                }
            }
        };
        let _ = tokio::time::timeout_at(until, wait).await;
    }

    /// Whether any subscriber is registered (a `PUBLISH` checks this first, with no lock
    /// held long).
    pub(crate) fn any(&self) -> bool {
        self.lock().iter().any(|p| p.strong_count() > 0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Placement>>> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.placements
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn in_an_hour() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    fn id(n: u32) -> DatabaseId {
        DatabaseId(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_publish_waits_for_a_subscriber_behind_and_not_for_an_empty_or_dropped_one() {
        let subs = Arc::new(Subscribers::default());
        let empty = subs.register();
        subs.report(&empty, Some(id(1)), false);
        let behind = subs.register();
        subs.report(&behind, Some(id(1)), true);
        // Active is 2: `behind` holds the publish up until it reports itself there.
        let waiter = {
            let subs = subs.clone();
            tokio::spawn(async move {
                subs.caught_up(|| Some(id(2)), in_an_hour()).await;
                tokio::time::Instant::now()
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        let moved_at = tokio::time::Instant::now();
        subs.report(&behind, Some(id(2)), true);
        assert_eq!(
            waiter.await.unwrap(),
            moved_at,
            "released by the move, not a timer"
        );

        // A dropped subscriber holds nothing up.
        subs.report(&behind, Some(id(1)), true);
        drop(behind);
        let start = tokio::time::Instant::now();
        subs.caught_up(|| Some(id(2)), in_an_hour()).await;
        assert_eq!(tokio::time::Instant::now(), start);
        drop(empty);
        assert!(!subs.any());
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded() {
        let subs = Subscribers::default();
        let stuck = subs.register();
        subs.report(&stuck, None, true);
        let start = tokio::time::Instant::now();
        subs.caught_up(|| Some(id(2)), start + Duration::from_millis(300))
            .await;
        assert_eq!(
            tokio::time::Instant::now() - start,
            Duration::from_millis(300)
        );
    }
}
