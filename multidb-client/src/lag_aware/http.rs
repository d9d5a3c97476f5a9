//! A minimal HTTP/1.1 GET client for the REST API: one request per connection
//! (`Connection: close`), plain or over rustls, bodies by `Content-Length`, chunked or
//! until EOF.
//!
//! Written here rather than pulled in because the few calls the check makes do not justify
//! hyper's or reqwest's dependency trees, and ureq's default TLS stack needs aws-lc (cmake).

use std::fmt::Write as _;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_rustls::rustls::pki_types::ServerName;

/// The largest response read: the bdb list of a big cluster with `fields=uid,endpoints`
/// stays far below it.
const MAX_RESPONSE: usize = 8 * 1024 * 1024;

/// Where the REST API lives, parsed from a database's `health_check_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BaseUrl {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// A path prefix without trailing slash (usually empty).
    pub(crate) prefix: String,
}

impl BaseUrl {
    /// Parses `http(s)://host[:port][/prefix]`; `default_port` applies when none is given.
    pub(crate) fn parse(url: &str, default_port: u16) -> Result<Self, String> {
        let (tls, rest) = if let Some(rest) = strip_prefix_ci(url, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ci(url, "http://") {
            (false, rest)
        } else {
            return Err("health_check_url must start with http:// or https://".to_owned());
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.contains('@') {
            return Err(
                "health_check_url must not carry credentials: use LagAwareCheck basic_auth"
                    .to_owned(),
            );
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err("health_check_url has no host".to_owned());
        }
        let path = path.split(['?', '#']).next().unwrap_or("");
        Ok(BaseUrl {
            tls,
            host: host.to_owned(),
            port: port.unwrap_or(default_port),
            prefix: path.trim_end_matches('/').to_owned(),
        })
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(authority: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = |p: &str| format!("health_check_url has an invalid port {p:?}");
    if let Some(rest) = authority.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err("health_check_url has an unclosed [ in its host".to_owned());
        };
        return match after.strip_prefix(':') {
            Some(p) => Ok((host, Some(p.parse().map_err(|_| bad_port(p))?))),
            None if after.is_empty() => Ok((host, None)),
            None => Err(bad_port(after)),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Ok((host, Some(p.parse().map_err(|_| bad_port(p))?))),
        None => Ok((authority, None)),
    }
}

/// A response: status and body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// Sends `GET {base.prefix}{target}` and reads the whole response. The caller bounds the
/// time taken.
pub(crate) async fn get(
    base: &BaseUrl,
    target: &str,
    authorization: Option<&str>,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Response, String> {
    let tcp = TcpStream::connect((base.host.as_str(), base.port))
        .await
        .map_err(|e| format!("connect to {}:{} failed: {e}", base.host, base.port))?;
    let _ = tcp.set_nodelay(true);
    let request = render_request(base, target, authorization);
    if base.tls {
        let Some(config) = tls else {
            return Err("https is not available: no TLS configuration".to_owned());
        };
        let name = ServerName::try_from(base.host.clone())
            .map_err(|e| format!("invalid TLS server name {:?}: {e}", base.host))?;
        let stream = TlsConnector::from(Arc::clone(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {}:{} failed: {e}", base.host, base.port))?;
        exchange(stream, &request).await
    } else {
        exchange(tcp, &request).await
    }
}

fn render_request(base: &BaseUrl, target: &str, authorization: Option<&str>) -> String {
    let host = if base.host.contains(':') {
        format!("[{}]", base.host)
    } else {
        base.host.clone()
    };
    let mut request = format!(
        "GET {}{target} HTTP/1.1\r\nHost: {host}:{}\r\nAccept: application/json\r\n\
         User-Agent: multidb-client\r\nConnection: close\r\n",
        base.prefix, base.port
    );
    if let Some(auth) = authorization {
        let _ = write!(request, "Authorization: {auth}\r\n");
    }
    request.push_str("\r\n");
    request
}

async fn exchange<S>(mut stream: S, request: &str) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("sending the request failed: {e}"))?;
    stream
        .flush()
        .await
        .map_err(|e| format!("sending the request failed: {e}"))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let mut parser = Parser::default();
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) => return parser.feed(&buf, true)?.ok_or_else(|| truncated(&buf)),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A server that closes without TLS close_notify: the bytes read so far count.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return parser.feed(&buf, true)?.ok_or_else(|| truncated(&buf));
            }
            Err(e) => return Err(format!("reading the response failed: {e}")),
        }
        if let Some(response) = parser.feed(&buf, false)? {
            return Ok(response);
        }
        if buf.len() > MAX_RESPONSE {
            return Err(format!("response larger than {MAX_RESPONSE} bytes"));
        }
    }
}

fn truncated(buf: &[u8]) -> String {
    if buf.is_empty() {
        "the server closed the connection without a response".to_owned()
    } else {
        "the server closed the connection in the middle of the response".to_owned()
    }
}

