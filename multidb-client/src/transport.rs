//! How a member's byte streams are opened: the seam between the client and the network.
//!
//! A URL or Sentinel member opens every socket it needs — its shared connection, pinned
//! and blocking connections, subscriptions, the Sentinels it asks — through one
//! [`Transport`]. The default opens TCP and Unix sockets; TLS, when the URL asks for it,
//! is layered on whatever stream the transport returns, and the handshake (AUTH, HELLO,
//! SELECT) runs over that. A test or a simulator hands [`DatabaseConfig::transport`] its
//! own, so the real client code runs over a simulated network.
//!
//! The transport is used only when a connection is made: commands go over the connection
//! it returned, so a custom transport costs one dynamic call per read and write of that
//! connection, and the default costs nothing at all (its sockets are not boxed).
//!
//! Not covered: cluster members and pools open their sockets inside redis-rs and
//! deadpool, and an application's connection is its own; `build()` refuses a transport
//! on them.
//!
//! ```
//! use std::sync::Arc;
//! use multidb_client::DatabaseConfig;
//! use multidb_client::transport::{Address, Stream, Transport};
//!
//! /// Every connection goes to one fixed local port, whatever the URL says.
//! struct Redirect(u16);
//!
//! #[async_trait::async_trait]
//! impl Transport for Redirect {
//!     async fn connect(&self, _to: Address<'_>) -> std::io::Result<Box<dyn Stream>> {
//!         let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.0)).await?;
//!         Ok(Box::new(tcp))
//!     }
//! }
//!
//! let db = DatabaseConfig::from_url("redis://db1.internal:6379")?.transport(Arc::new(Redirect(6379)));
//! # Ok::<(), multidb_client::ConfigError>(())
//! ```
//!
//! [`DatabaseConfig::transport`]: crate::DatabaseConfig::transport

use std::fmt;
use std::io;
use std::path::Path;

use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream a connection runs over: anything tokio can read and write.
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Where a stream goes, as the member's URL (or the Sentinel that named the master) says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Address<'a> {
    /// A host (name or IP literal) and port; TLS, if any, comes on top of this stream.
    Tcp {
        /// The host as written in the URL, or as a Sentinel named it.
        host: &'a str,
        /// The port.
        port: u16,
    },
    /// A Unix socket path.
    Unix(&'a Path),
}

impl fmt::Display for Address<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Opens the byte streams of a member's connections.
///
/// The client bounds the time a `connect` may take by the member's connection timeout
/// (dropping the future past it), so an implementation need not time out by itself. The
/// stream is used as it comes: a transport that dials TCP sets `TCP_NODELAY` itself if it
/// wants it (the default transport does).
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// A new stream to `to`.
    ///
    /// # Errors
    /// Whatever stopped the stream from opening (refused, unreachable, …); the client
    /// treats it as a failed connection attempt of the member.
    async fn connect(&self, to: Address<'_>) -> io::Result<Box<dyn Stream>>;
}
