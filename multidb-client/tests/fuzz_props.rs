//! Property versions of the fuzz targets in `fuzz/`, bounded for CI: arbitrary member URLs
//! and config documents, and a member that answers every request with arbitrary bytes.
//! Each case: no panic, no hang, a typed error, and no password in any text shown.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig, MultiDbError};
use multidb_testkit::fuzzing::{Decoder, Request};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Hidden in every generated password; must never show up in any error or `Debug` text.
const SECRET: &str = "Fz9-sentinel-Qx";

/// A guard against hangs: every case finishes far sooner with the timeouts below.
const GUARD: Duration = Duration::from_secs(10);

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// A member URL assembled from parts that reach the parser's branches; its password holds
/// [`SECRET`] between arbitrary userinfo characters.
fn url_with_secret() -> impl Strategy<Value = String> {
    let scheme = proptest::sample::select(vec![
        "redis",
        "REDIS",
        "rediss",
        "valkey",
        "valkeys",
        "unix",
        "redis+unix",
        "http",
        "",
        "red is",
    ]);
    // Any characters at all, the reserved ones (`/?#@:&%`) weighted in: a password is
    // whatever the operator was given.
    let any_text = || {
        proptest::collection::vec(
            prop_oneof![
                any::<char>(),
                proptest::sample::select(vec![
                    '/', '?', '#', '@', ':', '&', '%', '=', '[', ']', ' '
                ]),
            ],
            0..6,
        )
        .prop_map(|chars| chars.into_iter().collect::<String>())
    };
    let user = any_text();
    let around = any_text();
    let host = proptest::sample::select(vec![
        "127.0.0.1",
        "localhost",
        "[::1]",
        "[::1",
        "",
        "h h",
        "%zz",
        "/tmp/redis.sock",
        "ex\u{e4}mple",
    ]);
    let port = proptest::sample::select(vec!["", ":6379", ":0", ":99999", ":x", ":"]);
    let tail = proptest::sample::select(vec![
        "",
        "/0",
        "/15",
        "/x",
        "/99999999999999999999",
        "/0?protocol=resp3",
        "/0?protocol=resp9",
        "?db=x",
        "#frag",
        "/0/1",
    ]);
    // The password in the userinfo, or as redis-rs' `pass=` query parameter.
    (
        scheme,
        user,
        around.clone(),
        around,
        host,
        port,
        tail,
        any::<bool>(),
    )
        .prop_map(
            |(scheme, user, before, after, host, port, tail, in_query)| {
                if in_query {
                    let join = if tail.contains('?') { '&' } else { '?' };
                    format!("{scheme}://{host}{port}{tail}{join}pass={before}{SECRET}{after}")
                } else {
                    format!("{scheme}://{user}:{before}{SECRET}{after}@{host}{port}{tail}")
                }
            },
        )
}

fn assert_no_secret(text: &str) -> Result<(), TestCaseError> {
    prop_assert!(!text.contains(SECRET), "password shown: {text}");
    Ok(())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn arbitrary_strings_parse_or_give_a_config_error(url in "\\PC{0,40}|redis://\\PC{0,40}") {
        // The signature makes the error typed; this asserts it comes without a panic.
        match DatabaseConfig::from_url(&url) {
            Ok(db) => prop_assert!(!db.endpoint().as_str().is_empty()),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn member_urls_never_show_their_password(url in url_with_secret()) {
        match DatabaseConfig::from_url(&url) {
            Ok(db) => {
                assert_no_secret(&format!("{db:?}"))?;
                assert_no_secret(db.endpoint().as_str())?;
                let config = MultiDbConfig::builder().database(db).build();
                match config {
                    Ok(config) => assert_no_secret(&format!("{config:?}"))?,
                    Err(e) => assert_no_secret(&format!("{e} {e:?}"))?,
                }
            }
            Err(e) => assert_no_secret(&format!("{e} {e:?}"))?,
        }
    }
}

/// Any bytes as a password: raw where they are valid UTF-8, percent-encoded otherwise or
/// when asked, in the userinfo or a secret query parameter, with [`SECRET`] inside.
fn url_with_byte_password() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(any::<u8>(), 0..12),
        any::<bool>(),
        0u8..3,
        proptest::sample::select(vec!["redis", "rediss", "unix", "redis+unix", "valkey"]),
        proptest::sample::select(vec!["", "app", "a@b", "u/s", "%40"]),
        proptest::sample::select(vec!["h:1/0", "[::1]:6379", "/tmp/s.sock", "h", ""]),
    )
        .prop_map(|(bytes, encode, place, scheme, user, host)| {
            let (before, after) = bytes.split_at(bytes.len() / 2);
            let text = |part: &[u8]| match std::str::from_utf8(part) {
                Ok(s) if !encode => s.to_owned(),
                _ => part.iter().fold(String::new(), |mut out, b| {
                    let _ = write!(out, "%{b:02X}");
                    out
                }),
            };
            let password = format!("{}{SECRET}{}", text(before), text(after));
            match place {
                0 => format!("{scheme}://{user}:{password}@{host}"),
                1 => format!("{scheme}://{host}?pass={password}"),
                _ => format!("{scheme}://{host}?db=0&password={password}"),
            }
        })
}

