//! A fake Redis Enterprise cluster REST API: the two requests a lag-aware health check
//! makes, served from state the test controls.
//!
//! - `GET /v1/bdbs[?fields=..]`: the databases added with [`FakeRestApi::add_bdb`], as a
//!   JSON list of `{"uid", "name", "endpoints": [{"dns_name", "addr", "port"}]}`;
//! - `GET /v1/bdbs/{uid}/availability[?extend_check=lag&availability_lag_tolerance_ms=N]`:
//!   `200 {}` when available, else `503` with a JSON `{"error_code", "description"}` body
//!   (`404` for an unknown uid), per [`Availability`].
//!
//! Anything else is `404`. With [`FakeRestApi::require_basic_auth`] every request without
//! those credentials gets `401`. Each request is counted by path ([`FakeRestApi::request_count`]);
//! [`FakeRestApi::stop`] closes the listener (connects are refused) until
//! [`FakeRestApi::restart`]. Responses carry `Content-Length`, or are chunked after
//! [`FakeRestApi::chunked_responses`]. HTTP/1.1, one request per connection.

use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};
use tokio::runtime::Handle;
use tokio_rustls::TlsAcceptor;

use crate::TlsMaterial;

mod render;
mod tls;

use self::render::{base64, bdb_list, error_body, render};

/// The largest request head read.
const MAX_REQUEST: usize = 16 * 1024;

/// What the availability endpoint answers for one database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Availability {
    /// `200`.
    #[default]
    Available,
    /// `503` when the request asks for the lag check (`extend_check=lag`), `200` otherwise.
    Lagging,
    /// `503` whatever is asked.
    Unavailable,
}

/// One endpoint of a fake database, as the REST API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BdbEndpoint {
    /// Its DNS name (e.g. `redis-12000.cluster.example.com`).
    pub dns_name: String,
    /// Its IP addresses.
    pub addr: Vec<String>,
    /// Its port.
    pub port: u16,
}

impl BdbEndpoint {
    /// An endpoint reached at `addr`: its IP as the only `addr` entry, and a made-up DNS
    /// name `redis-PORT.cluster.test`.
    pub fn at(addr: SocketAddr) -> Self {
        BdbEndpoint {
            dns_name: format!("redis-{}.cluster.test", addr.port()),
            addr: vec![addr.ip().to_string()],
            port: addr.port(),
        }
    }
}

#[derive(Debug, Default)]
struct State {
    bdbs: Vec<(u64, Vec<BdbEndpoint>, Availability)>,
    authorization: Option<String>,
    chunked: bool,
    /// Request targets (path and query), in order.
    requests: Vec<String>,
}

#[derive(Debug)]
struct Slot {
    listener: Option<TcpListener>,
    waker: Option<Waker>,
    shut_down: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    slot: Mutex<Slot>,
}

