//! One seeded schedule: the client over three simulated members (a fourth may join), a
//! few tasks of traffic of every kind, a random sequence of faults and management calls,
//! then recovery — and the invariants checked on what happened.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastrand::Rng;
use futures_util::StreamExt;
use multidb_client::{DatabaseId, Event, MultiDbClient, MultiDbError, SwitchReason};
use multidb_testkit::{Direction, Fault, SimNet};
use redis::AsyncCommands;
use tokio::time::{Instant, timeout};

use super::world::{self, Host, PASSWORD, SECRET, SECRET_CORE};

/// No operation may take longer than this in simulated time: a slower one is a hang.
const OP_BOUND: Duration = Duration::from_secs(3);
/// Traffic with no fault, first.
const QUIET: Duration = Duration::from_millis(500);
/// How long faults and management calls go on.
const FAULT_PHASE: Duration = Duration::from_millis(2500);
/// After the last fault: time enough for probes, grace periods and a fallback.
const SETTLE: Duration = Duration::from_secs(2);
const TASKS: usize = 3;

/// What the client said of one write whose effect the harness counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Acked,
    /// The client said it may have been applied.
    Maybe,
    /// Any other error: the client says it did not run.
    NotRun,
}

/// A counted write: `INCR` of keys no other write touches, each applied at most once.
struct Counted {
    keys: Vec<String>,
    verdict: Verdict,
    what: &'static str,
    /// For a pinned transaction: the host its database is, which must hold every key.
    pinned_to: Option<usize>,
}

/// One element pushed to a list of its own and popped with `BLPOP`.
struct Popped {
    key: String,
    push: Verdict,
    /// `Acked` with the element, `NotRun` for a timeout or a refusal, `Maybe` when the
    /// client said an element may have been taken.
    pop: Verdict,
}

#[derive(Default)]
struct Record {
    counted: Vec<Counted>,
    popped: Vec<Popped>,
    /// `SET key value` of keys no other write touches, and what the client said.
    sets: Vec<(String, String, Verdict, Option<String>)>,
    /// Unique `CONFIG SET` values sent (admin commands: never to a second database).
    admin: Vec<String>,
    /// Every text the client produced: errors, events, snapshots.
    texts: Vec<String>,
    failures: Vec<String>,
    ops: u64,
}

type Shared = Rc<RefCell<Record>>;

/// The result of one schedule: `failures` lists what broke.
pub(crate) struct Outcome {
    pub(crate) failures: Vec<String>,
    /// A digest of what happened, equal for equal seeds.
    pub(crate) trace: u64,
    pub(crate) ops: u64,
}

/// Runs schedule `seed` on a fresh paused-time runtime of this thread.
pub(crate) fn run(seed: u64) -> Outcome {
    fastrand::seed(seed ^ 0x9e37_79b9_7f4a_7c15);
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer({
            let logs = Arc::clone(&logs);
            move || LogWriter(Arc::clone(&logs))
        })
        .with_ansi(false)
        .without_time()
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);
    super::panics::reset();
    let record: Shared = Rc::default();
    // The runtime, and every task on it, is gone when `paused` returns.
    let trace = world::paused(schedule(seed, Rc::clone(&record)));
    let mut record = Rc::try_unwrap(record)
        .map_err(|_| ())
        .expect("every task ended with the runtime")
        .into_inner();
    for panic in super::panics::take() {
        record.failures.push(format!("panic: {panic}"));
    }
    let logs = String::from_utf8_lossy(
        &logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned();
    if shows_secret(&logs) {
        record
            .failures
            .push("the password shows in a log line".to_owned());
    }
    for text in &record.texts {
        if shows_secret(text) {
            record
                .failures
                .push(format!("the password shows in: {text}"));
            break;
        }
    }
    Outcome {
        failures: record.failures,
        trace,
        ops: record.ops,
    }
}