proptest! {
    #![proptest_config(config(2048))]

    /// The twin of `fuzz/fuzz_targets/redact_url.rs`: the one redaction function alone.
    #[test]
    fn redact_url_never_shows_a_password_of_any_bytes(
        url in prop_oneof![url_with_secret(), url_with_byte_password()],
        raw in "\\PC{0,40}",
    ) {
        let _ = multidb_client::redact_url(&raw);
        assert_no_secret(&multidb_client::redact_url(&url))?;
    }

    /// The twin of `fuzz/fuzz_targets/blocking_requests.rs`.
    #[test]
    fn packed_requests_read_back_or_are_refused_with_a_client_error(
        bytes in proptest::collection::vec(
            prop_oneof![
                proptest::sample::select(b"*$\r\n0123456789+-".to_vec()),
                any::<u8>(),
            ],
            0..64,
        ),
    ) {
        use multidb_client::fuzzing::{blocking_requests, pack_requests};
        match blocking_requests(&bytes) {
            Err(e) => prop_assert_eq!(e.kind(), redis::ErrorKind::Client),
            Ok(cmds) => {
                let packed = pack_requests(&cmds);
                prop_assert_eq!(blocking_requests(&packed).ok(), Some(cmds));
            }
        }
    }
}

/// Twins of `fuzz/fuzz_targets/lag_aware_http.rs` and `bdb_json.rs`.
#[cfg(feature = "lag-aware")]
mod lag_aware {
    use super::*;
    use multidb_client::fuzzing::{ChunkedBody, bdb_uid};
    use serde_json::{Value, json};

    /// `body` framed as chunks of the given sizes (the rest in one last chunk), with
    /// chunk extensions and a trailer where asked.
    fn chunked(body: &[u8], sizes: &[usize], ext: bool, trailer: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rest = body;
        for &size in sizes.iter().chain(std::iter::once(&usize::MAX)) {
            let n = size.min(rest.len());
            if n == 0 {
                continue;
            }
            let (chunk, tail) = rest.split_at(n);
            out.extend(format!("{n:x}").bytes());
            if ext {
                out.extend(b";name=value");
            }
            out.extend(b"\r\n");
            out.extend(chunk);
            out.extend(b"\r\n");
            rest = tail;
        }
        out.extend(b"0\r\n");
        if trailer {
            out.extend(b"X-Trailer: 1\r\n");
        }
        out.extend(b"\r\n");
        out
    }

