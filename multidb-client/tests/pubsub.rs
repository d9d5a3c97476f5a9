//! Pub/Sub that follows failover, against real `redis-server` processes.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{GUARD, next_event};
use futures_util::StreamExt;
use multidb_client::{
    DatabaseConfig, DatabaseId, Event, Messages, MultiDbClient, MultiDbConfig, MultiDbError,
};
use multidb_testkit::RedisServer;
use redis::AsyncCommands;

/// Two servers, the first active; health checks an hour apart, so only failure-driven
/// detection (the subscriber's own probe request, or a command's) moves traffic.
async fn two_servers() -> (RedisServer, RedisServer, MultiDbClient, Vec<DatabaseId>) {
    let a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .health_check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids = client.databases().iter().map(|d| d.id).collect();
    (a, b, client, ids)
}

async fn next_msg(messages: &mut Messages) -> redis::Msg {
    tokio::time::timeout(GUARD, messages.next())
        .await
        .unwrap_or_else(|_| panic!("no message within {GUARD:?}"))
        .expect("message stream ended")
}

/// Publishes through the client (so to the active database); returns how many subscribers
/// the server delivered it to.
async fn publish(client: &MultiDbClient, channel: &str, payload: &str) -> i64 {
    let mut con = client.clone();
    con.publish(channel, payload).await.unwrap()
}