/// Whether `text` shows the password, or any part of it a redaction cut short would leave.
fn shows_secret(text: &str) -> bool {
    text.contains(SECRET) || text.contains(PASSWORD) || text.contains(SECRET_CORE)
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn fail(record: &Shared, what: String) {
    record.borrow_mut().failures.push(what);
}

/// What the client said, as a verdict, keeping its text.
fn verdict<T>(record: &Shared, result: &redis::RedisResult<T>) -> Verdict {
    match result {
        Ok(_) => Verdict::Acked,
        Err(e) => {
            record.borrow_mut().texts.push(format!("{e} {e:?}"));
            match MultiDbError::from_redis(e) {
                Some(
                    MultiDbError::MayHaveBeenApplied { .. }
                    | MultiDbError::PinnedDatabaseLost { .. }
                    | MultiDbError::BlockingCommandInterrupted { .. },
                ) => Verdict::Maybe,
                _ => Verdict::NotRun,
            }
        }
    }
}

/// The world a schedule acts on.
#[derive(Clone, Copy)]
struct Sim<'a> {
    net: &'a SimNet,
    hosts: &'a [Host],
    client: &'a MultiDbClient,
    record: &'a Shared,
}

async fn schedule(seed: u64, record: Shared) -> u64 {
    let mut rng = Rng::with_seed(seed);
    let net = SimNet::new();
    let hosts = world::hosts(&net, 4).await;
    let mut weights: Vec<f64> = vec![1.0, 0.7, 0.4];
    rng.shuffle(&mut weights);
    // Its own stream, so that the schedules drawn from `rng` stay what they were.
    let stall_tolerance = [None, Some(40), Some(60), Some(125)]
        [Rng::with_seed(seed ^ 0x5747_a11d).usize(..4)]
    .map(Duration::from_millis);
    let client = MultiDbClient::new(
        world::builder(&net, &hosts[..3], &weights)
            .stall_tolerance(stall_tolerance)
            .build()
            .expect("the harness's config is valid"),
    );
    let mut events = client.events();
    if let Err(e) = client.initialize().await {
        fail(&record, format!("initialize: {e}"));
        return 0;
    }
    let mut model = Model::of(&client, &hosts, &weights);
    let Some(pubsub) = subscribe(&client, &record).await else {
        return 0;
    };
    let sim = Sim {
        net: &net,
        hosts: &hosts,
        client: &client,
        record: &record,
    };
    let stop = Rc::new(std::cell::Cell::new(false));
    let closes = rng.u8(..100) < 5;
    tokio::task::LocalSet::new()
        .run_until(async {
            let narrator = verbose().then(|| {
                let mut events = client.events();
                tokio::task::spawn_local(async move {
                    while let Ok(event) = events.recv().await {
                        narrate(&format!("{event:?}"));
                    }
                })
            });
            let workers: Vec<_> = (0..TASKS)
                .map(|task| {
                    let traffic = traffic(
                        task,
                        rng.u64(..),
                        client.clone(),
                        Rc::clone(&record),
                        Rc::clone(&stop),
                        model.hosts.clone(),
                    );
                    tokio::task::spawn_local(traffic)
                })
                .collect();
            chaos(sim, &mut rng, &mut model, &mut events, closes).await;
            if !closes {
                // Recovery: every fault ends.
                narrate("recovery");
                net.heal_all();
                for host in &hosts {
                    host.fake.recover();
                }
                let _ = client.release_forced().await;
            }
            stop.set(true);
            for worker in workers {
                let _ = worker.await;
            }
            let trace = if closes {
                drop(pubsub);
                fnv(&format!("{:?}", drain(&mut events, &record)))
            } else {
                check_recovery(sim, &mut model, &mut events, pubsub).await
            };
            narrator.inspect(tokio::task::JoinHandle::abort);
            client.close().await;
            after_close(sim).await;
            trace
        })
        .await
}

/// A subscriber to `news`, whose messages the recovery check listens for.
async fn subscribe(
    client: &MultiDbClient,
    record: &Shared,
) -> Option<(multidb_client::Subscriber, multidb_client::Messages)> {
    let mut subscriber = match client.pubsub().await {
        Ok(sub) => sub,
        Err(e) => {
            fail(record, format!("pubsub: {e}"));
            return None;
        }
    };
    if let Err(e) = subscriber.subscribe("news").await {
        fail(record, format!("subscribe: {e}"));
    }
    let messages = subscriber.on_message();
    Some((subscriber, messages))
}

