//! The connections a launched process reports in `CLIENT LIST`.
//!
//! A test of a client library wants to know that the client closed every socket it opened.
//! A server's own list also holds connections the test did not make: the launcher's control
//! connection (named [`CONTROL_CLIENT_NAME`] by its `HELLO`), a replica's link to its master
//! and a Sentinel's monitoring links. [`ClientInfo::is_infrastructure`] tells those apart so
//! counts cover only what the code under test opened.

use super::control::CONTROL_CLIENT_NAME;

/// One connection as `CLIENT LIST` reports it.
///
/// Returned by [`RedisServer::client_list`](super::RedisServer::client_list) and
/// [`RedisSentinel::sentinel_client_list`](super::RedisSentinel::sentinel_client_list).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientInfo {
    /// The server's id of the connection (`id=`).
    pub id: u64,
    /// The peer address (`addr=`): `127.0.0.1:PORT`, or `PATH:0` for a unix socket.
    pub addr: String,
    /// The name set by `CLIENT SETNAME` or `HELLO … SETNAME` (`name=`), empty if none.
    pub name: String,
    /// The ACL user the connection is logged in as (`user=`), `default` if it never logged in.
    pub user: String,
    /// The selected database (`db=`).
    pub db: u32,
    /// The flags (`flags=`), e.g. `N` for a normal client, `S` for a replica, `M` for a master,
    /// `P` for a subscriber, `x` inside `MULTI`.
    pub flags: String,
    /// The last command (`cmd=`), e.g. `get` or `client|list`.
    pub cmd: String,
}

impl ClientInfo {
    /// Whether this is the launcher's own control connection (named
    /// `multidb-testkit-control`; it is the one asking for the list).
    pub fn is_launcher(&self) -> bool {
        self.name == CONTROL_CLIENT_NAME
    }

    /// Whether this connection belongs to the topology rather than to the code under test:
    /// the launcher's control connection, a replication link (flags `S` or `M`) or a
    /// Sentinel's monitoring link (named `sentinel-<id>-cmd` or `sentinel-<id>-pubsub`).
    pub fn is_infrastructure(&self) -> bool {
        let sentinel_link = self.name.starts_with("sentinel-")
            && (self.name.ends_with("-cmd") || self.name.ends_with("-pubsub"));
        self.is_launcher() || self.flags.contains(['S', 'M']) || sentinel_link
    }
}

/// Parses the reply of `CLIENT LIST`: one line a connection of `key=value` fields.
pub(crate) fn parse_client_list(text: &str) -> Result<Vec<ClientInfo>, String> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Result<ClientInfo, String> {
    // Names cannot hold spaces (`CLIENT SETNAME` refuses them), so a space ends every value.
    let field = |key: &str| {
        line.split(' ')
            .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
            .ok_or_else(|| format!("no {key}= in CLIENT LIST line: {line}"))
    };
    let number = |key: &str| {
        field(key)?
            .parse::<u64>()
            .map_err(|_| format!("{key}= is not a number in CLIENT LIST line: {line}"))
    };
    Ok(ClientInfo {
        id: number("id")?,
        addr: field("addr")?.to_owned(),
        name: field("name")?.to_owned(),
        user: field("user")?.to_owned(),
        db: u32::try_from(number("db")?).map_err(|e| e.to_string())?,
        flags: field("flags")?.to_owned(),
        cmd: field("cmd")?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = "\
id=3 addr=127.0.0.1:48978 laddr=127.0.0.1:16001 fd=8 name= age=2 idle=2 flags=S db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22272 events=r cmd=psync user=alice redir=-1 resp=2
id=4 addr=127.0.0.1:51386 laddr=127.0.0.1:16001 fd=9 name=sentinel-4528da6b-cmd age=2 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1 events=r cmd=ping user=alice redir=-1 resp=2
id=9 addr=127.0.0.1:51400 laddr=127.0.0.1:16001 fd=10 name=app age=0 idle=0 flags=N db=3 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1 events=r cmd=get user=default redir=-1 resp=3
id=5 addr=/tmp/x/redis.sock:0 laddr=/tmp/x/redis.sock:0 fd=11 name=multidb-testkit-control age=0 idle=0 flags=U db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=37658 events=r cmd=client|list user=alice redir=-1 resp=2
";

    #[test]
    fn parses_client_list_fields() {
        let clients = parse_client_list(LIST).expect("parses");
        assert_eq!(clients.len(), 4);
        assert_eq!(
            clients[2],
            ClientInfo {
                id: 9,
                addr: "127.0.0.1:51400".into(),
                name: "app".into(),
                user: "default".into(),
                db: 3,
                flags: "N".into(),
                cmd: "get".into(),
            }
        );
        assert_eq!(clients[3].addr, "/tmp/x/redis.sock:0");
        assert_eq!(clients[3].cmd, "client|list");
    }

    #[test]
    fn only_the_code_under_test_is_not_infrastructure() {
        let clients = parse_client_list(LIST).expect("parses");
        let own: Vec<_> = clients.iter().filter(|c| !c.is_infrastructure()).collect();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].name, "app");
        assert!(clients[3].is_launcher() && !clients[0].is_launcher());
    }

    #[test]
    fn rejects_lines_without_the_fields() {
        assert!(parse_client_list("id=1 addr=x").is_err());
        assert!(parse_client_list("id=x addr=a name= user=u db=0 flags=N cmd=get").is_err());
        assert_eq!(parse_client_list("\n").map(|c| c.len()), Ok(0));
    }
}
