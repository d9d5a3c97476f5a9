//! The runtime a blocking client drives its async client on: its own, or the caller's.

use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use tokio::runtime::{Handle, Runtime};

use crate::client::MultiDbClient as AsyncClient;
use crate::error::MultiDbError;

/// How long `close()` lets the owned runtime's tasks finish before dropping them.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a borrowed current-thread runtime may take to run a task of ours before it
/// counts as not driven by anyone (its tasks, ours included, would never run).
const DRIVEN_WITHIN: Duration = Duration::from_secs(2);

/// Worker threads of an owned runtime: the background work (health checks, the control
/// loop, connection drivers) is small, and callers' threads drive their own commands.
const WORKER_THREADS: usize = 2;

enum Driver {
    /// Ours: `None` once shut down by `close()`. Calls in flight hold a clone, so
    /// `close()` never waits for them: the last one to finish drops the runtime.
    Owned(RwLock<Option<Arc<Runtime>>>),
    /// The caller's: never shut down by us.
    Borrowed(Handle),
}

/// What clones of a blocking client share; dropping the last one closes the client and
/// shuts an owned runtime down.
pub(super) struct Shared {
    pub(super) client: AsyncClient,
    driver: Driver,
}

impl Shared {
    pub(super) fn owned(make: impl FnOnce() -> AsyncClient) -> Result<Self, MultiDbError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("multidb-blocking")
            .enable_all()
            .build()
            .map_err(|e| MultiDbError::Redis(e.into()))?;
        let client = {
            let _entered = runtime.enter();
            make()
        };
        Ok(Shared {
            client,
            driver: Driver::Owned(RwLock::new(Some(Arc::new(runtime)))),
        })
    }

    pub(super) fn borrowed(handle: Handle, make: impl FnOnce() -> AsyncClient) -> Self {
        let client = {
            let _entered = handle.enter();
            make()
        };
        Shared {
            client,
            driver: Driver::Borrowed(handle),
        }
    }

    /// Runs `future` to completion on the runtime, blocking the calling thread.
    ///
    /// Refuses on a thread that is inside a tokio runtime: blocking there would stall that
    /// runtime's worker (or deadlock it, if the future needs that worker), and tokio
    /// panics on a nested `block_on`.
    pub(super) fn block_on<F: Future>(
        &self,
        method: &'static str,
        future: F,
    ) -> Result<F::Output, MultiDbError> {
        if Handle::try_current().is_ok() {
            return Err(MultiDbError::BlockingInAsyncContext { method });
        }
        match &self.driver {
            Driver::Owned(lock) => {
                let runtime = lock.read().unwrap_or_else(PoisonError::into_inner).clone();
                match runtime {
                    Some(runtime) => Ok(runtime.block_on(future)),
                    None => Err(MultiDbError::Closed),
                }
            }
            Driver::Borrowed(handle) => {
                if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
                    && !is_driven(handle)
                {
                    return Err(MultiDbError::RuntimeNotDriven { method });
                }
                Ok(handle.block_on(future))
            }
        }
    }

    /// Closes the async client, then shuts an owned runtime down.
    pub(super) fn close(&self) -> Result<(), MultiDbError> {
        match self.block_on("close", self.client.close()) {
            Ok(()) | Err(MultiDbError::Closed) => {}
            Err(e) => return Err(e),
        }
        if let Driver::Owned(lock) = &self.driver {
            let runtime = lock.write().unwrap_or_else(PoisonError::into_inner).take();
            // Calls still in flight (the async close fails them fast) hold the runtime:
            // the last of them drops it; close() does not wait for them.
            if let Some(Ok(runtime)) = runtime.map(Arc::try_unwrap) {
                runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
            }
        }
        Ok(())
    }
}

/// Whether a current-thread runtime runs its tasks: only a thread inside its
/// `Runtime::block_on` drives them (and its timers), `Handle::block_on` does not. Waits
/// with std's clock, since tokio's would not tick either.
fn is_driven(handle: &Handle) -> bool {
    let (ran, ran_rx) = std::sync::mpsc::channel();
    let probe = handle.spawn(async move {
        let _ = ran.send(());
    });
    let driven = ran_rx.recv_timeout(DRIVEN_WITHIN).is_ok();
    if !driven {
        probe.abort();
    }
    driven
}

impl Drop for Shared {
    fn drop(&mut self) {
        let Driver::Owned(lock) = &mut self.driver else {
            // The caller's runtime: the async client's own drop releases what it holds.
            return;
        };
        let Some(runtime) = lock
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        if Handle::try_current().is_err() {
            runtime.block_on(self.client.close());
        }
        // Never blocks, so dropping the last clone inside async code is safe. A call in
        // flight elsewhere holds the runtime and drops it when it ends.
        if let Ok(runtime) = Arc::try_unwrap(runtime) {
            runtime.shutdown_background();
        }
    }
}
