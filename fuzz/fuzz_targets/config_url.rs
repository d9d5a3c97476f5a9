//! Member URLs and config documents from arbitrary input: `Ok` or a typed `ConfigError`
//! (a serde error for documents), never a panic, and no error or `Debug` text ever shows
//! the password part of the URL.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use multidb_client::{DatabaseConfig, MultiDbConfig};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Tried as a whole URL and as a whole config document.
    raw: &'a str,
    scheme: u8,
    user: &'a str,
    password: &'a str,
    host: &'a str,
    rest: &'a str,
    /// Spliced into a config document after its `databases`.
    extra: &'a str,
}

/// Sits inside every generated password, between fuzzed characters: a leak of the
/// password shows it (matching the fuzzed part alone could match fixed message text).
const SENTINEL: &str = "Fz9-sentinel-Qx";

const SCHEMES: &[&str] = &[
    "redis",
    "rediss",
    "valkey",
    "valkeys",
    "unix",
    "redis+unix",
    "http",
];

fn shown(text: &str) {
    assert!(!text.contains(SENTINEL), "password shown in {text:?}");
}

fuzz_target!(|input: Input<'_>| {
    // Any string: no panic; the error type is in the signature.
    match DatabaseConfig::from_url(input.raw) {
        Ok(db) => drop(format!("{db:?}")),
        Err(e) => drop(e.to_string()),
    }
    let _ = serde_json::from_str::<MultiDbConfig>(input.raw);

    // A URL with userinfo: the password never shows, whatever characters it and the user
    // name hold (`/`, `?`, `#`, `@` included).
    let half = input.password.chars().count() / 2;
    let middle = input
        .password
        .char_indices()
        .nth(half)
        .map_or(0, |(i, _)| i);
    let (before, after) = input.password.split_at(middle);
    let password = format!("{before}{SENTINEL}{after}");
    let scheme = SCHEMES[usize::from(input.scheme) % SCHEMES.len()];
    let url = format!(
        "{scheme}://{}:{password}@{}{}",
        input.user, input.host, input.rest
    );
    // The fuzzer can spell the sentinel across host and path: only the password's counts.
    if url.matches(SENTINEL).count() != 1 {
        return;
    }
    match DatabaseConfig::from_url(&url) {
        Ok(db) => {
            shown(&format!("{db:?}"));
            match MultiDbConfig::builder().database(db).build() {
                Ok(config) => shown(&format!("{config:?}")),
                Err(e) => shown(&format!("{e} {e:?}")),
            }
        }
        Err(e) => shown(&format!("{e} {e:?}")),
    }
    let doc = format!(
        r#"{{"databases":[{{"url":{}}}]{}}}"#,
        serde_json::Value::from(url.as_str()),
        input.extra
    );
    if doc.matches(SENTINEL).count() != 1 {
        return;
    }
    match serde_json::from_str::<MultiDbConfig>(&doc) {
        Ok(config) => shown(&format!("{config:?}")),
        Err(e) => shown(&e.to_string()),
    }
});