/// Once every fault ended: the client settles, its events replay to its state, and every
/// counted write was applied as it said. Returns a digest of the events.
async fn check_recovery(
    sim: Sim<'_>,
    model: &mut Model,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    pubsub: (multidb_client::Subscriber, multidb_client::Messages),
) -> u64 {
    let (subscriber, mut messages) = pubsub;
    tokio::time::sleep(SETTLE).await;
    model
        .timeline
        .extend(drain(events, sim.record).into_iter().map(Step::Event));
    settled(sim, model, &mut messages).await;
    model
        .timeline
        .extend(drain(events, sim.record).into_iter().map(Step::Event));
    let trace = check_events(sim.client, model, &model.events(), sim.record);
    check_counts(sim.hosts, sim.record);
    drop((subscriber, messages));
    trace
}

/// What the harness knows the membership and weights to be.
struct Model {
    hosts: BTreeMap<DatabaseId, usize>,
    weights: BTreeMap<DatabaseId, f64>,
    /// In the order they were added: ties go to the first.
    order: Vec<DatabaseId>,
    added: Vec<DatabaseId>,
    removed: Vec<DatabaseId>,
    /// Events and the calls that choose a database, in the order they happened.
    timeline: Vec<Step>,
}

/// What happened, in order: an event, or a manual choice the client accepted.
#[derive(Debug)]
enum Step {
    Event(Event),
    Chose(DatabaseId),
    Forced,
}

impl Model {
    /// The membership the client starts with: `weights` by host.
    fn of(client: &MultiDbClient, hosts: &[Host], weights: &[f64]) -> Self {
        let ids = world::ids(client, hosts);
        let mut order: Vec<(usize, DatabaseId)> =
            ids.iter().map(|(id, host)| (*host, *id)).collect();
        order.sort_unstable();
        Model {
            weights: ids.iter().map(|(id, host)| (*id, weights[*host])).collect(),
            hosts: ids,
            added: Vec::new(),
            removed: Vec::new(),
            order: order.into_iter().map(|(_, id)| id).collect(),
            timeline: Vec::new(),
        }
    }

    /// The database a manual choice keeps active: the last `set_active_database` that
    /// succeeded, unless an automatic switch or a force came after it.
    fn chosen(&self) -> Option<DatabaseId> {
        for step in self.timeline.iter().rev() {
            match step {
                Step::Chose(id) => return Some(*id).filter(|id| self.members().contains(id)),
                Step::Forced => return None,
                Step::Event(Event::ActiveDatabaseChanged { reason, .. })
                    if *reason != SwitchReason::Manual =>
                {
                    return None;
                }
                Step::Event(_) => {}
            }
        }
        None
    }

