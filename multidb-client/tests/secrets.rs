//! A password in a URL appears in no Debug, Display, event, error or log line.
#![allow(clippy::unwrap_used)]

mod common;

use common::Captured;
use multidb_client::{DatabaseConfig, MultiDbClient, MultiDbConfig};
use multidb_testkit::RedisServer;
use redis::AsyncCommands;

const SECRET: &str = "s3cret-sentinel-Zq";

/// Every trace-level log line of this thread from now on, while the guard lives.
fn trace_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// All the text the crate showed: `shown` so far, the client's and its databases'
/// `Debug`, every event it published, then — once it is closed — every log line.
async fn everything_shown(
    client: &MultiDbClient,
    mut shown: Vec<String>,
    mut events: tokio::sync::broadcast::Receiver<multidb_client::Event>,
    logs: &Captured,
) -> String {
    shown.push(format!("{client:?} {:?}", client.databases()));
    let status = client.status();
    shown.push(format!("{status:?}"));
    #[cfg(feature = "serde")]
    shown.push(serde_json::to_string(&status).unwrap());
    while let Ok(e) = events.try_recv() {
        shown.push(format!("{e:?}"));
    }
    client.close().await;
    shown.push(logs.text());
    shown.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_reaches_logs_events_errors_or_debug_output() {
    let (logs, _guard) = trace_logs();

    let mut good = RedisServer::builder().password(SECRET).start().unwrap();
    let wrong = format!("redis://:{SECRET}-wrong@127.0.0.1:{}/1", good.port());
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&good.url()).unwrap())
        .database(DatabaseConfig::from_url(&wrong).unwrap().weight(0.5))
        .build()
        .unwrap();
    let mut shown = vec![format!("{config:?}")];
    let client = MultiDbClient::new(config);
    #[cfg(feature = "lag-aware")]
    let _rest = {
        // REST credentials too: a lag-aware check with the wrong password against a fake
        // Redis Enterprise API that wants the right one; its reasons go to events and logs.
        use multidb_testkit::{BdbEndpoint, FakeRestApi};
        let api = FakeRestApi::start().await.unwrap();
        api.add_bdb(1, [BdbEndpoint::at(good.addr())]);
        api.require_basic_auth("monitor", SECRET);
        let check = multidb_client::LagAwareCheck::builder()
            .basic_auth("monitor", format!("{SECRET}-rest-wrong"))
            .allow_insecure_http(true)
            .build()
            .unwrap();
        shown.push(format!("{check:?}"));
        let rest_db = DatabaseConfig::from_url(&format!("{}/2", good.url()))
            .unwrap()
            .health_check_url(api.url());
        shown.push(format!("{rest_db:?}"));
        let rest_client = MultiDbClient::new(
            MultiDbConfig::builder()
                .database(rest_db)
                .health_check(std::sync::Arc::new(check))
                .build()
                .unwrap(),
        );
        let err = rest_client.initialize().await.unwrap_err();
        assert!(err.to_string().contains("401"), "the REST check ran: {err}");
        shown.push(format!("{err} {err:?}"));
        rest_client.close().await;
        api
    };
    let events = client.events();
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    good.kill();
    if let Err(e) = con.get::<_, Option<String>>("k").await {
        shown.push(format!("{e} {e:?}"));
    }
    if let Err(e) = client.set_active_database(client.databases()[1].id).await {
        shown.push(format!("{e} {e:?}"));
    }
    let all = everything_shown(&client, shown, events, &logs).await;
    assert!(
        all.len() > 200,
        "too little was captured to mean anything: {all}"
    );
    assert!(!all.contains(SECRET), "password leaked:\n{all}");
}

/// The distinctive part of every password below: it must never be shown, raw or encoded.
const CORE: &str = "SeCrEt9Zq";

/// Passwords with every reserved character a base64 or generated secret may hold, raw.
fn passwords() -> Vec<String> {
    [
        "/", "?", "#", "@", ":", "%", "[", "]", "&", "=", "+", " ", "%2F", "//", "@@", "\\",
    ]
    .iter()
    .map(|c| format!("Pw{c}{CORE}"))
    .collect()
}

/// Everything the crate shows for a URL given in `forms` of each password: the parse
/// error, or the `Debug` of the config made from it; and `redact_url` itself.
fn shown_for(url: &str) -> String {
    let mut shown = vec![multidb_client::redact_url(url)];
    match DatabaseConfig::from_url(url) {
        Ok(db) => {
            shown.push(format!("{db:?}"));
            if let Ok(config) = MultiDbConfig::builder().database(db).build() {
                shown.push(format!("{config:?}"));
                shown.push(format!("{:?}", MultiDbClient::new(config)));
            }
        }
        Err(e) => shown.push(format!("{e} {e:?}")),
    }
    #[cfg(feature = "cluster")]
    match DatabaseConfig::from_cluster_urls([url]) {
        Ok(db) => shown.push(format!("{db:?}")),
        Err(e) => shown.push(format!("{e} {e:?}")),
    }
    #[cfg(feature = "sentinel")]
    match DatabaseConfig::from_sentinel([url], "mymaster") {
        Ok(db) => shown.push(format!("{db:?}")),
        Err(e) => shown.push(format!("{e} {e:?}")),
    }
    shown.join("\n")
}

