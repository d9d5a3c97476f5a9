//! The bytes the fake REST API answers: JSON bodies written by hand (the testkit has no
//! JSON dependency) and HTTP/1.1 framing, plain or chunked.

use std::fmt::Write as _;

use super::State;

pub(super) fn bdb_list(state: &State) -> String {
    let mut out = String::from("[");
    for (i, (uid, endpoints, _)) in state.bdbs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"uid\":{uid},\"name\":\"db{uid}\",\"endpoints\":[");
        for (j, e) in endpoints.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let addrs: Vec<String> = e.addr.iter().map(|a| json_string(a)).collect();
            let _ = write!(
                out,
                "{{\"dns_name\":{},\"addr\":[{}],\"port\":{}}}",
                json_string(&e.dns_name),
                addrs.join(","),
                e.port
            );
        }
        out.push_str("]}");
    }
    out.push(']');
    out
}

pub(super) fn error_body(code: &str, description: &str) -> String {
    format!(
        "{{\"error_code\":{},\"description\":{}}}",
        json_string(code),
        json_string(description)
    )
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn render(status: u16, body: &str, chunked: bool) -> String {
    let reason = match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nConnection: close\r\n"
    );
    if chunked {
        out.push_str("Transfer-Encoding: chunked\r\n\r\n");
        // Two chunks, so a client must really reassemble.
        let mid = body.len() / 2;
        let mid = (mid..=body.len())
            .find(|&i| body.is_char_boundary(i))
            .unwrap_or(body.len());
        for part in [&body[..mid], &body[mid..]] {
            if !part.is_empty() {
                let _ = write!(out, "{:x}\r\n{part}\r\n", part.len());
            }
        }
        out.push_str("0\r\n\r\n");
    } else {
        let _ = write!(out, "Content-Length: {}\r\n\r\n{body}", body.len());
    }
    out
}

/// Standard padded base64, for the expected `Authorization` header.
pub(super) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in input.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