    fn events(&self) -> Vec<Event> {
        self.timeline
            .iter()
            .filter_map(|step| match step {
                Step::Event(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }

    fn members(&self) -> Vec<DatabaseId> {
        self.order
            .iter()
            .copied()
            .filter(|id| !self.removed.contains(id))
            .collect()
    }

    fn heaviest(&self) -> Option<DatabaseId> {
        let mut best: Option<(DatabaseId, f64)> = None;
        for id in self.members() {
            let w = self.weights[&id];
            if best.is_none_or(|(_, b)| w > b) {
                best = Some((id, w));
            }
        }
        best.map(|(id, _)| id)
    }
}

/// Faults and management calls at random moments for [`FAULT_PHASE`].
async fn chaos(
    sim: Sim<'_>,
    rng: &mut Rng,
    model: &mut Model,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    closes: bool,
) {
    let Sim {
        net,
        hosts,
        client,
        record,
    } = sim;
    quiet(sim, model, events).await;
    let end = Instant::now() + FAULT_PHASE;
    let close_at = Instant::now() + FAULT_PHASE.mul_f64(rng.f64());
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(rng.u64(20..300))).await;
        if closes && Instant::now() >= close_at {
            client.close().await;
            return;
        }
        let host = &hosts[rng.usize(..3)];
        let addr = host.fake.addr();
        let members = model.members();
        let some_member = members[rng.usize(..members.len())];
        let action = rng.u8(..20);
        narrate(&format!("action {action} on {} / {some_member}", host.name));
        match action {
            0 | 1 => host.fake.inject(Fault::Down),
            // Replies slower than the response timeout.
            2 => net.set_latency(
                addr,
                Direction::FromHost,
                Duration::from_millis(rng.u64(150..900)),
            ),
            3 => host.fake.inject(Fault::Latency {
                fixed: Duration::from_millis(rng.u64(20..250)),
                jitter: Duration::from_millis(rng.u64(0..50)),
            }),
            4 => net.partition(addr, Direction::Both),
            5 => net.partition(addr, Direction::FromHost),
            // A paused server: what is sent waits and runs when it resumes. (The fake's
            // `Blackhole` discards requests instead, which no real server does: replies
            // would then pair with the wrong requests on any client.)
            6 => net.partition(addr, Direction::ToHost),
            7 => net.reset(addr),
            8 => host.fake.inject(Fault::Garbage),
            9 => host.fake.inject(Fault::ErrorReply(
                "BUSY Redis is busy running a script".into(),
            )),
            10 => net.set_latency(
                addr,
                Direction::Both,
                Duration::from_millis(rng.u64(10..200)),
            ),
            11 => host.fake.drop_connections(),
            12 => host.fake.inject(Fault::FailEveryNth(3)),
            13 | 14 => {
                // Recovery of one host, network and server.
                net.heal(addr);
                net.set_latency(addr, Direction::Both, Duration::ZERO);
                host.fake.recover();
            }
            _ => manage(sim, rng, model, events, action, some_member).await,
        }
        let snapshot = format!("{:?}", client.databases());
        record.borrow_mut().texts.push(snapshot);
    }
}

/// The first [`QUIET`] of traffic has no fault at all: no database may fail over, trip
/// its circuit or fail a health check — legitimate blocking pops included.
async fn quiet(
    sim: Sim<'_>,
    model: &mut Model,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) {
    tokio::time::sleep(QUIET).await;
    let seen = drain(events, sim.record);
    for event in &seen {
        let false_alarm = match event {
            Event::ActiveDatabaseChanged { reason, .. } => *reason != SwitchReason::Initial,
            Event::CircuitStateChanged { to, .. } => *to != multidb_client::CircuitState::Closed,
            Event::HealthChanged { healthy, .. } => !healthy,
            Event::AllDatabasesUnhealthy => true,
            _ => false,
        };
        if false_alarm {
            fail(sim.record, format!("with no fault at all: {event:?}"));
        }
    }
    model.timeline.extend(seen.into_iter().map(Step::Event));
}

/// Management call `action` (15 and up) of the schedule.
async fn manage(
    sim: Sim<'_>,
    rng: &mut Rng,
    model: &mut Model,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    action: u8,
    some_member: DatabaseId,
) {
    let Sim {
        net,
        hosts,
        client,
        record,
    } = sim;
    let members = model.members();
    match action {
        15 => {
            if model.added.is_empty() {
                let weight = [0.3, 0.8, 1.2][rng.usize(..3)];
                match client.add_database(hosts[3].config(net, weight)).await {
                    Ok(id) => {
                        model.hosts.insert(id, 3);
                        model.weights.insert(id, weight);
                        model.order.push(id);
                        model.added.push(id);
                    }
                    Err(e) => fail(record, format!("add_database: {e}")),
                }
            }
        }
        16 => {
            if members.len() > 2 {
                match client.remove_database(some_member).await {
                    Ok(()) => model.removed.push(some_member),
                    Err(e) => fail(record, format!("remove_database({some_member}): {e}")),
                }
            }
        }
        17 => {
            let weight = [0.2, 0.5, 0.9, 1.5][rng.usize(..4)];
            match client.update_database_weight(some_member, weight) {
                Ok(()) => {
                    model.weights.insert(some_member, weight);
                }
                Err(e) => fail(record, format!("update_database_weight: {e}")),
            }
        }
        18 => {
            let until = Duration::from_millis(rng.u64(50..800));
            let forced = client.force_active_database(some_member, until).await;
            model
                .timeline
                .extend(drain(events, record).into_iter().map(Step::Event));
            match forced {
                Ok(()) => model.timeline.push(Step::Forced),
                Err(e) => record.borrow_mut().texts.push(format!("{e} {e:?}")),
            }
        }
        _ => {
            let chosen = client.set_active_database(some_member).await;
            model
                .timeline
                .extend(drain(events, record).into_iter().map(Step::Event));
            match chosen {
                Ok(()) => model.timeline.push(Step::Chose(some_member)),
                Err(e) => record.borrow_mut().texts.push(format!("{e} {e:?}")),
            }
        }
    }
}

/// One task's traffic: every kind of command, each bounded by [`OP_BOUND`].
async fn traffic(
    task: usize,
    seed: u64,
    client: MultiDbClient,
    record: Shared,
    stop: Rc<std::cell::Cell<bool>>,
    hosts: BTreeMap<DatabaseId, usize>,
) {
    let mut rng = Rng::with_seed(seed);
    let mut con = client.clone();
    let mut op_number = 0u64;
    while !stop.get() {
        op_number += 1;
        let n = op_number;
        let key = |suffix: &str| format!("t{task}:{n}:{suffix}");
        let kind = rng.u8(..11);
        let op = async {
            match kind {
                0 => {
                    let (k, value) = (key("s"), n.to_string());
                    let r: redis::RedisResult<()> = con.set(&k, &value).await;
                    let v = verdict(&record, &r);
                    let error = r.err().map(|e| e.to_string());
                    record.borrow_mut().sets.push((k, value, v, error));
                }
                1 => {
                    let r: redis::RedisResult<Option<String>> = con.get(key("s")).await;
                    verdict(&record, &r);
                }
                2 | 3 => {
                    let k = key("i");
                    let r: redis::RedisResult<i64> = con.incr(&k, 1).await;
                    let v = verdict(&record, &r);
                    record.borrow_mut().counted.push(Counted {
                        keys: vec![k],
                        verdict: v,
                        what: "INCR",
                        pinned_to: None,
                    });
                }
                4 => {
                    let (first, second) = (key("pa"), key("pb"));
                    let r: redis::RedisResult<(i64, i64)> = redis::pipe()
                        .incr(&first, 1)
                        .incr(&second, 1)
                        .query_async(&mut con)
                        .await;
                    let v = verdict(&record, &r);
                    record.borrow_mut().counted.push(Counted {
                        keys: vec![first, second],
                        verdict: v,
                        what: "pipeline of INCRs",
                        pinned_to: None,
                    });
                }
                5 => pinned_transaction(&client, &record, &hosts, key("xa"), key("xb")).await,
                6 => {
                    let r: redis::RedisResult<i64> = con.publish("news", n).await;
                    verdict(&record, &r);
                }
                8 => set_nx(&mut con, &record, key("nx"), n).await,
                9 => admin(&mut con, &record, key("admin")).await,
                7 => {
                    let delay = Duration::from_millis(rng.u64(0..400));
                    push_and_pop(&mut con, &record, key("q"), n, delay).await;
                }
                _ => {
                    let r: redis::RedisResult<i64> = con.sadd(key("set"), n).await;
                    verdict(&record, &r);
                }
            }
        };
        record.borrow_mut().ops += 1;
        if timeout(OP_BOUND, op).await.is_err() {
            fail(
                &record,
                format!("task {task}: operation {kind} hung past {OP_BOUND:?}"),
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(5..60))).await;
    }
}

/// `MULTI INCR first INCR second EXEC` on a pinned connection, counted.
async fn pinned_transaction(
    client: &MultiDbClient,
    record: &Shared,
    hosts: &BTreeMap<DatabaseId, usize>,
    first: String,
    second: String,
) {
    match client.pinned().await {
        Ok(mut pinned) => {
            let host = hosts.get(&pinned.database()).copied();
            let r: redis::RedisResult<(i64, i64)> = redis::pipe()
                .atomic()
                .incr(&first, 1)
                .incr(&second, 1)
                .query_async(&mut pinned)
                .await;
            let verdict = verdict(record, &r);
            record.borrow_mut().counted.push(Counted {
                keys: vec![first, second],
                verdict,
                what: "pinned MULTI/EXEC",
                pinned_to: host,
            });
        }
        Err(e) => record.borrow_mut().texts.push(format!("{e} {e:?}")),
    }
}

/// `RPUSH key n` then `BLPOP key 0.2`, both accounted.
/// A conditional write (category Checked) on a fresh key: done, and saying so — a replay
/// would answer "not done".
async fn set_nx(con: &mut MultiDbClient, record: &Shared, key: String, n: u64) {
    let value = n.to_string();
    let r: redis::RedisResult<Option<String>> = redis::cmd("SET")
        .arg(&key)
        .arg(&value)
        .arg("NX")
        .query_async(con)
        .await;
    if matches!(r, Ok(None)) {
        fail(
            record,
            format!("SET {key} NX answered \"not done\" on a fresh key"),
        );
    }
    let verdict = verdict(record, &r);
    let error = r.err().map(|e| e.to_string());
    record.borrow_mut().sets.push((key, value, verdict, error));
}

/// An admin command, with a value of its own: never sent to a second database.
async fn admin(con: &mut MultiDbClient, record: &Shared, value: String) {
    let r: redis::RedisResult<redis::Value> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("sim-setting")
        .arg(&value)
        .query_async(con)
        .await;
    verdict(record, &r);
    record.borrow_mut().admin.push(value);
}

/// `BLPOP key 0.5` (five response timeouts) while another task `RPUSH`es the element
/// `delay` later, so the pop usually blocks; both accounted.
async fn push_and_pop(
    con: &mut MultiDbClient,
    record: &Shared,
    key: String,
    n: u64,
    delay: Duration,
) {
    let pusher = {
        let (mut con, key) = (con.clone(), key.clone());
        tokio::task::spawn_local(async move {
            tokio::time::sleep(delay).await;
            con.rpush::<_, _, i64>(&key, n).await
        })
    };
    let popped: redis::RedisResult<Option<(String, String)>> = con.blpop(&key, 0.5).await;
    let pop = match verdict(record, &popped) {
        Verdict::Acked if matches!(popped, Ok(None)) => Verdict::NotRun,
        other => other,
    };
    let pushed = match pusher.await {
        Ok(pushed) => pushed,
        Err(e) => {
            fail(record, format!("the pusher of {key} ended: {e}"));
            return;
        }
    };
    let push = verdict(record, &pushed);
    record.borrow_mut().popped.push(Popped { key, push, pop });
}

/// Once faults stopped: traffic is on the heaviest database (or the manual choice, which
/// sticks), a write goes through, and the subscriber hears a publish.
async fn settled(sim: Sim<'_>, model: &Model, messages: &mut multidb_client::Messages) {
    let Sim {
        client,
        hosts,
        record,
        ..
    } = sim;
    // A manual choice sticks until an automatic failover away from it.
    let expected = model.chosen().or_else(|| model.heaviest());
    let active = client.active_database();
    if active != expected {
        fail(
            record,
            format!(
                "after recovery the active database is {active:?}, not {expected:?} (weights {:?}; {:?}; switches {:?})",
                model.weights,
                client.databases(),
                model
                    .timeline
                    .iter()
                    .filter(|e| !matches!(
                        e,
                        Step::Event(
                            Event::CircuitStateChanged { .. }
                                | Event::HealthChanged { .. }
                                | Event::Resubscribed { .. }
                        )
                    ))
                    .collect::<Vec<_>>()
            ),
        );
    }
    let mut con = client.clone();
    let r: redis::RedisResult<i64> = con.incr("settled", 1).await;
    if let Err(e) = &r {
        fail(record, format!("a write after recovery failed: {e}"));
    } else if let Some(host) = expected.and_then(|id| model.hosts.get(&id))
        && hosts[*host].fake.string_value("settled").is_none()
    {
        fail(
            record,
            "the write after recovery did not land on the active database".to_owned(),
        );
    }
    // The subscription follows: a publish on the active database reaches it.
    let heard = timeout(OP_BOUND, async {
        loop {
            let _: redis::RedisResult<i64> = con.publish("news", "final").await;
            match timeout(Duration::from_millis(100), messages.next()).await {
                Ok(Some(msg)) if msg.get_payload_bytes() == b"final" => return,
                Ok(None) => return,
                _ => {}
            }
        }
    })
    .await;
    if heard.is_err() {
        fail(
            record,
            "the subscriber never heard a publish after recovery".to_owned(),
        );
    }
}

/// The switch events a receiver got chain up (no switch missing or duplicated) and end at
/// the active database; membership events match the calls made. Returns a digest.
fn check_events(client: &MultiDbClient, model: &Model, seen: &[Event], record: &Shared) -> u64 {
    let mut active: Option<DatabaseId> = None;
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut digest = String::new();
    for event in seen {
        let _ = write!(digest, "{event:?};");
        match *event {
            Event::ActiveDatabaseChanged { from, to, reason } => {
                if from != active {
                    fail(
                        record,
                        format!(
                            "switch to {to} ({reason:?}) says from {from:?}, but {active:?} was active"
                        ),
                    );
                }
                if Some(to) == from {
                    fail(record, format!("a switch from {to} to itself ({reason:?})"));
                }
                active = Some(to);
            }
            Event::DatabaseAdded { database } => added.push(database),
            Event::DatabaseRemoved { database } => removed.push(database),
            _ => {}
        }
    }
    if active != client.active_database() {
        fail(
            record,
            format!(
                "replaying the switch events gives {active:?}, the client says {:?}",
                client.active_database()
            ),
        );
    }
    let snapshot = client.databases();
    let flagged: Vec<DatabaseId> = snapshot.iter().filter(|d| d.active).map(|d| d.id).collect();
    if flagged != client.active_database().into_iter().collect::<Vec<_>>() {
        fail(
            record,
            format!(
                "databases() flags {flagged:?} active, active_database() says {:?}",
                client.active_database()
            ),
        );
    }
    let listed: BTreeSet<DatabaseId> = snapshot.iter().map(|d| d.id).collect();
    let expected: BTreeSet<DatabaseId> = model.members().into_iter().collect();
    if listed != expected {
        fail(
            record,
            format!("databases() lists {listed:?}, the calls made leave {expected:?}"),
        );
    }
    if added != model.added || removed != model.removed {
        fail(
            record,
            format!(
                "membership events: added {added:?} removed {removed:?}; calls: added {:?} removed {:?}",
                model.added, model.removed
            ),
        );
    }
    record.borrow_mut().texts.push(format!("{snapshot:?}"));
    fnv(&digest)
}

/// Every event received so far; a lagging receiver is a failure (events would be lost).
fn drain(events: &mut tokio::sync::broadcast::Receiver<Event>, record: &Shared) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        match events.try_recv() {
            Ok(event) => {
                record.borrow_mut().texts.push(format!("{event:?}"));
                seen.push(event);
            }
            Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                fail(record, format!("the event receiver lagged by {n}"));
            }
            Err(_) => return seen,
        }
    }
}

