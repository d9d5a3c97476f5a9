//! The control plane: nothing a user configures or plugs in can stop failover.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{next_event, switch_to};
use multidb_client::{
    CandidateView, CircuitState, ConfigError, Database, DatabaseConfig, DatabaseId, Event,
    FailoverStrategy, HealthCheck, MultiDbClient, MultiDbConfig, MultiDbConfigBuilder,
    MultiDbError, SwitchReason, Unhealthy,
};
use multidb_testkit::{FakeRedis, Fault};
use redis::AsyncCommands;

async fn pair(
    tune: impl FnOnce(MultiDbConfigBuilder) -> MultiDbConfigBuilder,
) -> (FakeRedis, FakeRedis, MultiDbClient) {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let builder = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5));
    let client = MultiDbClient::new(tune(builder).build().unwrap());
    client.initialize().await.unwrap();
    (a, b, client)
}

/// Takes both databases down and waits until the client says none is usable (a command
/// fails on the active one, so detection does not wait for the schedule).
async fn take_both_down(
    a: &FakeRedis,
    b: &FakeRedis,
    client: &MultiDbClient,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
) {
    a.inject(Fault::Down);
    b.inject(Fault::Down);
    let mut con = client.clone();
    let _ = con.set::<_, _, ()>("k", "v").await;
    next_event(events, "all unhealthy", |e| {
        matches!(e, Event::AllDatabasesUnhealthy)
    })
    .await;
}

