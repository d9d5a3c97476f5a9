//! Request framing: RESP arrays of bulk strings (decoded with `redis-protocol`) and inline
//! commands such as `PING\r\n`.
//!
//! Before a frame goes to the decoder, a shallow walk checks it is what Redis accepts from a
//! client: one array of bulk strings. That bounds the decoder's recursion (a deeply nested
//! array could otherwise exhaust the stack) and gives Redis' own protocol error messages.

use bytes::{Buf, BytesMut};
use redis_protocol::resp2::decode::decode;
use redis_protocol::resp2::types::{OwnedFrame, Resp2Frame};

/// Longest inline command or length line, as in Redis (`PROTO_INLINE_MAX_SIZE`).
const MAX_LINE: usize = 64 * 1024;
/// Most arguments in one request (Redis allows 1024*1024 too).
const MAX_ARGS: i64 = 1024 * 1024;
/// Largest bulk argument (Redis' default `proto-max-bulk-len`).
const MAX_BULK: i64 = 512 * 1024 * 1024;

/// What the front of the read buffer holds.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    /// Not a whole request yet: read more.
    Incomplete,
    /// A request was consumed but carried no command (empty inline line, `*0`).
    Empty,
    Command(Vec<Vec<u8>>),
    /// Malformed input: reply with this error and close the connection.
    Error(String),
}

/// Takes the next request off the front of `buf`.
pub(crate) fn next_request(buf: &mut BytesMut) -> Parsed {
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => multibulk(buf),
        Some(_) => inline(buf),
    }
}

fn multibulk(buf: &mut BytesMut) -> Parsed {
    let len = match check_multibulk(buf) {
        Ok(Some(len)) => len,
        Ok(None) => return Parsed::Incomplete,
        Err(message) => return Parsed::Error(format!("ERR Protocol error: {message}")),
    };
    let parsed = match decode(&buf[..len]) {
        Ok(Some((frame, used))) if used == len => to_args(frame),
        Ok(_) => Err("invalid multibulk framing".to_owned()),
        Err(err) => Err(err.details().to_owned()),
    };
    buf.advance(len);
    match parsed {
        Ok(args) if args.is_empty() => Parsed::Empty,
        Ok(args) => Parsed::Command(args),
        Err(message) => Parsed::Error(format!("ERR Protocol error: {message}")),
    }
}

fn to_args(frame: OwnedFrame) -> Result<Vec<Vec<u8>>, String> {
    match frame {
        OwnedFrame::Null => Ok(Vec::new()),
        OwnedFrame::Array(items) => items
            .into_iter()
            .map(|item| match item {
                OwnedFrame::BulkString(data) => Ok(data),
                other => Err(format!("expected bulk string, got {:?}", other.kind())),
            })
            .collect(),
        other => Err(format!("expected array, got {:?}", other.kind())),
    }
}

/// Walks one `*N` request without decoding it: `Ok(Some(len))` when `len` bytes form a
/// complete array of bulk strings, `Ok(None)` when more bytes are needed.
fn check_multibulk(buf: &[u8]) -> Result<Option<usize>, String> {
    let Some((count, mut pos)) = length_line(buf, 0, "multibulk count")? else {
        return Ok(None);
    };
    if count > MAX_ARGS {
        return Err("invalid multibulk length".to_owned());
    }
    for _ in 0..count.max(0) {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&other) => return Err(format!("expected '$', got '{}'", char::from(other))),
        }
        let Some((len, data_start)) = length_line(buf, pos, "bulk length")? else {
            return Ok(None);
        };
        if !(0..=MAX_BULK).contains(&len) {
            return Err("invalid bulk length".to_owned());
        }
        // Bounded by MAX_BULK above, so the cast cannot truncate on 64-bit targets.
        pos = data_start + len as usize + 2;
        if pos > buf.len() {
            return Ok(None);
        }
        // The decoder takes any two bytes as the terminator; Redis insists on CRLF.
        if &buf[pos - 2..pos] != b"\r\n" {
            return Err("bulk string not terminated by CRLF".to_owned());
        }
    }
    Ok(Some(pos))
}

/// Reads `<prefix><integer>\r\n` starting at `start`; returns the integer and the offset after it.
fn length_line(buf: &[u8], start: usize, what: &str) -> Result<Option<(i64, usize)>, String> {
    let rest = &buf[start..];
    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
        return if rest.len() > MAX_LINE {
            Err(format!("too big {what} string"))
        } else {
            Ok(None)
        };
    };
    let digits = std::str::from_utf8(&rest[1..end]).map_err(|_| format!("invalid {what}"))?;
    let value = digits
        .parse::<i64>()
        .map_err(|_| format!("invalid {what}"))?;
    Ok(Some((value, start + end + 2)))
}

fn inline(buf: &mut BytesMut) -> Parsed {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE {
            Parsed::Error("ERR Protocol error: too big inline request".to_owned())
        } else {
            Parsed::Incomplete
        };
    };
    let line = buf.split_to(end + 1);
    let args: Vec<Vec<u8>> = line[..]
        .split(u8::is_ascii_whitespace)
        .filter(|word| !word.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if args.is_empty() {
        Parsed::Empty
    } else {
        Parsed::Command(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> Vec<Parsed> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            match next_request(&mut buf) {
                Parsed::Incomplete => return out,
                error @ Parsed::Error(_) => {
                    out.push(error);
                    return out;
                }
                other => out.push(other),
            }
        }
    }

    fn cmd(args: &[&str]) -> Parsed {
        Parsed::Command(args.iter().map(|a| a.as_bytes().to_vec()).collect())
    }

    #[test]
    fn pipelined_frames_in_one_buffer_all_decode() {
        let got = all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        assert_eq!(got, vec![cmd(&["PING"]), cmd(&["GET", "k"])]);
    }

    #[test]
    fn split_frame_waits_for_the_rest() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r"[..]);
        assert_eq!(next_request(&mut buf), Parsed::Incomplete);
        buf.extend_from_slice(b"\nk\r\n");
        assert_eq!(next_request(&mut buf), cmd(&["GET", "k"]));
        assert!(buf.is_empty());
    }

    #[test]
    fn inline_commands_split_on_whitespace() {
        assert_eq!(
            all(b"PING\r\nECHO  hi\n\r\n"),
            vec![cmd(&["PING"]), cmd(&["ECHO", "hi"]), Parsed::Empty]
        );
    }

    #[test]
    fn nested_arrays_are_a_protocol_error() {
        let got = all(b"*1\r\n*1\r\n$1\r\na\r\n");
        assert_eq!(
            got,
            vec![Parsed::Error(
                "ERR Protocol error: expected '$', got '*'".to_owned()
            )]
        );
    }

    #[test]
    fn bad_lengths_are_protocol_errors() {
        assert!(matches!(all(b"*x\r\n")[..], [Parsed::Error(_)]));
        assert!(matches!(all(b"*1\r\n$-5\r\n")[..], [Parsed::Error(_)]));
        assert!(matches!(all(b"*1\r\n$1\r\nabXY")[..], [Parsed::Error(_)]));
    }
}