/// Every counted write was applied at most once; acknowledged ones exactly once, those the
/// client said did not run never; a transaction's keys together, on its pinned database.
fn check_counts(hosts: &[Host], record: &Shared) {
    let mut failures = Vec::new();
    for counted in &record.borrow().counted {
        let per_key: Vec<(i64, Vec<usize>)> = counted
            .keys
            .iter()
            .map(|k| {
                let mut total = 0;
                let mut on = Vec::new();
                for (i, host) in hosts.iter().enumerate() {
                    if let Some(v) = host.fake.string_value(k) {
                        total += String::from_utf8_lossy(&v).parse::<i64>().unwrap_or(1000);
                        on.push(i);
                    }
                }
                (total, on)
            })
            .collect();
        for (key, (applied, on)) in counted.keys.iter().zip(&per_key) {
            let ok = match counted.verdict {
                Verdict::Acked => *applied == 1,
                Verdict::Maybe => *applied <= 1,
                Verdict::NotRun => *applied == 0,
            };
            if !ok {
                failures.push(format!(
                    "{} of {key}: the client said {:?}, the servers applied it {applied} times (on {on:?})",
                    counted.what, counted.verdict
                ));
            }
            if let (Some(pinned), false) = (counted.pinned_to, on.is_empty())
                && on != &[pinned]
            {
                failures.push(format!(
                    "{} of {key} ran on {on:?}, its pinned database is host {pinned}",
                    counted.what
                ));
            }
        }
        if counted.pinned_to.is_some() && per_key.windows(2).any(|w| w[0].0 != w[1].0) {
            failures.push(format!("{} applied in part: {per_key:?}", counted.what));
        }
    }
    // A replayed SET may land anywhere, but one the client said did not run is nowhere,
    // and one it acknowledged is somewhere.
    for (key, value, said, error) in &record.borrow().sets {
        let holders = hosts
            .iter()
            .filter(|h| h.fake.string_value(key).as_deref() == Some(value.as_bytes()))
            .count();
        let ok = match said {
            Verdict::Acked => holders >= 1,
            Verdict::Maybe => true,
            Verdict::NotRun => holders == 0,
        };
        if !ok {
            failures.push(format!(
                "SET of {key}: the client said {said:?} ({error:?}), {holders} servers hold it"
            ));
        }
    }
    let logs: Vec<Vec<Vec<String>>> = hosts.iter().map(|h| h.fake.command_log()).collect();
    for value in &record.borrow().admin {
        let on: Vec<usize> = logs
            .iter()
            .enumerate()
            .filter(|(_, log)| log.iter().any(|c| c.last() == Some(value)))
            .map(|(i, _)| i)
            .collect();
        if on.len() > 1 {
            failures.push(format!("CONFIG SET {value} was sent to hosts {on:?}"));
        }
    }
    for popped in &record.borrow().popped {
        let left: usize = hosts.iter().map(|h| h.fake.list_len(&popped.key)).sum();
        // What the push left: one element, none, or either.
        let pushed = match popped.push {
            Verdict::Acked => 1..=1,
            Verdict::Maybe => 0..=1,
            Verdict::NotRun => 0..=0,
        };
        let ok = left <= 1
            && match popped.pop {
                Verdict::Acked => left == 0,
                Verdict::Maybe => left <= *pushed.end(),
                Verdict::NotRun => pushed.contains(&left),
            };
        if !ok {
            failures.push(format!(
                "BLPOP of {}: the push said {:?}, the pop {:?}, and {left} elements are left",
                popped.key, popped.push, popped.pop
            ));
        }
    }
    record.borrow_mut().failures.extend(failures);
}

