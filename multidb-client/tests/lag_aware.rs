//! The lag-aware health check against a fake Redis Enterprise REST API.
#![cfg(feature = "lag-aware")]
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::next_event;
use multidb_client::{
    DatabaseConfig, DatabaseId, Event, LagAwareCheck, MultiDbClient, MultiDbConfig, SwitchReason,
};
use multidb_testkit::{Availability, BdbEndpoint, FakeRedis, FakeRestApi, TlsMaterial};

const LIST: &str = "/v1/bdbs";

fn availability(uid: u64) -> String {
    format!("/v1/bdbs/{uid}/availability")
}

/// A client whose databases are `members` (Redis, REST API URL), checked by PING and by
/// `check` as an evicting check (`evict_on_lag`, so a failed probe is a failed health
/// check), one probe per check, scheduled checks an hour apart: every probe after
/// `initialize` is one the test asked for. Not initialized yet.
fn client(members: &[(&FakeRedis, String)], check: LagAwareCheck) -> MultiDbClient {
    let mut builder = MultiDbConfig::builder()
        .lag_aware_check(check)
        .evict_on_lag(true)
        .health_check_probes(1)
        .health_check_interval(Duration::from_secs(3600));
    for (i, (redis, rest)) in members.iter().enumerate() {
        builder = builder.database(
            DatabaseConfig::from_url(&redis.url())
                .unwrap()
                .health_check_url(rest.clone())
                .weight(1.0 / (i as f64 + 1.0)),
        );
    }
    MultiDbClient::new(builder.build().unwrap())
}

fn ids(client: &MultiDbClient) -> Vec<DatabaseId> {
    client.databases().iter().map(|d| d.id).collect()
}

/// Why `initialize` found the (only) database unhealthy.
async fn initial_reason(client: &MultiDbClient) -> String {
    client.initialize().await.unwrap_err().to_string()
}

/// One fresh probe of `id` (a manual switch probes afresh), as the reason it failed.
async fn probe(client: &MultiDbClient, id: DatabaseId) -> Result<(), String> {
    client
        .set_active_database(id)
        .await
        .map_err(|e| e.to_string())
}

async fn one_member(check: LagAwareCheck) -> (FakeRedis, FakeRestApi, MultiDbClient, DatabaseId) {
    let redis = FakeRedis::start().await.unwrap();
    let api = FakeRestApi::start().await.unwrap();
    api.add_bdb(1, [BdbEndpoint::at(redis.addr())]);
    let client = client(&[(&redis, api.url())], check);
    client.initialize().await.unwrap();
    let id = ids(&client)[0];
    (redis, api, client, id)
}

#[tokio::test]
async fn an_available_database_is_healthy_and_the_lag_tolerance_is_sent() {
    let (_redis, api, client, id) = one_member(LagAwareCheck::default()).await;
    probe(&client, id).await.unwrap();
    let requests = api.requests();
    assert_eq!(requests[0], "/v1/bdbs?fields=uid,endpoints");
    assert_eq!(
        requests[1],
        "/v1/bdbs/1/availability?extend_check=lag&availability_lag_tolerance_ms=5000"
    );
    client.close().await;
}

#[tokio::test]
async fn a_lagging_database_is_unhealthy_with_the_status_and_body_as_reason() {
    let check = LagAwareCheck::builder()
        .lag_tolerance(Duration::from_millis(100))
        .build()
        .unwrap();
    let (_redis, api, client, id) = one_member(check).await;
    api.set_availability(1, Availability::Lagging);
    let reason = probe(&client, id).await.unwrap_err();
    assert!(reason.contains("HTTP 503"), "{reason}");
    assert!(reason.contains("bdb_lag_exceeded"), "{reason}");
    assert!(
        api.requests()
            .iter()
            .any(|r| r.ends_with("availability_lag_tolerance_ms=100")),
        "{:?}",
        api.requests()
    );
    client.close().await;
}

#[tokio::test]
async fn without_the_lag_check_a_lagging_but_available_database_is_healthy() {
    let check = LagAwareCheck::builder().lag_check(false).build().unwrap();
    let (_redis, api, client, id) = one_member(check).await;
    api.set_availability(1, Availability::Lagging);
    probe(&client, id).await.unwrap();
    assert!(
        api.requests().contains(&availability(1)),
        "{:?}",
        api.requests()
    );
    api.set_availability(1, Availability::Unavailable);
    let reason = probe(&client, id).await.unwrap_err();
    assert!(reason.contains("bdb_unavailable"), "{reason}");
    client.close().await;
}

