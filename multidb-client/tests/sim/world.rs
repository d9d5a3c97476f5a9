//! The simulated world of one schedule: fake servers on a [`SimNet`], the client reaching
//! them through a [`Transport`] over it, and what the harness knows of both.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use multidb_client::transport::{Address, Stream, Transport};
use multidb_client::{
    DatabaseConfig, DatabaseId, InitialHealthCheck, MultiDbClient, MultiDbConfig,
    MultiDbConfigBuilder,
};
use multidb_testkit::{FakeRedis, SimNet};

/// Every fake's password: it must never show in any text the client produces.
pub(crate) const SECRET: &str = "Sim-S3cret%2Fpw";
/// The password as the fakes expect it (the URL holds it percent-encoded).
pub(crate) const PASSWORD: &str = "Sim-S3cret/pw";
/// A part of the password no other text holds: a partial leak shows it too.
pub(crate) const SECRET_CORE: &str = "S3cret";

/// The client's streams, over the simulated network.
pub(crate) struct SimTransport(pub(crate) SimNet);

#[async_trait::async_trait]
impl Transport for SimTransport {
    async fn connect(&self, to: Address<'_>) -> io::Result<Box<dyn Stream>> {
        let Address::Tcp { host, port } = to else {
            return Err(io::Error::other("the simulation has TCP hosts only"));
        };
        let ip: IpAddr = host
            .parse()
            .map_err(|_| io::Error::other("a simulated host is an IP literal"))?;
        Ok(Box::new(self.0.connect(SocketAddr::new(ip, port)).await?))
    }
}

/// Scaled-down timings, so that a schedule's failovers, grace periods and fallbacks fit a
/// few simulated seconds.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_millis(100);
pub(crate) const GRACE: Duration = Duration::from_millis(300);
pub(crate) const FALLBACK: Duration = Duration::from_millis(400);
pub(crate) const HEALTH_INTERVAL: Duration = Duration::from_millis(100);

/// One member the harness may give the client: its fake, and how the client shows it.
pub(crate) struct Host {
    pub(crate) fake: FakeRedis,
    /// `db{i}` when named, else the redacted endpoint the client shows (`host:port/0`).
    pub(crate) name: String,
    /// Half the hosts keep the default endpoint, so that its redaction is exercised too.
    named: bool,
}

impl Host {
    pub(crate) fn config(&self, net: &SimNet, weight: f64) -> DatabaseConfig {
        let url = format!("redis://:{SECRET}@{}/0", self.fake.addr());
        let mut config = DatabaseConfig::from_url(&url).expect("the harness's URL is valid");
        if self.named {
            config = config.name(self.name.clone());
        }
        config
            .weight(weight)
            .grace_period(GRACE)
            .response_timeout(Some(RESPONSE_TIMEOUT))
            .connection_timeout(Duration::from_millis(100))
            .transport(Arc::new(SimTransport(net.clone())))
    }
}

/// Starts `count` fakes on `net`, at `127.0.10.1:6379` and up.
pub(crate) async fn hosts(net: &SimNet, count: u8) -> Vec<Host> {
    let mut hosts = Vec::new();
    for i in 0..count {
        let addr = SocketAddr::from(([127, 0, 10, i + 1], 6379));
        let named = i % 2 == 0;
        let name = if named {
            format!("db{i}")
        } else {
            format!("{addr}/0")
        };
        let fake = FakeRedis::builder()
            .name(format!("db{i}"))
            .bind(addr)
            .network(net)
            .password(PASSWORD)
            .start()
            .await
            .expect("a simulated host starts");
        hosts.push(Host { fake, name, named });
    }
    hosts
}

/// The scaled-down configuration over `hosts` with `weights`, to add to or build.
pub(crate) fn builder(net: &SimNet, hosts: &[Host], weights: &[f64]) -> MultiDbConfigBuilder {
    let mut builder = MultiDbConfig::builder()
        .health_check_interval(HEALTH_INTERVAL)
        .health_check_probes(1)
        .health_check_timeout(Duration::from_millis(50))
        .initial_health_check(InitialHealthCheck::OneAvailable)
        .auto_fallback_interval(Some(FALLBACK))
        .failover_attempts(3)
        .failover_delay(Duration::from_millis(20))
        .min_num_failures(2)
        .failures_detection_window(Duration::from_secs(1))
        .retry_backoff_base(Duration::from_millis(5))
        .retry_backoff_cap(Duration::from_millis(20))
        .event_capacity(4096);
    for (host, weight) in hosts.iter().zip(weights) {
        builder = builder.database(host.config(net, *weight));
    }
    builder
}

/// The client over `hosts` with `weights`, as [`builder`] configures it.
pub(crate) fn client(net: &SimNet, hosts: &[Host], weights: &[f64]) -> MultiDbClient {
    MultiDbClient::new(
        builder(net, hosts, weights)
            .build()
            .expect("the harness's config is valid"),
    )
}

/// Runs `future` on a fresh current-thread runtime with paused time: it advances only when
/// every task waits, straight to the next timer.
pub(crate) fn paused<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime starts")
        .block_on(future)
}

/// Two simulated members, weights 1.0 and 0.5, and the client over them, initialized.
pub(crate) async fn pair(net: &SimNet) -> (Vec<Host>, MultiDbClient) {
    let hosts = hosts(net, 2).await;
    let client = client(net, &hosts, &[1.0, 0.5]);
    client
        .initialize()
        .await
        .expect("two healthy simulated members");
    (hosts, client)
}

/// Which host each database id is, by its name.
pub(crate) fn ids(client: &MultiDbClient, hosts: &[Host]) -> BTreeMap<DatabaseId, usize> {
    client
        .databases()
        .into_iter()
        .filter_map(|db| {
            let name = db.endpoint.to_string();
            hosts
                .iter()
                .position(|h| h.name == name)
                .map(|i| (db.id, i))
        })
        .collect()
}
