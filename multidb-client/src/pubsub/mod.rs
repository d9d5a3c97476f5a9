//! Pub/Sub that follows failover: [`MultiDbClient::pubsub`] and [`Subscriber`].
//!
//! The user-facing semantics are documented on [`Subscriber`] (this module is private).
//! Design: a subscriber's registry of subscriptions is the source of truth; one task
//! ([`worker`]) owns the member connection ([`link`]) and applies requests, switches and
//! reconnects in arrival order, so no interleaving can lose or resurrect a subscription.

mod inbox;
mod link;
mod registry;
mod worker;

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use futures_util::Stream;
use redis::Msg;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use self::inbox::Inbox;
use self::link::{Link, unsupported};
use self::registry::{Kind, Registry};
use self::worker::{Request, Worker};
use crate::client::MultiDbClient;
use crate::error::MultiDbError;
use crate::event::DatabaseId;

impl MultiDbClient {
    /// A Pub/Sub subscriber that follows the active database (see [`Subscriber`] for what
    /// it guarantees, and what it cannot: messages published during a switch can be lost).
    /// Initializes the client if needed and connects to the active database.
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    /// # async fn run(client: multidb_client::MultiDbClient) -> Result<(), multidb_client::MultiDbError> {
    /// let mut sub = client.pubsub().await?;
    /// sub.subscribe("orders").await?;
    /// sub.psubscribe("audit.*").await?;
    /// let mut messages = sub.on_message();
    /// while let Some(msg) = messages.next().await {
    ///     let payload: String = msg.get_payload()?;
    ///     println!("{}: {payload}", msg.get_channel_name());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`MultiDbError::Config`] when a database was made with
    /// [`crate::DatabaseConfig::from_connection`] or `from_pool` without
    /// [`crate::DatabaseConfig::pubsub_client`] (a subscriber needs its own connection;
    /// URL, Sentinel and cluster members give it one);
    /// the errors of [`Self::initialize`]; [`MultiDbError::TemporarilyUnavailable`] or
    /// [`MultiDbError::NoValidDatabase`] when no database is usable; [`MultiDbError::Redis`]
    /// when connecting to the active database fails (retry: later failures are handled by
    /// the subscriber itself).
    pub async fn pubsub(&self) -> Result<Subscriber, MultiDbError> {
        let controller = &self.controller;
        controller.initialize().await?;
        if let Some(e) = controller.members().iter().find_map(|db| unsupported(db)) {
            return Err(e);
        }
        // Subscribed before the active database is read, so no switch slips between.
        let events = controller.events();
        let router = controller.router();
        let active = router.active().ok_or_else(|| {
            router
                .unavailable_error()
                .unwrap_or(MultiDbError::NoDatabases)
        })?;
        let link = Link::open(&active).await?;
        let mut registry = Registry::default();
        registry.database = Some(active.id);
        let registry = Arc::new(Mutex::new(registry));
        let capacity = controller.config().pubsub_buffer;
        let dropped = Arc::new(AtomicU64::new(0));
        let messages = Arc::new(Inbox::new(capacity, dropped.clone()));
        let deliver = messages.clone();
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let placement = router.subscribers().register();
        router
            .subscribers()
            .report(&placement, Some(active.id), false);
        let worker = Worker {
            controller: controller.clone(),
            registry: registry.clone(),
            placement,
            link: Some(link),
            deliver,
            retry_delay: worker::FIRST_RETRY,
            retry_at: None,
        };
        let task = tokio::spawn(worker.run(requests_rx, events));
        Ok(Subscriber {
            requests,
            registry,
            messages: Some(messages),
            capacity,
            dropped,
            task,
        })
    }
}