/// Parses a complete response out of `buf`, `None` while more bytes are needed. At `eof`,
/// a body without length ends where the bytes end.
#[cfg(test)]
pub(crate) fn parse(buf: &[u8], eof: bool) -> Result<Option<Response>, String> {
    Parser::default().feed(buf, eof)
}

/// The longest response head (status line and headers) read.
const MAX_HEAD: usize = 64 * 1024;

/// Reads a response as its bytes arrive, looking at each byte a bounded number of times
/// (the whole buffer is given again at every call, grown by what arrived): the head is
/// searched for in the new bytes only, then the body is framed once.
#[derive(Default)]
pub(crate) struct Parser {
    /// How far the head's end was looked for.
    scanned: usize,
    head: Option<Head>,
}

struct Head {
    status: u16,
    body_start: usize,
    framing: Framing,
}

enum Framing {
    Length(usize),
    Chunked(Dechunker),
    UntilEof,
    Empty,
}

impl Parser {
    /// Parses what `buf` (all bytes so far) holds; `None` while more are needed.
    pub(crate) fn feed(&mut self, buf: &[u8], eof: bool) -> Result<Option<Response>, String> {
        if self.head.is_none() {
            // The end marker may straddle the previous call's bytes: back up 3.
            let from = self.scanned.saturating_sub(3);
            let Some(at) = find(&buf[from..], b"\r\n\r\n") else {
                self.scanned = buf.len();
                if buf.len() > MAX_HEAD {
                    return Err(format!("response head larger than {MAX_HEAD} bytes"));
                }
                return Ok(None);
            };
            self.head = Some(parse_head(buf, from + at)?);
        }
        // Set just above when it was not.
        let Some(head) = self.head.as_mut() else {
            return Ok(None);
        };
        let body = &buf[head.body_start..];
        let done = match &mut head.framing {
            Framing::Length(n) => (body.len() >= *n).then(|| body[..*n].to_vec()),
            Framing::Chunked(dechunker) => dechunker.feed(body)?,
            Framing::UntilEof => eof.then(|| body.to_vec()),
            Framing::Empty => Some(Vec::new()),
        };
        Ok(done.map(|body| Response {
            status: head.status,
            body,
        }))
    }
}

/// The head ending at `head_end` (where its blank line starts).
fn parse_head(buf: &[u8], head_end: usize) -> Result<Head, String> {
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| "response headers are not UTF-8".to_owned())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = parse_status(status_line)?;
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err("malformed response header".to_owned());
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| format!("invalid Content-Length {value:?}"))?;
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        }
    }
    let framing = if chunked {
        Framing::Chunked(Dechunker::default())
    } else if let Some(n) = content_length {
        if n > MAX_RESPONSE {
            return Err(format!("response larger than {MAX_RESPONSE} bytes"));
        }
        Framing::Length(n)
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Empty
    } else {
        Framing::UntilEof
    };
    Ok(Head {
        status,
        body_start: head_end + 4,
        framing,
    })
}

fn parse_status(line: &str) -> Result<u16, String> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1.x response".to_owned());
    }
    code.parse()
        .ok()
        .filter(|c| (100..1000).contains(c))
        .ok_or_else(|| format!("invalid HTTP status {code:?}"))
}

/// Decodes a chunked body as it arrives: each call is given the whole body so far and
/// goes on from where the last one stopped.
#[derive(Default)]
pub(crate) struct Dechunker {
    /// Where the next chunk's size line starts.
    at: usize,
    body: Vec<u8>,
    /// After the last chunk: how far the end of the trailers was looked for.
    trailers_from: Option<usize>,
}

