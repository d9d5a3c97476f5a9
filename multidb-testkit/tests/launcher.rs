//! Real `redis-server` processes started, killed, paused and restarted by the launchers.

use std::path::PathBuf;
use std::time::Duration;

use multidb_testkit::{LaunchError, RedisCluster, RedisServer, TlsMaterial};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;

async fn connect(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

async fn set_get(con: &mut MultiplexedConnection, key: &str) -> String {
    let () = con.set(key, "value").await.expect("SET");
    con.get(key).await.expect("GET")
}

fn pid_alive(pid: u32) -> bool {
    PathBuf::from(format!("/proc/{pid}")).exists()
}

#[tokio::test]
async fn started_server_answers_ping_and_set_get() {
    let server = RedisServer::start().expect("start");
    assert!(server.is_running());
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));
    assert_eq!(
        server.addr().to_string(),
        format!("127.0.0.1:{}", server.port())
    );
    let mut con = connect(&server.url()).await;
    let pong: String = redis::cmd("PING")
        .query_async(&mut con)
        .await
        .expect("PING");
    assert_eq!(pong, "PONG");
    assert_eq!(set_get(&mut con, "k").await, "value");
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(&mut con)
        .await
        .expect("CONFIG GET");
    assert_eq!(save, ["save", ""], "persistence must be off");
}

#[tokio::test]
async fn killed_server_refuses_connections_and_restarts_on_same_port() {
    let mut server = RedisServer::start().expect("start");
    let port = server.port();
    server.kill();
    assert!(!server.is_running());
    assert_eq!(server.pid(), None);
    let refused = std::net::TcpStream::connect(server.addr()).expect_err("nothing listens");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let client = redis::Client::open(server.url()).expect("url");
    assert!(client.get_multiplexed_async_connection().await.is_err());

    server.restart().expect("restart");
    assert_eq!(server.port(), port);
    assert!(server.is_running() && server.pid().is_some());
    let mut con = connect(&server.url()).await;
    assert_eq!(set_get(&mut con, "k").await, "value");
}

#[tokio::test]
async fn paused_server_times_out_commands_until_resumed() {
    let server = RedisServer::start().expect("start");
    let mut con = connect(&server.url()).await;
    con.set_response_timeout(Duration::from_millis(200));

    server.pause().expect("pause");
    assert!(server.is_running(), "a paused server is still running");
    let err = redis::cmd("PING")
        .query_async::<String>(&mut con)
        .await
        .expect_err("paused server answers nothing");
    assert!(err.is_timeout(), "expected a timeout, got {err}");

    server.resume().expect("resume");
    let mut con = connect(&server.url()).await;
    assert_eq!(set_get(&mut con, "k").await, "value");
}

#[tokio::test]
async fn pause_of_killed_server_is_not_running_error() {
    let mut server = RedisServer::start().expect("start");
    server.kill();
    assert!(matches!(
        server.pause(),
        Err(LaunchError::NotRunning { .. })
    ));
    assert!(matches!(
        server.resume(),
        Err(LaunchError::NotRunning { .. })
    ));
}

#[tokio::test]
async fn password_server_rejects_no_auth_and_accepts_its_url() {
    let password = "s3cr:t/p@ss";
    let server = RedisServer::builder()
        .password(password)
        .start()
        .expect("start");
    assert!(!format!("{server:?}").contains(password));

    let mut anonymous = connect(&format!("redis://127.0.0.1:{}", server.port())).await;
    let err = redis::cmd("PING")
        .query_async::<String>(&mut anonymous)
        .await
        .expect_err("no auth");
    assert_eq!(err.code(), Some("NOAUTH"), "{err}");

    let mut con = connect(&server.url()).await;
    assert_eq!(set_get(&mut con, "k").await, "value");
}

#[tokio::test]
async fn extra_args_reach_the_server_config() {
    let server = RedisServer::builder()
        .arg("--maxmemory", "12345678")
        .start()
        .expect("start");
    let mut con = connect(&server.url()).await;
    let maxmemory: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query_async(&mut con)
        .await
        .expect("CONFIG GET");
    assert_eq!(maxmemory, ["maxmemory", "12345678"]);
}

async fn server_dir(server: &RedisServer) -> PathBuf {
    let mut con = connect(&server.url()).await;
    let dir: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("dir")
        .query_async(&mut con)
        .await
        .expect("CONFIG GET dir");
    PathBuf::from(&dir[1])
}

#[tokio::test]
async fn drop_kills_process_and_removes_temp_dir() {
    let server = RedisServer::start().expect("start");
    let pid = server.pid().expect("running");
    let dir = server_dir(&server).await;
    assert!(dir.is_dir() && pid_alive(pid));
    drop(server);
    assert!(!pid_alive(pid), "process {pid} must be gone");
    assert!(!dir.exists(), "{} must be removed", dir.display());
}

#[tokio::test]
async fn panicking_test_still_kills_process_and_removes_temp_dir() {
    let server = RedisServer::start().expect("start");
    let pid = server.pid().expect("running");
    let dir = server_dir(&server).await;
    let panicked = std::panic::catch_unwind(move || {
        let _server = server;
        panic!("test failure while the server runs");
    });
    assert!(panicked.is_err());
    assert!(!pid_alive(pid), "process {pid} must be gone");
    assert!(!dir.exists(), "{} must be removed", dir.display());
}

