//! Late application after a replay: of N `SET`s written to a stalled (`SIGSTOP`ped)
//! `redis-server`'s socket and then abandoned by the client, how many run anyway when the
//! server resumes (`SIGCONT`)? This is the window in which an Active-Active failover that
//! replays a write on another member can see the old member apply it too, later.
//!
//! Each repetition of a case: `FLUSHALL`; a raw TCP connection (no client library, nothing
//! is retried); `SIGSTOP`; N `SET late:<case>:<rep>:<i> <value>` written as RESP until
//! everything is written or the socket has accepted nothing for [`BLOCKED_AFTER`] (the
//! kernel buffers are full); close the socket; `SIGCONT`; then, on a fresh connection,
//! `DBSIZE` until it is stable and `EXISTS` over the N keys to count the late ones.
//!
//! The cases vary three things:
//! - volume: `small` (100 SETs of 16-byte values, all in the server's receive buffer) and
//!   `large` (20,000 SETs of 1 KiB values, more than the kernel buffers hold, so part is
//!   still in the client's send queue at close, and part is never accepted at all);
//! - close mode: `fin` (a normal `close()`, FIN after the send queue) and `rst`
//!   (`SO_LINGER` 0 then `close()`: RST, the send queue is discarded);
//! - connection: `pre` (opened and answered a `PING` before the stall, so the server has
//!   accepted it: the realistic case of a pooled connection) and `stall` (opened during the
//!   stall, so it waits in the listen backlog until the server resumes).
//!
//! `cargo bench --bench late_apply` runs [`REPS`] repetitions of each case and prints the
//! medians; `cargo test --benches` runs one of each so the code stays exercised.
//! Every address is 127.0.0.1 (the testkit's server). Every wait is bounded, and the server
//! is resumed on every path (see [`Paused`]); the testkit kills it on drop.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use multidb_testkit::{LaunchError, RedisServer};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout};

/// Repetitions of each case under `cargo bench`.
const REPS: usize = 5;
/// The socket counts as blocked when it has accepted nothing for this long.
const BLOCKED_AFTER: Duration = Duration::from_millis(250);
/// Bound on the whole write phase of one repetition.
const WRITE_BUDGET: Duration = Duration::from_secs(10);
/// Bound on one connect, command or read.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Between the close and `SIGCONT`: the FIN or RST reaches the server's kernel first.
const AFTER_CLOSE: Duration = Duration::from_millis(50);
/// `DBSIZE` is polled this often after `SIGCONT` ...
const POLL_EVERY: Duration = Duration::from_millis(20);
/// ... until this many reads in a row agree ...
const STABLE_READS: usize = 5;
/// ... or this long has passed.
const SETTLE_BUDGET: Duration = Duration::from_secs(10);
/// Keys per `EXISTS` when counting.
const EXISTS_CHUNK: usize = 1000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Close {
    /// Plain `close()`: FIN once the send queue has gone out.
    Fin,
    /// `SO_LINGER` 0, then `close()`: RST, unsent data discarded.
    Rst,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Conn {
    /// Connected and answered before the stall (accepted by the server).
    PreStall,
    /// Connected during the stall (still in the listen backlog).
    DuringStall,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    volume: &'static str,
    commands: usize,
    value_len: usize,
    close: Close,
    conn: Conn,
}

impl Case {
    fn name(&self) -> String {
        let close = match self.close {
            Close::Fin => "fin",
            Close::Rst => "rst",
        };
        let conn = match self.conn {
            Conn::PreStall => "pre",
            Conn::DuringStall => "stall",
        };
        format!("{}/{close}/{conn}", self.volume)
    }
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (volume, commands, value_len) in [("small", 100, 16), ("large", 20_000, 1024)] {
        for conn in [Conn::PreStall, Conn::DuringStall] {
            for close in [Close::Fin, Close::Rst] {
                cases.push(Case {
                    volume,
                    commands,
                    value_len,
                    close,
                    conn,
                });
            }
        }
    }
    cases
}

/// What one repetition saw.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// Bytes the kernel accepted from `write`.
    accepted_bytes: usize,
    /// Commands whose every byte was accepted.
    accepted_commands: usize,
    /// Keys of this repetition present after the server settled.
    applied: usize,
    /// Keys in the database that are not this repetition's (should be 0).
    strays: usize,
}

