//! Sentinel pairs, clusters and single servers that serve TLS only and require an ACL user,
//! checked from outside with a `redis` client that trusts the throw-away CA.

use multidb_testkit::{
    ClientInfo, LaunchError, RedisCluster, RedisClusterBuilder, RedisSentinel,
    RedisSentinelBuilder, RedisServer, TlsMaterial,
};
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};

const USER: &str = "alice";
/// Reserved URL characters and a space: the URL must percent-encode them, the config quote.
const PASSWORD: &str = "s3cr:t p@ss/\"w";
const ENCODED: &str = "s3cr%3At%20p%40ss%2F%22w";

fn install_crypto_provider() {
    // Another test may have installed it already; either way one is in place.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn trusting(tls: &TlsMaterial) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(tls.ca_cert_pem().as_bytes().to_vec()),
    }
}

async fn tls_connect(url: &str, tls: &TlsMaterial) -> redis::RedisResult<MultiplexedConnection> {
    let client = redis::Client::build_with_tls(url, trusting(tls))?;
    client.get_multiplexed_async_connection().await
}

async fn text(con: &mut MultiplexedConnection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(con).await.expect("command")
}

async fn role(con: &mut MultiplexedConnection) -> Option<Value> {
    let role: Vec<Value> = redis::cmd("ROLE").query_async(con).await.expect("ROLE");
    role.into_iter().next()
}

/// A command on a plain-TCP connection to a TLS-only port: the server never answers RESP.
async fn plain_tcp_fails(url: String) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return true;
    };
    match client.get_multiplexed_async_connection().await {
        Ok(mut con) => redis::cmd("PING")
            .query_async::<String>(&mut con)
            .await
            .is_err(),
        Err(_) => true,
    }
}

/// A TLS connection that does not log in is refused with `NOAUTH`.
async fn anonymous_is_refused(port: u16, tls: &TlsMaterial) {
    let url = format!("rediss://127.0.0.1:{port}");
    let mut con = tls_connect(&url, tls).await.expect("TLS handshake works");
    let err = redis::cmd("PING")
        .query_async::<String>(&mut con)
        .await
        .expect_err("no login");
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");
}

fn secured_sentinel(tls: &TlsMaterial) -> RedisSentinel {
    RedisSentinel::builder("mymaster")
        .tls(tls.clone())
        .acl_user(USER, PASSWORD)
        .start()
        .expect("TLS + ACL sentinel pair")
}

#[tokio::test]
async fn tls_acl_sentinel_names_its_master_over_tls_to_the_acl_user_only() {
    install_crypto_provider();
    let tls = TlsMaterial::generate().expect("tls material");
    let ha = secured_sentinel(&tls);
    let port = ha.addr().port();
    assert_eq!(
        ha.sentinel_url(),
        format!("rediss://{USER}:{ENCODED}@127.0.0.1:{port}")
    );
    assert!(
        !format!("{ha:?}").contains("p@ss"),
        "Debug shows no password"
    );
    assert!(ha.tls_material().is_some());

    let mut sentinel = tls_connect(&ha.sentinel_url(), &tls)
        .await
        .expect("TLS + ACL connect to the Sentinel");
    let master: (String, u16) = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg("mymaster")
        .query_async(&mut sentinel)
        .await
        .expect("SENTINEL get-master-addr-by-name");
    assert_eq!(master, ("127.0.0.1".to_owned(), ha.master().port()));
    assert_eq!(text(&mut sentinel, &["ACL", "WHOAMI"]).await, USER);
    assert_eq!(ha.master_addr(), Some(ha.master().addr()));

    anonymous_is_refused(port, &tls).await;
    let plain = format!("redis://{USER}:{ENCODED}@127.0.0.1:{port}");
    assert!(plain_tcp_fails(plain).await, "the Sentinel speaks TLS only");
}

