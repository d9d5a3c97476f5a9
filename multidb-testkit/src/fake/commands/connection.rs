//! Connection and server commands: PING, ECHO, HELLO, AUTH, CLIENT, SELECT, INFO, DBSIZE,
//! FLUSHALL, FLUSHDB, QUIT.

use std::fmt::Write as _;

use super::{int_arg, is, tri, wrong_arity};
use crate::fake::keyspace::DATABASES;
use crate::fake::reply::{Protocol, Reply};
use crate::fake::state::Ctx;

/// The Redis version the fake claims to be.
const VERSION: &str = "7.2.0";

pub(super) fn ping(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    if args.len() > 2 {
        return wrong_arity("ping");
    }
    // RESP2 subscribed connections get a pong array (Redis does this so it fits pushes).
    if cx.s.protocol == Protocol::Resp2 && cx.s.subscriptions() > 0 {
        let payload = args.get(1).cloned().unwrap_or_default();
        return Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(payload)]);
    }
    match args.get(1) {
        Some(payload) => Reply::Bulk(payload.clone()),
        None => Reply::Simple("PONG"),
    }
}

pub(super) fn echo(_cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    Reply::Bulk(args[1].clone())
}

/// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
pub(super) fn hello(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let mut protocol = cx.s.protocol;
    if let Some(raw) = args.get(1) {
        protocol = match int_arg(raw) {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            Ok(_) => return Reply::err("NOPROTO unsupported protocol version"),
            Err(_) => return Reply::err("ERR Protocol version is not an integer or out of range"),
        };
    }
    let (mut credentials, mut name) = (None, None);
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "AUTH") && i + 2 < args.len() {
            credentials = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "SETNAME") && i + 1 < args.len() {
            name = Some(String::from_utf8_lossy(&args[i + 1]).into_owned());
            i += 2;
        } else {
            return Reply::err(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    match credentials {
        Some((user, pass)) => {
            if !credentials_match(cx, user, pass) {
                return wrong_pass();
            }
            cx.s.authenticated = true;
        }
        None if !cx.s.authenticated => {
            return Reply::err(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            );
        }
        None => {}
    }
    if let Some(name) = name {
        set_name(cx, name);
    }
    cx.s.protocol = protocol;
    let proto = if protocol == Protocol::Resp3 { 3 } else { 2 };
    Reply::Map(vec![
        (Reply::bulk("server"), Reply::bulk("redis")),
        (Reply::bulk("version"), Reply::bulk(VERSION)),
        (Reply::bulk("proto"), Reply::Int(proto)),
        (Reply::bulk("id"), Reply::count(cx.s.id)),
        (Reply::bulk("mode"), Reply::bulk("standalone")),
        (Reply::bulk("role"), Reply::bulk("master")),
        (Reply::bulk("modules"), Reply::Array(Vec::new())),
    ])
}

/// `AUTH password` or `AUTH username password`
pub(super) fn auth(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let (user, pass) = match args {
        [_, pass] => (cx.cfg.username.as_bytes(), pass),
        [_, user, pass] => (user.as_slice(), pass),
        _ => return Reply::syntax(),
    };
    if cx.cfg.password.is_none() && args.len() == 2 {
        return Reply::err(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        );
    }
    if !credentials_match(cx, user, pass) {
        return wrong_pass();
    }
    cx.s.authenticated = true;
    Reply::Ok
}

fn credentials_match(cx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> bool {
    match &cx.cfg.password {
        // Without a password, the default user accepts any password (Redis' `nopass`).
        None => user == cx.cfg.username.as_bytes(),
        Some(password) => user == cx.cfg.username.as_bytes() && pass == password.as_bytes(),
    }
}

fn wrong_pass() -> Reply {
    Reply::err("WRONGPASS invalid username-password pair or user is disabled.")
}

fn set_name(cx: &mut Ctx<'_>, name: String) {
    if let Some(client) = cx.st.clients.get_mut(&cx.s.id) {
        client.name = Some(name.clone());
    }
    cx.s.name = Some(name);
}

/// `CLIENT SETINFO|SETNAME|GETNAME|ID|LIST|KILL ...`
pub(super) fn client(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("setinfo", 4) => Reply::Ok,
        ("setname", 3) => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            if name.contains(' ') {
                return Reply::err(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
            }
            set_name(cx, name);
            Reply::Ok
        }
        ("getname", 2) => Reply::bulk_or_nil(cx.s.name.clone()),
        ("id", 2) => Reply::count(cx.s.id),
        ("list", 2) => client_list(cx),
        ("kill", 3..) => client_kill(cx, args),
        ("setinfo" | "setname" | "getname" | "id" | "list" | "kill", _) => {
            wrong_arity(&format!("client|{sub}"))
        }
        _ => Reply::err(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        )),
    }
}

