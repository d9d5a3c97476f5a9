//! The in-memory keyspace: 16 databases (as `SELECT` expects), lazy expiry on tokio time, and
//! the `WATCH` bookkeeping that every write goes through.
//!
//! Expiry uses `tokio::time::Instant`, so tests with paused time can advance past a TTL.
//! Keys expire lazily when touched, as Redis' own lazy path does; `DBSIZE` and
//! [`FakeRedis::keyspace_len`](super::FakeRedis::keyspace_len) purge first.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use tokio::time::Instant;

/// Databases a client may `SELECT` (Redis' default `databases 16`).
pub(crate) const DATABASES: usize = 16;

/// A stored value. B-tree collections keep replies in a stable order for tests.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    List(VecDeque<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
}

impl Value {
    /// Whether this collection is empty (Redis deletes empty collections).
    fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(map) => map.is_empty(),
            Value::List(list) => list.is_empty(),
            Value::Set(set) => set.is_empty(),
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) value: Value,
    pub(crate) expires_at: Option<Instant>,
}

impl Entry {
    fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

type Db = HashMap<Vec<u8>, Entry>;

#[derive(Debug)]
pub(crate) struct Keyspace {
    dbs: Vec<Db>,
    /// `(db, key)` → ids of the connections watching it.
    watchers: HashMap<(usize, Vec<u8>), HashSet<u64>>,
    /// Connections whose watched keys changed: their next `EXEC` fails.
    dirty: HashSet<u64>,
}

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            dbs: (0..DATABASES).map(|_| Db::new()).collect(),
            watchers: HashMap::new(),
            dirty: HashSet::new(),
        }
    }
}

impl Keyspace {
    fn db(&mut self, db: usize) -> &mut Db {
        // `SELECT` only accepts indexes below DATABASES, so `db` is always in range.
        &mut self.dbs[db]
    }

    /// The live entry at `key`, dropping it first if it has expired.
    pub(crate) fn get(&mut self, db: usize, key: &[u8]) -> Option<&mut Entry> {
        let now = Instant::now();
        let map = self.db(db);
        if map.get(key).is_some_and(|entry| entry.expired(now)) {
            map.remove(key);
        }
        map.get_mut(key)
    }

    /// Typed read access; `Err` is the `WRONGTYPE` reply.
    pub(crate) fn value(&mut self, db: usize, key: &[u8]) -> Option<&Value> {
        self.get(db, key).map(|entry| &entry.value)
    }

    /// Mutable access to a value for a write: touches watchers. `make` creates the value
    /// when the key is missing; `None` from `make` leaves the key absent.
    pub(crate) fn value_mut(
        &mut self,
        db: usize,
        key: &[u8],
        make: impl FnOnce() -> Option<Value>,
    ) -> Option<&mut Value> {
        self.touch(db, key);
        if self.get(db, key).is_none() {
            let value = make()?;
            self.db(db).insert(
                key.to_vec(),
                Entry {
                    value,
                    expires_at: None,
                },
            );
        }
        self.get(db, key).map(|entry| &mut entry.value)
    }

    /// Removes `key` if a write left it an empty collection.
    pub(crate) fn drop_if_empty(&mut self, db: usize, key: &[u8]) {
        if self
            .get(db, key)
            .is_some_and(|entry| entry.value.is_empty_collection())
        {
            self.db(db).remove(key);
        }
    }

    pub(crate) fn set(&mut self, db: usize, key: &[u8], value: Value, expires_at: Option<Instant>) {
        self.touch(db, key);
        self.db(db)
            .insert(key.to_vec(), Entry { value, expires_at });
    }

    pub(crate) fn remove(&mut self, db: usize, key: &[u8]) -> Option<Entry> {
        let removed = self.get(db, key).is_some();
        if removed {
            self.touch(db, key);
        }
        self.db(db).remove(key)
    }

    pub(crate) fn set_expiry(
        &mut self,
        db: usize,
        key: &[u8],
        expires_at: Option<Instant>,
    ) -> bool {
        self.touch(db, key);
        match self.get(db, key) {
            Some(entry) => {
                entry.expires_at = expires_at;
                true
            }
            None => false,
        }
    }

    /// Live keys in `db`, purging expired ones.
    pub(crate) fn len(&mut self, db: usize) -> usize {
        let now = Instant::now();
        let map = self.db(db);
        map.retain(|_, entry| !entry.expired(now));
        map.len()
    }

    /// Keys in `db` (call [`Keyspace::len`] first to purge expired ones).
    pub(crate) fn keys(&mut self, db: usize) -> impl Iterator<Item = &Vec<u8>> {
        self.db(db).keys()
    }

    /// Live keys across all databases.
    pub(crate) fn total_len(&mut self) -> usize {
        (0..DATABASES).map(|db| self.len(db)).sum()
    }

    /// Keys in `db` with a TTL.
    pub(crate) fn expiring(&mut self, db: usize) -> usize {
        self.len(db);
        self.db(db)
            .values()
            .filter(|entry| entry.expires_at.is_some())
            .count()
    }

    pub(crate) fn flush(&mut self, db: Option<usize>) {
        let dbs: Vec<usize> = db.map_or_else(|| (0..DATABASES).collect(), |db| vec![db]);
        for db in dbs {
            self.db(db).clear();
            let dirty: Vec<u64> = self
                .watchers
                .iter()
                .filter(|((watched_db, _), _)| *watched_db == db)
                .flat_map(|(_, ids)| ids.iter().copied())
                .collect();
            self.dirty.extend(dirty);
        }
    }

    /// Marks every connection watching `key` as dirty.
    pub(crate) fn touch(&mut self, db: usize, key: &[u8]) {
        if let Some(ids) = self.watchers.get(&(db, key.to_vec())) {
            self.dirty.extend(ids.iter().copied());
        }
    }

    pub(crate) fn watch(&mut self, client: u64, db: usize, key: &[u8]) {
        self.watchers
            .entry((db, key.to_vec()))
            .or_default()
            .insert(client);
    }

    /// Forgets every watch of `client`; returns whether one of its keys changed meanwhile.
    pub(crate) fn unwatch(&mut self, client: u64) -> bool {
        self.watchers.retain(|_, ids| {
            ids.remove(&client);
            !ids.is_empty()
        });
        self.dirty.remove(&client)
    }
}

/// `WRONGTYPE` unless `value` is absent or matches `pattern`.
macro_rules! typed {
    ($value:expr, $pattern:pat => $out:expr) => {
        match $value {
            None => None,
            Some($pattern) => Some($out),
            Some(_) => return $crate::fake::reply::Reply::wrong_type(),
        }
    };
}
pub(crate) use typed;