#[test]
fn missing_binary_is_not_installed_error_with_install_hint() {
    let err = RedisServer::builder()
        .binary("/nonexistent/bin/redis-server")
        .start()
        .expect_err("bogus binary");
    assert!(matches!(err, LaunchError::NotInstalled { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.starts_with(
            "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install -y redis-server)"
        ),
        "{message}"
    );
}

#[test]
fn taken_fixed_port_is_port_in_use_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let err = RedisServer::builder()
        .port(port)
        .start()
        .expect_err("port is taken");
    assert!(
        matches!(err, LaunchError::PortInUse { port: p } if p == port),
        "{err:?}"
    );
}

#[test]
fn bad_config_reports_exit_with_log_tail() {
    let err = RedisServer::builder()
        .arg("no-such-directive", "1")
        .start()
        .expect_err("redis rejects the config");
    assert!(matches!(err, LaunchError::Exited { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-directive"), "{err}");
}

#[test]
fn cluster_of_zero_masters_is_invalid_config() {
    assert!(matches!(
        RedisCluster::start(0),
        Err(LaunchError::InvalidConfig {
            field: "masters",
            ..
        })
    ));
}

async fn cluster_set_get(urls: Vec<String>) {
    let client = redis::cluster::ClusterClient::new(urls).expect("cluster client");
    let mut con = client.get_async_connection().await.expect("connect");
    // Keys spread over the slot ranges of all three masters.
    for key in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
        let () = con.set(key, key).await.expect("SET");
        let value: String = con.get(key).await.expect("GET");
        assert_eq!(value, key);
    }
}

#[tokio::test]
async fn cluster_serves_keyed_commands_and_comes_back_after_restart_all() {
    let mut cluster = RedisCluster::start(3).expect("cluster");
    assert_eq!(cluster.nodes().len(), 3);
    assert_eq!(cluster.urls().len(), 3);
    cluster_set_get(cluster.urls()).await;

    let ports: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
    cluster.kill_all();
    assert!(cluster.nodes().iter().all(|n| !n.is_running()));
    cluster.restart_all().expect("restart_all");
    let after: Vec<u16> = cluster.nodes().iter().map(RedisServer::port).collect();
    assert_eq!(ports, after);
    cluster_set_get(cluster.urls()).await;
}

#[tokio::test]
async fn single_master_cluster_serves_commands() {
    let cluster = RedisCluster::start(1).expect("cluster");
    let client = redis::cluster::ClusterClient::new(cluster.urls()).expect("client");
    let mut con = client.get_async_connection().await.expect("connect");
    let () = con.set("k", "v").await.expect("SET");
    let value: String = con.get("k").await.expect("GET");
    assert_eq!(value, "v");
}

fn install_crypto_provider() {
    // Another test may have installed it already; either way one is in place.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn trusting(tls: &TlsMaterial, client_cert: bool) -> redis::TlsCertificates {
    redis::TlsCertificates {
        client_tls: client_cert.then(|| redis::ClientTlsConfig {
            client_cert: tls.client_cert_pem().as_bytes().to_vec(),
            client_key: tls.client_key_pem().as_bytes().to_vec(),
        }),
        root_cert: Some(tls.ca_cert_pem().as_bytes().to_vec()),
    }
}

async fn tls_connect(
    server: &RedisServer,
    certs: redis::TlsCertificates,
) -> redis::RedisResult<MultiplexedConnection> {
    let client = redis::Client::build_with_tls(server.url(), certs)?;
    client.get_multiplexed_async_connection().await
}

#[tokio::test]
async fn tls_server_accepts_client_trusting_its_ca_and_refuses_default_roots() {
    install_crypto_provider();
    let tls = TlsMaterial::generate().expect("tls material");
    let server = RedisServer::builder()
        .tls(tls.clone())
        .start()
        .expect("start");
    assert_eq!(
        server.url(),
        format!("rediss://127.0.0.1:{}", server.port())
    );
    assert!(server.tls_material().is_some());

    let mut con = tls_connect(&server, trusting(&tls, false))
        .await
        .expect("tls connect");
    assert_eq!(set_get(&mut con, "k").await, "value");

    let untrusted = redis::Client::open(server.url()).expect("url");
    let err = untrusted
        .get_multiplexed_async_connection()
        .await
        .expect_err("the throw-away CA is in no default root store");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_server_requiring_client_certs_accepts_the_generated_one() {
    install_crypto_provider();
    let tls = TlsMaterial::generate().expect("tls material");
    let server = RedisServer::builder()
        .tls(tls.clone())
        .arg("tls-auth-clients", "yes")
        .start()
        .expect("start");

    let mut con = tls_connect(&server, trusting(&tls, true))
        .await
        .expect("mTLS connect");
    assert_eq!(set_get(&mut con, "k").await, "value");

    let without_cert = match tls_connect(&server, trusting(&tls, false)).await {
        Ok(mut con) => redis::cmd("PING")
            .query_async::<String>(&mut con)
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    assert!(
        without_cert.is_err(),
        "server must demand a client certificate"
    );
}

#[test]
fn launcher_handles_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<RedisServer>();
    shareable::<RedisCluster>();
    shareable::<TlsMaterial>();
    shareable::<LaunchError>();
}
