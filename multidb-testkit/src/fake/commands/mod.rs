//! Command dispatch: authentication gate, command table with Redis' arity rules, `MULTI`
//! queueing and the RESP2 subscribed-mode restriction, then the handler.

mod collections;
mod connection;
mod pubsub;
mod strings;
mod transaction;

use std::fmt::Write as _;

use super::reply::{Protocol, Reply};
use super::state::Ctx;

type Handler = fn(&mut Ctx<'_>, &[Vec<u8>]) -> Reply;

/// Name, arity (negative: at least that many, as in `COMMAND INFO`), handler.
const COMMANDS: &[(&str, i32, Handler)] = &[
    ("ping", -1, connection::ping),
    ("echo", 2, connection::echo),
    ("hello", -1, connection::hello),
    ("auth", -2, connection::auth),
    ("client", -2, connection::client),
    ("select", 2, connection::select),
    ("info", -1, connection::info),
    ("dbsize", 1, connection::dbsize),
    ("flushall", -1, connection::flushall),
    ("flushdb", -1, connection::flushdb),
    ("quit", -1, connection::quit),
    ("get", 2, strings::get),
    ("set", -3, strings::set),
    ("setnx", 3, strings::setnx),
    ("getdel", 2, strings::getdel),
    ("append", 3, strings::append),
    ("strlen", 2, strings::strlen),
    ("del", -2, strings::del),
    ("unlink", -2, strings::del),
    ("exists", -2, strings::exists),
    ("type", 2, strings::key_type),
    ("keys", 2, strings::keys),
    ("incr", 2, strings::incr),
    ("incrby", 3, strings::incrby),
    ("decr", 2, strings::decr),
    ("decrby", 3, strings::decrby),
    ("mget", -2, strings::mget),
    ("mset", -3, strings::mset),
    ("expire", -3, strings::expire),
    ("pexpire", -3, strings::pexpire),
    ("persist", 2, strings::persist),
    ("ttl", 2, strings::ttl),
    ("pttl", 2, strings::pttl),
    ("hset", -4, collections::hset),
    ("hmset", -4, collections::hmset),
    ("hget", 3, collections::hget),
    ("hmget", -3, collections::hmget),
    ("hgetall", 2, collections::hgetall),
    ("hdel", -3, collections::hdel),
    ("hexists", 3, collections::hexists),
    ("hlen", 2, collections::hlen),
    ("hincrby", 4, collections::hincrby),
    ("lpush", -3, collections::lpush),
    ("rpush", -3, collections::rpush),
    ("lpop", -2, collections::lpop),
    ("rpop", -2, collections::rpop),
    ("blpop", -3, collections::blpop),
    ("brpop", -3, collections::brpop),
    ("lrange", 4, collections::lrange),
    ("llen", 2, collections::llen),
    ("sadd", -3, collections::sadd),
    ("srem", -3, collections::srem),
    ("smembers", 2, collections::smembers),
    ("sismember", 3, collections::sismember),
    ("scard", 2, collections::scard),
    ("multi", 1, transaction::multi),
    ("exec", 1, transaction::exec),
    ("discard", 1, transaction::discard),
    ("watch", -2, transaction::watch),
    ("unwatch", 1, transaction::unwatch),
    ("subscribe", -2, pubsub::subscribe),
    ("unsubscribe", -1, pubsub::unsubscribe),
    ("psubscribe", -2, pubsub::psubscribe),
    ("punsubscribe", -1, pubsub::punsubscribe),
    ("ssubscribe", -2, pubsub::ssubscribe),
    ("sunsubscribe", -1, pubsub::sunsubscribe),
    ("publish", 3, pubsub::publish),
    ("spublish", 3, pubsub::spublish),
];

/// Commands a client sends to set up or check a connection, not to work with data.
pub(crate) fn is_setup_command(name: &[u8]) -> bool {
    ["hello", "auth", "client", "select", "ping", "echo", "quit"]
        .iter()
        .any(|setup| name.eq_ignore_ascii_case(setup.as_bytes()))
}

/// Runs one command for the session in `cx`.
pub(crate) fn dispatch(cx: &mut Ctx<'_>, args: &[Vec<u8>]) -> Reply {
    let Some(first) = args.first() else {
        return Reply::Ok;
    };
    let name = String::from_utf8_lossy(first).to_ascii_lowercase();
    if !cx.s.authenticated && !matches!(name.as_str(), "auth" | "hello" | "quit") {
        return Reply::err("NOAUTH Authentication required.");
    }
    let Some(&(_, arity, handler)) = COMMANDS.iter().find(|(known, _, _)| *known == name) else {
        return queue_error(cx, unknown_command(args));
    };
    let argc = i32::try_from(args.len()).unwrap_or(i32::MAX);
    if (arity >= 0 && argc != arity) || (arity < 0 && argc < -arity) {
        return queue_error(cx, wrong_arity(&name));
    }
    if let Some(queue) = cx.s.multi.as_mut()
        && !matches!(
            name.as_str(),
            "exec" | "discard" | "multi" | "watch" | "quit"
        )
    {
        queue.push(args.to_vec());
        return Reply::Simple("QUEUED");
    }
    let subscribed_resp2 = cx.s.protocol == Protocol::Resp2 && cx.s.subscriptions() > 0;
    if subscribed_resp2
        && !matches!(
            name.as_str(),
            "subscribe"
                | "unsubscribe"
                | "psubscribe"
                | "punsubscribe"
                | "ssubscribe"
                | "sunsubscribe"
                | "ping"
                | "quit"
        )
    {
        return Reply::err(format!(
            "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        ));
    }
    handler(cx, args)
}

/// An error while queueing makes the transaction abort at `EXEC`, as in Redis.
fn queue_error(cx: &mut Ctx<'_>, reply: Reply) -> Reply {
    if cx.s.multi.is_some() {
        cx.s.multi_failed = true;
    }
    reply
}

fn unknown_command(args: &[Vec<u8>]) -> Reply {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        truncated(&args[0])
    );
    for arg in &args[1..] {
        let _ = write!(text, "'{}' ", truncated(arg));
    }
    Reply::Error(text)
}

fn truncated(arg: &[u8]) -> String {
    String::from_utf8_lossy(&arg[..arg.len().min(128)]).into_owned()
}

pub(crate) fn wrong_arity(name: &str) -> Reply {
    Reply::err(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

/// Parses an integer argument as Redis does.
pub(crate) fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(Reply::not_integer)
}

/// Case-insensitive option comparison.
pub(crate) fn is(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}

/// `?` for handlers: turns an error reply into the handler's return value.
macro_rules! tri {
    ($result:expr) => {
        match $result {
            Ok(value) => value,
            Err(reply) => return reply,
        }
    };
}
pub(crate) use tri;
