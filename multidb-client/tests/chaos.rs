//! A bounded chaos soak: three real redis-server members behind fault proxies, 32 tasks of
//! mixed traffic, and a seeded random schedule of faults that always leaves one member
//! healthy. At the end, the invariants are checked and printed as a table.
//!
//! Besides the mixed traffic: every `INCR` is accounted (acknowledged, may have been
//! applied) and compared with what the members applied, and a producer `LPUSH`es numbered
//! elements that a consumer takes with `BRPOP`, each element accounted for.
//!
//! `MULTIDB_CHAOS_SECONDS` sets the fault phase length (default 20), `MULTIDB_CHAOS_SEED` the
//! seed (default: random, printed so that a failure can be replayed exactly).
//! `cargo xtask soak --seconds N` runs it for longer.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use multidb_client::{DatabaseConfig, Event, MultiDbClient, MultiDbConfig, MultiDbError};
use multidb_testkit::{FaultProxy, ProxyFault, RedisServer};
use redis::AsyncCommands;
use tokio::sync::Mutex;

/// No operation may take longer than this: a slower one counts as a hang.
const DEADLINE: Duration = Duration::from_secs(5);
const TASKS: usize = 32;
const NEWS: &str = "chaos:news";
/// Published last, to know the subscriber has caught up.
const MARKER: u64 = u64::MAX;
/// The last batch's numbers start here, far from the publisher's.
const TAIL: u64 = 1 << 40;
/// The list the producer pushes to and the consumer pops from.
const QUEUE: &str = "chaos:queue";
/// The consumer's `BRPOP` block time, in seconds; it may take this plus [`DEADLINE`].
const BRPOP_BLOCK: u64 = 1;

/// Worker `task`'s `INCR` counter.
fn counter_key(task: usize) -> String {
    format!("counter:{task}")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Set,
    Get,
    Incr,
    Pipeline,
}

#[derive(Default)]
struct Tally {
    ok: BTreeMap<Kind, u64>,
    errors: BTreeMap<(Kind, String), u64>,
    /// One message of each error kind, to tell them apart.
    examples: BTreeMap<(Kind, String), String>,
    hangs: u64,
    /// (key, when acknowledged)
    acked: Vec<(String, Instant)>,
    /// Per worker task, indexed by task: its `INCR`s on [`counter_key`] acknowledged, and
    /// those that may have been applied (`MayHaveBeenApplied`, or hung and abandoned).
    incr_acked: Vec<u64>,
    incr_maybe: Vec<u64>,
}

/// What the client said of one `LPUSH` of the producer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Push {
    Acked,
    /// `MayHaveBeenApplied`, or hung past [`DEADLINE`] and abandoned.
    Maybe,
    /// Any other error: the client says it did not run.
    NotRun,
}