    /// JSON of any shape, the bdb list's keys and the target's host weighted in.
    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            proptest::sample::select(vec![
                "1",
                "01",
                "",
                "-1",
                "1a",
                "target.example",
                "TARGET.example",
                "10.0.0.1"
            ])
            .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec![
                            "uid",
                            "endpoints",
                            "dns_name",
                            "addr",
                            "port",
                            "x"
                        ]),
                        inner,
                    ),
                    0..5,
                )
                .prop_map(|pairs| Value::Object(
                    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    /// Every string anywhere in `value`.
    fn strings(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(config(1024))]

        /// Any body, in any chunks, delivered in any pieces, decodes back to itself.
        #[test]
        fn chunked_bodies_decode_back_whatever_the_chunks_and_pieces(
            body in proptest::collection::vec(any::<u8>(), 0..300),
            sizes in proptest::collection::vec(1usize..64, 0..8),
            ext in any::<bool>(),
            trailer in any::<bool>(),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let framed = chunked(&body, &sizes, ext, trailer);
            let mut ends: Vec<usize> = cuts.into_iter().map(|c| c.min(framed.len())).collect();
            ends.sort_unstable();
            let mut decoder = ChunkedBody::default();
            let mut got = None;
            for end in ends {
                if let Some(done) = decoder.feed(&framed[..end]).unwrap() {
                    got = Some(done);
                    break;
                }
            }
            let got = got.or_else(|| decoder.feed(&framed).unwrap());
            prop_assert_eq!(got, Some(body));
        }

        /// Any JSON: no panic; a uid found is digits only and the list names the host.
        #[test]
        fn bdb_matching_on_any_json_finds_only_digit_uids_of_listed_hosts(
            bdbs in json_value(),
            port in proptest::option::of(proptest::sample::select(vec![1u16, 12000, 6379])),
        ) {
            let host = "target.example";
            if let Ok(Some(uid)) = bdb_uid(&bdbs, &[(host.to_owned(), port)]) {
                prop_assert!(!uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()), "uid {uid:?}");
                let mut named = Vec::new();
                strings(&bdbs, &mut named);
                prop_assert!(named.iter().any(|s| s.eq_ignore_ascii_case(host)));
            }
        }

        /// A matching bdb after any number of others that cannot match is the one found.
        #[test]
        fn the_bdb_listing_the_target_is_found_among_any_others(
            others in proptest::collection::vec(json_value(), 0..6),
            at in any::<proptest::sample::Index>(),
            uid in 1u64..100_000,
            by_addr in any::<bool>(),
        ) {
            // Others never name this host (the strategy cannot spell it).
            let host = "our-db.internal";
            let endpoint = if by_addr {
                json!({"addr": ["10.9.9.9", host], "port": 12000})
            } else {
                json!({"dns_name": host.to_uppercase(), "port": 12000})
            };
            let ours = json!({"uid": uid, "endpoints": [endpoint]});
            let mut list = others;
            let at = at.index(list.len() + 1);
            list.insert(at, ours);
            let found = bdb_uid(&Value::Array(list), &[(host.to_owned(), Some(12000))]);
            prop_assert_eq!(found, Ok(Some(uid.to_string())));
        }
    }
}

#[cfg(feature = "serde")]
mod documents {
    use super::*;
    use serde_json::{Map, Value, json};

