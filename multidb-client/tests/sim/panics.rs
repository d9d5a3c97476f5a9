//! Panics anywhere in a schedule's thread — in the harness, the client's tasks (which tokio
//! would catch quietly) or the fakes — are recorded for the schedule to fail on.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Installs the recording hook (once per process) and forgets this thread's panics.
pub(crate) fn reset() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|p| p.borrow_mut().push(info.to_string()));
            previous(info);
        }));
    });
    PANICS.with(|p| p.borrow_mut().clear());
}

/// This thread's panics since [`reset`].
pub(crate) fn take() -> Vec<String> {
    PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}