/// The server stopped with `SIGSTOP`; resumed by [`Paused::resume`] or, on every other
/// path (an error, a panic), on drop.
struct Paused<'a> {
    server: &'a RedisServer,
    active: bool,
}

impl<'a> Paused<'a> {
    fn new(server: &'a RedisServer) -> Result<Self, LaunchError> {
        if let Err(e) = server.pause() {
            // The signal may have gone out even if the state check failed.
            let _ = server.resume();
            return Err(e);
        }
        Ok(Self {
            server,
            active: true,
        })
    }

    fn resume(mut self) -> Result<(), LaunchError> {
        let result = self.server.resume();
        // On failure the drop tries once more.
        self.active = result.is_err();
        result
    }
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if self.active {
            let _ = self.server.resume();
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("{what}: timed out"))
}

/// The N commands as one RESP buffer, and where each command ends in it.
fn payload(prefix: &str, commands: usize, value_len: usize) -> (Vec<u8>, Vec<usize>) {
    let value = vec![b'v'; value_len];
    let mut buf = Vec::new();
    let mut ends = Vec::with_capacity(commands);
    for i in 0..commands {
        let key = format!("{prefix}{i}");
        buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        buf.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        buf.extend_from_slice(format!("${value_len}\r\n").as_bytes());
        buf.extend_from_slice(&value);
        buf.extend_from_slice(b"\r\n");
        ends.push(buf.len());
    }
    (buf, ends)
}

/// Writes all of `buf`, bounded: each write waits at most [`IO_TIMEOUT`] for the socket.
async fn write_all(stream: &TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        timeout(IO_TIMEOUT, stream.writable())
            .await
            .map_err(|_| timed_out("write"))??;
        match stream.try_write(buf) {
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until `expected` has arrived, bounded by [`IO_TIMEOUT`] in all.
async fn read_exact_reply(stream: &TcpStream, expected: &[u8]) -> io::Result<()> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + IO_TIMEOUT;
    let mut chunk = [0_u8; 64];
    while got.len() < expected.len() {
        timeout(
            deadline.saturating_duration_since(tokio::time::Instant::now()),
            stream.readable(),
        )
        .await
        .map_err(|_| timed_out("read"))??;
        match stream.try_read(&mut chunk) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    if got == expected {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected reply {:?}", String::from_utf8_lossy(&got)),
        ))
    }
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| timed_out("connect"))?
}

/// A connection the server has accepted and answered on, with nothing left unread (unread
/// data at close would turn a FIN into a RST).
async fn connect_answered(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = connect(addr).await?;
    write_all(&stream, b"*1\r\n$4\r\nPING\r\n").await?;
    read_exact_reply(&stream, b"+PONG\r\n").await?;
    Ok(stream)
}