/// What the blocking consumer saw.
#[derive(Default)]
struct Consumed {
    /// Elements in the order received.
    received: Vec<u64>,
    /// `BRPOP`s that timed out on the server (nil reply).
    nils: u64,
    /// `BlockingCommandInterrupted`: each may have taken one element nobody got.
    interrupted: u64,
    /// Other errors, by kind, with one message of each.
    errors: BTreeMap<String, u64>,
    examples: BTreeMap<String, String>,
    /// `BRPOP`s that did not return within `BRPOP_BLOCK` + [`DEADLINE`].
    hangs: u64,
    brpops: u64,
    longest: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Chaos {
    KillRestart,
    Pause,
    Blackhole,
    Latency,
    Reset,
}

fn error_kind(err: &redis::RedisError) -> String {
    match MultiDbError::from_redis(err) {
        Some(MultiDbError::MayHaveBeenApplied { .. }) => "may-have-been-applied".into(),
        Some(MultiDbError::TemporarilyUnavailable { .. }) => "temporarily-unavailable".into(),
        Some(MultiDbError::NoValidDatabase { .. }) => "no-valid-database".into(),
        Some(MultiDbError::BlockingCommandInterrupted { .. }) => {
            "blocking-command-interrupted".into()
        }
        Some(other) => format!("multidb: {other}"),
        None => format!("redis: {:?}", err.kind()),
    }
}

/// Errors the semantics allow: a non-idempotent command that may have been applied.
fn allowed(kind: Kind, error: &str) -> bool {
    kind == Kind::Incr && error == "may-have-been-applied"
}

async fn worker(
    client: MultiDbClient,
    task: usize,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    ops: Arc<AtomicU64>,
) {
    let mut con = client.clone();
    let mut local = Tally::default();
    let (mut incr_acked, mut incr_maybe) = (0u64, 0u64);
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let kind = match i % 4 {
            0 => Kind::Set,
            1 => Kind::Get,
            2 => Kind::Incr,
            _ => Kind::Pipeline,
        };
        let key = format!("chaos:{task}:{i}");
        let op = async {
            match kind {
                Kind::Set => con.set::<_, _, ()>(&key, i).await.map(|()| true),
                Kind::Get => con
                    .get::<_, Option<u64>>(format!("chaos:{task}:{}", i - 1))
                    .await
                    .map(|_| false),
                Kind::Incr => con
                    .incr::<_, _, i64>(counter_key(task), 1)
                    .await
                    .map(|_| false),
                Kind::Pipeline => redis::pipe()
                    .set(&key, i)
                    .ignore()
                    .get(&key)
                    .query_async::<(u64,)>(&mut con)
                    .await
                    .map(|_| true),
            }
        };
        match tokio::time::timeout(DEADLINE, op).await {
            Err(_) => {
                local.hangs += 1;
                // Abandoned in flight: it may have run.
                if kind == Kind::Incr {
                    incr_maybe += 1;
                }
            }
            Ok(Ok(wrote)) => {
                *local.ok.entry(kind).or_default() += 1;
                if wrote {
                    local.acked.push((key, Instant::now()));
                }
                if kind == Kind::Incr {
                    incr_acked += 1;
                }
            }
            Ok(Err(e)) => {
                let k = (kind, error_kind(&e));
                // Any other error says it did not run: not counted, so the member's counter
                // shows it if it did.
                if kind == Kind::Incr && k.1 == "may-have-been-applied" {
                    incr_maybe += 1;
                }
                local
                    .examples
                    .entry(k.clone())
                    .or_insert_with(|| e.to_string());
                *local.errors.entry(k).or_default() += 1;
            }
        }
        ops.fetch_add(1, Ordering::Relaxed);
    }
    let mut t = tally.lock().await;
    for (k, v) in local.ok {
        *t.ok.entry(k).or_default() += v;
    }
    for (k, v) in local.errors {
        *t.errors.entry(k).or_default() += v;
    }
    t.hangs += local.hangs;
    for (k, v) in local.examples {
        t.examples.entry(k).or_insert(v);
    }
    t.acked.extend(local.acked);
    t.incr_acked[task] = incr_acked;
    t.incr_maybe[task] = incr_maybe;
}

/// What the producer saw.
#[derive(Default)]
struct Produced {
    /// Element `n`'s outcome at index `n - 1`.
    pushes: Vec<Push>,
    /// Pushes that did not return within [`DEADLINE`].
    hangs: u64,
    /// Errors other than `MayHaveBeenApplied`, by kind, with one message of each.
    errors: BTreeMap<String, u64>,
    examples: BTreeMap<String, String>,
}

