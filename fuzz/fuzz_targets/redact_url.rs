//! `redact_url` alone, on URLs whose password is any bytes (raw where they are valid
//! UTF-8, percent-encoded otherwise) in the userinfo or a secret query parameter: the
//! password never shows, and redaction never panics on any string.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use multidb_client::redact_url;

/// Inside every generated password, so a leak of the password shows it.
const SENTINEL: &str = "Fz9-sentinel-Qx";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    raw: &'a str,
    scheme: &'a str,
    user: &'a str,
    password: &'a [u8],
    encode: bool,
    host: &'a str,
    rest: &'a str,
    place: u8,
}

fn encoded(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

fuzz_target!(|input: Input<'_>| {
    let _ = redact_url(input.raw);
    let (before, after) = input.password.split_at(input.password.len() / 2);
    let text = |part: &[u8]| match std::str::from_utf8(part) {
        Ok(s) if !input.encode => s.to_owned(),
        _ => encoded(part),
    };
    let password = format!("{}{SENTINEL}{}", text(before), text(after));
    let (scheme, user, host, rest) = (input.scheme, input.user, input.host, input.rest);
    let url = match input.place % 3 {
        0 => format!("{scheme}://{user}:{password}@{host}{rest}"),
        1 => format!("{scheme}://{host}{rest}?pass={password}"),
        _ => format!("{scheme}://{host}{rest}?db=0&password={password}"),
    };
    // The fuzzer can spell the sentinel outside the password: only the password's counts.
    if url.matches(SENTINEL).count() != 1 {
        return;
    }
    let shown = redact_url(&url);
    assert!(!shown.contains(SENTINEL), "{url:?} shown as {shown:?}");
});