impl Dechunker {
    /// The body once the last chunk (and its trailers) arrived.
    pub(crate) fn feed(&mut self, rest: &[u8]) -> Result<Option<Vec<u8>>, String> {
        loop {
            if let Some(from) = self.trailers_from {
                // Trailers, if any, end with an empty line.
                let start = self.at;
                if rest[start..].starts_with(b"\r\n") {
                    return Ok(Some(std::mem::take(&mut self.body)));
                }
                let look = from.saturating_sub(3).max(start);
                if find(&rest[look..], b"\r\n\r\n").is_some() {
                    return Ok(Some(std::mem::take(&mut self.body)));
                }
                self.trailers_from = Some(rest.len());
                return Ok(None);
            }
            let pending = &rest[self.at..];
            let Some(line_end) = find(pending, b"\r\n") else {
                if pending.len() > MAX_HEAD {
                    return Err("chunk size line too long".to_owned());
                }
                return Ok(None);
            };
            let size_line = std::str::from_utf8(&pending[..line_end])
                .map_err(|_| "invalid chunk size".to_owned())?;
            let size_text = size_line.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| format!("invalid chunk size {size_text:?}"))?;
            let data = line_end + 2;
            if size == 0 {
                self.at += data;
                self.trailers_from = Some(self.at);
                continue;
            }
            if size > MAX_RESPONSE || self.body.len() + size > MAX_RESPONSE {
                return Err(format!("response larger than {MAX_RESPONSE} bytes"));
            }
            if pending.len() < data + size + 2 {
                return Ok(None);
            }
            if &pending[data + size..data + size + 2] != b"\r\n" {
                return Err("chunk not terminated by CRLF".to_owned());
            }
            self.body.extend_from_slice(&pending[data..data + size]);
            self.at += data + size + 2;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Standard base64 (RFC 4648, padded), for the Basic authorization header.
pub(crate) fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_takes_scheme_host_port_and_prefix() {
        let u = BaseUrl::parse("https://cluster.example.com", 9443).unwrap();
        assert_eq!(
            u,
            BaseUrl {
                tls: true,
                host: "cluster.example.com".into(),
                port: 9443,
                prefix: String::new()
            }
        );
        let u = BaseUrl::parse("HTTP://127.0.0.1:8080/api/", 9443).unwrap();
        assert_eq!((u.tls, u.port, u.prefix.as_str()), (false, 8080, "/api"));
        let u = BaseUrl::parse("https://[::1]:9", 9443).unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        assert!(BaseUrl::parse("ftp://x", 1).is_err());
        assert!(BaseUrl::parse("https://x:notaport", 1).is_err());
        let err = BaseUrl::parse("https://u:hunter2@x", 1).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn parses_content_length_bodies_only_when_complete() {
        let full = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(parse(&full[..full.len() - 1], false).unwrap(), None);
        let r = parse(full, false).unwrap().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    }

    #[test]
    fn parses_chunked_bodies() {
        let full = b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n\
                     4\r\nwiki\r\n6;ext=1\r\npedia \r\n0\r\n\r\n";
        assert_eq!(parse(&full[..full.len() - 2], false).unwrap(), None);
        let r = parse(full, false).unwrap().unwrap();
        assert_eq!((r.status, r.body.as_slice()), (503, &b"wikipedia "[..]));
    }

    #[test]
    fn a_body_without_length_ends_at_eof() {
        let full = b"HTTP/1.0 200 OK\r\n\r\n[1,2]";
        assert_eq!(parse(full, false).unwrap(), None);
        assert_eq!(parse(full, true).unwrap().unwrap().body, b"[1,2]");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"SSH-2.0-OpenSSH\r\n\r\n", false).is_err());
        assert!(parse(b"HTTP/1.1 abc OK\r\n\r\n", false).is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false).is_err());
        assert!(
            parse(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                false
            )
            .is_err()
        );
    }

    #[test]
    fn fed_piece_by_piece_it_reads_what_it_reads_at_once() {
        let responses: [&[u8]; 5] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.0 500 Oops\r\n\r\n[1,2]",
        ];
        for full in responses {
            let whole = parse(full, true).unwrap();
            assert!(whole.is_some());
            // Every split into two pieces, and one byte at a time.
            for cut in 0..full.len() {
                let mut parser = Parser::default();
                let first = parser.feed(&full[..cut], false).unwrap();
                let got = first.or_else(|| parser.feed(full, true).unwrap());
                assert_eq!(
                    got,
                    whole,
                    "cut at {cut} of {:?}",
                    String::from_utf8_lossy(full)
                );
            }
            let mut parser = Parser::default();
            let mut got = None;
            for end in 1..=full.len() {
                if let Some(r) = parser.feed(&full[..end], end == full.len()).unwrap() {
                    got = Some(r);
                    break;
                }
            }
            assert_eq!(got, whole);
        }
    }

    #[test]
    fn an_endless_head_or_chunk_line_is_refused_not_accumulated() {
        let mut parser = Parser::default();
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.resize(MAX_HEAD + 2, b'a');
        assert!(parser.feed(&head, false).is_err());
        let mut chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        chunked.resize(chunked.len() + MAX_HEAD + 2, b'1');
        assert!(Parser::default().feed(&chunked, false).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 512,
            failure_persistence: None,
            ..Default::default()
        })]

        /// Whatever a server sends, in whatever pieces: no panic, and the pieces read as
        /// the whole does.
        #[test]
        fn any_bytes_in_any_pieces_read_as_at_once(
            head in proptest::sample::select(vec![
                &b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"[..],
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"HTTP/1.1 500 X\r\n\r\n",
                b"",
            ]),
            body in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"0123456789abcdef\r\n;x".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..200,
            ),
            cuts in proptest::collection::vec(0usize..300, 0..8),
        ) {
            let full: Vec<u8> = head.iter().copied().chain(body).collect();
            let whole = parse(&full, true);
            let mut parser = Parser::default();
            let mut ends: Vec<usize> = cuts.into_iter().map(|c| c.min(full.len())).collect();
            ends.sort_unstable();
            let mut got = None;
            for end in ends {
                match parser.feed(&full[..end], false) {
                    Ok(None) => {}
                    done => {
                        got = Some(done);
                        break;
                    }
                }
            }
            let got = got.unwrap_or_else(|| parser.feed(&full, true));
            // Errors may be found earlier than at once; an answer must be the same one.
            if let (Ok(got), Ok(whole)) = (&got, &whole) {
                proptest::prop_assert_eq!(got, whole);
            }
            proptest::prop_assert_eq!(got.is_ok() || whole.is_err(), true);
        }
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
    }
}
