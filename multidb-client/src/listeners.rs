//! Where events go: the broadcast channel behind `events()`, and the listeners given to
//! [`crate::MultiDbConfigBuilder::on_event`], called in order on a thread of their own.
//!
//! Publishing never waits for a listener: it queues the event and wakes the listeners'
//! thread, so a listener that panics, blocks or sleeps for seconds delays only the
//! listeners, never a command or a failover (the control task publishes). Switch events
//! (`ActiveDatabaseChanged`, `AllDatabasesUnhealthy`) are always queued; others beyond a
//! backlog of `event_capacity` waiting events are dropped and counted.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use crate::event::Event;

/// A listener of [`crate::MultiDbConfigBuilder::on_event`].
pub(crate) type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Every event's way out; clones share it.
#[derive(Clone)]
pub(crate) struct EventBus {
    broadcast: broadcast::Sender<Event>,
    /// `None` without listeners: nothing but the broadcast.
    listeners: Option<Arc<Closer>>,
}

impl EventBus {
    /// A bus whose broadcast keeps `capacity` events per receiver, and whose `listeners`
    /// (if any) get every event in order, at most `capacity` non-switch events waiting.
    pub(crate) fn new(capacity: usize, listeners: &[Listener]) -> Self {
        let (broadcast, _) = broadcast::channel(capacity);
        let listeners = (!listeners.is_empty())
            .then(|| Dispatch::start(listeners.to_vec(), capacity))
            .flatten()
            .map(|dispatch| Arc::new(Closer(dispatch)));
        EventBus {
            broadcast,
            listeners,
        }
    }

    /// Publishes `event` to every receiver and listener; never waits.
    pub(crate) fn send(&self, event: Event) {
        if let Some(listeners) = &self.listeners {
            listeners.0.push(event.clone());
        }
        // No receiver is fine: events are for whoever listens.
        let _ = self.broadcast.send(event);
    }

    /// A receiver of every event from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.broadcast.subscribe()
    }

    /// Events the listeners never got because their backlog was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.listeners
            .as_ref()
            .map_or(0, |l| l.0.dropped.load(Ordering::Relaxed))
    }

    /// The listeners get what was published so far, then their thread ends.
    pub(crate) fn close(&self) {
        if let Some(listeners) = &self.listeners {
            listeners.0.close();
        }
    }
}

/// Ends the listeners' thread when the last bus handle goes, closed or not.
struct Closer(Arc<Dispatch>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.close();
    }
}

struct Dispatch {
    queue: Mutex<Queue>,
    ready: Condvar,
    dropped: AtomicU64,
    backlog: usize,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    closed: bool,
}

impl Dispatch {
    /// The dispatch and its thread; `None` (logged) if no thread can be started.
    fn start(listeners: Vec<Listener>, backlog: usize) -> Option<Arc<Self>> {
        let dispatch = Arc::new(Dispatch {
            queue: Mutex::default(),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
            backlog,
        });
        let worker = Arc::clone(&dispatch);
        let started = std::thread::Builder::new()
            .name("multidb-listeners".into())
            .spawn(move || worker.run(&listeners));
        match started {
            Ok(_) => Some(dispatch),
            Err(error) => {
                tracing::warn!(%error, "no thread for the event listeners: they will not be called");
                None
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, event: Event) {
        let switch = matches!(
            event,
            Event::ActiveDatabaseChanged { .. } | Event::AllDatabasesUnhealthy
        );
        let mut queue = self.lock();
        if queue.closed {
            return;
        }
        if !switch && queue.events.len() >= self.backlog {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        queue.events.push_back(event);
        drop(queue);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Calls every listener with every event, in order, until closed and drained.
    fn run(&self, listeners: &[Listener]) {
        loop {
            let batch = {
                let mut queue = self.lock();
                while queue.events.is_empty() && !queue.closed {
                    queue = self
                        .ready
                        .wait(queue)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if queue.events.is_empty() {
                    return;
                }
                std::mem::take(&mut queue.events)
            };
            for event in &batch {
                for (i, listener) in listeners.iter().enumerate() {
                    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| listener(event))) {
                        let message = crate::event::panic_message(&*panic);
                        tracing::warn!(listener = i, message = %message, "event listener panicked; the others are called, and it is called again for the next event");
                    }
                }
            }
        }
    }
}