fn ids(client: &MultiDbClient) -> Vec<DatabaseId> {
    client.databases().iter().map(|d| d.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_database_of_duration_max_that_dies_is_failed_over() {
    let (_a, b, client) = pair(|c| c.auto_fallback_interval(None)).await;
    let ids = ids(&client);
    let mut events = client.events();
    client
        .force_active_database(ids[1], Duration::MAX)
        .await
        .unwrap();
    b.inject(Fault::Down);
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    assert_eq!(
        switch_to(&mut events, "failover off the forced database", ids[0]).await,
        (Some(ids[1]), SwitchReason::ForcedDatabaseFailed)
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_force_expires_at_its_deadline_without_waiting_for_a_health_check() {
    // Checks an hour apart: only the control task's own deadline can end the pin.
    let (_a, _b, client) = pair(|c| {
        c.auto_fallback_interval(None)
            .health_check_interval(Duration::from_secs(3600))
    })
    .await;
    let ids = ids(&client);
    let mut events = client.events();
    client
        .force_active_database(ids[1], Duration::MAX)
        .await
        .unwrap();
    // A shorter force replaces the endless one.
    client
        .force_active_database(ids[1], Duration::from_millis(100))
        .await
        .unwrap();
    let (_, reason) = switch_to(&mut events, "the pin's expiry", ids[0]).await;
    assert_eq!(reason, SwitchReason::ForceExpired);
    client.close().await;
}

/// Panics whenever it is asked, once `armed`.
struct PanickingStrategy(AtomicBool);

impl FailoverStrategy<DatabaseId> for PanickingStrategy {
    fn select<'a>(&self, eligible: &[CandidateView<'a, DatabaseId>]) -> Option<&'a DatabaseId> {
        assert!(!self.0.load(Ordering::SeqCst), "strategy bug");
        eligible.first().map(|v| v.id)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_strategy_leaves_failover_working() {
    let strategy = Arc::new(PanickingStrategy(AtomicBool::new(false)));
    let (a, b, client) = pair(|c| c.failover_strategy(strategy.clone())).await;
    let ids = ids(&client);
    let mut events = client.events();
    strategy.0.store(true, Ordering::SeqCst);
    a.inject(Fault::Down);
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    let e = next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert!(
        matches!(e, Event::ActiveDatabaseChanged { to, .. } if to == ids[1]),
        "{e:?}"
    );
    assert_eq!(b.keyspace_len(), 1, "the write landed on the secondary");
    let e = next_event(&mut events, "the panic announced", |e| {
        matches!(e, Event::CallbackPanicked { .. })
    })
    .await;
    assert!(
        matches!(&e, Event::CallbackPanicked { what, message } if what == "failover strategy" && message.contains("strategy bug")),
        "{e:?}"
    );
    client.close().await;
}

/// Panics on the database at `target` once `armed`; passes elsewhere.
struct PanickingCheck {
    armed: AtomicBool,
    target: String,
}

#[async_trait::async_trait]
impl HealthCheck<Database> for PanickingCheck {
    async fn check(&self, db: &Database) -> Result<(), Unhealthy> {
        let here = db.endpoint().as_str().starts_with(&self.target);
        assert!(!(here && self.armed.load(Ordering::SeqCst)), "check bug");
        Ok(())
    }

    #[allow(clippy::unnecessary_literal_bound)]
    fn name(&self) -> &str {
        "panicky"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_health_check_is_announced_and_fails_its_database_over() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let check = Arc::new(PanickingCheck {
        armed: AtomicBool::new(false),
        target: a.addr().to_string(),
    });
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .health_check(check.clone())
        .health_check_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids = ids(&client);
    let mut events = client.events();
    check.armed.store(true, Ordering::SeqCst);
    let e = next_event(&mut events, "the panic announced", |e| {
        matches!(e, Event::CallbackPanicked { .. })
    })
    .await;
    assert!(
        matches!(&e, Event::CallbackPanicked { what, message } if what.contains("panicky") && what.contains(&ids[0].to_string()) && message.contains("check bug")),
        "{e:?}"
    );
    let e = next_event(&mut events, "failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert_eq!(
        e,
        Event::ActiveDatabaseChanged {
            from: Some(ids[0]),
            to: ids[1],
            reason: SwitchReason::HealthCheckFailed
        }
    );
    let mut con = client.clone();
    let () = con.set("k", "v").await.unwrap();
    assert_eq!(b.keyspace_len(), 1);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circuit_goes_open_then_half_open_then_closed_across_its_grace_period() {
    let a = FakeRedis::start().await.unwrap();
    let b = FakeRedis::start().await.unwrap();
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&a.url())
                .unwrap()
                .grace_period(Duration::from_secs(2)),
        )
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .health_check_interval(Duration::from_millis(50))
        .health_check_probes(1)
        .auto_fallback_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids = ids(&client);
    let mut events = client.events();
    a.inject(Fault::Down);
    let mut seen = Vec::new();
    let circuit_of_a =
        |e: &Event| matches!(e, Event::CircuitStateChanged { database, .. } if *database == ids[0]);
    let e = next_event(&mut events, "a's circuit opening", circuit_of_a).await;
    seen.push(e);
    a.recover();
    let healthy = next_event(
        &mut events,
        "a healthy again",
        |e| matches!(e, Event::HealthChanged { database, healthy: true } if *database == ids[0]),
    )
    .await;
    assert!(matches!(healthy, Event::HealthChanged { .. }));
    // Healthy, but serving out its grace period: the snapshot says so.
    let info = client.databases();
    assert_ne!(info[0].circuit, CircuitState::Closed, "{info:?}");
    assert!(!info[0].active, "{info:?}");
    for _ in 0..2 {
        seen.push(next_event(&mut events, "a's circuit", circuit_of_a).await);
    }
    let states: Vec<_> = seen
        .iter()
        .map(|e| match e {
            Event::CircuitStateChanged { from, to, .. } => (*from, *to),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        states,
        [
            (CircuitState::Closed, CircuitState::Open),
            (CircuitState::Open, CircuitState::HalfOpen),
            (CircuitState::HalfOpen, CircuitState::Closed),
        ]
    );
    let (_, reason) = switch_to(&mut events, "fallback to a", ids[0]).await;
    assert_eq!(reason, SwitchReason::AutoFallback);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blip_on_every_database_ends_with_the_first_passing_check_not_the_grace_period() {
    // Grace periods of 60 s (the default); the test's guard is 20 s.
    let (a, b, client) = pair(|c| c.health_check_interval(Duration::from_millis(50))).await;
    let mut events = client.events();
    take_both_down(&a, &b, &client, &mut events).await;
    let mut con = client.clone();
    a.recover();
    b.recover();
    next_event(&mut events, "a circuit closed early", |e| {
        matches!(
            e,
            Event::CircuitStateChanged {
                to: CircuitState::Closed,
                ..
            }
        )
    })
    .await;
    let () = con.set("k", "v").await.unwrap();
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_usable_every_member_is_probed_until_one_recovers() {
    // Scheduled checks an hour apart: only recovery probing can bring a database back.
    let (a, b, client) = pair(|c| c.health_check_interval(Duration::from_secs(3600))).await;
    let mut events = client.events();
    take_both_down(&a, &b, &client, &mut events).await;
    let mut con = client.clone();
    b.recover();
    next_event(&mut events, "b healthy again", |e| {
        matches!(e, Event::HealthChanged { healthy: true, .. })
    })
    .await;
    let () = con.set("k", "v").await.unwrap();
    assert_eq!(b.keyspace_len(), 1);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_forced_ends_a_force_early() {
    let (_a, _b, client) = pair(|c| c).await;
    let ids = ids(&client);
    let mut events = client.events();
    client
        .force_active_database(ids[1], Duration::MAX)
        .await
        .unwrap();
    client.release_forced().await.unwrap();
    let (_, reason) = switch_to(&mut events, "back to the best", ids[0]).await;
    assert_eq!(reason, SwitchReason::ForceReleased);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_switch_runs_the_configured_probes_through_the_health_engine() {
    let (_a, b, client) = pair(|c| {
        c.health_check_probes(3)
            .health_check_probes_delay(Duration::from_millis(10))
            .health_check_interval(Duration::from_secs(3600))
    })
    .await;
    let ids = ids(&client);
    b.clear_log();
    client.set_active_database(ids[1]).await.unwrap();
    let pings = b
        .command_log()
        .iter()
        .filter(|c| c.first().is_some_and(|n| n.eq_ignore_ascii_case("PING")))
        .count();
    assert_eq!(pings, 3, "{:?}", b.command_log());
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_two_concurrent_additions_of_an_endpoint_is_refused() {
    let (_a, _b, client) = pair(|c| c).await;
    let c = FakeRedis::start().await.unwrap();
    let add = || client.add_database(DatabaseConfig::from_url(&c.url()).unwrap().weight(0.1));
    let (first, second) = tokio::join!(add(), add());
    let refused = [&first, &second]
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(MultiDbError::Config(ConfigError::DuplicateEndpoint { .. }))
            )
        })
        .count();
    assert_eq!(refused, 1, "{first:?} {second:?}");
    assert_eq!(client.databases().len(), 3);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_racing_initialize_leaves_nothing_open() {
    for _ in 0..5 {
        let a = FakeRedis::start().await.unwrap();
        let b = FakeRedis::start().await.unwrap();
        let client = MultiDbClient::from_urls([a.url(), b.url()], [1.0, 0.5]).unwrap();
        let init = {
            let client = client.clone();
            tokio::spawn(async move { client.initialize().await })
        };
        client.close().await;
        let _ = init.await.unwrap();
        assert!(client.databases().is_empty());
        let mut con = client.clone();
        let err = con.get::<_, Option<String>>("k").await.unwrap_err();
        assert!(
            matches!(MultiDbError::from_redis(&err), Some(MultiDbError::Closed)),
            "{err}"
        );
        drop(client);
        let open = async {
            while a.connection_count() + b.connection_count() > 0 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(common::GUARD, open)
            .await
            .expect("every connection closed");
    }
}

#[test]
fn commands_fail_with_a_typed_error_once_the_control_task_is_gone() {
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (server, client) = first.block_on(async {
        let a = FakeRedis::start().await.unwrap();
        let client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
        client.initialize().await.unwrap();
        (a, client)
    });
    // The control task's runtime ends while the client is open.
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let mut con = client.clone();
        let err = con.get::<_, Option<String>>("k").await.unwrap_err();
        assert!(
            matches!(
                MultiDbError::from_redis(&err),
                Some(MultiDbError::ControlPlaneStopped { .. })
            ),
            "{err}"
        );
    });
    drop(server);
}