/// Writes as much of `buf` as the kernel takes: until all is written, the socket has
/// accepted nothing for [`BLOCKED_AFTER`], or [`WRITE_BUDGET`] is spent. Returns the bytes
/// accepted. An error (e.g. a reset) ends the writing too.
async fn write_until_blocked(stream: &TcpStream, buf: &[u8]) -> usize {
    let deadline = Instant::now() + WRITE_BUDGET;
    let mut written = 0;
    while written < buf.len() && Instant::now() < deadline {
        match timeout(BLOCKED_AFTER, stream.writable()).await {
            Err(_) | Ok(Err(_)) => break,
            Ok(Ok(())) => {}
        }
        match stream.try_write(&buf[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    written
}

async fn query<T: redis::FromRedisValue>(
    con: &mut redis::aio::MultiplexedConnection,
    cmd: &redis::Cmd,
) -> Result<T, Box<dyn Error>> {
    Ok(timeout(IO_TIMEOUT, cmd.query_async::<T>(con))
        .await
        .map_err(|_| timed_out("redis command"))??)
}

async fn fresh_connection(
    client: &redis::Client,
) -> Result<redis::aio::MultiplexedConnection, Box<dyn Error>> {
    Ok(
        timeout(IO_TIMEOUT, client.get_multiplexed_async_connection())
            .await
            .map_err(|_| timed_out("redis connect"))??,
    )
}

/// Polls `DBSIZE` until [`STABLE_READS`] reads in a row agree (bounded), then counts this
/// repetition's keys with `EXISTS`.
async fn settle_and_count(
    client: &redis::Client,
    prefix: &str,
    commands: usize,
) -> Result<(usize, usize), Box<dyn Error>> {
    let mut con = fresh_connection(client).await?;
    let deadline = Instant::now() + SETTLE_BUDGET;
    let mut last: Option<usize> = None;
    let mut same = 0;
    let dbsize = loop {
        let size: usize = query(&mut con, &redis::cmd("DBSIZE")).await?;
        if last == Some(size) {
            same += 1;
        } else {
            same = 1;
            last = Some(size);
        }
        if same >= STABLE_READS {
            break size;
        }
        if Instant::now() >= deadline {
            eprintln!("late_apply: DBSIZE not stable after {SETTLE_BUDGET:?}, counting anyway");
            break size;
        }
        sleep(POLL_EVERY).await;
    };
    let mut applied = 0;
    let keys: Vec<String> = (0..commands).map(|i| format!("{prefix}{i}")).collect();
    for chunk in keys.chunks(EXISTS_CHUNK) {
        let n: usize = query(&mut con, redis::cmd("EXISTS").arg(chunk)).await?;
        applied += n;
    }
    Ok((applied, dbsize.saturating_sub(applied)))
}

async fn run_once(
    server: &RedisServer,
    client: &redis::Client,
    case: Case,
    rep: usize,
) -> Result<Outcome, Box<dyn Error>> {
    let prefix = format!("late:{}:{rep}:", case.name());
    let (buf, ends) = payload(&prefix, case.commands, case.value_len);
    {
        let mut con = fresh_connection(client).await?;
        let () = query(&mut con, &redis::cmd("FLUSHALL")).await?;
    }
    let pre = match case.conn {
        Conn::PreStall => Some(connect_answered(server.addr()).await?),
        Conn::DuringStall => None,
    };
    let paused = Paused::new(server)?;
    let stream = match pre {
        Some(stream) => stream,
        None => connect(server.addr()).await?,
    };
    let accepted_bytes = write_until_blocked(&stream, &buf).await;
    if case.close == Close::Rst {
        stream.set_zero_linger()?;
    }
    drop(stream);
    sleep(AFTER_CLOSE).await;
    paused.resume()?;
    let (applied, strays) = settle_and_count(client, &prefix, case.commands).await?;
    Ok(Outcome {
        accepted_bytes,
        accepted_commands: ends.partition_point(|&end| end <= accepted_bytes),
        applied,
        strays,
    })
}

fn median(mut values: Vec<usize>) -> usize {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

fn pct(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn summarize(case: Case, outcomes: &[Outcome]) -> String {
    let applied: Vec<usize> = outcomes.iter().map(|o| o.applied).collect();
    let min = applied.iter().copied().min().unwrap_or(0);
    let max = applied.iter().copied().max().unwrap_or(0);
    let applied = median(applied);
    let bytes = median(outcomes.iter().map(|o| o.accepted_bytes).collect());
    let accepted = median(outcomes.iter().map(|o| o.accepted_commands).collect());
    format!(
        "| {} | {} | {} | {} | {} | {} ({:.1} %) | {:.1} % | {min}–{max} |",
        case.name(),
        outcomes.len(),
        case.commands,
        bytes,
        accepted,
        applied,
        pct(applied, case.commands),
        pct(applied, accepted),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--list") {
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not: one repetition then.
    let reps = if has("--bench") && !has("--test") {
        REPS
    } else {
        1
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = RedisServer::start().expect("start redis-server");
    let client = redis::Client::open(server.url()).expect("redis client");

    let mut rows = Vec::new();
    for case in cases() {
        let mut outcomes = Vec::with_capacity(reps);
        for rep in 0..reps {
            match rt.block_on(run_once(&server, &client, case, rep)) {
                Ok(outcome) => {
                    if outcome.strays > 0 {
                        eprintln!(
                            "late_apply: {} rep {rep}: {} keys from earlier repetitions",
                            case.name(),
                            outcome.strays
                        );
                    }
                    outcomes.push(outcome);
                }
                Err(e) => eprintln!("late_apply: {} rep {rep} failed: {e}", case.name()),
            }
        }
        assert!(
            !outcomes.is_empty(),
            "{}: every repetition failed",
            case.name()
        );
        rows.push(summarize(case, &outcomes));
    }
    println!("late application after SIGSTOP, write, close, SIGCONT (medians)");
    println!(
        "| case (volume/close/conn) | reps | N | bytes accepted by kernel | SETs fully accepted | applied late (of N) | applied / accepted | applied min–max |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        println!("{row}");
    }
}