async fn spublish(client: &MultiDbClient, channel: &str, payload: &str) -> i64 {
    let mut con = client.clone();
    redis::cmd("SPUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(&mut con)
        .await
        .unwrap()
}

/// Reads exactly `n` messages and checks channel and payload of each, then proves there
/// is no extra one by publishing a marker that must come next.
async fn expect_exactly(
    client: &MultiDbClient,
    messages: &mut Messages,
    channel: &str,
    payloads: &[String],
) {
    for want in payloads {
        let msg = next_msg(messages).await;
        assert_eq!(msg.get_channel_name(), channel);
        assert_eq!(&msg.get_payload::<String>().unwrap(), want);
    }
    assert_eq!(publish(client, channel, "marker").await, 1);
    let msg = next_msg(messages).await;
    assert_eq!(
        msg.get_payload::<String>().unwrap(),
        "marker",
        "an extra message"
    );
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_keeps_receiving_after_the_active_server_is_killed() {
    let (mut a, _b, client, ids) = two_servers().await;
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    let mut messages = sub.on_message();
    assert_eq!(sub.database(), Some(ids[0]));

    let before = numbered("before-", 5);
    for p in &before {
        assert_eq!(publish(&client, "orders", p).await, 1);
    }
    expect_exactly(&client, &mut messages, "orders", &before).await;

    a.kill();
    let resubscribed = next_event(&mut events, "resubscription on the secondary", |e| {
        matches!(e, Event::Resubscribed { .. })
    })
    .await;
    assert_eq!(
        resubscribed,
        Event::Resubscribed {
            database: ids[1],
            channels: 1
        }
    );
    assert_eq!(client.active_database(), Some(ids[1]));
    assert_eq!(sub.database(), Some(ids[1]));

    let after = numbered("after-", 20);
    for p in &after {
        assert_eq!(
            publish(&client, "orders", p).await,
            1,
            "one subscriber on the secondary"
        );
    }
    expect_exactly(&client, &mut messages, "orders", &after).await;
    assert_eq!(sub.channels(), ["orders"]);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_and_sharded_channels_follow_a_failover() {
    let (mut a, _b, client, ids) = two_servers().await;
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.psubscribe("audit.*").await.unwrap();
    sub.ssubscribe("shard-1").await.unwrap();
    let mut messages = sub.on_message();
    assert_eq!(spublish(&client, "shard-1", "s-before").await, 1);
    assert_eq!(
        next_msg(&mut messages)
            .await
            .get_payload::<String>()
            .unwrap(),
        "s-before"
    );

    a.kill();
    let resubscribed = next_event(&mut events, "resubscription", |e| {
        matches!(e, Event::Resubscribed { .. })
    })
    .await;
    assert_eq!(
        resubscribed,
        Event::Resubscribed {
            database: ids[1],
            channels: 2
        }
    );

    for i in 0..10 {
        assert_eq!(
            publish(&client, &format!("audit.{i}"), &format!("p{i}")).await,
            1
        );
        assert_eq!(spublish(&client, "shard-1", &format!("s{i}")).await, 1);
    }
    for i in 0..10 {
        let msg = next_msg(&mut messages).await;
        assert_eq!(msg.get_pattern::<String>().unwrap(), "audit.*");
        assert_eq!(msg.get_channel_name(), format!("audit.{i}"));
        assert_eq!(msg.get_payload::<String>().unwrap(), format!("p{i}"));
        let msg = next_msg(&mut messages).await;
        assert_eq!(msg.get_channel_name(), "shard-1");
        assert_eq!(msg.get_payload::<String>().unwrap(), format!("s{i}"));
    }
    assert_eq!(sub.patterns(), ["audit.*"]);
    assert_eq!(sub.sharded_channels(), ["shard-1"]);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_in_quick_succession_lose_no_subscription() {
    let (_a, _b, client, ids) = two_servers().await;
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    sub.psubscribe("audit.*").await.unwrap();
    sub.ssubscribe("shard-1").await.unwrap();
    let mut messages = sub.on_message();
    let pin = Duration::from_secs(600);
    // Each switch lands while the subscriber is still busy with the previous ones.
    for _ in 0..3 {
        client.force_active_database(ids[1], pin).await.unwrap();
        client.force_active_database(ids[0], pin).await.unwrap();
    }
    client.force_active_database(ids[1], pin).await.unwrap();
    // Every move ends with a Resubscribed event, published once the move is complete; with
    // no request to prod it, the subscriber must end up on the last active database.
    while sub.database() != Some(ids[1]) {
        next_event(&mut events, "a resubscription", |e| {
            matches!(e, Event::Resubscribed { .. })
        })
        .await;
    }

    assert_eq!(publish(&client, "orders", "o").await, 1);
    assert_eq!(publish(&client, "audit.x", "p").await, 1);
    assert_eq!(spublish(&client, "shard-1", "s").await, 1);
    let mut payloads = Vec::new();
    for _ in 0..3 {
        payloads.push(
            next_msg(&mut messages)
                .await
                .get_payload::<String>()
                .unwrap(),
        );
    }
    assert_eq!(payloads, ["o", "p", "s"]);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_after_a_switch_is_made_on_the_new_database() {
    let (_a, _b, client, ids) = two_servers().await;
    let sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    client
        .force_active_database(ids[1], Duration::from_secs(600))
        .await
        .unwrap();
    // No waiting for the event: requests are applied after every switch already made.
    sub.subscribe("late").await.unwrap();
    assert_eq!(sub.database(), Some(ids[1]));
    assert_eq!(publish(&client, "orders", "o").await, 1);
    assert_eq!(publish(&client, "late", "l").await, 1);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_the_stream_again_moves_delivery_to_the_new_stream() {
    let (_a, _b, client, _ids) = two_servers().await;
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    let mut first = sub.on_message();
    assert_eq!(publish(&client, "orders", "1").await, 1);
    assert_eq!(
        next_msg(&mut first).await.get_payload::<String>().unwrap(),
        "1"
    );
    let mut second = sub.on_message();
    // Ordered after the hand-over: the task handles requests in order.
    sub.subscribe("other").await.unwrap();
    assert_eq!(publish(&client, "orders", "2").await, 1);
    assert_eq!(
        next_msg(&mut second).await.get_payload::<String>().unwrap(),
        "2"
    );
    assert!(first.next().await.is_none(), "the first stream ends");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_client_ends_the_stream_and_fails_requests() {
    let (_a, _b, client, _ids) = two_servers().await;
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    let mut messages = sub.on_message();
    client.close().await;
    let end = tokio::time::timeout(GUARD, messages.next()).await.unwrap();
    assert!(end.is_none(), "the stream ends when the client closes");
    assert!(matches!(
        sub.subscribe("x").await,
        Err(MultiDbError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsubscribe_holds_across_a_switch() {
    let (_a, _b, client, ids) = two_servers().await;
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("kept").await.unwrap();
    sub.subscribe("dropped").await.unwrap();
    sub.unsubscribe("dropped").await.unwrap();
    let mut messages = sub.on_message();

    client
        .force_active_database(ids[1], Duration::from_secs(600))
        .await
        .unwrap();
    let resubscribed = next_event(&mut events, "resubscription", |e| {
        matches!(e, Event::Resubscribed { .. })
    })
    .await;
    assert_eq!(
        resubscribed,
        Event::Resubscribed {
            database: ids[1],
            channels: 1
        }
    );
    assert_eq!(publish(&client, "dropped", "no").await, 0);
    assert_eq!(publish(&client, "kept", "yes").await, 1);
    assert_eq!(
        next_msg(&mut messages)
            .await
            .get_payload::<String>()
            .unwrap(),
        "yes"
    );

    // And an unsubscribe made on the new database.
    sub.unsubscribe("kept").await.unwrap();
    assert_eq!(publish(&client, "kept", "no").await, 0);
    assert!(sub.channels().is_empty());
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_gets_the_subscriptions_back_without_a_switch() {
    let mut a = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([a.url()], [1.0]).unwrap();
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    let mut messages = sub.on_message();
    let id = client.active_database().unwrap();

    a.kill();
    a.restart().unwrap();
    let resubscribed = next_event(&mut events, "resubscription after restart", |e| {
        matches!(e, Event::Resubscribed { .. })
    })
    .await;
    assert_eq!(
        resubscribed,
        Event::Resubscribed {
            database: id,
            channels: 1
        }
    );
    // Straight to the server: the client itself may still count it unhealthy.
    let direct = redis::Client::open(a.url()).unwrap();
    let mut con = direct.get_multiplexed_async_connection().await.unwrap();
    let receivers: i64 = con.publish("orders", "back").await.unwrap();
    assert_eq!(receivers, 1);
    assert_eq!(
        next_msg(&mut messages)
            .await
            .get_payload::<String>()
            .unwrap(),
        "back"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_subscriber_ends_its_task_and_connection() {
    let (a, _b, client, _ids) = two_servers().await;
    // The stall watchdog makes its connection (and the task driving it) after initialize:
    // count from once it is there — the shared one, the watchdog's and ours.
    let direct = redis::Client::open(a.url()).unwrap();
    let mut con = direct.get_multiplexed_async_connection().await.unwrap();
    tokio::time::timeout(GUARD, async {
        loop {
            let info: String = redis::cmd("INFO")
                .arg("clients")
                .query_async(&mut con)
                .await
                .unwrap();
            if info.contains("connected_clients:3\r") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the client's two connections");
    let baseline = common::alive_tasks();
    let sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    assert!(
        common::alive_tasks() > baseline,
        "the subscriber runs a task"
    );
    assert_eq!(publish(&client, "orders", "x").await, 1);

    drop(sub);
    assert_eq!(
        common::tasks_back_to(baseline).await,
        baseline,
        "a task outlived the subscriber"
    );
    // Its connection is gone too: the server counts no subscriber.
    assert_eq!(publish(&client, "orders", "y").await, 0);
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubsub_refuses_a_client_with_an_application_connection() {
    let a = RedisServer::start().unwrap();
    let con = redis::Client::open(a.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_connection(con))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    let err = client.pubsub().await.unwrap_err();
    assert!(matches!(err, MultiDbError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("from_connection"), "{err}");
    client.close().await;
}

/// With `pubsub_client`, an application's member takes subscribers: they connect with
/// that client's address (in RESP3, whatever it says) and follow a failover away from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_member_with_a_pubsub_client_takes_subscribers_that_follow_failover() {
    let mut a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let redis_client = redis::Client::open(a.url()).unwrap();
    let con = redis_client
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_connection(con).pubsub_client(redis_client))
        .database(DatabaseConfig::from_url(&b.url()).unwrap().weight(0.5))
        .health_check_interval(Duration::from_millis(100))
        .health_check_probes(1)
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("news").await.unwrap();
    let mut messages = sub.on_message();
    assert_eq!(publish(&client, "news", "before").await, 1);
    assert_eq!(
        next_msg(&mut messages)
            .await
            .get_payload::<String>()
            .unwrap(),
        "before"
    );

    a.kill();
    next_event(
        &mut events,
        "the subscriber on b",
        |e| matches!(e, Event::Resubscribed { database, .. } if *database == ids[1]),
    )
    .await;
    assert_eq!(publish(&client, "news", "after").await, 1);
    assert_eq!(
        next_msg(&mut messages)
            .await
            .get_payload::<String>()
            .unwrap(),
        "after"
    );
    client.close().await;
}

#[cfg(feature = "tls")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_connects_to_a_tls_member_with_its_ca() {
    let material = multidb_testkit::TlsMaterial::generate().unwrap();
    let server = RedisServer::builder()
        .tls(material.clone())
        .start()
        .unwrap();
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&server.url())
                .unwrap()
                .tls_root_cert(material.ca_cert_pem().as_bytes()),
        )
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("secure").await.unwrap();
    let mut messages = sub.on_message();
    assert_eq!(publish(&client, "secure", "over tls").await, 1);
    assert_eq!(
        next_msg(&mut messages)
            .await
            .get_payload::<String>()
            .unwrap(),
        "over tls"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_keeps_the_newest_messages_and_is_told_what_it_lost() {
    const SENT: usize = 200_000;
    const BUFFER: usize = 10_000; // the default
    let server = RedisServer::start().unwrap();
    let client = MultiDbClient::from_urls([server.url()], [1.0]).unwrap();
    client.initialize().await.unwrap();
    let mut events = client.events();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("flood").await.unwrap();
    let mut messages = sub.on_message();
    // Pipelined straight to the server: nobody reads meanwhile.
    let mut publisher = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    for batch in (0..SENT).collect::<Vec<_>>().chunks(10_000) {
        let mut pipe = redis::pipe();
        for n in batch {
            pipe.publish("flood", n).ignore();
        }
        pipe.query_async::<()>(&mut publisher).await.unwrap();
    }
    // The subscriber's task has no event for "all delivered"; its count says it.
    let delivered = async {
        while sub.dropped_messages() < (SENT - BUFFER) as u64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(GUARD, delivered)
        .await
        .unwrap_or_else(|_| panic!("dropped only {}", sub.dropped_messages()));
    assert_eq!(sub.dropped_messages(), (SENT - BUFFER) as u64);
    assert_eq!(messages.waiting(), BUFFER, "never more than the buffer");
    let told = next_event(&mut events, "the drop event", |e| {
        matches!(e, Event::PubSubMessagesDropped { .. })
    })
    .await;
    assert!(
        matches!(told, Event::PubSubMessagesDropped { dropped: 1 }),
        "{told:?}"
    );
    // The oldest went: what is left is the newest, in order.
    let first: usize = next_msg(&mut messages).await.get_payload().unwrap();
    assert_eq!(first, SENT - BUFFER);
    client.close().await;
}

/// A message the client publishes right after a switch reaches its own subscriber: the
/// `PUBLISH` waits until the subscriber is subscribed on the new database, instead of being
/// published there to nobody (what the failover bench's Pub/Sub gap counted). The secondary
/// is 30 ms away, so the subscriber's connection and subscriptions (three round trips) come
/// well after a `PUBLISH` on the client's open connection (one) would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_right_after_a_switch_reaches_the_clients_own_subscriber() {
    let mut a = RedisServer::start().unwrap();
    let b = RedisServer::start().unwrap();
    let far = multidb_testkit::FaultProxy::start(b.addr()).await.unwrap();
    let config = MultiDbConfig::builder()
        .database(DatabaseConfig::from_url(&a.url()).unwrap())
        .database(DatabaseConfig::from_url(&far.url()).unwrap().weight(0.5))
        .health_check_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let ids: Vec<_> = client.databases().iter().map(|d| d.id).collect();
    let mut sub = client.pubsub().await.unwrap();
    sub.subscribe("orders").await.unwrap();
    sub.ssubscribe("{s}orders").await.unwrap();
    let mut messages = sub.on_message();
    far.inject(multidb_testkit::ProxyFault::Latency {
        fixed: Duration::from_millis(30),
        jitter: Duration::ZERO,
    });

    let mut events = client.events();
    a.kill();
    // The subscriber's lost connection has the primary probed: the switch follows, and the
    // subscriber moves after it, as the event reaches it.
    next_event(&mut events, "the failover", |e| {
        matches!(e, Event::ActiveDatabaseChanged { .. })
    })
    .await;
    assert_eq!(client.active_database(), Some(ids[1]));
    let mut con = client.clone();
    // Published at once, single and pipelined: each reaches the subscriber.
    assert_eq!(
        publish(&client, "orders", "first").await,
        1,
        "published to nobody"
    );
    assert_eq!(spublish(&client, "{s}orders", "sharded").await, 1);
    let (receivers,): (i64,) = redis::pipe()
        .publish("orders", "pipelined")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(receivers, 1);
    for want in ["first", "sharded", "pipelined"] {
        assert_eq!(
            next_msg(&mut messages)
                .await
                .get_payload::<String>()
                .unwrap(),
            want
        );
    }
    client.close().await;
}
