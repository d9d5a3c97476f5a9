//! The synchronous `redis::ConnectionLike` of the blocking client.
//!
//! redis-rs hands a sync connection packed bytes. `Cmd::query` (what `redis::Commands`
//! uses) goes through `req_command` with the `Cmd` itself, so the common path needs no
//! parsing; raw bytes and pipelines are parsed back into commands (requests are always
//! arrays of bulk strings) and sent through the async client, so they get its failover,
//! retries and replay rules. A pipeline framed by `MULTI` … `EXEC` becomes an atomic
//! pipeline: one transaction on one database, never replayed once it may have applied.

use redis::aio::ConnectionLike as _;
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisResult, Value};

use super::MultiDbClient;
use crate::error::MultiDbError;

impl MultiDbClient {
    fn run<T>(
        &self,
        method: &'static str,
        f: impl AsyncFnOnce(&mut crate::MultiDbClient) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut con = self.shared.client.clone();
        match self.block_on(method, f(&mut con)) {
            Ok(result) => result,
            // WouldBlock says what it is and keeps the typed error inside for `from_redis`.
            Err(e @ MultiDbError::BlockingInAsyncContext { .. }) => Err(RedisError::from(
                std::io::Error::new(std::io::ErrorKind::WouldBlock, e),
            )),
            Err(e) => Err(e.into_redis()),
        }
    }

    fn command(&self, cmd: &Cmd) -> RedisResult<Value> {
        self.run("req_command", async |con| con.req_packed_command(cmd).await)
    }

    fn pipeline(&self, cmds: Vec<Cmd>, offset: usize, count: usize) -> RedisResult<Vec<Value>> {
        let atomic = cmds.len() >= 2
            && name_is(&cmds[0], b"MULTI")
            && name_is(&cmds[cmds.len() - 1], b"EXEC");
        if !atomic {
            let mut pipe = Pipeline::with_capacity(cmds.len());
            for cmd in cmds {
                pipe.add_command(cmd);
            }
            return self.run("req_packed_commands", async |con| {
                con.req_packed_commands(&pipe, offset, count).await
            });
        }
        let total = cmds.len();
        let inner = total - 2;
        let mut pipe = Pipeline::with_capacity(inner);
        for cmd in cmds.into_iter().skip(1).take(inner) {
            pipe.add_command(cmd);
        }
        pipe.atomic();
        let mut replies = self.run("req_packed_commands", async |con| {
            con.req_packed_commands(&pipe, inner + 1, 1).await
        })?;
        if (offset, count) == (total - 1, 1) {
            return Ok(replies);
        }
        // The caller wants the replies to MULTI and the queued commands too.
        let exec = replies.pop().unwrap_or(Value::Nil);
        let mut all = Vec::with_capacity(total);
        all.push(Value::Okay);
        all.extend(std::iter::repeat_n(
            Value::SimpleString("QUEUED".to_owned()),
            inner,
        ));
        all.push(exec);
        // `offset + count <= total` was checked by the caller.
        Ok(all.into_iter().skip(offset).take(count).collect())
    }
}

impl redis::ConnectionLike for MultiDbClient {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        let mut cmds = parse_requests(cmd)?;
        match (cmds.pop(), cmds.is_empty()) {
            (Some(cmd), true) => self.command(&cmd),
            _ => Err(malformed("expected exactly one command")),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let cmds = parse_requests(cmd)?;
        if offset.checked_add(count).is_none_or(|end| end > cmds.len()) {
            return Err(malformed("offset and count do not match the pipeline"));
        }
        self.pipeline(cmds, offset, count)
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        self.command(cmd)
    }

    fn get_db(&self) -> i64 {
        self.shared.client.get_db()
    }

    fn check_connection(&mut self) -> bool {
        self.command(&redis::cmd("PING")).is_ok()
    }

    fn is_open(&self) -> bool {
        !self.shared.client.controller.router().is_closed()
    }
}

fn name_is(cmd: &Cmd, name: &[u8]) -> bool {
    matches!(cmd.args_iter().next(), Some(redis::Arg::Simple(n)) if n.eq_ignore_ascii_case(name))
}

fn malformed(detail: &'static str) -> RedisError {
    RedisError::from((
        ErrorKind::Client,
        "blocking client: malformed packed request",
        detail.to_owned(),
    ))
}

