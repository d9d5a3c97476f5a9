//! The Pub/Sub switch gap: what a [`Subscriber`](multidb_client::Subscriber) that follows
//! failover hears around a switch.
//!
//! Each trial: a fresh client over the pair, a subscriber on one channel, and a publisher
//! through the client at about 1,000 messages a second (a [`PERIOD`] interval; each
//! `PUBLISH` is a task of its own, so one stuck on a paused server delays no other), each
//! message its sequence number. Each `PUBLISH` is pipelined with a `GET` of the server's
//! marker key: a pipeline goes to one database, so the reply says where the message landed
//! — exactly, where reading `active_database()` around the call would only bracket it.
//! After [`WARM`] messages heard and [`SETTLE`] of load, the primary is killed or paused.
//! Once the subscriber re-subscribed on the secondary (`Event::Resubscribed`) and [`TAIL`]
//! more messages landed there, publishing stops, the last `PUBLISH`es end (the response
//! timeout bounds those stuck on a paused server), and a sentinel published on the
//! secondary must reach the subscriber within [`GUARD`]: a message that landed there before
//! it and was not heard is lost.
//!
//! Pub/Sub is at-most-once across databases: a message that landed on the old database and
//! was not heard (the subscriber had left it) is not counted as lost, nor is a `PUBLISH`
//! that failed. Per fault: messages published, lost on the new database (goal: none in any
//! trial), and the gap, from the last message heard from the old database to the first
//! from the new one.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use multidb_client::{DatabaseId, Event, Messages, MultiDbClient};
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Fault, GUARD, MARKER, SETTLE, Servers, client, figures, ms, percentile, record_stats};

/// The scenarios: name and fault on the primary.
pub(crate) const SCENARIOS: [(&str, Fault); 2] =
    [("pubsub-kill", Fault::Kill), ("pubsub-pause", Fault::Pause)];
/// Trials of each scenario.
pub(crate) const TRIALS: usize = 30;
const CHANNEL: &str = "bench:pubsub";
/// The last message, published once every other `PUBLISH` has ended.
const SENTINEL: &str = "end";
/// About 1,000 messages a second.
const PERIOD: Duration = Duration::from_millis(1);
/// Messages heard from the primary before the load settles.
const WARM: usize = 20;
/// Messages landed on the secondary after the re-subscription there, then publishing stops.
const TAIL: u64 = 100;

/// Where a `PUBLISH` landed, by the marker read in the same pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Landed {
    Old,
    New,
    Failed,
}

/// One `PUBLISH`: where it landed and how many subscribers the server gave it to.
#[derive(Clone, Copy, Debug)]
struct Sent {
    landed: Landed,
    receivers: i64,
}

const FAILED: Sent = Sent {
    landed: Landed::Failed,
    receivers: 0,
};

/// What one trial saw.
#[derive(Debug)]
struct GapTrial {
    published: usize,
    on_old: usize,
    on_new: usize,
    failed: usize,
    /// Landed on the new database, not heard.
    lost_on_new: usize,
    /// Of those, the server had no subscriber for: published before the re-subscription.
    lost_unsubscribed: usize,
    /// Landed on the old database, not heard: not a loss (at-most-once across databases).
    unheard_on_old: usize,
    /// From the last message heard from the old database to the first from the new one.
    gap: Option<Duration>,
    /// The sentinel was heard.
    drained: bool,
}

/// `PUBLISH payload` and the marker of the database that ran it: (receivers, marker).
async fn publish(con: &mut MultiDbClient, payload: &str) -> redis::RedisResult<(i64, String)> {
    redis::pipe()
        .publish(CHANNEL, payload)
        .get(MARKER)
        .query_async(con)
        .await
}

