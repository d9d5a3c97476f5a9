//! The live status line on stderr: once a second the phase, the active member, ops/s and
//! errors so far; rewritten in place on a terminal, one plain line per second otherwise
//! (so logs of a CI run stay readable).

use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use multidb_client::MultiDbClient;
use tokio::task::JoinHandle;

use super::load::Counters;
use super::members::Member;

/// The running status line.
pub(crate) struct Progress {
    stop: tokio::sync::oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Starts printing to stderr.
pub(crate) fn spawn(
    client: MultiDbClient,
    members: Vec<Member>,
    counters: Arc<Counters>,
    phase: Arc<Mutex<&'static str>>,
) -> Progress {
    let tty = std::io::stderr().is_terminal();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        let mut last_ok = counters.ok.load(Ordering::Relaxed);
        let mut last_phase = "";
        let mut second = 0u32;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stopped => break,
            }
            let now_phase = phase.lock().map_or("", |p| *p);
            if now_phase == last_phase {
                second += 1;
            } else {
                if tty && !last_phase.is_empty() {
                    eprintln!();
                }
                last_phase = now_phase;
                second = 1;
            }
            let ok = counters.ok.load(Ordering::Relaxed);
            let errors = counters.errors.load(Ordering::Relaxed);
            let active = client.active_database();
            let active = members
                .iter()
                .find(|m| Some(m.id) == active)
                .map_or_else(|| "none".to_owned(), |m| m.name.clone());
            let line = format!(
                "[{now_phase:<14} {second:>3}s] active {active:<40} {:>8} ops/s  {errors} errors so far",
                ok - last_ok
            );
            last_ok = ok;
            let mut err = std::io::stderr().lock();
            // Progress is best effort: a closed stderr must not stop the drill.
            let _ = if tty {
                write!(err, "\r\x1b[2K{line}")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
        if tty && !last_phase.is_empty() {
            eprintln!();
        }
    });
    Progress { stop, task }
}

impl Progress {
    /// Stops the line (ending it with a newline on a terminal).
    pub(crate) async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
