//! A tiny blocking RESP2 client for readiness checks and cluster wiring.
//!
//! The launchers talk to the servers they start without the `redis` crate (a dev-dependency
//! only) and without a runtime, so they work the same from sync and async tests. A TLS-only
//! process is reached over a unix socket in its temp dir, so this client needs no TLS; every
//! connection opens with one `HELLO 2 [AUTH user password] SETNAME multidb-testkit-control`,
//! which logs in where the process requires it and names the connection, so `CLIENT LIST`
//! counts can leave the launcher's own connection out.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// Where a server takes control commands: its TCP port, or (TLS servers, whose only TCP
/// port speaks TLS) a unix socket in its temp dir.
#[derive(Debug, Clone)]
pub(crate) enum Endpoint {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

/// Bound on every control connection's connect, read and write.
pub(crate) const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);

/// The client name of every control connection.
pub(crate) const CONTROL_CLIENT_NAME: &str = "multidb-testkit-control";

/// Who a control connection logs in as.
#[derive(Clone, Copy)]
pub(crate) struct Login<'a> {
    pub(crate) user: &'a str,
    pub(crate) password: &'a str,
}

/// Why a control connection could not be opened; never holds a password.
#[derive(Debug)]
pub(crate) struct OpenError {
    /// `CONNECT` or `HELLO`.
    pub(crate) step: &'static str,
    /// The I/O error or the refusal.
    pub(crate) detail: String,
}

/// A decoded RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Reply>),
}

impl Reply {
    /// The text of a status or bulk reply.
    pub(crate) fn text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// One blocking control connection; every read and write is bounded by `timeout`.
pub(crate) struct Control {
    stream: BufReader<Stream>,
}

impl Control {
    fn connect(endpoint: &Endpoint, timeout: Duration) -> io::Result<Self> {
        let stream = match endpoint {
            Endpoint::Tcp(addr) => {
                let s = TcpStream::connect_timeout(addr, timeout)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            Endpoint::Unix(path) => {
                let s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(timeout))?;
                s.set_write_timeout(Some(timeout))?;
                Stream::Unix(s)
            }
        };
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    /// Connects, logs in (when `login` is given) and names the connection
    /// [`CONTROL_CLIENT_NAME`], all with one `HELLO 2` that keeps replies RESP2.
    pub(crate) fn open(
        endpoint: &Endpoint,
        login: Option<Login<'_>>,
        timeout: Duration,
    ) -> Result<Self, OpenError> {
        let mut control = Self::connect(endpoint, timeout).map_err(|e| OpenError {
            step: "CONNECT",
            detail: e.to_string(),
        })?;
        let mut hello = vec!["HELLO", "2"];
        if let Some(login) = login {
            hello.extend(["AUTH", login.user, login.password]);
        }
        hello.extend(["SETNAME", CONTROL_CLIENT_NAME]);
        let refused = |detail: String| OpenError {
            step: "HELLO",
            detail,
        };
        match control.call(&hello) {
            Ok(Reply::Error(e)) => Err(refused(e)),
            Ok(_) => Ok(control),
            Err(e) => Err(refused(e.to_string())),
        }
    }

    /// Sends one command and reads its reply.
    pub(crate) fn call(&mut self, args: &[&str]) -> io::Result<Reply> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.stream.get_mut().write_all(&out)?;
        read_reply(&mut self.stream, 0)
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad RESP reply: {what}"),
    )
}

fn read_reply(r: &mut impl BufRead, depth: usize) -> io::Result<Reply> {
    if depth > 8 {
        return Err(invalid("nested too deep"));
    }
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line
        .strip_suffix("\r\n")
        .ok_or_else(|| invalid("line without CRLF"))?;
    let (kind, rest) = line
        .split_at_checked(1)
        .ok_or_else(|| invalid("empty line"))?;
    let number = || rest.parse::<i64>().map_err(|_| invalid(rest));
    match kind {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Integer(number()?)),
        "$" => {
            let Ok(len) = usize::try_from(number()?) else {
                return Ok(Reply::Nil);
            };
            let mut buf = vec![0; len + 2];
            r.read_exact(&mut buf)?;
            buf.truncate(len);
            Ok(Reply::Bulk(buf))
        }
        "*" => {
            let Ok(len) = usize::try_from(number()?) else {
                return Ok(Reply::Nil);
            };
            (0..len)
                .map(|_| read_reply(r, depth + 1))
                .collect::<io::Result<_>>()
                .map(Reply::Array)
        }
        _ => Err(invalid(line)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &[u8]) -> io::Result<Reply> {
        read_reply(&mut BufReader::new(input), 0)
    }

    #[test]
    fn decodes_every_resp2_type() {
        assert_eq!(parse(b"+PONG\r\n").ok(), Some(Reply::Status("PONG".into())));
        assert_eq!(
            parse(b"-ERR x\r\n").ok(),
            Some(Reply::Error("ERR x".into()))
        );
        assert_eq!(parse(b":42\r\n").ok(), Some(Reply::Integer(42)));
        assert_eq!(parse(b"$-1\r\n").ok(), Some(Reply::Nil));
        assert_eq!(
            parse(b"*2\r\n$4\r\na\r\nb\r\n$0\r\n\r\n").ok(),
            Some(Reply::Array(vec![
                Reply::Bulk(b"a\r\nb".to_vec()),
                Reply::Bulk(Vec::new())
            ]))
        );
    }

    #[test]
    fn rejects_malformed_replies() {
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"+no crlf").is_err());
        assert!(parse(b":nan\r\n").is_err());
        assert!(parse(b"$5\r\nab").is_err());
        assert!(parse(b"").is_err());
    }
}
