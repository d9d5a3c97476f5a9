//! The lag-aware check's matching of a member against the REST API's bdb list, on any
//! JSON: no panic, and a uid it returns is digits only (it goes into a URL path) and
//! belongs to a bdb listing the target's host.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use multidb_client::fuzzing::bdb_uid;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    json: &'a str,
    host: &'a str,
    port: Option<u16>,
}

/// Every string anywhere in `value`.
fn strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        serde_json::Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

fuzz_target!(|input: Input<'_>| {
    let Ok(bdbs) = serde_json::from_str::<serde_json::Value>(input.json) else {
        return;
    };
    let targets = [(input.host.to_owned(), input.port)];
    if let Ok(Some(uid)) = bdb_uid(&bdbs, &targets) {
        assert!(
            !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()),
            "uid {uid:?}"
        );
        let mut named = Vec::new();
        strings(&bdbs, &mut named);
        assert!(
            named.iter().any(|s| s.eq_ignore_ascii_case(input.host)),
            "uid {uid} for a host the list does not name"
        );
    }
});
