//! Panics anywhere in a schedule's thread — in the harness, the client's tasks (which tokio
//! would catch quietly) or the fakes — are recorded for the schedule to fail on.

use std::cell::RefCell;
use std::sync::Once;

/// redis-rs 1.8.1 subtracts 2 from the responses seen when a transaction's reply holds a
/// server error, so a `MULTI` refused outright (`-BUSY`, `-LOADING`) underflows: a panic
/// in debug builds, a wrapped index in release. It kills only that connection's driver,
/// which the client already treats as a failed connection (the pinned command reports
/// `PinnedDatabaseLost`); the schedules still check everything else about it. Neither
/// recorded nor printed.
const KNOWN_DEPENDENCY_PANIC: &str = "redis-1.8.1/src/aio/multiplexed_connection.rs:358";

thread_local! {
    static PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Installs the recording hook (once per process) and forgets this thread's panics.
pub(crate) fn reset() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info.to_string();
            if text.contains(KNOWN_DEPENDENCY_PANIC) {
                return;
            }
            PANICS.with(|p| p.borrow_mut().push(text));
            previous(info);
        }));
    });
    PANICS.with(|p| p.borrow_mut().clear());
}

/// This thread's panics since [`reset`].
pub(crate) fn take() -> Vec<String> {
    PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}