#[tokio::test]
async fn tls_acl_sentinel_data_nodes_replicate_over_tls_as_the_acl_user() {
    install_crypto_provider();
    let tls = TlsMaterial::generate().expect("tls material");
    let ha = secured_sentinel(&tls);
    let master = ha.master();
    assert_eq!(
        master.url(),
        format!("rediss://{USER}:{ENCODED}@127.0.0.1:{}", master.port())
    );

    let mut con = tls_connect(&master.url(), &tls).await.expect("master");
    assert_eq!(
        role(&mut con).await,
        Some(Value::BulkString(b"master".to_vec()))
    );
    assert_eq!(text(&mut con, &["ACL", "WHOAMI"]).await, USER);
    let () = con.set("k", "v").await.expect("SET");

    let mut replica = tls_connect(&ha.replica().url(), &tls)
        .await
        .expect("replica");
    assert_eq!(
        role(&mut replica).await,
        Some(Value::BulkString(b"slave".to_vec()))
    );
    let info = text(&mut replica, &["INFO", "replication"]).await;
    assert!(info.contains("master_link_status:up"), "{info}");

    // The master's clients: the replica's link and the Sentinel's links, all as the user.
    let clients = master
        .client_list()
        .expect("CLIENT LIST over the unix socket");
    let links: Vec<&ClientInfo> = clients.iter().filter(|c| !c.is_launcher()).collect();
    assert!(links.iter().any(|c| c.flags.contains('S')), "{clients:?}");
    assert!(
        links.iter().any(|c| c.name.starts_with("sentinel-")),
        "{clients:?}"
    );
    assert!(links.iter().all(|c| c.user == USER), "{clients:?}");

    anonymous_is_refused(master.port(), &tls).await;
    assert!(plain_tcp_fails(format!("redis://127.0.0.1:{}", master.port())).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_acl_sentinel_promotes_the_replica_when_the_master_dies() {
    install_crypto_provider();
    let tls = TlsMaterial::generate().expect("tls material");
    let mut ha = secured_sentinel(&tls);
    ha.master_mut().kill();
    let promoted = ha.replica().addr();
    tokio::task::block_in_place(|| ha.wait_for_master(promoted)).expect("promotion");

    let mut con = tls_connect(&ha.replica().url(), &tls)
        .await
        .expect("promoted replica");
    assert_eq!(
        role(&mut con).await,
        Some(Value::BulkString(b"master".to_vec()))
    );
    let () = con
        .set("k", "after")
        .await
        .expect("the promoted replica takes writes");
}

/// The port of the master in one `CLUSTER SLOTS` range: `[start, end, [ip, port, id, …]]`.
fn master_port(range: &[Value]) -> u16 {
    let Some(Value::Array(node)) = range.get(2) else {
        panic!("no master in {range:?}");
    };
    match node.get(1) {
        Some(Value::Int(port)) => u16::try_from(*port).expect("a port"),
        other => panic!("no port in {other:?}"),
    }
}

async fn cluster_set_get(cluster: &RedisCluster, tls: &TlsMaterial) {
    let client = redis::cluster::ClusterClient::builder(cluster.urls())
        .certs(trusting(tls))
        .build()
        .expect("cluster client");
    let mut con = client.get_async_connection().await.expect("connect");
    // Keys spread over the slot ranges of all three masters.
    for key in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
        let () = con.set(key, key).await.expect("SET");
        let value: String = con.get(key).await.expect("GET");
        assert_eq!(value, key);
    }
}

#[tokio::test]
async fn tls_acl_cluster_reaches_ok_and_advertises_its_tls_ports() {
    install_crypto_provider();
    let tls = TlsMaterial::generate().expect("tls material");
    let mut cluster = RedisCluster::builder()
        .masters(3)
        .tls(tls.clone())
        .acl_user(USER, PASSWORD)
        .start()
        .expect("TLS + ACL cluster");
    let mut ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
    for (url, port) in cluster.urls().iter().zip(&ports) {
        assert_eq!(*url, format!("rediss://{USER}:{ENCODED}@127.0.0.1:{port}"));
    }

    let first = &cluster.nodes()[0];
    let mut con = tls_connect(&first.url(), &tls).await.expect("node");
    let info = text(&mut con, &["CLUSTER", "INFO"]).await;
    assert!(info.contains("cluster_state:ok"), "{info}");
    let slots: Vec<Vec<Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut con)
        .await
        .expect("CLUSTER SLOTS");
    let mut advertised: Vec<u16> = slots.iter().map(|range| master_port(range)).collect();
    advertised.sort_unstable();
    ports.sort_unstable();
    assert_eq!(advertised, ports, "CLUSTER SLOTS names the TLS ports");
    anonymous_is_refused(first.port(), &tls).await;
    assert!(plain_tcp_fails(format!("redis://127.0.0.1:{}", first.port())).await);
    cluster_set_get(&cluster, &tls).await;

    cluster.kill_all();
    cluster
        .restart_all()
        .expect("restart_all over the unix sockets");
    cluster_set_get(&cluster, &tls).await;
}