/// A fake Redis Enterprise REST API on 127.0.0.1, plain HTTP or HTTPS. Stops when dropped.
///
/// ```
/// use multidb_testkit::{Availability, BdbEndpoint, FakeRestApi};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let api = FakeRestApi::start().await?;
/// api.add_bdb(7, [BdbEndpoint::at("127.0.0.1:12000".parse().unwrap())]);
/// api.set_availability(7, Availability::Lagging);
///
/// let mut s = tokio::net::TcpStream::connect(api.addr()).await?;
/// s.write_all(b"GET /v1/bdbs/7/availability?extend_check=lag HTTP/1.1\r\nHost: x\r\n\r\n").await?;
/// let mut response = String::new();
/// s.read_to_string(&mut response).await?;
/// assert!(response.starts_with("HTTP/1.1 503"), "{response}");
/// assert_eq!(api.request_count("/v1/bdbs/7/availability"), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FakeRestApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    tls: bool,
    runtime: Handle,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeRestApi {
    /// Starts a plain-HTTP API on a free loopback port. Needs a tokio runtime.
    ///
    /// # Errors
    /// When no runtime is running or the port cannot be bound.
    #[allow(
        clippy::unused_async,
        reason = "async like FakeRedis::start: it needs a runtime"
    )]
    pub async fn start() -> io::Result<FakeRestApi> {
        Self::launch(None)
    }

    /// Starts an HTTPS API presenting `material`'s server certificate (valid for `127.0.0.1`
    /// and `localhost`); clients trust [`TlsMaterial::ca_cert_pem`].
    ///
    /// # Errors
    /// As [`FakeRestApi::start`], or when the certificate cannot be loaded.
    #[allow(
        clippy::unused_async,
        reason = "async like FakeRedis::start: it needs a runtime"
    )]
    pub async fn start_tls(material: &TlsMaterial) -> io::Result<FakeRestApi> {
        Self::launch(Some(tls::acceptor(material)?))
    }

    fn launch(acceptor: Option<TlsAcceptor>) -> io::Result<FakeRestApi> {
        let runtime = Handle::try_current().map_err(io::Error::other)?;
        let listener = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            slot: Mutex::new(Slot {
                listener: Some(listener),
                waker: None,
                shut_down: false,
            }),
        });
        let tls = acceptor.is_some();
        tokio::spawn(accept_loop(Arc::clone(&shared), acceptor));
        Ok(FakeRestApi {
            shared,
            addr,
            tls,
            runtime,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL: `http://127.0.0.1:PORT`, or `https://` when serving TLS.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Adds (or replaces) database `uid` with these endpoints, available.
    pub fn add_bdb(&self, uid: u64, endpoints: impl IntoIterator<Item = BdbEndpoint>) {
        let mut state = lock(&self.shared.state);
        state.bdbs.retain(|(u, ..)| *u != uid);
        let endpoints = endpoints.into_iter().collect();
        state.bdbs.push((uid, endpoints, Availability::Available));
    }

    /// Removes database `uid`: it is no longer listed and its availability is `404`.
    pub fn remove_bdb(&self, uid: u64) {
        lock(&self.shared.state).bdbs.retain(|(u, ..)| *u != uid);
    }

    /// What the availability endpoint answers for `uid` from now on (no-op for an unknown
    /// uid).
    pub fn set_availability(&self, uid: u64, availability: Availability) {
        for bdb in &mut lock(&self.shared.state).bdbs {
            if bdb.0 == uid {
                bdb.2 = availability;
            }
        }
    }

    /// Answers `401` to every request without HTTP basic authentication as `username` and
    /// `password`.
    pub fn require_basic_auth(&self, username: &str, password: &str) {
        let token = base64(format!("{username}:{password}").as_bytes());
        lock(&self.shared.state).authorization = Some(format!("Basic {token}"));
    }

    /// Sends bodies with `Transfer-Encoding: chunked` instead of `Content-Length`.
    pub fn chunked_responses(&self, chunked: bool) {
        lock(&self.shared.state).chunked = chunked;
    }

    /// How many requests for `path` (without query) arrived, answered or not.
    pub fn request_count(&self, path: &str) -> usize {
        lock(&self.shared.state)
            .requests
            .iter()
            .filter(|t| t.split('?').next() == Some(path))
            .count()
    }

    /// Every request target (path and query) so far, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.state).requests.clone()
    }

    /// Closes the listener now: connects are refused until [`FakeRestApi::restart`].
    pub fn stop(&self) {
        let mut slot = lock(&self.shared.slot);
        slot.listener = None;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }

    /// Listens on the same port again (a no-op when listening).
    ///
    /// # Errors
    /// When the port was taken meanwhile.
    pub fn restart(&self) -> io::Result<()> {
        let mut slot = lock(&self.shared.slot);
        if slot.listener.is_none() {
            let _runtime = self.runtime.enter();
            slot.listener = Some(listen(self.addr)?);
            if let Some(waker) = slot.waker.take() {
                waker.wake();
            }
        }
        Ok(())
    }
}

impl Drop for FakeRestApi {
    fn drop(&mut self) {
        let mut slot = lock(&self.shared.slot);
        slot.shut_down = true;
        slot.listener = None;
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
    }
}

/// Binds with `SO_REUSEADDR` so a restart can take the port again.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(128)
}

