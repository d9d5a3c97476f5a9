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
