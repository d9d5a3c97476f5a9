//! The one task that owns a subscriber's member connection.
//!
//! Requests, switches and connection losses are handled one at a time, in arrival order:
//! a switch that arrives while the subscriber re-subscribes waits until that is done and
//! then moves again, to whatever is active *then*. Nothing else ever touches the
//! connection or writes the registry, so no interleaving can drop a subscription.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::{Msg, PushInfo, PushKind};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use super::inbox::Inbox;
use super::link::{Link, is_connection_error};
use super::registry::{Kind, Registry};
use crate::control::{Controller, Placement};
use crate::error::MultiDbError;
use crate::event::Event;

/// Reconnect delays after a failed attempt: from the first to the cap, doubling.
pub(crate) const FIRST_RETRY: Duration = Duration::from_millis(50);
const MAX_RETRY: Duration = Duration::from_secs(1);

/// What a [`super::Subscriber`] asks of its worker.
pub(crate) enum Request {
    /// Subscribe (`subscribe == true`) or unsubscribe one name.
    Change {
        kind: Kind,
        subscribe: bool,
        name: String,
        reply: oneshot::Sender<Result<(), MultiDbError>>,
    },
    /// Deliver messages to this stream from now on.
    Deliver(Arc<Inbox>),
}

pub(crate) struct Worker {
    pub(crate) controller: Arc<Controller>,
    pub(crate) registry: Arc<Mutex<Registry>>,
    /// Where it is subscribed, as the router's `PUBLISH` gate sees it.
    pub(crate) placement: Arc<Placement>,
    pub(crate) link: Option<Link>,
    pub(crate) deliver: Arc<Inbox>,
    pub(crate) retry_delay: Duration,
    pub(crate) retry_at: Option<Instant>,
}

enum Step {
    Request(Option<Request>),
    Event(Result<Event, broadcast::error::RecvError>),
    Push(Option<PushInfo>),
    Retry,
    Closed,
}

impl Drop for Worker {
    fn drop(&mut self) {
        // The task ended (the subscriber or the client went away): the stream ends too.
        self.deliver.close();
    }
}