/// Pushes 1, 2, 3, … to [`QUEUE`] through the client until `stop`.
async fn producer(client: MultiDbClient, stop: Arc<AtomicBool>) -> Produced {
    let mut con = client;
    let mut done = Produced::default();
    while !stop.load(Ordering::Relaxed) {
        let n = done.pushes.len() as u64 + 1;
        let outcome = match tokio::time::timeout(DEADLINE, con.lpush::<_, _, i64>(QUEUE, n)).await {
            Ok(Ok(_)) => Push::Acked,
            Ok(Err(e)) => {
                let k = error_kind(&e);
                if k == "may-have-been-applied" {
                    Push::Maybe
                } else {
                    done.examples
                        .entry(k.clone())
                        .or_insert_with(|| e.to_string());
                    *done.errors.entry(k).or_default() += 1;
                    Push::NotRun
                }
            }
            Err(_) => {
                // Abandoned in flight: it may have run.
                done.hangs += 1;
                Push::Maybe
            }
        };
        done.pushes.push(outcome);
        // The producer's pace, not a wait for anything.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done
}

/// Takes elements from [`QUEUE`] with `BRPOP` through the client until `stop`; it never
/// abandons a `BRPOP` before the hang bound, which could drop a taken element.
async fn consumer(client: MultiDbClient, stop: Arc<AtomicBool>) -> Consumed {
    let mut con = client;
    let mut seen = Consumed::default();
    let bound = Duration::from_secs(BRPOP_BLOCK) + DEADLINE;
    while !stop.load(Ordering::Relaxed) {
        let sent = Instant::now();
        let mut brpop = redis::cmd("BRPOP");
        brpop.arg(QUEUE).arg(BRPOP_BLOCK);
        let brpop = brpop.query_async::<Option<(String, u64)>>(&mut con);
        let reply = tokio::time::timeout(bound, brpop).await;
        seen.longest = seen.longest.max(sent.elapsed());
        seen.brpops += 1;
        match reply {
            Err(_) => seen.hangs += 1,
            Ok(Ok(Some((_, n)))) => seen.received.push(n),
            Ok(Ok(None)) => seen.nils += 1,
            Ok(Err(e)) => {
                let k = error_kind(&e);
                if k == "blocking-command-interrupted" {
                    seen.interrupted += 1;
                } else {
                    seen.examples
                        .entry(k.clone())
                        .or_insert_with(|| e.to_string());
                    *seen.errors.entry(k).or_default() += 1;
                }
            }
        }
    }
    seen
}

/// What a member holds of the accounted keys: each worker's counter and the queue.
struct Holdings {
    counters: Vec<i64>,
    queue: Vec<u64>,
}

fn holdings(con: &mut redis::Connection) -> Holdings {
    let keys: Vec<String> = (0..TASKS).map(counter_key).collect();
    let counters: Vec<Option<i64>> = redis::cmd("MGET").arg(&keys).query(con).unwrap();
    Holdings {
        counters: counters
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect(),
        queue: redis::cmd("LRANGE")
            .arg(QUEUE)
            .arg(0)
            .arg(-1)
            .query(con)
            .unwrap(),
    }
}

fn direct(server: &RedisServer) -> redis::Connection {
    let con = redis::Client::open(server.url())
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap();
    con.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    con.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    con
}

/// What killing `server` is about to lose, read exactly: `CLIENT PAUSE … WRITE` first, so no
/// write (`INCR`, `LPUSH`, nor the pop of a `BRPOP`) runs between the read and the kill,
/// which ends the pause. Commands held by the pause are lost with the process: never run.
fn doomed(server: &RedisServer) -> Holdings {
    let mut con = direct(server);
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(60_000)
        .arg("WRITE")
        .query::<()>(&mut con)
        .unwrap();
    holdings(&mut con)
}

fn exists_on(server: &RedisServer, keys: &[String]) -> Vec<bool> {
    let mut con = redis::Client::open(server.url())
        .unwrap()
        .get_connection()
        .unwrap();
    keys.chunks(500)
        .flat_map(|chunk| {
            let mut pipe = redis::pipe();
            for k in chunk {
                pipe.exists(k);
            }
            pipe.query::<Vec<bool>>(&mut con).unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn chaos_soak_keeps_every_promise() {
    let seconds: u64 = std::env::var("MULTIDB_CHAOS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("MULTIDB_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("chaos soak: seed {seed} ({seconds} s); replay with MULTIDB_CHAOS_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);

    let mut servers: Vec<RedisServer> = (0..3).map(|_| RedisServer::start().unwrap()).collect();
    let mut proxies = Vec::new();
    for s in &servers {
        proxies.push(FaultProxy::start(s.addr()).await.unwrap());
    }
    let weights = [1.0, 0.8, 0.5];
    let mut builder = MultiDbConfig::builder()
        .health_check_interval(Duration::from_millis(200))
        .health_check_probes_delay(Duration::from_millis(20))
        .health_check_timeout(Duration::from_secs(1))
        .auto_fallback_interval(Some(Duration::from_millis(500)));
    for (p, w) in proxies.iter().zip(weights) {
        builder = builder.database(
            DatabaseConfig::from_url(&p.url())
                .unwrap()
                .weight(w)
                .grace_period(Duration::from_millis(500)),
        );
    }
    let baseline_tasks = common::alive_tasks();
    let client = MultiDbClient::new(builder.build().unwrap());
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();

    // A subscriber that must follow every switch, and a publisher through the client.
    let resubscriptions = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    let watcher = {
        let mut events = client.events();
        let resubscriptions = resubscriptions.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::Resubscribed { .. }) => {
                        resubscriptions.lock().unwrap().push(Instant::now());
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        panic!("the resubscription watcher lost {n} events")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    };
    let mut subscriber = client.pubsub().await.unwrap();
    subscriber.subscribe(NEWS).await.unwrap();
    let mut messages = subscriber.on_message();
    let (marker_tx, marker_rx) = tokio::sync::oneshot::channel::<()>();
    let receiver = tokio::spawn(async move {
        use futures_util::StreamExt as _;
        let mut received = std::collections::HashSet::new();
        let mut marker = Some(marker_tx);
        while let Some(msg) = messages.next().await {
            let Ok(n) = msg.get_payload::<u64>() else {
                continue;
            };
            if n == MARKER {
                if let Some(tx) = marker.take() {
                    let _ = tx.send(());
                }
            } else {
                received.insert(n);
            }
        }
        received
    });

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally {
        incr_acked: vec![0; TASKS],
        incr_maybe: vec![0; TASKS],
        ..Tally::default()
    }));
    let ops = Arc::new(AtomicU64::new(0));
    let publisher = {
        let mut con = client.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut published = Vec::new();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                // Stamped when sent: one sent before a switch may land on the old member,
                // which the semantics allow to lose.
                let sent = Instant::now();
                // PUBLISH is not idempotent: a maybe-applied one is simply not counted.
                if let Ok(Ok(receivers)) =
                    tokio::time::timeout(DEADLINE, con.publish::<_, _, i64>(NEWS, n)).await
                {
                    published.push((n, sent, receivers));
                }
                // The publisher's pace, not a wait for anything.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            published
        })
    };
    let workers: Vec<_> = (0..TASKS)
        .map(|t| {
            tokio::spawn(worker(
                client.clone(),
                t,
                stop.clone(),
                tally.clone(),
                ops.clone(),
            ))
        })
        .collect();
    let producer = tokio::spawn(producer(client.clone(), stop.clone()));
    let consumer = tokio::spawn(consumer(client.clone(), stop.clone()));

    // The fault schedule: one fault at a time on a member other than the protected one,
    // which changes every round, so at least one member is always healthy.
    let started = Instant::now();
    let mut schedule = Vec::new();
    let mut last_kill: Option<Instant> = None;
    // What each kill lost, read just before it.
    let mut killed: Vec<Holdings> = Vec::new();
    let mut round = 0;
    while started.elapsed() < Duration::from_secs(seconds) {
        round += 1;
        let protected = rng.usize(0..3);
        let victim = (protected + rng.usize(1..3)) % 3;
        let chaos = match rng.u8(0..5) {
            0 => Chaos::KillRestart,
            1 => Chaos::Pause,
            2 => Chaos::Blackhole,
            3 => Chaos::Latency,
            _ => Chaos::Reset,
        };
        let hold = Duration::from_millis(rng.u64(200..1200));
        schedule.push(format!(
            "{:>6} ms  round {round}: {chaos:?} db{} for {} ms",
            started.elapsed().as_millis(),
            victim + 1,
            hold.as_millis()
        ));
        match chaos {
            Chaos::KillRestart => {
                killed.push(doomed(&servers[victim]));
                servers[victim].kill();
                last_kill = Some(Instant::now());
                tokio::time::sleep(hold).await;
                servers[victim].restart().unwrap();
            }
            Chaos::Pause => {
                servers[victim].pause().unwrap();
                tokio::time::sleep(hold).await;
                servers[victim].resume().unwrap();
            }
            Chaos::Blackhole => {
                proxies[victim].inject(ProxyFault::Blackhole);
                tokio::time::sleep(hold).await;
                proxies[victim].recover();
                // Sockets that saw the blackhole carry half-sent requests: start afresh.
                proxies[victim].drop_connections();
            }
            Chaos::Latency => {
                proxies[victim].inject(ProxyFault::Latency {
                    fixed: Duration::from_millis(rng.u64(50..400)),
                    jitter: Duration::from_millis(50),
                });
                tokio::time::sleep(hold).await;
                proxies[victim].recover();
            }
            Chaos::Reset => {
                proxies[victim].drop_connections();
                tokio::time::sleep(hold).await;
            }
        }
        // Let the member settle before the next round (the schedule's pace, not a wait
        // for an event).
        tokio::time::sleep(Duration::from_millis(rng.u64(100..400))).await;
    }
    let faults_over = Instant::now();

    // After the faults: the client settles on the highest weight within fallback + grace
    // (plus a health-check round), awaited as an event.
    let settle_bound = Duration::from_millis(500 + 500 + 200 + 1000);
    let settled = if client.active_database() == Some(ids[0]) {
        Some(Duration::ZERO)
    } else {
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(Event::ActiveDatabaseChanged { to, .. }) if to == ids[0] => break,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if client.active_database() == Some(ids[0]) {
                            break;
                        }
                    }
                    Err(e) => panic!("events closed: {e}"),
                }
            }
        };
        tokio::time::timeout(settle_bound * 5, wait)
            .await
            .ok()
            .map(|()| faults_over.elapsed())
    };

    // A last batch once settled, so the subscriber's final leg is always tested.
    let mut tail = Vec::new();
    let mut publisher_con = client.clone();
    for k in 0..100 {
        let n = TAIL + k;
        let sent = Instant::now();
        if let Ok(receivers) = publisher_con.publish::<_, _, i64>(NEWS, n).await {
            tail.push((n, sent, receivers));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let tally = Arc::try_unwrap(tally).ok().unwrap().into_inner();
    let produced = producer.await.unwrap();
    let pushes = &produced.pushes;
    let mut published = publisher.await.unwrap();
    published.extend(tail);

    // A marker published once the subscriber is settled; messages of one connection arrive
    // in order, so when it arrives, everything published before it to that member has too.
    let mut con = client.clone();
    let marker_seen = tokio::time::timeout(common::GUARD, async {
        let mut marker_rx = marker_rx;
        loop {
            let _ = con.publish::<_, _, i64>(NEWS, MARKER).await;
            tokio::select! {
                r = &mut marker_rx => return r.is_ok(),
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    })
    .await
    .unwrap_or(false);
    drop(subscriber);
    let received = receiver.await.unwrap();
    let last_resubscription = resubscriptions.lock().unwrap().last().copied();
    let must: Vec<u64> = published
        .iter()
        .filter(|(_, at, _)| last_resubscription.is_none_or(|r| *at > r))
        .map(|(n, ..)| *n)
        .collect();
    // (message, receivers PUBLISH reported) for every one that did not arrive.
    let missing_messages: Vec<(u64, i64)> = published
        .iter()
        .filter(|(n, ..)| must.contains(n) && !received.contains(n))
        .map(|(n, _, receivers)| (*n, *receivers))
        .collect();

    // Acknowledged writes: those after the last kill must all be readable from a member;
    // earlier ones may have been on a member killed since (persistence is off by design).
    let keys: Vec<String> = tally.acked.iter().map(|(k, _)| k.clone()).collect();
    let present: Vec<Vec<bool>> = servers.iter().map(|s| exists_on(s, &keys)).collect();
    let mut missing_after_last_kill = Vec::new();
    let mut lost_to_kills = 0u64;
    for (i, (key, at)) in tally.acked.iter().enumerate() {
        if present.iter().any(|p| p[i]) {
            continue;
        }
        if last_kill.is_some_and(|k| *at <= k + Duration::from_secs(1)) {
            lost_to_kills += 1;
        } else {
            missing_after_last_kill.push(key.clone());
        }
    }

    // INCR exactly once. Every member is up again and nothing is sent any more. The members
    // do not replicate, so what was applied to a counter is its sum over them plus what the
    // kills wiped (read just before each kill, writes paused: exact; a restart loses all,
    // persistence being off). An acknowledged `INCR` ran before its reply, so it is in that
    // sum; one the client gave up on (`MayHaveBeenApplied`, or hung) may have run or not,
    // even late (from a resumed member's socket buffer), which can only lower the sum. So for
    // each counter: acked <= applied <= acked + maybe. Over it: the client ran one twice (a
    // replay) or ran one it said had not run; under it: an acknowledged one was not applied.
    let consumed = consumer.await.unwrap();
    let now: Vec<Holdings> = servers.iter().map(|s| holdings(&mut direct(s))).collect();
    let applied: Vec<i64> = (0..TASKS)
        .map(|t| {
            now.iter()
                .chain(&killed)
                .map(|h| h.counters[t])
                .sum::<i64>()
        })
        .collect();
    let applied_on_members: i64 = now.iter().flat_map(|h| &h.counters).sum();
    let applied_lost_to_kills: i64 = killed.iter().flat_map(|h| &h.counters).sum();
    let incr_acked: u64 = tally.incr_acked.iter().sum();
    let incr_maybe: u64 = tally.incr_maybe.iter().sum();
    let (mut incr_over, mut incr_under) = (Vec::new(), Vec::new());
    for (t, &applied) in applied.iter().enumerate() {
        let (acked, maybe) = (tally.incr_acked[t], tally.incr_maybe[t]);
        let applied = u64::try_from(applied).unwrap_or(u64::MAX);
        if applied > acked + maybe {
            incr_over.push((counter_key(t), acked, maybe, applied));
        }
        if applied < acked {
            incr_under.push((counter_key(t), acked, maybe, applied));
        }
    }

    // The blocking consumer. An element is in a member's list only if its LPUSH ran there,
    // and leaves it only by a pop or by that member's kill; the consumer is the only popper.
    // So every applied element is exactly one of: received; still in a list now (`left`);
    // in the list of a member when it was killed (read just before, writes paused: exact);
    // or popped by a BRPOP whose reply never reached the consumer. The client must report
    // every such BRPOP as `BlockingCommandInterrupted` (or it hung, a failure of its own);
    // each pops at most one element. Hence the checks: nothing received twice, nothing seen
    // twice across received + left + lost to kills (an LPUSH applied twice), nothing seen
    // whose LPUSH was never sent or was said not to have run, and the acknowledged
    // elements seen nowhere at most the interrupted + hung BRPOPs. What is bounded is only
    // the acknowledged ones: an element that may have been pushed and is seen nowhere either
    // never ran or was taken by an interrupted BRPOP, which the count cannot tell apart (so
    // the bound is loose by the maybe-pushes that did run and were taken that way), and an
    // interrupted BRPOP that took nothing makes room for a loss the client hid.
    let outcome = |n: u64| {
        usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| pushes.get(i).copied())
    };
    let mut sightings: BTreeMap<u64, u64> = BTreeMap::new();
    let left: Vec<u64> = now.iter().flat_map(|h| h.queue.iter().copied()).collect();
    let queue_lost_to_kills: Vec<u64> = killed
        .iter()
        .flat_map(|h| h.queue.iter().copied())
        .collect();
    for &n in consumed
        .received
        .iter()
        .chain(&left)
        .chain(&queue_lost_to_kills)
    {
        *sightings.entry(n).or_default() += 1;
    }
    let received_twice = {
        let mut once = std::collections::HashSet::new();
        consumed
            .received
            .iter()
            .filter(|n| !once.insert(**n))
            .count()
    };
    let seen_twice: Vec<u64> = sightings
        .iter()
        .filter(|(_, c)| **c > 1)
        .map(|(n, _)| *n)
        .collect();
    let phantoms: Vec<(u64, Option<Push>)> = sightings
        .keys()
        .map(|&n| (n, outcome(n)))
        .filter(|(_, o)| !matches!(o, Some(Push::Acked | Push::Maybe)))
        .collect();
    let count = |p: Push| pushes.iter().filter(|o| **o == p).count();
    let unseen = |p: Push| {
        (1..=pushes.len() as u64)
            .filter(|n| outcome(*n) == Some(p) && !sightings.contains_key(n))
            .count()
    };
    let (acked_unseen, maybe_unseen) = (unseen(Push::Acked), unseen(Push::Maybe));
    let takers = consumed.interrupted + consumed.hangs;
    let queue_ok = received_twice == 0
        && seen_twice.is_empty()
        && phantoms.is_empty()
        && acked_unseen as u64 <= takers
        && consumed.errors.is_empty()
        && produced.errors.is_empty();

    client.close().await;
    drop(events);
    // The watcher would only end with the client's last handle: stop it, but surface a
    // panic it may have had (lost events).
    watcher.abort();
    if let Err(e) = watcher.await
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
    let leftover = common::tasks_back_to(baseline_tasks).await;

    let disallowed: Vec<_> = tally
        .errors
        .iter()
        .filter(|((kind, e), _)| !allowed(*kind, e))
        .collect();
    println!("fault schedule (seed {seed}):");
    for line in &schedule {
        println!("  {line}");
    }
    println!("| invariant | observed | verdict |");
    println!("|---|---|---|");
    let total_ok: u64 = tally.ok.values().sum();
    let hangs = tally.hangs + produced.hangs + consumed.hangs;
    println!(
        "| no operation exceeded {DEADLINE:?} (a BRPOP {BRPOP_BLOCK} s more) | {} hangs in {} ops, {} LPUSH, {} BRPOP (longest {:?}) | {} |",
        hangs,
        ops.load(Ordering::Relaxed),
        pushes.len(),
        consumed.brpops,
        consumed.longest,
        verdict(hangs == 0)
    );
    println!(
        "| acknowledged writes readable afterwards | {} acked, {} missing after the last kill, {} lost to kills (expected, persistence off) | {} |",
        keys.len(),
        missing_after_last_kill.len(),
        lost_to_kills,
        verdict(missing_after_last_kill.is_empty())
    );
    println!(
        "| errors only where allowed | {} ok; errors {:?} | {} |",
        total_ok,
        tally.errors,
        verdict(disallowed.is_empty())
    );
    println!(
        "| INCR applied exactly once: acked <= applied <= acked + maybe, on each of {TASKS} counters | {incr_acked} acked, {incr_maybe} may have been applied; applied {} ({applied_on_members} on the members, {applied_lost_to_kills} lost to {} kills, read before each); {} counters over, {} under | {} |",
        applied.iter().sum::<i64>(),
        killed.len(),
        incr_over.len(),
        incr_under.len(),
        verdict(incr_over.is_empty() && incr_under.is_empty())
    );
    println!(
        "| BRPOP consumer: nothing twice, nothing unpushed, acked elements lost <= interrupted BRPOPs | {} pushed ({} acked, {} maybe, {} not run); {} received ({received_twice} twice), {} left in the lists, {} lost to kills; {} seen twice, {} never pushed; {acked_unseen} acked unseen <= {} interrupted + {} hung BRPOPs ({} nil), {maybe_unseen} maybe unseen; LPUSH errors {:?}, BRPOP errors {:?} | {} |",
        pushes.len(),
        count(Push::Acked),
        count(Push::Maybe),
        count(Push::NotRun),
        consumed.received.len(),
        left.len(),
        queue_lost_to_kills.len(),
        seen_twice.len(),
        phantoms.len(),
        consumed.interrupted,
        consumed.hangs,
        consumed.nils,
        produced.errors,
        consumed.errors,
        verdict(queue_ok)
    );
    println!(
        "| settles on the highest weight within {:?} | {:?} | {} |",
        settle_bound,
        settled,
        verdict(settled.is_some_and(|d| d <= settle_bound))
    );
    println!(
        "| subscriber got every message published after its last resubscription | {} published ({} delivered in all), {} after the last of {} resubscriptions, {} missing, final marker {} | {} |",
        published.len(),
        received.len(),
        must.len(),
        resubscriptions.lock().unwrap().len(),
        missing_messages.len(),
        if marker_seen { "seen" } else { "NOT seen" },
        verdict(marker_seen && missing_messages.is_empty())
    );
    println!(
        "| background tasks back to baseline | {leftover} alive, baseline {baseline_tasks} | {} |",
        verdict(leftover <= baseline_tasks)
    );

    assert_eq!(
        hangs, 0,
        "operations hung: {} of the workers, {} LPUSH, {} BRPOP (seed {seed})",
        tally.hangs, produced.hangs, consumed.hangs
    );
    assert!(
        incr_over.is_empty(),
        "INCRs applied more often than acknowledged + may have been applied (counter, acked, maybe, applied): {incr_over:?} (seed {seed})"
    );
    assert!(
        incr_under.is_empty(),
        "acknowledged INCRs not applied (counter, acked, maybe, applied): {incr_under:?} (seed {seed})"
    );
    assert_eq!(
        received_twice, 0,
        "the consumer received elements twice (seed {seed})"
    );
    assert!(
        seen_twice.is_empty(),
        "elements received or listed twice (pushed twice?): {:?} (seed {seed})",
        &seen_twice[..seen_twice.len().min(10)]
    );
    assert!(
        phantoms.is_empty(),
        "elements seen that were never pushed or whose push was said not to run (element, push): {:?} (seed {seed})",
        &phantoms[..phantoms.len().min(10)]
    );
    assert!(
        acked_unseen as u64 <= takers,
        "{acked_unseen} acknowledged elements lost, more than the {takers} interrupted or hung BRPOPs could have taken (seed {seed})"
    );
    assert!(
        consumed.errors.is_empty(),
        "BRPOP errors the semantics do not allow: {:?}, e.g. {:?} (seed {seed})",
        consumed.errors,
        consumed.examples
    );
    assert!(
        produced.errors.is_empty(),
        "LPUSH errors the semantics do not allow: {:?}, e.g. {:?} (seed {seed})",
        produced.errors,
        produced.examples
    );
    assert!(
        missing_after_last_kill.is_empty(),
        "acknowledged writes lost without a kill: {:?} (seed {seed})",
        &missing_after_last_kill[..missing_after_last_kill.len().min(10)]
    );
    assert!(
        disallowed.is_empty(),
        "errors the semantics do not allow: {disallowed:?}, e.g. {:?} (seed {seed})",
        tally.examples
    );
    assert!(
        settled.is_some_and(|d| d <= settle_bound),
        "did not settle on the primary in time: {settled:?} (seed {seed})"
    );
    assert!(leftover <= baseline_tasks, "tasks leaked (seed {seed})");
    assert!(
        marker_seen,
        "the subscriber never got the final marker (seed {seed})"
    );
    assert!(
        missing_messages.is_empty(),
        "messages published after the last resubscription were not delivered (message, receivers): {:?} (seed {seed})",
        &missing_messages[..missing_messages.len().min(10)]
    );
    assert!(
        total_ok > 1000,
        "too little traffic to mean anything: {total_ok}"
    );
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "FAILED" }
}
