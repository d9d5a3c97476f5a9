//! State shared by all connections of one fake server, and the per-connection session.
//!
//! Everything a command touches sits behind one mutex, so each command (and a whole
//! `MULTI`/`EXEC` block) is atomic, as on a real single-threaded Redis.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::keyspace::Keyspace;
use super::pubsub::Registry;
use super::reply::{Protocol, Reply};

/// Fixed settings of one server.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) name: String,
    pub(crate) username: String,
    pub(crate) password: Option<String>,
    pub(crate) addr: SocketAddr,
}

/// What the server knows about one open client connection.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) peer: SocketAddr,
    pub(crate) name: Option<String>,
    pub(crate) db: usize,
    pub(crate) subscriptions: usize,
    pub(crate) since: Instant,
    /// Set to `true` to make the connection task close the socket.
    pub(crate) kill: watch::Sender<bool>,
    /// Pub/sub messages for the connection task to write.
    pub(crate) push: mpsc::UnboundedSender<Reply>,
}

#[derive(Debug, Default)]
pub(crate) struct ServerState {
    pub(crate) keyspace: Keyspace,
    pub(crate) clients: HashMap<u64, Client>,
    pub(crate) pubsub: Registry,
    pub(crate) next_id: u64,
    /// Set by shutdown; no connection registers afterwards.
    pub(crate) closed: bool,
}

impl ServerState {
    /// Signals the connection to close and forgets it (its subscriptions and watches too),
    /// so counts are exact as soon as this returns.
    pub(crate) fn kill(&mut self, id: u64) -> bool {
        self.pubsub.forget(id);
        self.keyspace.unwatch(id);
        match self.clients.remove(&id) {
            Some(client) => {
                client.kill.send_replace(true);
                true
            }
            None => false,
        }
    }

    pub(crate) fn kill_all(&mut self) {
        let ids: Vec<u64> = self.clients.keys().copied().collect();
        for id in ids {
            self.kill(id);
        }
    }
}

/// Per-connection protocol state.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: u64,
    pub(crate) protocol: Protocol,
    pub(crate) authenticated: bool,
    pub(crate) db: usize,
    pub(crate) name: Option<String>,
    /// Commands queued since `MULTI`.
    pub(crate) multi: Option<Vec<Vec<Vec<u8>>>>,
    /// A command failed to queue: `EXEC` aborts.
    pub(crate) multi_failed: bool,
    pub(crate) channels: BTreeSet<Vec<u8>>,
    pub(crate) patterns: BTreeSet<Vec<u8>>,
    pub(crate) shard_channels: BTreeSet<Vec<u8>>,
    /// `QUIT` was received: close after the reply.
    pub(crate) quit: bool,
}

impl Session {
    pub(crate) fn new(id: u64, needs_auth: bool) -> Self {
        Session {
            id,
            protocol: Protocol::Resp2,
            authenticated: !needs_auth,
            db: 0,
            name: None,
            multi: None,
            multi_failed: false,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            quit: false,
        }
    }

    pub(crate) fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard_channels.len()
    }
}

/// What a command handler works on.
pub(crate) struct Ctx<'a> {
    pub(crate) st: &'a mut ServerState,
    pub(crate) s: &'a mut Session,
    pub(crate) cfg: &'a Config,
}