/// Parses packed requests (non-empty RESP arrays of bulk strings, back to back) into
/// commands.
pub(crate) fn parse_requests(mut bytes: &[u8]) -> RedisResult<Vec<Cmd>> {
    let mut cmds = Vec::new();
    while !bytes.is_empty() {
        let (argc, rest) = header(bytes, b'*')?;
        if argc == 0 {
            return Err(malformed("a command with no arguments"));
        }
        bytes = rest;
        let mut cmd = Cmd::new();
        for _ in 0..argc {
            let (len, rest) = header(bytes, b'$')?;
            let end = len
                .checked_add(2)
                .filter(|end| rest.get(len..*end) == Some(b"\r\n"))
                .ok_or_else(|| malformed("bulk string shorter than its length"))?;
            cmd.arg(&rest[..len]);
            bytes = &rest[end..];
        }
        cmds.push(cmd);
    }
    if cmds.is_empty() {
        return Err(malformed("no command"));
    }
    Ok(cmds)
}

/// A command's arguments, as bytes (anything else, such as a cursor placeholder, as
/// `<cursor>`).
pub(crate) fn args(cmd: &Cmd) -> Vec<Vec<u8>> {
    cmd.args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => bytes.to_vec(),
            _ => b"<cursor>".to_vec(),
        })
        .collect()
}

/// Reads `<marker><decimal>\r\n`, returning the number and what follows.
fn header(bytes: &[u8], marker: u8) -> RedisResult<(usize, &[u8])> {
    let rest = bytes
        .strip_prefix(&[marker])
        .ok_or_else(|| malformed("expected an array of bulk strings"))?;
    let end = rest
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or_else(|| malformed("unterminated length"))?;
    let n = std::str::from_utf8(&rest[..end])
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| malformed("bad length"))?;
    Ok((n, &rest[end + 2..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_back_what_redis_packs_including_binary_and_empty_args() {
        let mut original = redis::cmd("SET");
        original.arg(b"k\r\n\x00".as_slice()).arg("").arg(42);
        let parsed = parse_requests(&original.get_packed_command()).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(args(&parsed[0]), args(&original));
    }

    #[test]
    fn parses_a_packed_pipeline_into_its_commands() {
        let mut pipe = redis::pipe();
        pipe.atomic().set("a", 1).incr("b", 2);
        let parsed = parse_requests(&pipe.get_packed_pipeline()).unwrap();
        let names: Vec<_> = parsed.iter().map(|c| args(c)[0].clone()).collect();
        assert_eq!(
            names,
            [
                b"MULTI".to_vec(),
                b"SET".to_vec(),
                b"INCRBY".to_vec(),
                b"EXEC".to_vec()
            ]
        );
        assert!(name_is(&parsed[0], b"multi"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 1024,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Any bytes: commands or a typed client error, never a panic; what redis packs
        /// parses back whatever its arguments.
        #[test]
        fn any_bytes_parse_or_are_refused_and_packed_commands_round_trip(
            garbage in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"*$\r\n0123456789-".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..64,
            ),
            huge in proptest::prelude::any::<u64>(),
            parts in proptest::collection::vec(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
                1..5,
            ),
        ) {
            if let Err(e) = parse_requests(&garbage) {
                proptest::prop_assert_eq!(e.kind(), ErrorKind::Client);
            }
            let lying = format!("*1\r\n${huge}\r\nabc\r\n");
            proptest::prop_assert!(parse_requests(lying.as_bytes()).is_err() || huge == 3);
            let mut cmd = redis::cmd("X");
            for part in &parts {
                cmd.arg(part.as_slice());
            }
            let parsed = parse_requests(&cmd.get_packed_command()).unwrap();
            proptest::prop_assert_eq!(parsed.len(), 1);
            proptest::prop_assert_eq!(args(&parsed[0]), args(&cmd));
        }
    }

    #[test]
    fn refuses_truncated_or_inline_requests() {
        let packed = redis::cmd("GET").arg("key").get_packed_command();
        for bad in [
            &packed[..packed.len() - 1],
            &packed[..packed.len() - 3],
            b"PING\r\n".as_slice(),
            b"*1\r\n$x\r\n".as_slice(),
            b"*1\r\n$18446744073709551615\r\nabc\r\n".as_slice(),
            b"*18446744073709551615\r\n".as_slice(),
            b"".as_slice(),
            // Found by fuzz/blocking_requests: an empty array is no command at all.
            b"*0\r\n".as_slice(),
            b"*1\r\n$1\r\na\r\n*0\r\n".as_slice(),
        ] {
            let err = parse_requests(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Client, "{bad:?}");
        }
    }
}