fn client_list(cx: &mut Ctx<'_>) -> Reply {
    let mut ids: Vec<&u64> = cx.st.clients.keys().collect();
    ids.sort();
    let mut text = String::new();
    for id in ids {
        let c = &cx.st.clients[id];
        let _ = writeln!(
            text,
            "id={id} addr={} laddr={} name={} age={} db={} sub={} multi=-1 cmd=client|list",
            c.peer,
            cx.cfg.addr,
            c.name.as_deref().unwrap_or(""),
            c.since.elapsed().as_secs(),
            c.db,
            c.subscriptions,
        );
    }
    Reply::Bulk(text.into_bytes())
}

/// `CLIENT KILL addr` (old form) or `CLIENT KILL [ID id] [ADDR addr] [TYPE t] [SKIPME yes|no]`.
fn client_kill(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    if args.len() == 3 {
        let addr = String::from_utf8_lossy(&args[2]);
        let id = cx
            .st
            .clients
            .iter()
            .find(|(_, c)| c.peer.to_string() == addr)
            .map(|(id, _)| *id);
        return match id {
            Some(id) => {
                cx.st.kill(id);
                Reply::Ok
            }
            None => Reply::err("ERR No such client"),
        };
    }
    let (mut id, mut addr, mut kind, mut skip_me) = (None, None, None, true);
    for pair in args[2..].chunks(2) {
        let [filter, value] = pair else {
            return Reply::syntax();
        };
        if is(filter, "ID") {
            id = Some(tri!(int_arg(value)));
        } else if is(filter, "ADDR") {
            addr = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(filter, "TYPE") {
            kind = Some(String::from_utf8_lossy(value).to_ascii_lowercase());
        } else if is(filter, "SKIPME") {
            skip_me = !is(value, "no");
        } else {
            return Reply::syntax();
        }
    }
    let me = cx.s.id;
    let victims: Vec<u64> = cx
        .st
        .clients
        .iter()
        .filter(|(cid, c)| {
            id.is_none_or(|id| i64::try_from(**cid) == Ok(id))
                && addr.as_ref().is_none_or(|a| c.peer.to_string() == *a)
                && kind.as_deref().is_none_or(|k| match k {
                    "pubsub" => c.subscriptions > 0,
                    "normal" => c.subscriptions == 0,
                    _ => false,
                })
                && !(skip_me && **cid == me)
        })
        .map(|(cid, _)| *cid)
        .collect();
    for victim in &victims {
        cx.st.kill(*victim);
    }
    Reply::count(victims.len())
}

/// Each of the 16 databases is its own keyspace, as in Redis.
pub(super) fn select(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let index = tri!(int_arg(&args[1]));
    match usize::try_from(index) {
        Ok(db) if db < DATABASES => {
            cx.s.db = db;
            if let Some(client) = cx.st.clients.get_mut(&cx.s.id) {
                client.db = db;
            }
            Reply::Ok
        }
        _ => Reply::err("ERR DB index is out of range"),
    }
}

pub(super) fn info(cx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Reply {
    let mut text = format!(
        "# Server\r\nredis_version:{VERSION}\r\nredis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{}\r\n\r\n# Clients\r\nconnected_clients:{}\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n# Persistence\r\nloading:0\r\n\r\n# Keyspace\r\n",
        std::process::id(),
        cx.cfg.addr.port(),
        cx.st.clients.len(),
    );
    for db in 0..DATABASES {
        let keys = cx.st.keyspace.len(db);
        if keys > 0 {
            let expires = cx.st.keyspace.expiring(db);
            let _ = write!(text, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
    Reply::Bulk(text.into_bytes())
}

pub(super) fn dbsize(cx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Reply {
    Reply::count(cx.st.keyspace.len(cx.s.db))
}

pub(super) fn flushall(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    flush(cx, args, None)
}

pub(super) fn flushdb(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let db = cx.s.db;
    flush(cx, args, Some(db))
}

fn flush(cx: &mut Ctx<'_>, args: &[Vec<u8>], db: Option<usize>) -> Reply {
    match args {
        [_] => {}
        [_, mode] if is(mode, "ASYNC") || is(mode, "SYNC") => {}
        _ => return Reply::syntax(),
    }
    cx.st.keyspace.flush(db);
    Reply::Ok
}

pub(super) fn quit(cx: &mut Ctx<'_>, _args: &[Vec<u8>]) -> Reply {
    cx.s.quit = true;
    Reply::Ok
}