/// Whether an event so far says the subscriber re-subscribed on `database`.
fn resubscribed(events: &mut broadcast::Receiver<Event>, database: DatabaseId) -> bool {
    loop {
        match events.try_recv() {
            Ok(Event::Resubscribed { database: on, .. }) if on == database => return true,
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Publishes every [`PERIOD`] until [`TAIL`] messages landed on `secondary` after the
/// subscriber re-subscribed there, or for [`GUARD`]; message `i` is the `i`-th task.
fn start_publisher(
    client: &MultiDbClient,
    secondary: DatabaseId,
) -> JoinHandle<Vec<JoinHandle<Sent>>> {
    let client = client.clone();
    let mut events = client.events();
    tokio::spawn(async move {
        let on_new = Arc::new(AtomicU64::new(0));
        let mut tail_from = None;
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let deadline = Instant::now() + GUARD;
        let mut sent = Vec::new();
        while Instant::now() < deadline {
            if tail_from.is_none() && resubscribed(&mut events, secondary) {
                tail_from = Some(on_new.load(Ordering::Relaxed));
            }
            if tail_from.is_some_and(|from| on_new.load(Ordering::Relaxed) >= from + TAIL) {
                break;
            }
            tick.tick().await;
            let (mut con, on_new, seq) = (client.clone(), on_new.clone(), sent.len());
            sent.push(tokio::spawn(async move {
                match publish(&mut con, &seq.to_string()).await {
                    Ok((receivers, server)) => {
                        let landed = if server == "secondary" {
                            on_new.fetch_add(1, Ordering::Relaxed);
                            Landed::New
                        } else {
                            Landed::Old
                        };
                        Sent { landed, receivers }
                    }
                    Err(_) => FAILED,
                }
            }));
        }
        sent
    })
}

/// Hears the channel until the sentinel (`true`), or the stream ends or stays silent for
/// [`GUARD`] (`false`): each message's sequence number and arrival. `warm` is told after
/// [`WARM`] messages.
fn start_listener(
    mut messages: Messages,
    warm: oneshot::Sender<()>,
) -> JoinHandle<(Vec<(usize, Instant)>, bool)> {
    tokio::spawn(async move {
        let mut heard = Vec::new();
        let mut warm = Some(warm);
        while let Ok(Some(msg)) = tokio::time::timeout(GUARD, messages.next()).await {
            let at = Instant::now();
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            if payload == SENTINEL {
                return (heard, true);
            }
            if let Ok(seq) = payload.parse() {
                heard.push((seq, at));
            }
            if heard.len() >= WARM
                && let Some(warm) = warm.take()
            {
                let _ = warm.send(());
            }
        }
        (heard, false)
    })
}

/// One trial: `fault` on the primary under the publisher, then the sentinel.
fn trial(rt: &Runtime, servers: &mut Servers, fault: Fault) -> GapTrial {
    let client = client(servers, false, false);
    let (publisher, sub, listener) = rt.block_on(async {
        client.initialize().await.unwrap();
        let ids: Vec<DatabaseId> = client.databases().iter().map(|d| d.id).collect();
        assert_eq!(client.active_database(), Some(ids[0]));
        let mut sub = client.pubsub().await.expect("a subscriber on the primary");
        sub.subscribe(CHANNEL)
            .await
            .expect("subscribed on the primary");
        let (warm_tx, warm) = oneshot::channel();
        let listener = start_listener(sub.on_message(), warm_tx);
        let publisher = start_publisher(&client, ids[1]);
        tokio::time::timeout(GUARD, warm)
            .await
            .expect("the subscriber hears the primary")
            .expect("the listener runs");
        (publisher, sub, listener)
    });
    // Places the fault in the health-check schedule (see the bench's docs); the load runs.
    std::thread::sleep(SETTLE);
    servers.inject(fault, None);
    let (sent, heard, drained) = rt.block_on(async {
        let tasks = publisher.await.expect("the publisher");
        let mut sent = Vec::with_capacity(tasks.len());
        for task in tasks {
            // The response timeout ends those stuck on a paused server well before.
            let ended = tokio::time::timeout(GUARD, task).await;
            sent.push(ended.ok().and_then(Result::ok).unwrap_or(FAILED));
        }
        // Every other PUBLISH has ended: what landed on the secondary is heard before this.
        let mut con = client.clone();
        let (_, server) = publish(&mut con, SENTINEL)
            .await
            .expect("the sentinel is published");
        assert_eq!(server, "secondary", "the sentinel lands on the secondary");
        let (heard, drained) = listener.await.expect("the listener");
        (sent, heard, drained)
    });
    // Kept until the sentinel was heard or given up on.
    drop(sub);
    rt.block_on(client.close());
    servers.heal(fault);
    outcome(&sent, &heard, drained)
}

fn outcome(sent: &[Sent], heard: &[(usize, Instant)], drained: bool) -> GapTrial {
    let landed = |seq: usize| sent.get(seq).map(|s| s.landed);
    let last_old = heard
        .iter()
        .filter(|&&(seq, _)| landed(seq) == Some(Landed::Old))
        .map(|&(_, at)| at)
        .max();
    let first_new = heard
        .iter()
        .filter(|&&(seq, _)| landed(seq) == Some(Landed::New))
        .map(|&(_, at)| at)
        .min();
    let heard: HashSet<usize> = heard.iter().map(|&(seq, _)| seq).collect();
    let count = |pick: &dyn Fn(usize, &Sent) -> bool| {
        sent.iter()
            .enumerate()
            .filter(|&(seq, s)| pick(seq, s))
            .count()
    };
    let unheard = |seq: usize| !heard.contains(&seq);
    GapTrial {
        published: sent.len(),
        on_old: count(&|_, s| s.landed == Landed::Old),
        on_new: count(&|_, s| s.landed == Landed::New),
        failed: count(&|_, s| s.landed == Landed::Failed),
        lost_on_new: count(&|seq, s| s.landed == Landed::New && unheard(seq)),
        lost_unsubscribed: count(&|seq, s| {
            s.landed == Landed::New && s.receivers == 0 && unheard(seq)
        }),
        unheard_on_old: count(&|seq, s| s.landed == Landed::Old && unheard(seq)),
        gap: last_old
            .zip(first_new)
            .map(|(old, new)| new.saturating_duration_since(old)),
        drained,
    }
}

/// Runs `n` trials of the scenario and returns its table.
pub(crate) fn run(
    rt: &Runtime,
    servers: &mut Servers,
    name: &str,
    fault: Fault,
    n: usize,
) -> String {
    let trials: Vec<GapTrial> = (0..n).map(|_| trial(rt, servers, fault)).collect();
    summarize(name, fault, &trials)
}

fn summarize(name: &str, fault: Fault, trials: &[GapTrial]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== {name}: {fault:?} the active member {SETTLE:?} into a PUBLISH every {PERIOD:?}, \
         one subscriber following; {} trials, default config ===",
        trials.len()
    );
    trial_rows(&mut out, trials);
    let undrained = trials.iter().filter(|t| !t.drained).count();
    let _ = writeln!(
        out,
        "summary ({undrained} trials without the sentinel; messages that landed on the old \
         database are not counted as lost: Pub/Sub is at-most-once across databases):"
    );
    let count = |figure: &str, n: usize| {
        figures::record(
            "failover",
            &format!("{name}/{figure}"),
            Some(n as f64),
            "count",
            &[],
        );
    };
    let total = |pick: fn(&GapTrial) -> usize| trials.iter().map(pick).sum::<usize>();
    let lost_max = trials.iter().map(|t| t.lost_on_new).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "  published  total {}   on new database {}   failed {}",
        total(|t| t.published),
        total(|t| t.on_new),
        total(|t| t.failed)
    );
    let _ = writeln!(
        out,
        "  lost new   total {}   max per trial {}   trials with losses {}   (no subscriber yet {})",
        total(|t| t.lost_on_new),
        lost_max,
        trials.iter().filter(|t| t.lost_on_new > 0).count(),
        total(|t| t.lost_unsubscribed)
    );
    count("trials", trials.len());
    count("trials_without_sentinel", undrained);
    count("published", total(|t| t.published));
    count("published_on_new", total(|t| t.on_new));
    count("lost_on_new/total", total(|t| t.lost_on_new));
    count("lost_on_new/max_per_trial", lost_max);
    count("unheard_on_old/total", total(|t| t.unheard_on_old));
    let mut gaps: Vec<Duration> = trials.iter().filter_map(|t| t.gap).collect();
    gaps.sort();
    let stats = [
        ("p50", percentile(&gaps, 0.50)),
        ("p99", percentile(&gaps, 0.99)),
        ("max", gaps.last().copied()),
    ];
    let _ = writeln!(
        out,
        "  {:<10} p50 {:>8} ms   p99 {:>8} ms   max {:>8} ms",
        "gap",
        ms(stats[0].1),
        ms(stats[1].1),
        ms(stats[2].1),
    );
    record_stats(name, "gap", stats);
    let met = undrained == 0 && lost_max == 0;
    let _ = writeln!(
        out,
        "  goal no message lost on the new database in any trial: {}",
        if met { "met" } else { "MISSED" }
    );
    out
}

/// The table's head and one row per trial; "(no subscr)" are the lost messages the server
/// had no subscriber for.
fn trial_rows(out: &mut String, trials: &[GapTrial]) {
    let _ = writeln!(
        out,
        "{:>5} {:>10} {:>7} {:>7} {:>7} {:>9} {:>11} {:>11} {:>10}",
        "trial",
        "published",
        "on old",
        "on new",
        "failed",
        "lost new",
        "(no subscr)",
        "unheard old",
        "gap (ms)"
    );
    for (i, t) in trials.iter().enumerate() {
        let _ = writeln!(
            out,
            "{:>5} {:>10} {:>7} {:>7} {:>7} {:>9} {:>11} {:>11} {:>10}{}",
            i + 1,
            t.published,
            t.on_old,
            t.on_new,
            t.failed,
            t.lost_on_new,
            t.lost_unsubscribed,
            t.unheard_on_old,
            ms(t.gap),
            if t.drained {
                ""
            } else {
                "  sentinel not heard"
            }
        );
    }
}
