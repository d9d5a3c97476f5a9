//! `rediss://` members: verified against a throw-away CA, refused without it.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

use multidb_client::{ConfigError, DatabaseConfig, MultiDbClient, MultiDbConfig, MultiDbError};
use multidb_testkit::{RedisServer, TlsMaterial};
use redis::AsyncCommands;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_member_works_with_its_ca_and_is_refused_without_it() {
    let material = TlsMaterial::generate().unwrap();
    let server = RedisServer::builder()
        .tls(material.clone())
        .start()
        .unwrap();
    assert!(server.url().starts_with("rediss://"));

    let trusted = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&server.url())
                .unwrap()
                .tls_root_cert(material.ca_cert_pem().as_bytes()),
        )
        .build()
        .unwrap();
    let client = MultiDbClient::new(trusted);
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", "over tls").await.unwrap();
    let v: String = con.get("k").await.unwrap();
    assert_eq!(v, "over tls");
    client.close().await;

    let untrusted = MultiDbClient::from_urls([server.url()], [1.0]).unwrap();
    let err = untrusted.initialize().await.unwrap_err();
    assert!(
        matches!(err, MultiDbError::InitialHealthCheckFailed { .. }),
        "{err}"
    );
}

/// A transport that dials TCP itself and notes every address it was asked for.
struct Dialer(std::sync::Mutex<Vec<String>>);

#[async_trait::async_trait]
impl multidb_client::transport::Transport for Dialer {
    async fn connect(
        &self,
        to: multidb_client::transport::Address<'_>,
    ) -> std::io::Result<Box<dyn multidb_client::transport::Stream>> {
        self.0.lock().unwrap().push(to.to_string());
        let multidb_client::transport::Address::Tcp { host, port } = to else {
            return Err(std::io::Error::other("tcp only"));
        };
        Ok(Box::new(
            tokio::net::TcpStream::connect((host, port)).await?,
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_runs_over_a_custom_transport_with_the_members_ca() {
    let material = TlsMaterial::generate().unwrap();
    let server = RedisServer::builder()
        .tls(material.clone())
        .start()
        .unwrap();
    let dialer = std::sync::Arc::new(Dialer(std::sync::Mutex::default()));
    let config = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url(&server.url())
                .unwrap()
                .tls_root_cert(material.ca_cert_pem().as_bytes())
                .transport(dialer.clone()),
        )
        .build()
        .unwrap();
    let client = MultiDbClient::new(config);
    client.initialize().await.unwrap();
    let mut con = client.clone();
    let () = con.set("k", "over tls, over our transport").await.unwrap();
    let v: String = con.get("k").await.unwrap();
    assert_eq!(v, "over tls, over our transport");
    client.close().await;
    let asked = dialer.0.lock().unwrap().clone();
    let expected = server.url().trim_start_matches("rediss://").to_owned();
    assert!(!asked.is_empty());
    assert!(
        asked.iter().all(|a| expected.starts_with(a.as_str())),
        "{asked:?} vs {expected}"
    );
}

#[test]
fn bad_certificates_and_insecure_urls_are_config_errors_at_build_naming_the_field() {
    let err = MultiDbConfig::builder()
        .database(
            DatabaseConfig::from_url("rediss://127.0.0.1:1")
                .unwrap()
                .tls_root_cert(b"not a certificate".to_vec()),
        )
        .build()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ConfigError::InvalidValue {
                field: "tls_root_cert",
                ..
            }
        ),
        "{err}"
    );

    let err = MultiDbClient::from_urls(["rediss://127.0.0.1:1/#insecure"], [1.0]).unwrap_err();
    assert!(
        matches!(&err, ConfigError::InvalidValue { field: "url", .. }),
        "{err}"
    );
}