#[tokio::test]
async fn a_rest_api_that_is_down_makes_the_database_unhealthy() {
    let (_redis, api, client, id) = one_member(LagAwareCheck::default()).await;
    api.stop();
    let reason = probe(&client, id).await.unwrap_err();
    assert!(
        reason.contains("lag-aware") && reason.contains("connect"),
        "{reason}"
    );
    client.close().await;
}

#[tokio::test]
async fn a_database_the_rest_api_does_not_list_is_unhealthy() {
    let redis = FakeRedis::start().await.unwrap();
    let api = FakeRestApi::start().await.unwrap();
    let mut elsewhere = BdbEndpoint::at(redis.addr());
    elsewhere.port = redis.addr().port().wrapping_add(1);
    api.add_bdb(1, [elsewhere]);
    let client = client(&[(&redis, api.url())], LagAwareCheck::default());
    let reason = initial_reason(&client).await;
    assert!(
        reason.contains("no bdb has an endpoint matching"),
        "{reason}"
    );
    assert_eq!(api.request_count("/v1/bdbs/1/availability"), 0);
    client.close().await;
}

#[tokio::test]
async fn a_member_without_a_health_check_url_is_unhealthy_with_a_clear_reason() {
    let redis = FakeRedis::start().await.unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&redis.url()).unwrap())
        .health_check(Arc::new(LagAwareCheck::default()))
        .health_check_probes(1)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    let reason = initial_reason(&client).await;
    assert!(reason.contains("no health_check_url"), "{reason}");
    client.close().await;
}

#[tokio::test]
async fn the_bdb_list_is_fetched_once_across_many_checks() {
    let (_redis, api, client, id) = one_member(LagAwareCheck::default()).await;
    for _ in 0..10 {
        probe(&client, id).await.unwrap();
    }
    assert_eq!(api.request_count(LIST), 1);
    assert_eq!(
        api.request_count(&availability(1)),
        11,
        "initialize, then 10 probes"
    );
    client.close().await;
}

#[tokio::test]
async fn the_uid_is_looked_up_again_after_an_error() {
    let (_redis, api, client, id) = one_member(LagAwareCheck::default()).await;
    probe(&client, id).await.unwrap();
    api.stop();
    probe(&client, id).await.unwrap_err();
    api.restart().unwrap();
    probe(&client, id).await.unwrap();
    assert_eq!(api.request_count(LIST), 2);
    client.close().await;
}

#[tokio::test]
async fn a_recreated_database_is_found_under_its_new_uid() {
    let (redis, api, client, id) = one_member(LagAwareCheck::default()).await;
    probe(&client, id).await.unwrap();
    api.remove_bdb(1);
    api.add_bdb(2, [BdbEndpoint::at(redis.addr())]);
    let reason = probe(&client, id).await.unwrap_err();
    assert!(reason.contains("HTTP 404"), "{reason}");
    probe(&client, id).await.unwrap();
    assert_eq!(api.request_count(&availability(2)), 1);
    client.close().await;
}

#[tokio::test]
async fn wrong_credentials_are_unhealthy_without_showing_the_password() {
    let redis = FakeRedis::start().await.unwrap();
    let api = FakeRestApi::start().await.unwrap();
    api.add_bdb(1, [BdbEndpoint::at(redis.addr())]);
    api.require_basic_auth("monitor", "correct-horse");
    // The fake API speaks plain http: opted into, as the check refuses it by default.
    let wrong = LagAwareCheck::builder()
        .basic_auth("monitor", "wrong-horse")
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let client = client(&[(&redis, api.url())], wrong);
    let reason = initial_reason(&client).await;
    assert!(reason.contains("HTTP 401"), "{reason}");
    assert!(!reason.contains("horse"), "{reason}");
    client.close().await;

    let right = LagAwareCheck::builder()
        .basic_auth("monitor", "correct-horse")
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let client = self::client(&[(&redis, api.url())], right);
    client.initialize().await.unwrap();
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_of_two_databases_on_two_clusters_do_not_mix() {
    let (redis_a, redis_b) = (
        FakeRedis::start().await.unwrap(),
        FakeRedis::start().await.unwrap(),
    );
    let (api_a, api_b) = (
        FakeRestApi::start().await.unwrap(),
        FakeRestApi::start().await.unwrap(),
    );
    api_a.add_bdb(1, [BdbEndpoint::at(redis_a.addr())]);
    api_b.add_bdb(2, [BdbEndpoint::at(redis_b.addr())]);
    api_b.set_availability(2, Availability::Lagging);
    let client = client(
        &[(&redis_a, api_a.url()), (&redis_b, api_b.url())],
        LagAwareCheck::default(),
    );
    client.initialize().await.unwrap();
    let [a, b] = ids(&client)[..] else {
        panic!("two databases")
    };
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = client.clone();
        let id = if i % 2 == 0 { a } else { b };
        tasks.push(tokio::spawn(async move { (id, probe(&client, id).await) }));
    }
    for task in tasks {
        let (id, outcome) = task.await.unwrap();
        if id == a {
            outcome.unwrap();
        } else {
            assert!(outcome.unwrap_err().contains("bdb 2 answered HTTP 503"));
        }
    }
    assert!(
        api_a
            .requests()
            .iter()
            .skip(1)
            .all(|r| r.starts_with("/v1/bdbs/1/"))
    );
    assert!(api_b.requests().iter().all(|r| !r.contains("/bdbs/1/")));
    client.close().await;
}

