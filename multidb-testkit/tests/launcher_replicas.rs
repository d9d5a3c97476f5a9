//! Real Redis Clusters whose masters have replicas: attached to the right master, listed to
//! clients, surviving a dead replica and brought back by `restart_all`.

use multidb_testkit::{RedisCluster, RedisServer};
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};

fn cluster_with_one_replica_each() -> RedisCluster {
    RedisCluster::builder()
        .masters(3)
        .replicas_per_master(1)
        .start()
        .expect("3 masters with a replica each")
}

async fn connect(node: &RedisServer) -> MultiplexedConnection {
    let client = redis::Client::open(node.url()).expect("valid url");
    client
        .get_multiplexed_async_connection()
        .await
        .expect("connect")
}

/// `ROLE` of a replica: `("slave", master port, link state)`.
async fn replica_role(node: &RedisServer) -> (String, u16, String) {
    let role: Vec<Value> = redis::cmd("ROLE")
        .query_async(&mut connect(node).await)
        .await
        .expect("ROLE");
    match role.as_slice() {
        [
            Value::BulkString(role),
            Value::BulkString(_host),
            Value::Int(port),
            Value::BulkString(state),
            ..,
        ] => (
            String::from_utf8_lossy(role).into_owned(),
            u16::try_from(*port).expect("a port"),
            String::from_utf8_lossy(state).into_owned(),
        ),
        other => panic!("not a replica's ROLE: {other:?}"),
    }
}

async fn assert_replicas_follow_their_masters(cluster: &RedisCluster) {
    for (i, master) in cluster.masters().iter().enumerate() {
        let replicas = cluster.replicas_of(i);
        assert_eq!(replicas.len(), 1);
        for replica in replicas {
            let expected = ("slave".to_owned(), master.port(), "connected".to_owned());
            assert_eq!(replica_role(replica).await, expected);
        }
    }
}

async fn cluster_info(node: &RedisServer) -> String {
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(&mut connect(node).await)
        .await
        .expect("CLUSTER INFO")
}

async fn cluster_set_get(cluster: &RedisCluster) {
    let client = redis::cluster::ClusterClient::new(cluster.urls()).expect("cluster client");
    let mut con = client.get_async_connection().await.expect("connect");
    // Keys spread over the slot ranges of all three masters.
    for key in ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"] {
        let () = con.set(key, key).await.expect("SET");
        let value: String = con.get(key).await.expect("GET");
        assert_eq!(value, key);
    }
}

/// Each `CLUSTER SLOTS` range as `(master port, replica ports)`.
async fn slots_owners(node: &RedisServer) -> Vec<(u16, Vec<u16>)> {
    let ranges: Vec<Vec<Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut connect(node).await)
        .await
        .expect("CLUSTER SLOTS");
    let port = |node: &Value| match node {
        Value::Array(fields) => match fields.get(1) {
            Some(Value::Int(port)) => u16::try_from(*port).expect("a port"),
            other => panic!("no port in {other:?}"),
        },
        other => panic!("no node in {other:?}"),
    };
    let mut owners: Vec<(u16, Vec<u16>)> = ranges
        .iter()
        .map(|range| (port(&range[2]), range[3..].iter().map(port).collect()))
        .collect();
    owners.sort();
    owners
}

#[tokio::test]
async fn each_replica_follows_its_master_and_clients_are_told_of_it() {
    let mut cluster = cluster_with_one_replica_each();
    assert_eq!(cluster.masters().len(), 3);
    assert_eq!(cluster.replicas().len(), 3);
    let ports = |nodes: &[RedisServer]| nodes.iter().map(RedisServer::port).collect::<Vec<_>>();
    let all = [ports(cluster.masters()), ports(cluster.replicas())].concat();
    assert_eq!(ports(cluster.nodes()), all, "masters first, then replicas");
    let master_urls: Vec<String> = cluster.masters().iter().map(RedisServer::url).collect();
    assert_eq!(cluster.urls(), master_urls, "urls() are the masters'");
    assert_replicas_follow_their_masters(&cluster).await;

    let mut expected: Vec<(u16, Vec<u16>)> = (0..3)
        .map(|i| {
            let replicas = ports(cluster.replicas_of(i));
            (cluster.masters()[i].port(), replicas)
        })
        .collect();
    expected.sort();
    for node in cluster.nodes() {
        assert_eq!(
            slots_owners(node).await,
            expected,
            "CLUSTER SLOTS lists the replicas"
        );
    }
    cluster_set_get(&cluster).await;

    cluster.kill_all();
    assert!(cluster.nodes().iter().all(|n| !n.is_running()));
    cluster.restart_all().expect("restart_all");
    assert_eq!(ports(cluster.nodes()), all);
    assert_replicas_follow_their_masters(&cluster).await;
    cluster_set_get(&cluster).await;
}

#[tokio::test]
async fn a_dead_replica_leaves_every_master_serving_until_restart_all_brings_it_back() {
    let mut cluster = cluster_with_one_replica_each();
    let replica = &mut cluster.replicas_of_mut(1)[0];
    let dead = replica.addr();
    replica.kill();
    cluster
        .wait_for_failed(dead)
        .expect("the masters flag the replica failed");
    for master in cluster.masters() {
        let info = cluster_info(master).await;
        assert!(info.contains("cluster_state:ok"), "{info}");
    }
    cluster_set_get(&cluster).await;

    cluster
        .restart_all()
        .expect("restart_all with a dead replica");
    assert!(cluster.nodes().iter().all(RedisServer::is_running));
    assert_replicas_follow_their_masters(&cluster).await;
    cluster_set_get(&cluster).await;
}
