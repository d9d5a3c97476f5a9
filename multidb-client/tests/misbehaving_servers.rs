//! The bad-server half of the bad-input matrix (the bad-config half is `bad_config.rs`):
//! each misbehaviour a member can show, and what the application sees — the member
//! reported unhealthy by `initialize()` with a recognizable reason, or a command error
//! text — never a panic, never a hang, never a password.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig, MultiDbError};
use multidb_testkit::fuzzing::{Decoder, Request};
use multidb_testkit::{FakeRedis, Fault, RedisServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The password the servers expect; never shown in any error.
const SECRET: &str = "mx-sentinel-Vb7";
/// A guard against hangs: every row ends far sooner with the timeouts in [`client_for`].
const GUARD: Duration = Duration::from_secs(10);

/// What a scripted server does with one command.
#[derive(Clone, Copy)]
enum Answer {
    Bytes(&'static [u8]),
    /// Close the connection without answering.
    Close,
}

/// A tiny server answering canned bytes per command name; `+OK` to anything unlisted
/// (e.g. `CLIENT SETINFO`). Covers what [`FakeRedis`] cannot be told to do.
async fn scripted(script: &'static [(&'static str, Answer)]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut decoder = Decoder::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = socket.read(&mut buf).await {
                    decoder.extend(&buf[..n]);
                    while let Request::Command(args) = decoder.next_request() {
                        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
                        let answer = script
                            .iter()
                            .find(|(command, _)| *command == name)
                            .map_or(Answer::Bytes(b"+OK\r\n"), |(_, answer)| *answer);
                        let Answer::Bytes(bytes) = answer else {
                            return;
                        };
                        if socket.write_all(bytes).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

/// The server side of a row.
enum Server {
    Scripted(&'static [(&'static str, Answer)]),
    Fake(Fault),
    FakeWithPassword,
    RealWithPassword,
}

/// What the application must see.
#[derive(Debug)]
enum Outcome {
    /// `initialize()` fails with `InitialHealthCheckFailed` naming the member, with a reason
    /// containing this word.
    Unhealthy(&'static str),
    /// `initialize()` succeeds; `GET` fails with an error containing this word (or one of
    /// these, `|`-separated).
    CommandError(&'static str),
}

struct Row {
    name: &'static str,
    server: Server,
    /// Appended to the member URL (`?protocol=resp3`).
    query: &'static str,
    /// Connect with a password that the server does not accept.
    wrong_password: bool,
    expect: Outcome,
}

const PONG: (&str, Answer) = ("PING", Answer::Bytes(b"+PONG\r\n"));

#[allow(clippy::too_many_lines, reason = "one table, a row per misbehaviour")]
fn rows() -> Vec<Row> {
    use Answer::{Bytes, Close};
    use Outcome::{CommandError, Unhealthy};
    let row = |name, server, expect| Row {
        name,
        server,
        query: "",
        wrong_password: false,
        expect,
    };
    vec![
        row(
            "PING answered with an integer",
            Server::Scripted(&[("PING", Bytes(b":1\r\n"))]),
            Unhealthy("expected PONG"),
        ),
        row(
            "PING answered with the wrong bulk string",
            Server::Scripted(&[("PING", Bytes(b"$4\r\nPANG\r\n"))]),
            Unhealthy("expected PONG"),
        ),
        row(
            "PING answered with nil",
            Server::Scripted(&[("PING", Bytes(b"$-1\r\n"))]),
            Unhealthy("expected PONG"),
        ),
        row(
            "PING answered -ERR",
            Server::Scripted(&[("PING", Bytes(b"-ERR ping is disabled\r\n"))]),
            Unhealthy("ping is disabled"),
        ),
        row(
            "PING answered LOADING",
            Server::Scripted(&[("PING", Bytes(b"-LOADING dataset in memory\r\n"))]),
            Unhealthy("BusyLoading"),
        ),
        row(
            "PING answered with a truncated frame",
            Server::Scripted(&[("PING", Bytes(b"$10\r\nPON"))]),
            Unhealthy("timed out"),
        ),
        row(
            "connection closed on PING",
            Server::Scripted(&[("PING", Close)]),
            Unhealthy("ping failed"),
        ),
        Row {
            query: "?protocol=resp3",
            ..row(
                "HELLO 3 refused with NOPROTO",
                Server::Scripted(&[(
                    "HELLO",
                    Bytes(b"-NOPROTO sorry, this protocol version is not supported\r\n"),
                )]),
                Unhealthy("NOPROTO"),
            )
        },
        Row {
            wrong_password: true,
            ..row(
                "AUTH refused by a fake with a password",
                Server::FakeWithPassword,
                Unhealthy("authentication failed"),
            )
        },
        Row {
            wrong_password: true,
            ..row(
                "AUTH refused by a real redis-server with a password",
                Server::RealWithPassword,
                Unhealthy("authentication failed"),
            )
        },
        row(
            "garbage bytes",
            Server::Fake(Fault::Garbage),
            Unhealthy("Parse error"),
        ),
        row(
            "connection closed at once",
            Server::Fake(Fault::ResetOnAccept),
            Unhealthy("ping failed"),
        ),
        row(
            "blackhole",
            Server::Fake(Fault::Blackhole),
            // The initial check is a full one (3 s): the 200 ms connect bound fires first.
            Unhealthy("timed out|not made within"),
        ),
        row(
            "GET answered -ERR on a healthy member",
            Server::Scripted(&[PONG, ("GET", Bytes(b"-ERR unknown command 'GET'\r\n"))]),
            CommandError("unknown command"),
        ),
        row(
            "GET answered garbage on a healthy member",
            Server::Scripted(&[PONG, ("GET", Bytes(b"\x00not resp\r\n"))]),
            CommandError("Parse error"),
        ),
        row(
            "GET never answered on a healthy member",
            Server::Scripted(&[PONG, ("GET", Bytes(b""))]),
            // The probe the timeout causes queues behind the GET and fails too: the member
            // is declared down: the retry in flight is failed, or meets its closed socket.
            CommandError("timed out|broken pipe|reset|failed while the command was in flight"),
        ),
        row(
            "connection closed on GET",
            Server::Scripted(&[PONG, ("GET", Close)]),
            // EOF shows as a broken pipe or a reset, depending on which side acts first.
            CommandError("broken pipe|reset"),
        ),
    ]
}

fn client_for(url: &str) -> MultiDbClient {
    let db = DatabaseConfig::from_url(url)
        .unwrap()
        .response_timeout(Some(Duration::from_millis(100)))
        .connection_timeout(Duration::from_millis(200));
    MultiDbClient::new(
        MultiDbConfig::builder()
            .database(db)
            .health_check_probes(1)
            .health_check_timeout(Duration::from_millis(500))
            .retry_attempts(1)
            .build()
            .unwrap(),
    )
}

/// Runs one row; `Err` says how its outcome differed.
async fn run(row: &Row) -> Result<(), String> {
    // Kept alive until the row ends.
    let mut fake = None;
    let mut real = None;
    let addr = match &row.server {
        Server::Scripted(script) => scripted(script).await,
        Server::Fake(fault) => {
            let server = FakeRedis::start().await.unwrap();
            server.inject(fault.clone());
            fake.insert(server).addr()
        }
        Server::FakeWithPassword => fake
            .insert(FakeRedis::builder().password(SECRET).start().await.unwrap())
            .addr(),
        Server::RealWithPassword => real
            .insert(RedisServer::builder().password(SECRET).start().unwrap())
            .addr(),
    };
    let auth = if row.wrong_password {
        format!(":{SECRET}-wrong@")
    } else {
        String::new()
    };
    let client = client_for(&format!("redis://{auth}{addr}/0{}", row.query));
    let attempt = async {
        let init = client.initialize().await;
        let mut con = client.clone();
        let get = redis::cmd("GET")
            .arg("k")
            .query_async::<Option<String>>(&mut con)
            .await;
        (init, get)
    };
    let outcome = tokio::time::timeout(GUARD, attempt).await;
    client.close().await;
    drop((fake, real));
    let (init, get) = outcome.map_err(|_| "hung".to_owned())?;
    let shown = format!("{init:?} {get:?}");
    if shown.contains(SECRET) {
        return Err(format!("password shown: {shown}"));
    }
    let endpoint = format!("{addr}/0");
    match (&row.expect, init) {
        (Outcome::Unhealthy(word), Err(MultiDbError::InitialHealthCheckFailed { failed, .. })) => {
            match failed.as_slice() {
                [db] if db.endpoint.as_str() == endpoint
                    && word.split('|').any(|w| db.reason.contains(w)) =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "expected {endpoint} unhealthy with {word:?}, got {failed:?}"
                )),
            }
        }
        (Outcome::CommandError(word), Ok(())) => match get {
            Err(e) if word.split('|').any(|w| e.to_string().contains(w)) => Ok(()),
            other => Err(format!("expected a GET error with {word:?}, got {other:?}")),
        },
        (expect, init) => Err(format!("expected {expect:?}, initialize gave {init:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_server_misbehaviour_has_its_outcome_and_none_panics_or_hangs() {
    let rows = rows();
    let mut report = String::new();
    let mut failures = 0;
    for row in &rows {
        let result = run(row).await;
        failures += usize::from(result.is_err());
        let verdict = result.err().unwrap_or_else(|| "ok".to_owned());
        writeln!(
            report,
            "{:<55} {:<30} {verdict}",
            row.name,
            format!("{:?}", row.expect)
        )
        .unwrap();
    }
    println!("{report}");
    assert_eq!(failures, 0, "rows with another outcome:\n{report}");
    assert!(rows.len() >= 15, "the matrix covers every misbehaviour");
}