#[tokio::test]
async fn chunked_responses_are_read() {
    let (_redis, api, client, id) = one_member(LagAwareCheck::default()).await;
    api.chunked_responses(true);
    probe(&client, id).await.unwrap();
    api.set_availability(1, Availability::Unavailable);
    let reason = probe(&client, id).await.unwrap_err();
    assert!(reason.contains("bdb_unavailable"), "{reason}");
    client.close().await;
}

#[tokio::test]
async fn https_is_verified_against_the_given_ca_and_refused_without_it() {
    let tls = TlsMaterial::generate().unwrap();
    let redis = FakeRedis::start().await.unwrap();
    let api = FakeRestApi::start_tls(&tls).await.unwrap();
    api.add_bdb(1, [BdbEndpoint::at(redis.addr())]);
    assert!(api.url().starts_with("https://"));

    let trusted = LagAwareCheck::builder()
        .root_cert_pem(tls.ca_cert_pem())
        .build()
        .unwrap();
    let client = client(&[(&redis, api.url())], trusted);
    client.initialize().await.unwrap();
    client.close().await;

    // System roots do not include the throw-away CA.
    let client = self::client(&[(&redis, api.url())], LagAwareCheck::default());
    let reason = initial_reason(&client).await;
    assert!(reason.contains("lag-aware"), "{reason}");
    assert_eq!(
        api.request_count(LIST),
        1,
        "the unverified server got no request"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_fails_over_when_the_active_database_starts_lagging() {
    let (a, b) = (
        FakeRedis::start().await.unwrap(),
        FakeRedis::start().await.unwrap(),
    );
    let api = FakeRestApi::start().await.unwrap();
    api.add_bdb(1, [BdbEndpoint::at(a.addr())]);
    api.add_bdb(2, [BdbEndpoint::at(b.addr())]);
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&a.url())
                .unwrap()
                .health_check_url(api.url()),
        )
        .database(
            DatabaseConfig::from_url(&b.url())
                .unwrap()
                .health_check_url(api.url())
                .weight(0.5),
        )
        .health_check(Arc::new(LagAwareCheck::default()))
        .health_check_probes(1)
        .health_check_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let [first, second] = ids(&client)[..] else {
        panic!("two databases")
    };
    assert_eq!(client.active_database(), Some(first));
    let mut events = client.events();

    api.set_availability(1, Availability::Lagging);
    let e = next_event(&mut events, "failover to the second database", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    let Event::ActiveDatabaseChanged { from, to, reason } = e else {
        unreachable!()
    };
    assert_eq!((from, to), (Some(first), second));
    assert_eq!(reason, SwitchReason::HealthCheckFailed);
    let mut con = client.clone();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .exec_async(&mut con)
        .await
        .unwrap();
    assert_eq!(b.keyspace_len(), 1);
    client.close().await;
}

/// Three members a (1.0), b (0.8), c (0.5), each with its own bdb; lag gates (the default).
async fn three_gated() -> (Vec<FakeRedis>, FakeRestApi, MultiDbClient, Vec<DatabaseId>) {
    let api = FakeRestApi::start().await.unwrap();
    let mut servers = Vec::new();
    let mut builder = MultiDbConfig::builder()
        .health_check_probes(1)
        .health_check_interval(Duration::from_millis(50))
        .auto_fallback_interval(None);
    for (uid, weight) in [(1, 1.0), (2, 0.8), (3, 0.5)] {
        let redis = FakeRedis::start().await.unwrap();
        api.add_bdb(uid, [BdbEndpoint::at(redis.addr())]);
        builder = builder.database(
            DatabaseConfig::from_url(&redis.url())
                .unwrap()
                .health_check_url(api.url())
                .weight(weight),
        );
        servers.push(redis);
    }
    let client = MultiDbClient::new(builder.build().unwrap());
    client.initialize().await.unwrap();
    let ids = ids(&client);
    (servers, api, client, ids)
}

/// Makes bdb `uid` (database `id`) lag and waits until the client says so.
async fn make_lag(
    api: &FakeRestApi,
    uid: u64,
    id: DatabaseId,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) {
    api.set_availability(uid, Availability::Lagging);
    next_event(
        events,
        "lagging",
        |e| matches!(e, Event::LagChanged { database, lagging: true } if *database == id),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_on_the_active_database_keeps_its_traffic() {
    let (servers, api, client, ids) = three_gated().await;
    let mut events = client.events();
    api.set_availability(1, Availability::Lagging);
    let e = next_event(
        &mut events,
        "a lagging",
        |e| matches!(e, Event::LagChanged { database, .. } if *database == ids[0]),
    )
    .await;
    assert_eq!(
        e,
        Event::LagChanged {
            database: ids[0],
            lagging: true
        }
    );
    assert_eq!(client.active_database(), Some(ids[0]));
    assert!(client.databases()[0].lagging);
    let mut con = client.clone();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async::<()>(&mut con)
        .await
        .unwrap();
    assert_eq!(
        servers[0].keyspace_len(),
        1,
        "the write went to the lagging active database"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_database_is_skipped_as_a_failover_target() {
    let (servers, api, client, ids) = three_gated().await;
    let mut events = client.events();
    make_lag(&api, 2, ids[1], &mut events).await;
    servers[0].inject(multidb_testkit::Fault::Down);
    let e = next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert!(
        matches!(e, Event::ActiveDatabaseChanged { to, .. } if to == ids[2]),
        "c, not the heavier but lagging b: {e:?}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_database_beats_no_database() {
    let (servers, api, client, ids) = three_gated().await;
    let mut events = client.events();
    make_lag(&api, 2, ids[1], &mut events).await;
    servers[2].inject(multidb_testkit::Fault::Down);
    next_event(
        &mut events,
        "c unhealthy",
        |e| matches!(e, Event::HealthChanged { database, healthy: false } if *database == ids[2]),
    )
    .await;
    servers[0].inject(multidb_testkit::Fault::Down);
    let e = next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert!(
        matches!(e, Event::ActiveDatabaseChanged { to, .. } if to == ids[1]),
        "{e:?}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_switch_to_a_lagging_database_is_refused() {
    let (_servers, api, client, ids) = three_gated().await;
    api.set_availability(2, Availability::Lagging);
    let err = client.set_active_database(ids[1]).await.unwrap_err();
    assert!(
        matches!(&err, multidb_client::MultiDbError::UnhealthyDatabase { id, reason, .. } if *id == ids[1] && reason.contains("lagging")),
        "{err}"
    );
    assert_eq!(client.active_database(), Some(ids[0]));
    client.close().await;
}

#[tokio::test]
async fn credentials_are_never_sent_over_plain_http_unless_allowed() {
    let redis = FakeRedis::start().await.unwrap();
    let api = FakeRestApi::start().await.unwrap();
    api.add_bdb(1, [BdbEndpoint::at(redis.addr())]);
    api.require_basic_auth("monitor", "correct-horse");
    let with_credentials = || LagAwareCheck::builder().basic_auth("monitor", "correct-horse");
    let db = || {
        DatabaseConfig::from_url(&redis.url())
            .unwrap()
            .health_check_url(api.url())
    };
    // Client-wide settings, and a database's own: refused at build(), saying why.
    for config in [
        MultiDbConfig::builder()
            .lag_aware_check(with_credentials().build().unwrap())
            .database(db())
            .build(),
        MultiDbConfig::builder()
            .database(db().lag_aware_check(with_credentials().build().unwrap()))
            .build(),
    ] {
        let err = config.unwrap_err().to_string();
        assert!(
            err.contains("plain http://") && err.contains("allow_insecure_http"),
            "{err}"
        );
        assert!(!err.contains("horse"), "{err}");
    }
    // A check added as an ordinary health check is opaque to build(): it refuses at its
    // first probe, before any request of its own (the built-in check, without credentials,
    // still asks the API).
    let config = MultiDbConfig::builder()
        .database(db())
        .replace_health_checks(vec![std::sync::Arc::new(
            with_credentials().build().unwrap(),
        )])
        .health_check_probes(1)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    let err = client.initialize().await.unwrap_err().to_string();
    assert!(err.contains("plain http://"), "{err}");
    client.close().await;
    // With the opt-in, credentials go, and the API accepts them.
    let check = with_credentials()
        .allow_insecure_http(true)
        .build()
        .unwrap();
    let client = self::client(&[(&redis, api.url())], check);
    client.initialize().await.unwrap();
    client.close().await;
}