async fn accept_loop(shared: Arc<Shared>, acceptor: Option<TlsAcceptor>) {
    loop {
        // The task never owns the listener, so `stop` closes it synchronously.
        let accepted = poll_fn(|cx| {
            let mut slot = lock(&shared.slot);
            if slot.shut_down {
                return Poll::Ready(None);
            }
            slot.waker = Some(cx.waker().clone());
            match &slot.listener {
                Some(listener) => listener.poll_accept(cx).map(Some),
                None => Poll::Pending,
            }
        })
        .await;
        let stream = match accepted {
            None => return,
            Some(Ok((stream, _))) => stream,
            Some(Err(e)) => {
                tracing::debug!(error = %e, "fake REST API accept failed");
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let served = match acceptor {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(tls) => serve(&shared, tls).await,
                    Err(e) => Err(e),
                },
                None => serve(&shared, stream).await,
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "fake REST API connection failed");
            }
        });
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    mut stream: S,
) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_REQUEST {
            return Err(io::Error::other("request head too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let response = respond(shared, &head);
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The full response to one request head.
fn respond(shared: &Shared, head: &str) -> String {
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("");
    let target = request_line.next().unwrap_or("").to_owned();
    let authorization = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_owned())
    });
    let mut state = lock(&shared.state);
    state.requests.push(target.clone());
    let (status, body) = if method != "GET" {
        (405, error_body("method_not_allowed", "only GET is served"))
    } else if state.authorization.is_some() && state.authorization != authorization {
        (
            401,
            error_body("unauthorized", "bad or missing credentials"),
        )
    } else {
        route(&state, &target)
    };
    render(status, &body, state.chunked)
}

fn route(state: &State, target: &str) -> (u16, String) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path == "/v1/bdbs" {
        return (200, bdb_list(state));
    }
    let uid = path
        .strip_prefix("/v1/bdbs/")
        .and_then(|rest| rest.strip_suffix("/availability"))
        .and_then(|uid| uid.parse::<u64>().ok());
    let Some(uid) = uid else {
        return (404, error_body("not_found", "no such resource"));
    };
    let Some(bdb) = state.bdbs.iter().find(|b| b.0 == uid) else {
        return (404, error_body("bdb_not_found", "database does not exist"));
    };
    let lag_check = query.split('&').any(|p| p == "extend_check=lag");
    match bdb.2 {
        Availability::Available => (200, "{}".to_owned()),
        Availability::Lagging if !lag_check => (200, "{}".to_owned()),
        Availability::Lagging => (
            503,
            error_body("bdb_lag_exceeded", "replication lag exceeds the tolerance"),
        ),
        Availability::Unavailable => (
            503,
            error_body("bdb_unavailable", "database is unavailable"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_credentials_matches_rfc4648() {
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
    }

    #[test]
    fn lists_bdbs_as_json_with_escaped_strings() {
        let mut state = State::default();
        state.bdbs.push((
            3,
            vec![BdbEndpoint {
                dns_name: "a\"b".into(),
                addr: vec!["10.0.0.1".into()],
                port: 12000,
            }],
            Availability::Available,
        ));
        assert_eq!(
            bdb_list(&state),
            r#"[{"uid":3,"name":"db3","endpoints":[{"dns_name":"a\"b","addr":["10.0.0.1"],"port":12000}]}]"#
        );
    }

    #[test]
    fn lagging_is_unavailable_only_when_the_lag_is_checked() {
        let mut state = State::default();
        state.bdbs.push((1, Vec::new(), Availability::Lagging));
        assert_eq!(route(&state, "/v1/bdbs/1/availability").0, 200);
        assert_eq!(
            route(
                &state,
                "/v1/bdbs/1/availability?extend_check=lag&availability_lag_tolerance_ms=5"
            )
            .0,
            503
        );
        assert_eq!(route(&state, "/v1/bdbs/2/availability").0, 404);
    }

    #[test]
    fn chunked_rendering_splits_the_body() {
        let r = render(200, "[1,2,3]", true);
        assert!(
            r.ends_with("\r\n\r\n3\r\n[1,\r\n4\r\n2,3]\r\n0\r\n\r\n"),
            "{r:?}"
        );
    }
}