impl Worker {
    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // The registry is plain data: a panic elsewhere cannot leave it half-written.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Request>,
        mut events: broadcast::Receiver<Event>,
    ) {
        loop {
            let controller = self.controller.clone();
            let closed = controller.router().switched();
            tokio::pin!(closed);
            // Registered before the check, so a close() in between still wakes us.
            closed.as_mut().enable();
            if controller.router().is_closed() {
                self.set_link(None);
                return;
            }
            let retry_at = self.retry_at;
            // Biased, for replayable simulations; pushes last, so a flood of messages
            // never delays a request, a switch or closing.
            let step = tokio::select! {
                biased;
                () = &mut closed => Step::Closed,
                e = events.recv() => Step::Event(e),
                r = requests.recv() => Step::Request(r),
                () = crate::member::sleep_until(retry_at) => Step::Retry,
                p = next_push(self.link.as_mut()) => Step::Push(p),
            };
            match step {
                // The Subscriber was dropped, or the client with every handle.
                Step::Request(None) | Step::Event(Err(broadcast::error::RecvError::Closed)) => {
                    return;
                }
                Step::Request(Some(Request::Deliver(inbox))) => {
                    // The previous stream yields what it holds, then ends.
                    std::mem::replace(&mut self.deliver, inbox).close();
                }
                Step::Request(Some(Request::Change {
                    kind,
                    subscribe,
                    name,
                    reply,
                })) => {
                    let result = self.change(kind, subscribe, &name).await;
                    self.report();
                    let _ = reply.send(result);
                }
                Step::Event(
                    Ok(Event::ActiveDatabaseChanged { .. })
                    | Err(broadcast::error::RecvError::Lagged(_)),
                )
                | Step::Retry
                | Step::Closed => self.follow().await,
                Step::Event(Ok(_)) => {}
                Step::Push(push) => self.on_push(push).await,
            }
        }
    }

    async fn on_push(&mut self, push: Option<PushInfo>) {
        match push {
            Some(info) if matches!(info.kind, PushKind::Disconnection) => self.lost().await,
            Some(info) if matches!(info.kind, PushKind::SUnsubscribe) => {
                self.sharded_dropped(&info).await;
            }
            Some(info) => {
                if let Some(msg) = Msg::from_push_info(info)
                    && let Some(dropped) = self.deliver.push(msg)
                {
                    tracing::warn!(
                        dropped,
                        "pubsub reader falls behind: oldest messages dropped"
                    );
                    self.controller
                        .router()
                        .announce(Event::PubSubMessagesDropped { dropped });
                }
            }
            None => self.lost().await,
        }
    }

    /// A `sunsubscribe` the server sent: for a channel still subscribed, its slot moved to
    /// another node (a cluster's reshard or failover): subscribe it again, where it lives
    /// now. A confirmation of the application's own unsubscribe finds it gone from the
    /// registry and changes nothing.
    async fn sharded_dropped(&mut self, info: &PushInfo) {
        let Some(channel) = info.data.first().and_then(|v| match v {
            redis::Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
            redis::Value::SimpleString(s) => Some(s.clone()),
            _ => None,
        }) else {
            return;
        };
        if !self.registry().set(Kind::Shard).contains(&channel) {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        tracing::debug!(channel = %channel, "sharded channel moved; subscribing it again");
        let database = link.database;
        match link
            .send(Kind::Shard, true, std::slice::from_ref(&channel))
            .await
        {
            Ok(()) => self
                .controller
                .router()
                .announce(Event::ShardedChannelMoved { database, channel }),
            Err(e) => {
                tracing::warn!(channel = %channel, error = %e, "sharded channel not subscribed again; reconnecting");
                self.lost().await;
            }
        }
    }

    /// The connection broke without a switch (a restart, a network cut): ask for a probe of
    /// that member, so the client fails over if it is down, and reconnect.
    async fn lost(&mut self) {
        if let Some(link) = self.link.take() {
            tracing::warn!(database = %link.database, "pubsub connection lost; reconnecting");
            self.controller.router().request_probe(link.database);
        }
        self.set_link(None);
        self.follow().await;
    }

    /// Applies one request: to the registry always, to the connection when there is one.
    async fn change(
        &mut self,
        kind: Kind,
        subscribe: bool,
        name: &str,
    ) -> Result<(), MultiDbError> {
        if self.controller.router().is_closed() {
            return Err(MultiDbError::Closed);
        }
        let changed = self.registry().apply(kind, subscribe, name);
        // A switch the select has not picked up yet goes first: the request then lands on
        // the database active when it was made, and its return means the subscriber is there.
        self.follow().await;
        let Some(link) = self.link.as_mut() else {
            // No database reachable: recorded, and made by the next resubscription.
            return Ok(());
        };
        match link.send(kind, subscribe, &[name.to_owned()]).await {
            Ok(()) => Ok(()),
            Err(e) if is_connection_error(&e) => {
                // Recorded: the reconnect subscribes it.
                self.lost().await;
                Ok(())
            }
            Err(e) => {
                if changed {
                    self.registry().undo(kind, subscribe, name);
                }
                Err(MultiDbError::Redis(e))
            }
        }
    }

    /// Moves the subscriptions to the active database, if they are not there yet; repeats
    /// until they are where the client points (a switch may land while one is under way).
    async fn follow(&mut self) {
        loop {
            let router = self.controller.router();
            if router.is_closed() {
                self.set_link(None);
                return;
            }
            // No active database (every one removed): keep what we have.
            let Some(target) = router.active() else {
                return;
            };
            if self.link.as_ref().is_some_and(|l| l.database == target.id) {
                self.retry_at = None;
                return;
            }
            // The old member's connection goes first: its messages would be stale.
            self.set_link(None);
            let snapshot = self.registry().clone();
            let result = match Link::open(&target).await {
                Ok(mut link) => match link.subscribe_all(&snapshot).await {
                    Ok(()) => Ok(link),
                    Err(e) => Err(MultiDbError::Redis(e)),
                },
                Err(e) => Err(e),
            };
            match result {
                Ok(link) => {
                    let channels = snapshot.len();
                    self.set_link(Some(link));
                    self.retry_delay = FIRST_RETRY;
                    self.retry_at = None;
                    tracing::info!(database = %target.id, channels, "pubsub resubscribed");
                    self.controller.router().announce(Event::Resubscribed {
                        database: target.id,
                        channels,
                    });
                }
                Err(e) => {
                    tracing::warn!(database = %target.id, error = %e, retry_in = ?self.retry_delay, "pubsub resubscription failed");
                    // Evidence that the active database is down: ask for a probe on every
                    // failed attempt, as the first request may fall in the monitor's rate
                    // limit (which also bounds these).
                    if matches!(e, MultiDbError::Redis(_)) {
                        self.controller.router().request_probe(target.id);
                    }
                    self.retry_at = Some(Instant::now() + self.retry_delay);
                    self.retry_delay = (self.retry_delay * 2).min(MAX_RETRY);
                    return;
                }
            }
        }
    }

    fn set_link(&mut self, link: Option<Link>) {
        self.registry().database = link.as_ref().map(|l| l.database);
        self.link = link;
        self.report();
    }

    /// Tells the router where its subscriptions are now.
    fn report(&self) {
        let (on, subscribed) = {
            let registry = self.registry();
            (registry.database, registry.len() > 0)
        };
        self.controller
            .router()
            .subscribers()
            .report(&self.placement, on, subscribed);
    }
}

async fn next_push(link: Option<&mut Link>) -> Option<PushInfo> {
    match link {
        Some(link) => link.pushes.recv().await,
        None => std::future::pending().await,
    }
}
