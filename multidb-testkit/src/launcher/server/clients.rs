//! What a server reports about its clients: blocked ones, and every connection.

use std::ops::ControlFlow;
use std::time::Duration;

use super::RedisServer;
use crate::launcher::LaunchError;
use crate::launcher::clients::{ClientInfo, parse_client_list};
use crate::launcher::poll::poll_until;

/// How long the `wait_for_*_clients` methods wait.
const COUNT_TIMEOUT: Duration = Duration::from_secs(10);

impl RedisServer {
    /// How many clients are blocked in a command (`BLPOP`, `XREAD … BLOCK`…) on the server
    /// now: `blocked_clients` of `INFO clients`.
    ///
    /// # Errors
    /// [`LaunchError::Command`] when the server cannot be asked.
    pub fn blocked_clients(&self) -> Result<usize, LaunchError> {
        let info = self.call(&["INFO", "clients"])?.text().unwrap_or_default();
        info.lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| self.command_error("INFO clients", "no blocked_clients line"))
    }

    /// Waits until exactly `n` clients are blocked on the server ([`Self::blocked_clients`]),
    /// for at most 10 s. The server cannot tell when that happens, so this is a bounded
    /// poll of its own report, every millisecond: where a test would await an event.
    ///
    /// # Errors
    /// [`LaunchError::Command`] when the server cannot be asked or the count is not reached.
    pub fn wait_for_blocked_clients(&self, n: usize) -> Result<(), LaunchError> {
        self.wait_for_count("INFO clients", "blocked", n, Self::blocked_clients)
    }

    /// Every connection the server has now, as `CLIENT LIST` reports it, the launcher's own
    /// control connection (the one asking; [`ClientInfo::is_launcher`]) included.
    ///
    /// # Errors
    /// [`LaunchError::Command`] when the server cannot be asked or the reply does not parse.
    pub fn client_list(&self) -> Result<Vec<ClientInfo>, LaunchError> {
        let text = self.call(&["CLIENT", "LIST"])?.text().unwrap_or_default();
        parse_client_list(&text).map_err(|e| self.command_error("CLIENT LIST", &e))
    }

    /// How many connections the code under test has open to the server now: the
    /// [`client_list`](Self::client_list) without the launcher's control connection (named
    /// `multidb-testkit-control` by the `HELLO` it opens with), replication links and a
    /// Sentinel's monitoring links ([`ClientInfo::is_infrastructure`]).
    ///
    /// A client closing a socket reaches the server a moment later; to assert that every
    /// socket was closed, wait with [`wait_for_connected_clients`](Self::wait_for_connected_clients)`(0)`.
    ///
    /// ```
    /// use multidb_testkit::RedisServer;
    ///
    /// # fn main() -> Result<(), multidb_testkit::LaunchError> {
    /// let server = RedisServer::start()?;
    /// assert_eq!(server.connected_clients()?, 0);
    /// let socket = std::net::TcpStream::connect(server.addr()).expect("connect");
    /// server.wait_for_connected_clients(1)?;
    /// drop(socket);
    /// server.wait_for_connected_clients(0)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`client_list`](Self::client_list).
    pub fn connected_clients(&self) -> Result<usize, LaunchError> {
        let clients = self.client_list()?;
        Ok(clients.iter().filter(|c| !c.is_infrastructure()).count())
    }

    /// Waits until exactly `n` connections of the code under test are open
    /// ([`connected_clients`](Self::connected_clients)), for at most 10 s, polling every
    /// millisecond as [`wait_for_blocked_clients`](Self::wait_for_blocked_clients) does.
    ///
    /// # Errors
    /// [`LaunchError::Command`] when the server cannot be asked or the count is not reached.
    pub fn wait_for_connected_clients(&self, n: usize) -> Result<(), LaunchError> {
        self.wait_for_count("CLIENT LIST", "connected", n, Self::connected_clients)
    }

    fn wait_for_count(
        &self,
        command: &str,
        what: &str,
        n: usize,
        count: impl Fn(&Self) -> Result<usize, LaunchError>,
    ) -> Result<(), LaunchError> {
        let mut last = Ok(0);
        let reached = poll_until(COUNT_TIMEOUT, Duration::from_millis(1), || {
            last = count(self);
            match &last {
                Ok(seen) if *seen == n => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            }
        });
        reached.map_err(|waited| {
            let seen = last.map_or_else(|e| e.to_string(), |c| format!("{c} {what}"));
            self.command_error(
                command,
                &format!("{n} {what} clients never seen in {waited:?}: {seen}"),
            )
        })
    }
}