    /// A JSON value of the kinds config fields take, valid or not.
    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            proptest::sample::select(vec![
                "5s",
                "500ms",
                "0s",
                "off",
                "never",
                "-1s",
                "soon",
                "",
                "1e9h",
                "all",
                "majority",
                "any",
                "one_available",
                "none",
            ])
            .prop_map(Value::from),
            Just(json!([])),
            Just(json!({})),
        ]
    }

    const DATABASE_FIELDS: &[&str] = &[
        "weight",
        "grace_period",
        "health_check_url",
        "response_timeout",
        "connection_timeout",
        "name",
        "wieght",
    ];

    const TOP_FIELDS: &[&str] = &[
        "health_check_interval",
        "health_check_probes",
        "health_check_probes_delay",
        "health_check_timeout",
        "health_check_policy",
        "initial_health_check",
        "failover_attempts",
        "failover_delay",
        "auto_fallback_interval",
        "min_num_failures",
        "failure_rate_threshold",
        "failures_detection_window",
        "retry_attempts",
        "retry_non_idempotent",
        "replay_up_to",
        "blocking_connections",
        "unknown_knob",
    ];

    fn fields(names: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
        proptest::collection::vec((proptest::sample::select(names), value()), 0..4)
            .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    fn database() -> impl Strategy<Value = Value> {
        (url_with_secret(), fields(DATABASE_FIELDS)).prop_map(|(url, mut fields)| {
            fields.insert("url".to_owned(), Value::from(url));
            Value::Object(fields)
        })
    }

    fn document() -> impl Strategy<Value = Value> {
        (
            proptest::collection::vec(database(), 0..3),
            fields(TOP_FIELDS),
        )
            .prop_map(|(databases, mut fields)| {
                fields.insert("databases".to_owned(), Value::Array(databases));
                Value::Object(fields)
            })
    }

    proptest! {
        #![proptest_config(config(512))]

        #[test]
        fn config_documents_load_or_fail_without_showing_a_password(doc in document()) {
            let text = doc.to_string();
            let no_databases = doc["databases"].as_array().is_some_and(Vec::is_empty);
            match serde_json::from_str::<MultiDbConfig>(&text) {
                Ok(config) => {
                    prop_assert!(!no_databases, "a config without databases loaded");
                    assert_no_secret(&format!("{config:?}"))?;
                }
                Err(e) => assert_no_secret(&e.to_string())?,
            }
        }

        #[test]
        fn arbitrary_text_as_a_config_document_is_an_error_not_a_panic(text in "\\PC{0,64}") {
            // Only `{"databases":[..]}`-shaped text can load; anything else must say why.
            if let Err(e) = serde_json::from_str::<MultiDbConfig>(&text) {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// A member that answers every request it can frame with `reply` (and closes on anything
/// else): the client faces whatever bytes a broken or hostile server might send.
async fn garbage_server(reply: Vec<u8>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
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

/// Reply fragments: valid RESP2/RESP3 of every type, truncated frames and raw bytes.
fn reply() -> impl Strategy<Value = Vec<u8>> {
    let tokens = vec![
        "+PONG\r\n",
        "+OK\r\n",
        "-ERR boom\r\n",
        "-NOPROTO unsupported\r\n",
        "-WRONGPASS invalid\r\n",
        "-LOADING wait\r\n",
        ":1\r\n",
        "$4\r\nPONG\r\n",
        "$-1\r\n",
        "$99\r\n",
        "$3\r\nab",
        "*1\r\n",
        "*-1\r\n",
        "*2\r\n+a\r\n",
        "%1\r\n+proto\r\n:3\r\n",
        ">2\r\n",
        "_\r\n",
        "#t\r\n",
        ",1.5\r\n",
        ",nan\r\n",
        "(123\r\n",
        "=8\r\ntxt:PONG\r\n",
        "~1\r\n",
        "|1\r\n",
        "!3\r\nerr\r\n",
        "\r\n",
        "\n",
    ];
    let fragment = prop_oneof![
        3 => proptest::sample::select(tokens).prop_map(|t| t.as_bytes().to_vec()),
        1 => proptest::collection::vec(any::<u8>(), 0..16),
        // Deep nesting: a parser that recurses per level must not overflow its stack.
        1 => (1usize..2000).prop_map(|depth| b"*1\r\n".repeat(depth)),
    ];
    proptest::collection::vec(fragment, 0..6).prop_map(|parts| parts.concat())
}

#[derive(Debug, Clone)]
struct GarbageCase {
    reply: Vec<u8>,
    password: bool,
    resp3: bool,
}

fn garbage_case() -> impl Strategy<Value = GarbageCase> {
    (reply(), any::<bool>(), any::<bool>()).prop_map(|(reply, password, resp3)| GarbageCase {
        reply,
        password,
        resp3,
    })
}

/// One case: initialize, then a command, both bounded; returns what the application saw.
async fn face_garbage(case: GarbageCase) -> Result<(), TestCaseError> {
    let (addr, server) = garbage_server(case.reply).await;
    let auth = if case.password {
        format!(":{SECRET}@")
    } else {
        String::new()
    };
    let protocol = if case.resp3 { "?protocol=resp3" } else { "" };
    let url = format!("redis://{auth}{addr}/0{protocol}");
    let db = DatabaseConfig::from_url(&url)
        .unwrap()
        .response_timeout(Some(Duration::from_millis(100)))
        .connection_timeout(Duration::from_millis(200));
    let client = MultiDbClient::new(
        MultiDbConfig::builder()
            .database(db)
            .health_check_probes(1)
            .health_check_timeout(Duration::from_millis(300))
            .retry_attempts(1)
            .build()
            .unwrap(),
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
    let Ok((init, get)) = outcome else {
        return Err(TestCaseError::fail("initialize + GET hung"));
    };
    match init {
        Ok(()) => {}
        Err(MultiDbError::InitialHealthCheckFailed { failed, .. }) => {
            prop_assert_eq!(failed.len(), 1);
            prop_assert_eq!(failed[0].endpoint.as_str(), format!("{addr}/0"));
            prop_assert!(!failed[0].reason.is_empty());
            assert_no_secret(&format!("{failed:?}"))?;
        }
        Err(other) => prop_assert!(false, "initialize failed untyped: {other:?}"),
    }
    if let Err(e) = get {
        assert_no_secret(&format!("{e} {e:?}"))?;
    }
    Ok(())
}

#[test]
fn a_member_answering_arbitrary_bytes_gives_typed_errors_in_bounded_time() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(config(64));
    runner
        .run(&garbage_case(), |case| runtime.block_on(face_garbage(case)))
        .unwrap();
}