/// Channel, pattern and sharded-channel subscriptions that follow the client's active
/// database. Made by [`MultiDbClient::pubsub`].
///
/// A subscriber keeps its own list of channels, patterns and sharded channels and makes
/// them on a connection of its own to the active database. When the client switches
/// databases, the subscriber drops that connection, subscribes everything again on the new
/// active database and publishes [`Event::Resubscribed`](crate::Event::Resubscribed); when
/// the connection breaks without a switch (the server restarted, the network blinked), it
/// asks for a health probe of that database and reconnects — to the same database, or to
/// the next one if the probe fails it over — retrying with backoff from 50 ms to 1 s. The
/// application reads one stream, [`Subscriber::on_message`], across all of it.
///
/// One task per subscriber does all of this, one step at a time: subscribe and unsubscribe
/// requests, switches and reconnects are applied in the order they arrive, and a switch
/// that lands while the subscriber is re-subscribing is followed as soon as that is done.
/// So overlapping switches never lose a subscription, and an unsubscribe is never undone by
/// a re-subscription.
///
/// Requests take `&self`. A request first follows any switch already made, then returns
/// once the active database confirmed it; while no database is reachable it is recorded
/// and made as soon as one is (watch for `Event::Resubscribed`). A request the server
/// refuses returns the error and is not recorded. Dropping the subscriber closes its
/// connection and ends its task; [`MultiDbClient::close`] ends it too.
///
/// # What is not guaranteed
///
/// - **Messages published during a switch can be lost**: between the old connection
///   closing and the new subscriptions being confirmed, nothing listens. Pub/Sub is
///   fire-and-forget in Redis and Active-Active members do not replay it; use Streams when
///   every message counts. `Event::Resubscribed` tells when listening resumed. A `PUBLISH`
///   (or `SPUBLISH`, alone or in a pipeline) sent through the same client after a switch
///   waits until this client's own subscribers are subscribed on the new database — for at
///   most the connection timeout after the switch — so the client never publishes to
///   nobody what its own subscribers would have heard; other processes' subscribers it
///   cannot know about.
/// - **Publish through the same kind of client**: publishers should be a [`MultiDbClient`]
///   over the same databases, so their messages go to the active database, which is where
///   subscribers listen. A publisher tied to one member reaches only the subscribers on it.
/// - **A reader that falls behind loses the oldest messages**: at most `pubsub_buffer`
///   messages (default 10 000) wait for the application; past that the oldest is dropped
///   for each new one, counted in [`Subscriber::dropped_messages`], and
///   [`Event::PubSubMessagesDropped`](crate::Event::PubSubMessagesDropped) is published
///   when a run of drops begins. The memory a subscriber holds is thus bounded by
///   `pubsub_buffer × (channel name + payload + about 400 bytes)`.
///
/// # Requirements
///
/// Every database must be configured by URL ([`crate::DatabaseConfig::from_url`]): the
/// subscriber opens a dedicated RESP3 connection to each (redis-rs' RESP2 Pub/Sub cannot
/// send `SSUBSCRIBE`, and RESP3 reports a lost connection on the message channel itself),
/// whatever protocol the member's commands use. So Redis 6 or newer is needed, and Redis 7
/// for sharded channels.
pub struct Subscriber {
    requests: mpsc::UnboundedSender<Request>,
    registry: Arc<Mutex<Registry>>,
    /// The first stream's queue, made with the subscriber so nothing published after the
    /// first `subscribe` is missed by a stream asked for later.
    messages: Option<Arc<Inbox>>,
    capacity: usize,
    /// Messages dropped because the reader fell behind, over every stream.
    dropped: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Subscriber {
    async fn request(&self, kind: Kind, subscribe: bool, name: &str) -> Result<(), MultiDbError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Change {
                kind,
                subscribe,
                name: name.to_owned(),
                reply,
            })
            .map_err(|_| MultiDbError::Closed)?;
        // The task only ends when the client is closed (or this handle dropped).
        answer.await.map_err(|_| MultiDbError::Closed)?
    }

    /// Subscribes to `channel` (`SUBSCRIBE`).
    ///
    /// # Errors
    /// [`MultiDbError::Redis`] when the server refuses it (nothing is recorded then);
    /// [`MultiDbError::Closed`] after the client was closed.
    pub async fn subscribe(&self, channel: impl AsRef<str>) -> Result<(), MultiDbError> {
        self.request(Kind::Channel, true, channel.as_ref()).await
    }

    /// Unsubscribes from `channel` (`UNSUBSCRIBE`); it stays unsubscribed across switches.
    ///
    /// # Errors
    /// As [`Self::subscribe`].
    pub async fn unsubscribe(&self, channel: impl AsRef<str>) -> Result<(), MultiDbError> {
        self.request(Kind::Channel, false, channel.as_ref()).await
    }

    /// Subscribes to the channels matching `pattern` (`PSUBSCRIBE`).
    ///
    /// # Errors
    /// As [`Self::subscribe`].
    pub async fn psubscribe(&self, pattern: impl AsRef<str>) -> Result<(), MultiDbError> {
        self.request(Kind::Pattern, true, pattern.as_ref()).await
    }

    /// Unsubscribes from `pattern` (`PUNSUBSCRIBE`).
    ///
    /// # Errors
    /// As [`Self::subscribe`].
    pub async fn punsubscribe(&self, pattern: impl AsRef<str>) -> Result<(), MultiDbError> {
        self.request(Kind::Pattern, false, pattern.as_ref()).await
    }

    /// Subscribes to the sharded channel `channel` (`SSUBSCRIBE`, Redis 7).
    ///
    /// # Errors
    /// As [`Self::subscribe`]; an older server refuses the command.
    pub async fn ssubscribe(&self, channel: impl AsRef<str>) -> Result<(), MultiDbError> {
        self.request(Kind::Shard, true, channel.as_ref()).await
    }

    /// Unsubscribes from the sharded channel `channel` (`SUNSUBSCRIBE`).
    ///
    /// # Errors
    /// As [`Self::subscribe`].
    pub async fn sunsubscribe(&self, channel: impl AsRef<str>) -> Result<(), MultiDbError> {
        self.request(Kind::Shard, false, channel.as_ref()).await
    }

    /// The messages of every subscription, across switches, as one stream.
    ///
    /// The stream owns its messages and does not borrow the subscriber, so the application
    /// can keep subscribing while it reads. Asking again moves delivery to the new stream:
    /// the previous one yields what it already holds and then ends. Every stream ends when
    /// the subscriber is dropped or the client closed.
    pub fn on_message(&mut self) -> Messages {
        if let Some(inbox) = self.messages.take() {
            return Messages { inbox };
        }
        let inbox = Arc::new(Inbox::new(self.capacity, self.dropped.clone()));
        // A dead task means no more messages: the new stream then just ends.
        if self.requests.send(Request::Deliver(inbox.clone())).is_err() {
            inbox.close();
        }
        Messages { inbox }
    }

    /// How many messages were dropped because the application read too slowly (the
    /// oldest waiting one makes room for each new one past `pubsub_buffer`), since the
    /// subscriber was made.
    pub fn dropped_messages(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The channels subscribed to, sorted.
    pub fn channels(&self) -> Vec<String> {
        self.registry().names(Kind::Channel)
    }

    /// The patterns subscribed to, sorted.
    pub fn patterns(&self) -> Vec<String> {
        self.registry().names(Kind::Pattern)
    }

    /// The sharded channels subscribed to, sorted.
    pub fn sharded_channels(&self) -> Vec<String> {
        self.registry().names(Kind::Shard)
    }

    /// The database the subscriptions are made on now (`None` while reconnecting).
    pub fn database(&self) -> Option<DatabaseId> {
        self.registry().database
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // Ends the task at once even mid-reconnect; its connection closes with it.
        self.task.abort();
    }
}

impl fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.registry();
        f.debug_struct("Subscriber")
            .field("database", &r.database)
            .field("channels", &r.set(Kind::Channel))
            .field("patterns", &r.set(Kind::Pattern))
            .field("sharded_channels", &r.set(Kind::Shard))
            .finish()
    }
}

/// The stream of messages of a [`Subscriber`] ([`Subscriber::on_message`]).
#[must_use = "streams do nothing unless polled"]
pub struct Messages {
    inbox: Arc<Inbox>,
}

impl Messages {
    /// Messages waiting to be read now (at most `pubsub_buffer`).
    pub fn waiting(&self) -> usize {
        self.inbox.len()
    }
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messages")
            .field("waiting", &self.inbox.len())
            .finish()
    }
}

impl Stream for Messages {
    type Item = Msg;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        self.inbox.poll_next(cx)
    }
}