#[tokio::test]
async fn tls_acl_cluster_replicas_sync_over_tls_as_the_acl_user() {
    install_crypto_provider();
    let tls = TlsMaterial::generate().expect("tls material");
    let cluster = RedisCluster::builder()
        .masters(3)
        .replicas_per_master(1)
        .tls(tls.clone())
        .acl_user(USER, PASSWORD)
        .start()
        .expect("TLS + ACL cluster with replicas");
    for (i, master) in cluster.masters().iter().enumerate() {
        let [replica] = cluster.replicas_of(i) else {
            panic!("one replica per master");
        };
        assert_eq!(
            replica.url(),
            format!("rediss://{USER}:{ENCODED}@127.0.0.1:{}", replica.port())
        );
        let mut con = tls_connect(&replica.url(), &tls).await.expect("replica");
        let info = text(&mut con, &["INFO", "replication"]).await;
        assert!(info.contains("master_link_status:up"), "{info}");
        assert!(
            info.contains(&format!("master_port:{}", master.port())),
            "{info}"
        );
        // The replica's link to its master, as the master sees it: logged in as the user.
        let clients = master.client_list().expect("CLIENT LIST");
        let links: Vec<&ClientInfo> = clients.iter().filter(|c| c.flags.contains('S')).collect();
        assert_eq!(links.len(), 1, "{clients:?}");
        assert_eq!(links[0].user, USER);
        anonymous_is_refused(replica.port(), &tls).await;
    }
    cluster_set_get(&cluster, &tls).await;
}

#[tokio::test]
async fn acl_server_requires_its_user_and_the_launcher_still_drives_it() {
    let mut server = RedisServer::builder()
        .acl_user(USER, PASSWORD)
        .start()
        .expect("start");
    let port = server.port();
    assert_eq!(
        server.url(),
        format!("redis://{USER}:{ENCODED}@127.0.0.1:{port}")
    );
    assert!(!format!("{server:?}").contains("p@ss"));

    let anonymous = redis::Client::open(format!("redis://127.0.0.1:{port}")).expect("url");
    let mut anonymous = anonymous
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let err = redis::cmd("PING")
        .query_async::<String>(&mut anonymous)
        .await
        .expect_err("the default user is off");
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    let client = redis::Client::open(server.url()).expect("url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("login");
    let whoami: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut con)
        .await
        .expect("ACL WHOAMI");
    assert_eq!(whoami, USER);

    assert_eq!(server.blocked_clients().expect("INFO as the user"), 0);
    server.pause().expect("pause");
    server.resume().expect("resume");
    server.restart().expect("restart logs in again");
    assert_eq!(server.port(), port);
    assert_eq!(server.connected_clients().expect("CLIENT LIST"), 0);
}

#[test]
fn acl_user_name_with_whitespace_is_invalid_before_anything_starts() {
    let bad = "al ice";
    let server = RedisServer::builder().acl_user(bad, "pw").start();
    let sentinel = RedisSentinel::builder("mymaster")
        .acl_user(bad, "pw")
        .start();
    let cluster = RedisCluster::builder().acl_user(bad, "pw").start();
    for err in [server.err(), sentinel.err(), cluster.err()] {
        assert!(
            matches!(
                err,
                Some(LaunchError::InvalidConfig {
                    field: "acl_user",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}

#[test]
fn secured_launcher_handles_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<RedisSentinel>();
    shareable::<RedisSentinelBuilder>();
    shareable::<RedisClusterBuilder>();
    shareable::<ClientInfo>();
}
