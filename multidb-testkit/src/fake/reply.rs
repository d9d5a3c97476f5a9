//! Replies and their RESP2/RESP3 wire encoding.
//!
//! Replies are built once and encoded per connection, because the same pub/sub message goes
//! to RESP2 and RESP3 subscribers, and RESP2 has no maps, sets, nulls or pushes.

use bytes::{BufMut, BytesMut};

/// The protocol a connection speaks; RESP3 only after `HELLO 3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    Resp2,
    Resp3,
}

/// One reply (or, for `Multi`, several consecutive ones).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Reply {
    Ok,
    Simple(&'static str),
    /// The whole error line after `-`, code included: `ERR syntax error`.
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    NilArray,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Push(Vec<Reply>),
    /// Several frames in a row (one subscribe confirmation per channel).
    Multi(Vec<Reply>),
    /// Not a reply: a blocking command found nothing and waits until this deadline
    /// (`None`: forever). The connection holds its later requests meanwhile, and runs the
    /// command again after every write to the server; encoding it writes nothing.
    Block(Option<tokio::time::Instant>),
}

impl Reply {
    pub(crate) fn err(text: impl Into<String>) -> Self {
        Reply::Error(text.into())
    }

    /// An integer reply from a count or id (saturating; counts never get near `i64::MAX`).
    pub(crate) fn count<N: TryInto<i64>>(n: N) -> Self {
        Reply::Int(n.try_into().unwrap_or(i64::MAX))
    }

    pub(crate) fn bulk(data: impl Into<Vec<u8>>) -> Self {
        Reply::Bulk(data.into())
    }

    pub(crate) fn bulk_or_nil(data: Option<impl Into<Vec<u8>>>) -> Self {
        data.map_or(Reply::Nil, Reply::bulk)
    }

    pub(crate) fn wrong_type() -> Self {
        Reply::err("WRONGTYPE Operation against a key holding the wrong kind of value")
    }

    pub(crate) fn not_integer() -> Self {
        Reply::err("ERR value is not an integer or out of range")
    }

    pub(crate) fn syntax() -> Self {
        Reply::err("ERR syntax error")
    }

    /// Appends the wire form of this reply for `protocol` to `out`.
    pub(crate) fn encode(&self, protocol: Protocol, out: &mut BytesMut) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Reply::Ok => out.put_slice(b"+OK\r\n"),
            Reply::Simple(text) => line(out, b'+', text.as_bytes()),
            // Error text must stay on one line or the client would read garbage.
            Reply::Error(text) => line(out, b'-', text.replace(['\r', '\n'], " ").as_bytes()),
            Reply::Int(n) => line(out, b':', n.to_string().as_bytes()),
            Reply::Bulk(data) => {
                line(out, b'$', data.len().to_string().as_bytes());
                out.put_slice(data);
                out.put_slice(b"\r\n");
            }
            Reply::Nil | Reply::NilArray if resp3 => out.put_slice(b"_\r\n"),
            Reply::Nil => out.put_slice(b"$-1\r\n"),
            Reply::NilArray => out.put_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, b'*', items, protocol),
            Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, protocol),
            Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, protocol),
            Reply::Map(pairs) => {
                if resp3 {
                    line(out, b'%', pairs.len().to_string().as_bytes());
                } else {
                    line(out, b'*', (pairs.len() * 2).to_string().as_bytes());
                }
                for (key, value) in pairs {
                    key.encode(protocol, out);
                    value.encode(protocol, out);
                }
            }
            Reply::Block(_) => {}
            Reply::Multi(replies) => {
                for reply in replies {
                    reply.encode(protocol, out);
                }
            }
        }
    }
}

fn line(out: &mut BytesMut, prefix: u8, body: &[u8]) {
    out.put_u8(prefix);
    out.put_slice(body);
    out.put_slice(b"\r\n");
}

fn aggregate(out: &mut BytesMut, prefix: u8, items: &[Reply], protocol: Protocol) {
    line(out, prefix, items.len().to_string().as_bytes());
    for item in items {
        item.encode(protocol, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply, protocol: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        reply.encode(protocol, &mut out);
        out.to_vec()
    }

    #[test]
    fn maps_flatten_to_arrays_in_resp2() {
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Int(1))]);
        assert_eq!(wire(&map, Protocol::Resp2), b"*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(wire(&map, Protocol::Resp3), b"%1\r\n$1\r\na\r\n:1\r\n");
    }

    #[test]
    fn nulls_and_pushes_follow_the_protocol() {
        assert_eq!(wire(&Reply::Nil, Protocol::Resp2), b"$-1\r\n");
        assert_eq!(wire(&Reply::NilArray, Protocol::Resp2), b"*-1\r\n");
        assert_eq!(wire(&Reply::Nil, Protocol::Resp3), b"_\r\n");
        let push = Reply::Push(vec![Reply::bulk("message")]);
        assert_eq!(wire(&push, Protocol::Resp3), b">1\r\n$7\r\nmessage\r\n");
        assert_eq!(wire(&push, Protocol::Resp2), b"*1\r\n$7\r\nmessage\r\n");
    }

    #[test]
    fn error_text_never_spans_lines() {
        assert_eq!(
            wire(&Reply::err("ERR a\r\nb"), Protocol::Resp2),
            b"-ERR a  b\r\n"
        );
    }
}
