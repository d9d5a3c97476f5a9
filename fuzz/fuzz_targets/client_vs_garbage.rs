//! A `MultiDbClient` whose single member is an in-process TCP server answering every
//! request with the fuzz input: `initialize()` and a command end within a bound, with
//! typed errors, without a panic and without showing the password.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig, MultiDbError};
use multidb_testkit::fuzzing::{Decoder, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SECRET: &str = "Fz9-sentinel-Qx";
/// Far above what the timeouts below allow: reaching it is a hang.
const GUARD: Duration = Duration::from_secs(10);

#[derive(Arbitrary, Debug)]
struct Input {
    password: bool,
    resp3: bool,
    reply: Vec<u8>,
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

async fn garbage_server(reply: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut socket, _)) = listener.accept().await {
            let reply = reply.clone();
            connections.spawn(async move {
                let mut decoder = Decoder::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n @ 1..) = socket.read(&mut buf).await else {
                        return;
                    };
                    decoder.extend(&buf[..n]);
                    loop {
                        match decoder.next_request() {
                            Request::Incomplete => break,
                            Request::Empty => {}
                            Request::Command(_) => {
                                if socket.write_all(&reply).await.is_err() {
                                    return;
                                }
                            }
                            Request::Error(_) => return,
                        }
                    }
                }
            });
        }
    });
    (addr, task)
}

fn no_secret(text: &str) {
    assert!(!text.contains(SECRET), "password shown: {text}");
}

fuzz_target!(|input: Input| {
    runtime().block_on(async {
        let (addr, server) = garbage_server(input.reply).await;
        let auth = if input.password {
            format!(":{SECRET}@")
        } else {
            String::new()
        };
        let protocol = if input.resp3 { "?protocol=resp3" } else { "" };
        let db = DatabaseConfig::from_url(&format!("redis://{auth}{addr}/0{protocol}"))
            .expect("a valid URL")
            .response_timeout(Some(Duration::from_millis(100)))
            .connection_timeout(Duration::from_millis(200));
        let client = MultiDbClient::new(
            MultiDbConfig::builder()
                .database(db)
                .health_check_probes(1)
                .health_check_timeout(Duration::from_millis(300))
                .retry_attempts(1)
                .build()
                .expect("a valid config"),
        );
        let run = async {
            let init = client.initialize().await;
            let mut con = client.clone();
            let get = redis::cmd("GET")
                .arg("k")
                .query_async::<Option<Vec<u8>>>(&mut con)
                .await;
            (init, get)
        };
        let outcome = tokio::time::timeout(GUARD, run).await;
        client.close().await;
        server.abort();
        let (init, get) = outcome.expect("initialize + GET hung");
        match init {
            Ok(()) => {}
            Err(MultiDbError::InitialHealthCheckFailed { failed, .. }) => {
                assert_eq!(failed.len(), 1);
                assert_eq!(failed[0].endpoint.as_str(), format!("{addr}/0"));
                no_secret(&format!("{failed:?}"));
            }
            Err(other) => panic!("initialize failed untyped: {other:?}"),
        }
        if let Err(e) = get {
            no_secret(&format!("{e} {e:?}"));
        }
    });
});
