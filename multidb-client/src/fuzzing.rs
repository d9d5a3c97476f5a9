//! Entry points for the fuzz targets in `fuzz/` and their property twins: the parsers that
//! read bytes from an untrusted peer, reachable from outside the crate. Not a stable API.
//!
//! Each wraps the very code the client runs; nothing here is a copy.

/// The lag-aware check's HTTP response reader, fed the whole response so far at each call.
#[cfg(feature = "lag-aware")]
#[derive(Default)]
pub struct HttpResponse(crate::lag_aware::http::Parser);

#[cfg(feature = "lag-aware")]
impl HttpResponse {
    /// `Some((status, body))` once `buf` (every byte so far) holds a whole response;
    /// `eof` says no more will come.
    pub fn feed(&mut self, buf: &[u8], eof: bool) -> Result<Option<(u16, Vec<u8>)>, String> {
        Ok(self.0.feed(buf, eof)?.map(|r| (r.status, r.body)))
    }
}

/// The lag-aware check's chunked-body decoder alone, fed the whole body so far at each call.
#[cfg(feature = "lag-aware")]
#[derive(Default)]
pub struct ChunkedBody(crate::lag_aware::http::Dechunker);

#[cfg(feature = "lag-aware")]
impl ChunkedBody {
    /// The decoded body once the last chunk and its trailers arrived.
    pub fn feed(&mut self, body: &[u8]) -> Result<Option<Vec<u8>>, String> {
        self.0.feed(body)
    }
}

/// The uid of the bdb that `bdbs` (the REST API's JSON list) gives for one of `targets`
/// (host, port), as the lag-aware check matches it.
#[cfg(feature = "lag-aware")]
pub fn bdb_uid(
    bdbs: &serde_json::Value,
    targets: &[(String, Option<u16>)],
) -> Result<Option<String>, String> {
    let targets: Vec<_> = targets
        .iter()
        .map(|(host, port)| crate::lag_aware::bdb::RedisAddr {
            host: host.clone(),
            port: *port,
        })
        .collect();
    crate::lag_aware::bdb::find_uid(bdbs, &targets)
}

/// The blocking client's reader of packed requests: each command as its arguments.
pub fn blocking_requests(bytes: &[u8]) -> redis::RedisResult<Vec<Vec<Vec<u8>>>> {
    let cmds = crate::blocking::command::parse_requests(bytes)?;
    Ok(cmds.iter().map(crate::blocking::command::args).collect())
}

/// Commands (each its arguments) packed as redis-rs packs requests, back to back.
pub fn pack_requests(cmds: &[Vec<Vec<u8>>]) -> Vec<u8> {
    let mut packed = Vec::new();
    for args in cmds {
        let mut cmd = redis::Cmd::new();
        for arg in args {
            cmd.arg(arg.as_slice());
        }
        packed.extend(cmd.get_packed_command());
    }
    packed
}
