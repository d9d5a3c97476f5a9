//! The replication heartbeat (opt-in,
//! [`MultiDbConfigBuilder::replication_heartbeat`](crate::MultiDbConfigBuilder::replication_heartbeat)):
//! Redis' Active-Active failover guide checks replication health by writing on one member
//! and reading on another; this does it continuously, for every pair of members.
//!
//! **Writing.** Every interval the client writes a sequence number on each database under
//! a key of this client instance — `multidb:hb:{<random 128-bit id>}:<database>`, the id in
//! a hash tag so that all of one client's keys share a cluster slot and one `MGET` reads
//! them — expiring a few intervals after the lag bound. A write refused with `READONLY`
//! is expected (a replica): that database is simply not a writer. A write that fails
//! otherwise changes nothing: its database keeps judging the others until its newest
//! acknowledged heartbeat is older than the lag bound.
//!
//! **Reading.** Each database's lag check reads the keys of the *other* writers. Its lag
//! against a writer is how long ago the oldest heartbeat it does not show yet was
//! acknowledged by that writer: both instants are taken on this client's own clock (tokio
//! time), never on a server's, so clocks of different machines are never compared, and a
//! database that advances but stays far behind is still seen lagging. Only the sequence
//! numbers cross the network. A database with no writer elsewhere has no verdict.
//!
//! The state has one owner, [`Heartbeat`]: the writer task reports what each write got,
//! the lag checks read through a [`View`] and report what they read; neither holds any of
//! it. The verdict feeds the same gate as the lag-aware check: a lagging database is not
//! made active while another is usable, and lag alone never moves traffic.

mod check;
mod ledger;
mod writer;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::time::Instant;

pub(crate) use self::writer::spawn as spawn_writer;

use self::check::HeartbeatCheck;
use self::ledger::{Ledger, Shown, Stale};
use crate::HealthCheck;
use crate::config::HeartbeatSettings;
use crate::event::DatabaseId;
use crate::member::Database;

/// The key prefix of every client's heartbeats.
const NAMESPACE: &str = "multidb:hb:";

/// See the module docs: the owner of the heartbeat state of one client.
#[derive(Debug)]
pub(crate) struct Heartbeat {
    settings: HeartbeatSettings,
    /// `multidb:hb:{<id>}:`, this client instance's own.
    prefix: String,
    ledger: Mutex<Ledger>,
    /// Each database's lag at its last check, for `status()`.
    lags: Mutex<std::collections::BTreeMap<DatabaseId, std::time::Duration>>,
}

impl Heartbeat {
    pub(crate) fn new(settings: HeartbeatSettings) -> Arc<Self> {
        Arc::new(Heartbeat {
            settings,
            prefix: format!("{NAMESPACE}{{{:032x}}}:", fastrand::u128(..)),
            ledger: Mutex::new(Ledger::new(settings.lag_bound)),
            lags: Mutex::new(std::collections::BTreeMap::new()),
        })
    }

    /// The heartbeat key member `id` is written under.
    fn key(&self, id: DatabaseId) -> String {
        format!("{}{}", self.prefix, id.get())
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // Every operation leaves the ledger whole (plain inserts and removals).
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Database `id`'s replication lag as its last check measured it (`None`: not checked
    /// yet, or no writer elsewhere judges it).
    pub(crate) fn lag_of(&self, id: DatabaseId) -> Option<std::time::Duration> {
        self.lags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .copied()
    }

    /// The lag check of member `id`, which is enrolled from now on: its heartbeats are
    /// recorded until the check is told it was removed.
    pub(crate) fn gate_for(self: &Arc<Self>, id: DatabaseId) -> Arc<dyn HealthCheck<Database>> {
        self.ledger().enroll(id);
        Arc::new(HeartbeatCheck::new(View(self.clone())))
    }

    /// `db` acknowledged heartbeat `sequence` just now.
    fn acknowledged(&self, db: &Database, sequence: u64) {
        if self.ledger().acknowledged(db.id, sequence, Instant::now()) {
            tracing::debug!(database = %db.id, endpoint = %db.endpoint, "database takes heartbeats again: it is a writer");
        }
    }

    /// `db` refused a heartbeat with `READONLY`.
    fn refused(&self, db: &Database) {
        if self.ledger().refused(db.id) {
            tracing::debug!(database = %db.id, endpoint = %db.endpoint, "database refuses heartbeats (READONLY): it is not a writer");
        }
    }
}

/// An error reply in the server's words: `NOPERM this user has no permissions…`.
fn server_said(e: &redis::ServerError) -> String {
    match e.details() {
        Some(details) => format!("{} {details}", e.code()),
        None => e.code().to_owned(),
    }
}

/// What a database's lag check may do with the heartbeat state: ask which keys to read,
/// and hand in what it read for a verdict.
#[derive(Debug)]
struct View(Arc<Heartbeat>);

impl View {
    /// The writers that judge `reader` now, with their keys.
    fn keys_to_read(&self, reader: DatabaseId) -> Vec<(DatabaseId, String)> {
        let writers = self.0.ledger().writers_besides(reader, Instant::now());
        writers.into_iter().map(|w| (w, self.0.key(w))).collect()
    }

    /// The verdict on `reader`, which showed `readings` just now; its lag is kept for
    /// `status()`.
    fn judge(&self, reader: DatabaseId, readings: &[(DatabaseId, Shown)]) -> Result<(), Stale> {
        let now = Instant::now();
        let (lag, verdict) = {
            let ledger = self.0.ledger();
            let lag = ledger.worst(reader, readings, now).map(|(_, lag)| lag);
            (lag, ledger.judge(reader, readings, now))
        };
        let mut lags = self.0.lags.lock().unwrap_or_else(PoisonError::into_inner);
        match lag {
            Some(lag) => lags.insert(reader, lag),
            None => lags.remove(&reader),
        };
        verdict
    }

    /// `id` is no member any more.
    fn forget(&self, id: DatabaseId) {
        self.0.ledger().forget(id);
        self.0
            .lags
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn heartbeat() -> Arc<Heartbeat> {
        Heartbeat::new(HeartbeatSettings {
            interval: Duration::from_millis(100),
            lag_bound: Duration::from_secs(1),
            ttl: Duration::from_millis(1300),
        })
    }

    #[test]
    fn keys_are_this_client_instances_own_and_share_a_cluster_slot() {
        let (one, two) = (heartbeat(), heartbeat());
        let key = one.key(DatabaseId(7));
        let tag = key
            .strip_prefix("multidb:hb:{")
            .and_then(|rest| rest.strip_suffix("}:7"))
            .unwrap_or_else(|| panic!("{key}"));
        assert_eq!(tag.len(), 32, "{key}");
        assert!(tag.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        // The first `{…}` is the hash tag: every key of one client hashes by it alone.
        assert!(
            one.key(DatabaseId(8))
                .starts_with(&format!("multidb:hb:{{{tag}}}:"))
        );
        assert_ne!(one.key(DatabaseId(7)), two.key(DatabaseId(7)));
    }
}
