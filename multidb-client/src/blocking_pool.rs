//! The connections of one database for blocking commands: a bounded set, reused. What
//! goes over them, and when, is the blocking-command path's business (`dedicated`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use redis::aio::MultiplexedConnection;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::connector::DriverGuard;

/// Dedicated connections per database by default: enough for a handful of consumers
/// without holding many server connections per client.
pub(crate) const DEFAULT_BLOCKING_CONNECTIONS: usize = 16;

/// The blocking connections of one database.
pub(crate) struct DedicatedPool {
    /// One permit per connection in use; at most the cap.
    slots: Semaphore,
    pub(crate) cap: usize,
    idle: Mutex<Vec<Dedicated>>,
    closed: AtomicBool,
}

/// One dedicated connection and the guard of its socket.
pub(crate) struct Dedicated {
    pub(crate) con: MultiplexedConnection,
    pub(crate) driver: DriverGuard,
}

impl DedicatedPool {
    pub(crate) fn new(cap: usize) -> Self {
        DedicatedPool {
            slots: Semaphore::new(cap),
            cap,
            idle: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        }
    }

    /// An idle connection that is still open (the server may have closed one while idle).
    pub(crate) fn take_idle(&self) -> Option<Dedicated> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(dedicated) = idle.pop() {
            if dedicated.driver.is_alive() {
                return Some(dedicated);
            }
        }
        None
    }

    /// Closes the idle connections: for a database that stopped being active (it may have
    /// failed; it gets new ones when it is active again).
    pub(crate) fn clear_idle(&self) {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn put_back(&self, con: Dedicated) {
        if !self.closed.load(Ordering::Acquire) {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(con);
        }
    }

    /// A slot for one connection in use; `Err` once the pool is closed.
    pub(crate) async fn slot(&self) -> Result<SemaphorePermit<'_>, tokio::sync::AcquireError> {
        self.slots.acquire().await
    }

    /// Closes the idle connections; those in use close when their command ends.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.slots.close();
        self.clear_idle();
    }
}