#[test]
fn passwords_with_reserved_characters_never_show_in_any_form() {
    let mut leaks = Vec::new();
    for pw in passwords() {
        let encoded = common::percent_encoded(&pw);
        for url in [
            format!("redis://:{pw}@127.0.0.1:6379/0"),
            format!("redis://user:{pw}@127.0.0.1:6379/0"),
            format!("rediss://:{pw}@127.0.0.1:6379"),
            format!("redis://{pw}@127.0.0.1:6379"),
            format!("redis://user:{encoded}@127.0.0.1:6379/0"),
            format!("redis://127.0.0.1:6379/0?password={pw}"),
            format!("redis://127.0.0.1:6379/0?db=1&pass={encoded}"),
            format!("unix:///tmp/redis.sock?pass={pw}"),
            format!("redis+unix:///tmp/redis.sock?db=0&password={encoded}"),
        ] {
            let shown = shown_for(&url);
            if shown.contains(CORE) {
                leaks.push(format!(
                    "{url}\n    -> {}",
                    shown.replace('\n', "\n       ")
                ));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// Percent-encoded, a password with every reserved character works, and neither its raw
/// nor its encoded form shows in logs, events, errors or `Debug`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoded_password_with_reserved_characters_connects_and_never_shows() {
    const RAW: &str = "Pw/?#@:%&=SeCrEt9Zq";
    let encoded = common::percent_encoded(RAW);
    let (logs, _guard) = trace_logs();
    let server = RedisServer::builder().password(RAW).start().unwrap();
    let good = format!("redis://:{encoded}@127.0.0.1:{}/0", server.port());
    let wrong = format!("redis://:{encoded}x@127.0.0.1:{}/1", server.port());
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&good).unwrap())
        .database(DatabaseConfig::from_url(&wrong).unwrap().weight(0.5))
        .build()
        .unwrap();
    let mut shown = vec![format!("{config:?}")];
    let client = MultiDbClient::new(config);
    let events = client.events();
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    assert_eq!(con.get::<_, String>("k").await.unwrap(), "v");
    if let Err(e) = client.set_active_database(client.databases()[1].id).await {
        shown.push(format!("{e} {e:?}"));
    }
    let all = everything_shown(&client, shown, events, &logs).await;
    assert!(
        all.contains("authentication") || all.contains("AUTH") || all.contains("WRONGPASS"),
        "the wrong password was tried: {all}"
    );
    assert!(!all.contains(CORE), "password shown:\n{all}");
}

/// The same reserved-character password, percent-encoded and wrong, in a cluster seed and
/// a Sentinel URL that reach a password-protected server: the failed connections, health
/// reasons, events and logs never show it.
#[cfg(all(feature = "cluster", feature = "sentinel"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_seed_and_sentinel_passwords_never_show_when_they_fail() {
    const RAW: &str = "Pw/?#@:%&=SeCrEt9Zq";
    let encoded = common::percent_encoded(RAW);
    let (logs, _guard) = trace_logs();
    let server = RedisServer::builder().password(RAW).start().unwrap();
    let good = format!("redis://:{encoded}@127.0.0.1:{}/0", server.port());
    let wrong = format!("redis://user:{encoded}x@127.0.0.1:{}", server.port());
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&good).unwrap())
        .database(
            DatabaseConfig::from_cluster_urls([wrong.as_str()])
                .unwrap()
                .weight(0.5),
        )
        .database(
            DatabaseConfig::from_sentinel([wrong.as_str()], "mymaster")
                .unwrap()
                .weight(0.4),
        )
        .initial_health_check(multidb_client::InitialHealthCheck::OneAvailable)
        .health_check_probes(1)
        .build()
        .unwrap();
    let mut shown = vec![format!("{config:?}")];
    let client = MultiDbClient::new(config);
    let events = client.events();
    client.initialize().await.unwrap();
    let databases = client.databases();
    assert!(databases[0].healthy);
    assert!(
        !databases[1].healthy && !databases[2].healthy,
        "the wrong password was refused: {databases:?}"
    );
    for db in &databases[1..] {
        if let Err(e) = client.set_active_database(db.id).await {
            shown.push(format!("{e} {e:?}"));
        }
    }
    let all = everything_shown(&client, shown, events, &logs).await;
    assert!(
        all.contains("WRONGPASS") || all.contains("uthentication"),
        "the wrong password was tried: {all}"
    );
    assert!(!all.contains(CORE), "password shown:\n{all}");
}
