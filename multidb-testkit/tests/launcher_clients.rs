//! What the launchers report about the connections to their processes: `CLIENT LIST` and
//! counts that leave out the launcher's and the topology's own links.

use multidb_testkit::{ClientInfo, RedisSentinel, RedisServer};
use redis::aio::MultiplexedConnection;

async fn connect(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_list_shows_one_extra_client_with_its_name_user_and_db() {
    let server = RedisServer::builder()
        .acl_user("alice", "pw")
        .start()
        .expect("start");
    assert_eq!(server.connected_clients().expect("count"), 0);
    let launcher_only = server.client_list().expect("CLIENT LIST");
    assert_eq!(launcher_only.len(), 1, "{launcher_only:?}");
    assert!(launcher_only[0].is_launcher());
    assert_eq!(
        launcher_only[0].user, "alice",
        "the launcher logs in as the user"
    );

    let mut con = connect(&format!("redis://alice:pw@127.0.0.1:{}/2", server.port())).await;
    let () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("app")
        .query_async(&mut con)
        .await
        .expect("CLIENT SETNAME");

    let clients = server.client_list().expect("CLIENT LIST");
    let app: Vec<_> = clients.iter().filter(|c| !c.is_launcher()).collect();
    assert_eq!(app.len(), 1, "{clients:?}");
    let app = app[0];
    assert_eq!(
        (app.name.as_str(), app.user.as_str(), app.db),
        ("app", "alice", 2)
    );
    assert_eq!(app.flags, "N");
    assert_eq!(app.cmd, "client|setname");
    assert!(app.addr.starts_with("127.0.0.1:"), "{}", app.addr);
    assert_eq!(server.connected_clients().expect("count"), 1);

    drop(con);
    tokio::task::block_in_place(|| server.wait_for_connected_clients(0))
        .expect("the closed socket is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_clients_leaves_out_replication_and_sentinel_links() {
    let ha = RedisSentinel::start("mymaster").expect("sentinel pair");
    let clients = ha.master().client_list().expect("CLIENT LIST");
    assert!(clients.iter().any(|c| c.flags.contains('S')), "{clients:?}");
    assert!(
        clients.iter().any(|c| c.name.starts_with("sentinel-")),
        "{clients:?}"
    );
    assert!(
        clients.iter().all(ClientInfo::is_infrastructure),
        "{clients:?}"
    );
    assert_eq!(ha.master().connected_clients().expect("count"), 0);
    assert_eq!(ha.replica().connected_clients().expect("count"), 0);

    assert_eq!(ha.sentinel_connected_clients().expect("count"), 0);
    let mut con = connect(&ha.sentinel_url()).await;
    let pong: String = redis::cmd("PING")
        .query_async(&mut con)
        .await
        .expect("PING the Sentinel");
    assert_eq!(pong, "PONG");
    let clients = ha.sentinel_client_list().expect("Sentinel CLIENT LIST");
    assert!(clients.iter().any(|c| c.cmd == "ping"), "{clients:?}");
    assert_eq!(ha.sentinel_connected_clients().expect("count"), 1);
}