/// After `close()`: commands fail at once, and no connection or task is left.
async fn after_close(sim: Sim<'_>) {
    let Sim {
        net,
        hosts,
        client,
        record,
    } = sim;
    let mut con = client.clone();
    match timeout(OP_BOUND, con.get::<_, Option<String>>("k")).await {
        Err(_) => fail(record, "a command after close() hung".to_owned()),
        Ok(Ok(_)) => fail(record, "a command after close() succeeded".to_owned()),
        Ok(Err(_)) => {}
    }
    // The network heals, so that a connection left behind would show.
    net.heal_all();
    for host in hosts {
        host.fake.recover();
    }
    let left = timeout(Duration::from_secs(1), async {
        loop {
            let open: usize = hosts.iter().map(|h| h.fake.connection_count()).sum();
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    if left.is_err() {
        let open: Vec<usize> = hosts.iter().map(|h| h.fake.connection_count()).collect();
        fail(
            record,
            format!("connections outlive close(): {open:?} per host"),
        );
    }
    for host in hosts {
        host.fake.shutdown().await;
    }
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_left = timeout(Duration::from_secs(1), async {
        while metrics.num_alive_tasks() > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    if tasks_left.is_err() {
        fail(
            record,
            format!("{} tasks outlive close()", metrics.num_alive_tasks()),
        );
    }
}

/// Whether to tell the story of a schedule (`MULTIDB_SIM_VERBOSE`), for replaying one.
fn verbose() -> bool {
    std::env::var_os("MULTIDB_SIM_VERBOSE").is_some()
}

fn narrate(what: &str) {
    if verbose() {
        let now = Instant::now();
        START.with(|start| {
            let start = *start.get_or_init(|| now);
            println!("{:>6} ms  {what}", now.duration_since(start).as_millis());
        });
    }
}

thread_local! {
    static START: std::cell::OnceCell<Instant> = const { std::cell::OnceCell::new() };
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
