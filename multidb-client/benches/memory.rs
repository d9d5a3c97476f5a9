//! What one more database costs a `MultiDbClient`: heap bytes and `tokio` tasks, for a
//! client over 1 and over 9 real `redis-server` members (initialized, connections made,
//! a few commands done), the difference divided by 8.
//!
//! Bytes are live heap bytes from a counting global allocator (everything the client and
//! redis-rs hold, minus what they freed), tasks are the runtime's alive tasks. Each size is
//! measured [`REPEATS`] times on a fresh client and the median kept, since background
//! probes allocate and free while we look. `cargo test --benches` measures once.
//!
//! Also: what a Pub/Sub subscriber nobody reads holds after [`FLOOD`] messages of
//! [`PAYLOAD`] bytes, against the documented bound `pubsub_buffer × (channel + payload +
//! 400)`.
#![allow(clippy::unwrap_used)]

use std::alloc::System;

use cap::Cap;
use multidb_client::MultiDbClient;
use multidb_testkit::RedisServer;
use redis::AsyncCommands;
use tokio::runtime::Runtime;

#[path = "figures/mod.rs"]
mod figures;
use figures::median;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const MEMBERS: [usize; 2] = [1, 9];
const REPEATS: usize = 7;
const KEY: &str = "bench:memory";
/// Messages published to a subscriber that never reads.
const FLOOD: usize = 1_000_000;
const PAYLOAD: usize = 64;
const CHANNEL: &str = "bench:flood";
/// The client's default `pubsub_buffer`.
const BUFFER: usize = 10_000;

/// Live bytes a subscriber that never reads holds after `sent` messages, and how many it
/// dropped.
fn flood(rt: &Runtime, url: &str, sent: usize) -> (f64, u64) {
    rt.block_on(async {
        let client = MultiDbClient::from_urls([url], [1.0]).unwrap();
        client.initialize().await.unwrap();
        let mut sub = client.pubsub().await.unwrap();
        sub.subscribe(CHANNEL).await.unwrap();
        let messages = sub.on_message();
        let before = ALLOCATOR.allocated();
        let mut publisher = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let payload = "x".repeat(PAYLOAD);
        let mut left = sent;
        while left > 0 {
            let n = left.min(10_000);
            let mut pipe = redis::pipe();
            for _ in 0..n {
                pipe.publish(CHANNEL, &payload).ignore();
            }
            pipe.query_async::<()>(&mut publisher).await.unwrap();
            left -= n;
        }
        drop(publisher);
        let dropped = sent.saturating_sub(BUFFER) as u64;
        let guard = std::time::Instant::now();
        while sub.dropped_messages() < dropped {
            assert!(
                guard.elapsed() < std::time::Duration::from_secs(60),
                "not delivered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let held = ALLOCATOR.allocated() as f64 - before as f64;
        drop(messages);
        let dropped = sub.dropped_messages();
        drop(sub);
        client.close().await;
        (held, dropped)
    })
}

/// Live bytes and alive tasks one client over `urls` holds after it is up and has served
/// commands.
fn footprint(rt: &Runtime, urls: &[String]) -> (f64, f64) {
    // Weights 1.0, 0.9, …: distinct, the first one active.
    let weights: Vec<f64> = (0..urls.len()).map(|i| 1.0 - i as f64 * 0.1).collect();
    let tasks_before = rt.metrics().num_alive_tasks();
    let bytes_before = ALLOCATOR.allocated();
    let client = rt.block_on(async {
        let client = MultiDbClient::from_urls(urls, weights).unwrap();
        client.initialize().await.unwrap();
        let mut con = client.clone();
        for _ in 0..10 {
            let _: Option<String> = con.get(KEY).await.unwrap();
        }
        client
    });
    let bytes = ALLOCATOR.allocated() as f64 - bytes_before as f64;
    let tasks = rt.metrics().num_alive_tasks() as f64 - tasks_before as f64;
    rt.block_on(client.close());
    drop(client);
    (bytes, tasks)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        return;
    }
    let repeats = if has("--bench") && !has("--test") {
        REPEATS
    } else {
        1
    };
    let servers: Vec<RedisServer> = (0..MEMBERS[1])
        .map(|_| RedisServer::start().unwrap())
        .collect();
    let urls: Vec<String> = servers.iter().map(RedisServer::url).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // The first client pays for one-time allocations (redis-rs statics, runtime buffers).
    footprint(&rt, &urls[..1]);
    let [small, large] = MEMBERS.map(|members| {
        let runs: Vec<(f64, f64)> = (0..repeats)
            .map(|_| footprint(&rt, &urls[..members]))
            .collect();
        let bytes = median(runs.iter().map(|r| r.0).collect());
        let tasks = median(runs.iter().map(|r| r.1).collect());
        println!("client over {members} member(s): {bytes:>10.0} bytes {tasks:>4.0} tasks");
        figures::record(
            "memory",
            &format!("client_{members}_members/bytes"),
            Some(bytes),
            "bytes",
            &[],
        );
        figures::record(
            "memory",
            &format!("client_{members}_members/tasks"),
            Some(tasks),
            "tasks",
            &[],
        );
        (bytes, tasks)
    });
    let added = (MEMBERS[1] - MEMBERS[0]) as f64;
    let bytes = (large.0 - small.0) / added;
    let tasks = (large.1 - small.1) / added;
    println!("per member: {bytes:.0} bytes, {tasks:.1} tasks (median of {repeats} runs each)");
    figures::record("memory", "per_member/bytes", Some(bytes), "bytes", &[]);
    figures::record("memory", "per_member/tasks", Some(tasks), "tasks", &[]);

    let sent = if repeats == 1 { 2 * BUFFER } else { FLOOD };
    let (held, dropped) = flood(&rt, &urls[0], sent);
    let bound = (BUFFER * (CHANNEL.len() + PAYLOAD + 400)) as f64;
    println!(
        "subscriber never read, {sent} messages of {PAYLOAD} B: {held:.0} bytes held \
         ({:.2} of the documented bound {bound:.0}), {dropped} dropped",
        held / bound
    );
    figures::record("memory", "pubsub_unread/bytes", Some(held), "bytes", &[]);
    figures::record(
        "memory",
        "pubsub_unread/of_bound",
        Some(held / bound),
        "ratio",
        &[],
    );
}
