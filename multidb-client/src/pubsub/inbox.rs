//! A subscriber's messages waiting for the application: a bounded queue that drops the
//! oldest when full, counting what it dropped.
//!
//! A reader that stops reading must not grow the client's memory without limit, and Pub/Sub
//! is lossy anyway: the newest messages are the ones worth keeping.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use redis::Msg;

/// Messages queued for one stream.
pub(crate) struct Inbox {
    capacity: usize,
    /// Dropped by every inbox of the subscriber: its total.
    dropped: Arc<AtomicU64>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Msg>,
    waker: Option<Waker>,
    closed: bool,
    /// Dropping since the reader last emptied the queue.
    overflowing: bool,
}

impl Inbox {
    pub(crate) fn new(capacity: usize, dropped: Arc<AtomicU64>) -> Self {
        Inbox {
            capacity,
            dropped,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain queue operations: a panic cannot leave it half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `msg`, dropping the oldest when full. `Some(total dropped)` when this starts a
    /// run of drops (the reader fell behind since it last caught up): worth telling once.
    pub(crate) fn push(&self, msg: Msg) -> Option<u64> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let mut started = None;
        if state.queue.len() >= self.capacity {
            state.queue.pop_front();
            let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if !state.overflowing {
                state.overflowing = true;
                started = Some(total);
            }
        }
        state.queue.push_back(msg);
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        started
    }

    /// No more messages: the stream ends once it has yielded those queued.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Msg>> {
        let mut state = self.lock();
        if let Some(msg) = state.queue.pop_front() {
            if state.queue.is_empty() {
                state.overflowing = false;
            }
            return Poll::Ready(Some(msg));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Messages waiting now.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::task::noop_waker;

    fn msg(n: usize) -> Msg {
        let push = redis::PushInfo {
            kind: redis::PushKind::Message,
            data: vec![
                redis::Value::BulkString(b"ch".to_vec()),
                redis::Value::BulkString(n.to_string().into_bytes()),
            ],
        };
        Msg::from_push_info(push).expect("a message push")
    }

    /// `None`: pending; `Some(None)`: the end.
    #[allow(clippy::option_option)]
    fn next(inbox: &Inbox) -> Option<Option<usize>> {
        let waker = noop_waker();
        match inbox.poll_next(&mut Context::from_waker(&waker)) {
            Poll::Ready(m) => Some(m.map(|m| m.get_payload::<usize>().expect("a number"))),
            Poll::Pending => None,
        }
    }

    #[test]
    fn keeps_the_newest_counts_the_dropped_and_tells_once_per_run_of_drops() {
        let dropped = Arc::new(AtomicU64::new(0));
        let inbox = Inbox::new(3, dropped.clone());
        let told: Vec<_> = (0..10).filter_map(|n| inbox.push(msg(n))).collect();
        assert_eq!(told, [1], "one run of drops, told at its start");
        assert_eq!(inbox.len(), 3);
        assert_eq!(dropped.load(Ordering::Relaxed), 7);
        assert_eq!(
            (0..3).map(|_| next(&inbox)).collect::<Vec<_>>(),
            [Some(Some(7)), Some(Some(8)), Some(Some(9))]
        );
        assert_eq!(next(&inbox), None, "empty and open: pending");
        // Caught up: a new run of drops is told again, with the total.
        let told: Vec<_> = (10..15).filter_map(|n| inbox.push(msg(n))).collect();
        assert_eq!(told, [8]);
        inbox.close();
        assert_eq!(next(&inbox), Some(Some(12)));
        assert_eq!(next(&inbox), Some(Some(13)));
        assert_eq!(next(&inbox), Some(Some(14)));
        assert_eq!(next(&inbox), Some(None), "closed and drained: the end");
        assert_eq!(inbox.push(msg(99)), None);
        assert_eq!(inbox.len(), 0);
    }
}
