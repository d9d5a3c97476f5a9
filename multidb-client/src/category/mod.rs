//! Command categories: what replaying a command that may already have run would do — the
//! table, in one place (documented on [`CommandCategory`]), and which commands block.

use std::time::Duration;

use redis::{Arg, Cmd, Pipeline};

/// What replaying a command that may already have run would do: the replay table.
///
/// When a command fails in a way that leaves it unknown whether the server ran it (a
/// timeout, a reset mid-flight), the client may send it again — to the same database or,
/// after a failover, to another one. Whether that is safe depends on the command *and its
/// arguments* (`SET k v` is, `SET k v NX` is not). [`command_category`] says, in one
/// table, in the spirit of StackExchange.Redis' retry categories;
/// [`crate::MultiDbConfigBuilder::replay_up_to`] says how far the client may go.
///
/// | Category | Replaying it… | Commands (examples) |
/// |---|---|---|
/// | [`ReadOnly`](CommandCategory::ReadOnly) | changes nothing | `GET`, `HGETALL`, `ZRANGE`, `SCAN`, `PING`, `EVAL_RO`, `SORT` without `STORE` |
/// | [`LastWins`](CommandCategory::LastWins) | leaves the same state and reply | `SET` (`EX`/`PX`/`KEEPTTL`), `MSET`, `SETEX`, `HMSET`, `LSET`, `LTRIM`, `EXPIRE k 60`, `*STORE`, `COPY … REPLACE`, `SCRIPT LOAD` |
/// | [`Checked`](CommandCategory::Checked) | leaves the same state, but the condition now fails: the reply says "not done" when it was done | `SET … NX`/`XX`/`IFEQ`/`IFNE`/`IFDEQ`/`IFDNE`, `SETNX`, `HSETNX`, `MSETNX`, `EXPIRE … NX`/`XX`/`GT`/`LT`, `ZADD NX`/`XX`/`GT`/`LT`, `RENAMENX`, `MOVE`, `RESTORE` |
/// | [`ReplyDiffers`](CommandCategory::ReplyDiffers) | leaves the same state, with a different reply (a count, an old value) | `SADD`, `SREM`, `HSET`, `HDEL`, `ZADD`, `ZREM`, `PFADD`, `DEL`, `UNLINK`, `PERSIST`, `EXPIREAT`, `SET … GET`, `GETSET`, `GETDEL`, `SETBIT`, `RENAME` |
/// | [`Accumulating`](CommandCategory::Accumulating) | applies it twice | `INCR`, `INCRBY`, `HINCRBY`, `ZINCRBY`, `ZADD … INCR`, `APPEND`, `LPUSH`, `RPUSH`, `LINSERT`, `XADD`, pops (`LPOP`, `SPOP`, `LMOVE`…), `LREM` with a count, `PUBLISH`, `XCLAIM` |
/// | [`Admin`](CommandCategory::Admin) | acts on a server, not on data | `FLUSHDB`, `FLUSHALL`, `SWAPDB`, `CONFIG SET`, `SCRIPT FLUSH`, `FUNCTION FLUSH`, `CLIENT KILL`, `SHUTDOWN`, `ACL SETUSER` |
/// | [`Never`](CommandCategory::Never) | cannot be judged | `EVAL`, `EVALSHA`, `FCALL`, `MULTI`/`EXEC`/`WATCH`, blocking commands, connection state (`SELECT`, `CLIENT SETNAME`…), unknown commands and modules |
///
/// The categories are ordered by what a replay can do wrong. The default,
/// `replay_up_to(CommandCategory::LastWins)`, never returns a misleading reply: a replayed
/// `SET k v` answers `OK` as the first would have. `retry_non_idempotent(true)` (redis-py's
/// behaviour) is `replay_up_to(CommandCategory::Accumulating)`. [`Admin`](CommandCategory::Admin)
/// and [`Never`](CommandCategory::Never) commands are never replayed once they may have run,
/// and admin commands never go to a database other than the one they were sent to, even when
/// they are known not to have run (a `FLUSHALL` meant for one database must not wipe a
/// second). A pipeline is as hazardous as its most hazardous command; one that contains
/// `MULTI`/`EXEC` is a transaction, [`Never`](CommandCategory::Never).
///
/// What the category does **not** govern: a command known not to have run (never written —
/// connection refused or not made in time, circuit open — or rejected before running, see
/// [`crate::MultiDbConfigBuilder::busy_errors_are_failures`]) may be retried anywhere, whatever
/// its category (admin commands excepted, as above).
///
/// The variants are ordered from harmless to unjudgeable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize, serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CommandCategory {
    /// Reads: a replay changes nothing.
    ReadOnly,
    /// Writes whose replay leaves the same state and returns the same reply (`SET k v`).
    LastWins,
    /// Conditional writes: a replay leaves the same state, but its condition now fails, so
    /// the reply says "not done" although the first run did it (`SET k v NX`).
    Checked,
    /// Writes whose replay leaves the same state with a different reply: a count of what
    /// changed, an old value (`SADD`, `DEL`, `HSET`).
    ReplyDiffers,
    /// Writes that a replay applies twice (`INCR`, `LPUSH`, pops).
    Accumulating,
    /// Server administration (`FLUSHALL`, `CONFIG SET`): never replayed once it may have run,
    /// never sent to a second database.
    Admin,
    /// Cannot be judged (scripts, transactions, blocking and connection-state commands,
    /// anything unknown): never replayed once it may have run.
    Never,
}

impl CommandCategory {
    /// The most a `replay_up_to` setting may allow.
    pub(crate) const MAX_REPLAYABLE: CommandCategory = CommandCategory::Accumulating;
}

/// The category of `cmd`, by its name and arguments; see [`CommandCategory`] for the table.
///
/// ```
/// use multidb_client::{CommandCategory, command_category};
///
/// assert_eq!(command_category(redis::cmd("SET").arg("k").arg("v")), CommandCategory::LastWins);
/// assert_eq!(command_category(redis::cmd("SET").arg("k").arg("v").arg("NX")), CommandCategory::Checked);
/// assert_eq!(command_category(redis::cmd("INCR").arg("n")), CommandCategory::Accumulating);
/// assert_eq!(command_category(&redis::cmd("FLUSHALL")), CommandCategory::Admin);
/// ```
pub fn command_category(cmd: &Cmd) -> CommandCategory {
    classify(&args_of(cmd).collect::<Vec<_>>())
}

/// The arguments of `cmd`; a scan cursor (filled in by redis-rs) reads as `0`.
fn args_of(cmd: &Cmd) -> impl Iterator<Item = &[u8]> {
    cmd.args_iter().map(|a| match a {
        Arg::Simple(bytes) => bytes,
        _ => &b"0"[..],
    })
}

/// The category of a pipeline: that of its most hazardous command; a pipeline that is
/// atomic or contains `MULTI`/`EXEC` is a transaction, [`CommandCategory::Never`].
pub fn pipeline_category(pipeline: &Pipeline) -> CommandCategory {
    if is_transaction(pipeline) {
        return CommandCategory::Never;
    }
    pipeline
        .cmd_iter()
        .map(command_category)
        .max()
        .unwrap_or(CommandCategory::ReadOnly)
}

/// Whether `pipeline` is a transaction: atomic, or with a hand-written `MULTI` or `EXEC`.
pub(crate) fn is_transaction(pipeline: &Pipeline) -> bool {
    pipeline.is_transaction()
        || pipeline.cmd_iter().any(|c| {
            name_of(c).is_some_and(|n| {
                n.eq_ignore_ascii_case(b"MULTI") || n.eq_ignore_ascii_case(b"EXEC")
            })
        })
}

fn name_of(cmd: &Cmd) -> Option<&[u8]> {
    args_of(cmd).next()
}

use CommandCategory::{Accumulating, Admin, Checked, LastWins, Never, ReadOnly, ReplyDiffers};

/// Commands whose category does not depend on their arguments.
const FIXED: &[(&str, CommandCategory)] = &[
    // Strings.
    ("GET", ReadOnly),
    ("MGET", ReadOnly),
    ("STRLEN", ReadOnly),
    ("GETRANGE", ReadOnly),
    ("SUBSTR", ReadOnly),
    ("LCS", ReadOnly),
    ("DIGEST", ReadOnly),
    ("MSET", LastWins),
    ("SETEX", LastWins),
    ("PSETEX", LastWins),
    ("SETRANGE", LastWins),
    ("SETNX", Checked),
    ("MSETNX", Checked),
    ("GETSET", ReplyDiffers),
    ("GETDEL", ReplyDiffers),
    ("INCR", Accumulating),
    ("INCRBY", Accumulating),
    ("INCRBYFLOAT", Accumulating),
    ("DECR", Accumulating),
    ("DECRBY", Accumulating),
    ("APPEND", Accumulating),
    // Bitmaps and HyperLogLog.
    ("GETBIT", ReadOnly),
    ("BITCOUNT", ReadOnly),
    ("BITPOS", ReadOnly),
    ("BITFIELD_RO", ReadOnly),
    ("SETBIT", ReplyDiffers),
    ("PFCOUNT", ReadOnly),
    ("PFADD", ReplyDiffers),
    ("PFMERGE", LastWins),
    // Keys.
    ("EXISTS", ReadOnly),
    ("TYPE", ReadOnly),
    ("TTL", ReadOnly),
    ("PTTL", ReadOnly),
    ("EXPIRETIME", ReadOnly),
    ("PEXPIRETIME", ReadOnly),
    ("DUMP", ReadOnly),
    ("TOUCH", ReadOnly),
    ("KEYS", ReadOnly),
    ("SCAN", ReadOnly),
    ("RANDOMKEY", ReadOnly),
    ("DBSIZE", ReadOnly),
    ("OBJECT", ReadOnly),
    ("DEL", ReplyDiffers),
    ("UNLINK", ReplyDiffers),
    ("PERSIST", ReplyDiffers),
    ("RENAME", ReplyDiffers),
    ("RENAMENX", Checked),
    ("MOVE", Checked),
    // Hashes.
    ("HGET", ReadOnly),
    ("HMGET", ReadOnly),
    ("HGETALL", ReadOnly),
    ("HKEYS", ReadOnly),
    ("HVALS", ReadOnly),
    ("HLEN", ReadOnly),
    ("HEXISTS", ReadOnly),
    ("HSTRLEN", ReadOnly),
    ("HRANDFIELD", ReadOnly),
    ("HSCAN", ReadOnly),
    ("HTTL", ReadOnly),
    ("HPTTL", ReadOnly),
    ("HEXPIRETIME", ReadOnly),
    ("HPEXPIRETIME", ReadOnly),
    ("HMSET", LastWins),
    ("HSETNX", Checked),
    ("HSET", ReplyDiffers),
    ("HDEL", ReplyDiffers),
    ("HPERSIST", ReplyDiffers),
    ("HGETDEL", ReplyDiffers),
    ("HINCRBY", Accumulating),
    ("HINCRBYFLOAT", Accumulating),
    // Lists.
    ("LRANGE", ReadOnly),
    ("LLEN", ReadOnly),
    ("LINDEX", ReadOnly),
    ("LPOS", ReadOnly),
    ("LSET", LastWins),
    ("LPUSH", Accumulating),
    ("RPUSH", Accumulating),
    ("LPUSHX", Accumulating),
    ("RPUSHX", Accumulating),
    ("LINSERT", Accumulating),
    ("LPOP", Accumulating),
    ("RPOP", Accumulating),
    ("LMPOP", Accumulating),
    ("LMOVE", Accumulating),
    ("RPOPLPUSH", Accumulating),
    // Sets.
    ("SMEMBERS", ReadOnly),
    ("SISMEMBER", ReadOnly),
    ("SMISMEMBER", ReadOnly),
    ("SCARD", ReadOnly),
    ("SINTER", ReadOnly),
    ("SINTERCARD", ReadOnly),
    ("SUNION", ReadOnly),
    ("SDIFF", ReadOnly),
    ("SRANDMEMBER", ReadOnly),
    ("SSCAN", ReadOnly),
    ("SINTERSTORE", LastWins),
    ("SUNIONSTORE", LastWins),
    ("SDIFFSTORE", LastWins),
    ("SADD", ReplyDiffers),
    ("SREM", ReplyDiffers),
    ("SMOVE", ReplyDiffers),
    ("SPOP", Accumulating),
    // Sorted sets.
    ("ZRANGE", ReadOnly),
    ("ZRANGEBYSCORE", ReadOnly),
    ("ZRANGEBYLEX", ReadOnly),
    ("ZREVRANGE", ReadOnly),
    ("ZREVRANGEBYSCORE", ReadOnly),
    ("ZREVRANGEBYLEX", ReadOnly),
    ("ZSCORE", ReadOnly),
    ("ZMSCORE", ReadOnly),
    ("ZCARD", ReadOnly),
    ("ZCOUNT", ReadOnly),
    ("ZLEXCOUNT", ReadOnly),
    ("ZRANK", ReadOnly),
    ("ZREVRANK", ReadOnly),
    ("ZRANDMEMBER", ReadOnly),
    ("ZSCAN", ReadOnly),
    ("ZDIFF", ReadOnly),
    ("ZINTER", ReadOnly),
    ("ZINTERCARD", ReadOnly),
    ("ZUNION", ReadOnly),
    ("ZDIFFSTORE", LastWins),
    ("ZREM", ReplyDiffers),
    ("ZREMRANGEBYLEX", ReplyDiffers),
    ("ZREMRANGEBYRANK", Accumulating),
    ("ZREMRANGEBYSCORE", ReplyDiffers),
    ("ZINCRBY", Accumulating),
    ("ZPOPMIN", Accumulating),
    ("ZPOPMAX", Accumulating),
    ("ZMPOP", Accumulating),
    // Streams.
    ("XRANGE", ReadOnly),
    ("XREVRANGE", ReadOnly),
    ("XLEN", ReadOnly),
    ("XPENDING", ReadOnly),
    ("XINFO", ReadOnly),
    ("XSETID", LastWins),
    ("XDEL", ReplyDiffers),
    ("XACK", ReplyDiffers),
    ("XTRIM", ReplyDiffers),
    ("XADD", Accumulating),
    ("XCLAIM", Accumulating),
    ("XAUTOCLAIM", Accumulating),
    // Geo.
    ("GEOPOS", ReadOnly),
    ("GEODIST", ReadOnly),
    ("GEOHASH", ReadOnly),
    ("GEOSEARCH", ReadOnly),
    ("GEORADIUS_RO", ReadOnly),
    ("GEORADIUSBYMEMBER_RO", ReadOnly),
    ("GEOSEARCHSTORE", LastWins),
    // Scripts that cannot write, and server information.
    ("EVAL_RO", ReadOnly),
    ("EVALSHA_RO", ReadOnly),
    ("FCALL_RO", ReadOnly),
    ("SORT_RO", ReadOnly),
    ("PING", ReadOnly),
    ("ECHO", ReadOnly),
    ("TIME", ReadOnly),
    ("INFO", ReadOnly),
    ("LOLWUT", ReadOnly),
    ("LASTSAVE", ReadOnly),
    ("ROLE", ReadOnly),
    ("COMMAND", ReadOnly),
    ("PUBSUB", ReadOnly),
    // Pub/Sub delivery: twice is twice.
    ("PUBLISH", Accumulating),
    ("SPUBLISH", Accumulating),
    // Administration.
    ("FLUSHDB", Admin),
    ("FLUSHALL", Admin),
    ("SWAPDB", Admin),
    ("SAVE", Admin),
    ("BGSAVE", Admin),
    ("BGREWRITEAOF", Admin),
    ("SHUTDOWN", Admin),
    ("DEBUG", Admin),
    ("REPLICAOF", Admin),
    ("SLAVEOF", Admin),
    ("FAILOVER", Admin),
    ("MIGRATE", Admin),
    ("MONITOR", Admin),
    ("SYNC", Admin),
    ("PSYNC", Admin),
    ("CLUSTER", Admin),
    ("MODULE", Admin),
    ("PFDEBUG", Admin),
    ("PFSELFTEST", Admin),
    // Scripts, transactions, connection state.
    ("EVAL", Never),
    ("EVALSHA", Never),
    ("FCALL", Never),
    ("MULTI", Never),
    ("EXEC", Never),
    ("DISCARD", Never),
    ("WATCH", Never),
    ("UNWATCH", Never),
    ("SELECT", Never),
    ("AUTH", Never),
    ("HELLO", Never),
    ("RESET", Never),
    ("QUIT", Never),
    ("READONLY", Never),
    ("READWRITE", Never),
    ("ASKING", Never),
    ("SUBSCRIBE", Never),
    ("PSUBSCRIBE", Never),
    ("SSUBSCRIBE", Never),
    ("UNSUBSCRIBE", Never),
    ("PUNSUBSCRIBE", Never),
    ("SUNSUBSCRIBE", Never),
    ("WAIT", Never),
    ("WAITAOF", Never),
    // Blocking commands: they go over a connection of their own and are never replayed.
    ("BLPOP", Never),
    ("BRPOP", Never),
    ("BLMOVE", Never),
    ("BRPOPLPUSH", Never),
    ("BLMPOP", Never),
    ("BZPOPMIN", Never),
    ("BZPOPMAX", Never),
    ("BZMPOP", Never),
];

/// A command, the category of its subcommands not listed, and those listed.
type WithSubcommands = (
    &'static str,
    CommandCategory,
    &'static [(&'static str, CommandCategory)],
);

/// Commands whose category depends on a subcommand (`CONFIG GET` reads, `CONFIG SET` is
/// admin); a subcommand not listed gets the default.
const SUBCOMMANDS: &[WithSubcommands] = &[
    ("CONFIG", Admin, &[("GET", ReadOnly)]),
    (
        "SCRIPT",
        Admin,
        &[("EXISTS", ReadOnly), ("LOAD", LastWins), ("DEBUG", Never)],
    ),
    (
        "FUNCTION",
        Admin,
        &[("LIST", ReadOnly), ("DUMP", ReadOnly), ("STATS", ReadOnly)],
    ),
    (
        "CLIENT",
        Admin,
        &[
            ("LIST", ReadOnly),
            ("INFO", ReadOnly),
            ("ID", ReadOnly),
            ("GETNAME", ReadOnly),
            ("GETREDIR", ReadOnly),
            ("TRACKINGINFO", ReadOnly),
            ("SETNAME", Never),
            ("SETINFO", Never),
            ("REPLY", Never),
            ("TRACKING", Never),
            ("CACHING", Never),
        ],
    ),
    ("MEMORY", ReadOnly, &[("PURGE", Admin)]),
    ("SLOWLOG", ReadOnly, &[("RESET", Admin)]),
    ("LATENCY", ReadOnly, &[("RESET", Admin)]),
    (
        "ACL",
        Admin,
        &[
            ("WHOAMI", ReadOnly),
            ("LIST", ReadOnly),
            ("USERS", ReadOnly),
            ("CAT", ReadOnly),
            ("GETUSER", ReadOnly),
            ("LOG", ReadOnly),
            ("GENPASS", ReadOnly),
            ("DRYRUN", ReadOnly),
        ],
    ),
    (
        "XGROUP",
        ReplyDiffers,
        &[("CREATE", Checked), ("SETID", LastWins)],
    ),
];

fn eq(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

fn any_flag(args: &[&[u8]], flags: &[&str]) -> bool {
    args.iter().any(|a| flags.iter().any(|f| eq(a, f)))
}

fn classify(args: &[&[u8]]) -> CommandCategory {
    let Some(&name) = args.first() else {
        return Never;
    };
    let rest = &args[1..];
    if let Some(category) = by_arguments(name, rest) {
        return category;
    }
    if let Some((_, category)) = FIXED.iter().find(|(n, _)| eq(name, n)) {
        return *category;
    }
    if let Some((_, default, subs)) = SUBCOMMANDS.iter().find(|(n, ..)| eq(name, n)) {
        return rest
            .first()
            .and_then(|sub| subs.iter().find(|(s, _)| eq(sub, s)))
            .map_or(*default, |(_, c)| *c);
    }
    Never
}

/// How one command's arguments decide its category (they follow the name).
type Rule = fn(&[&[u8]]) -> CommandCategory;

/// `yes` when one of `flags` is among the arguments from index `from`, else `no`.
fn flagged(
    rest: &[&[u8]],
    from: usize,
    flags: &[&str],
    yes: CommandCategory,
    no: CommandCategory,
) -> CommandCategory {
    if any_flag(rest.get(from..).unwrap_or_default(), flags) {
        yes
    } else {
        no
    }
}

const CONDITIONS: &[&str] = &["NX", "XX", "GT", "LT"];

/// The commands whose arguments change their category.
const BY_ARGUMENTS: &[(&str, Rule)] = &[
    ("SET", set),
    ("EXPIRE", |rest| expire(rest, 1)),
    ("PEXPIRE", |rest| expire(rest, 1000)),
    // An absolute time that may have passed (by the server's clock) deletes the key.
    ("EXPIREAT", |rest| {
        flagged(rest, 2, CONDITIONS, Checked, ReplyDiffers)
    }),
    ("PEXPIREAT", |rest| {
        flagged(rest, 2, CONDITIONS, Checked, ReplyDiffers)
    }),
    // HEXPIRE key time [NX|XX|GT|LT] FIELDS n field…
    ("HEXPIRE", hexpire),
    ("HPEXPIRE", hexpire),
    ("HEXPIREAT", hexpire),
    ("HPEXPIREAT", hexpire),
    // An absolute expiry may have passed: the replay would find no key.
    ("GETEX", |rest| {
        flagged(rest, 1, &["EXAT", "PXAT"], ReplyDiffers, LastWins)
    }),
    ("HSETEX", |rest| {
        flagged(rest, 1, &["FNX", "FXX"], Checked, LastWins)
    }),
    ("HGETEX", |_| ReplyDiffers),
    ("MSETEX", |rest| {
        flagged(rest, 0, &["NX", "XX"], Checked, LastWins)
    }),
    ("DELEX", |_| Checked),
    ("LTRIM", ltrim),
    // BITOP op dest key…: with `dest` among the keys a replay works on its own result.
    ("BITOP", |rest| store(rest.get(1), rest.get(2..))),
    ("ZUNIONSTORE", zstore),
    ("ZINTERSTORE", zstore),
    ("ZRANGESTORE", |rest| store(rest.first(), rest.get(1..2))),
    ("SORT", sort_store),
    ("GEORADIUS", sort_store),
    ("GEORADIUSBYMEMBER", sort_store),
    ("ZADD", zadd),
    ("GEOADD", geoadd),
    // LREM key count element: count 0 removes every occurrence (same state again).
    ("LREM", |rest| {
        match rest.get(1).and_then(|c| parse_i64(c)) {
            Some(0) => ReplyDiffers,
            _ => Accumulating,
        }
    }),
    ("RESTORE", |rest| {
        flagged(rest, 2, &["REPLACE"], LastWins, Checked)
    }),
    ("COPY", |rest| {
        flagged(rest, 2, &["REPLACE"], LastWins, Checked)
    }),
    ("BITFIELD", bitfield),
    ("XREAD", |rest| blocks_or(rest, ReadOnly)),
    // Reading new entries (`>`) delivers them to this consumer: a replay takes more.
    ("XREADGROUP", |rest| blocks_or(rest, Accumulating)),
];

/// The category of the commands whose arguments decide it; `None` for every other command.
fn by_arguments(name: &[u8], rest: &[&[u8]]) -> Option<CommandCategory> {
    if let Some((_, rule)) = BY_ARGUMENTS.iter().find(|(n, _)| eq(name, n)) {
        return Some(rule(rest));
    }
    let sub = rest.first()?;
    if eq(name, "FUNCTION") && eq(sub, "LOAD") {
        // FUNCTION LOAD [REPLACE] code
        Some(flagged(
            &rest[..rest.len().min(2)],
            1,
            &["REPLACE"],
            LastWins,
            Checked,
        ))
    } else if eq(name, "ACL") && eq(sub, "LOG") {
        Some(flagged(rest, 1, &["RESET"], Admin, ReadOnly))
    } else {
        None
    }
}

/// `EXPIRE key time [NX|XX|GT|LT]`, `time` in `1 / unit` seconds: a time longer than any
/// replay takes is set again from the replay's moment (last wins); a shorter one may have
/// expired the key before the replay, and zero or less deletes it: the replay answers 0.
fn expire(rest: &[&[u8]], unit: i64) -> CommandCategory {
    let long = rest
        .get(1)
        .and_then(|t| parse_i64(t))
        .is_some_and(|t| t >= LONGER_THAN_ANY_REPLAY_SECS.saturating_mul(unit));
    if any_flag(rest.get(2..).unwrap_or_default(), CONDITIONS) {
        Checked
    } else if long {
        LastWins
    } else {
        ReplyDiffers
    }
}

fn hexpire(rest: &[&[u8]]) -> CommandCategory {
    let flags = rest.get(2..3).unwrap_or_default();
    flagged(flags, 0, CONDITIONS, Checked, ReplyDiffers)
}

/// `Z…STORE dest numkeys key…`.
fn zstore(rest: &[&[u8]]) -> CommandCategory {
    let keys = rest
        .get(1)
        .and_then(|n| parse_i64(n))
        .and_then(|n| usize::try_from(n).ok())
        .and_then(|n| rest.get(2..2usize.saturating_add(n)));
    store(rest.first(), keys)
}

/// `SORT key … [STORE dest]`, `GEORADIUS key … [STORE|STOREDIST dest]`: a read, or a store
/// that a replay may work on again (its own result, with `LIMIT` or `GET`).
fn sort_store(rest: &[&[u8]]) -> CommandCategory {
    match rest
        .iter()
        .position(|a| any_flag(&[a], &["STORE", "STOREDIST"]))
    {
        Some(at) => store(rest.get(at + 1), rest.get(..1)),
        None => ReadOnly,
    }
}

/// `XREAD`/`XREADGROUP`: with `BLOCK` a blocking command, else `otherwise`.
fn blocks_or(rest: &[&[u8]], otherwise: CommandCategory) -> CommandCategory {
    if any_flag(options_before_streams(rest), &["BLOCK"]) {
        Never
    } else {
        otherwise
    }
}

/// `SET key value [NX|XX|IFEQ v|IFNE v|IFDEQ d|IFDNE d] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]`.
fn set(rest: &[&[u8]]) -> CommandCategory {
    let mut checked = false;
    let mut get = false;
    let mut options = rest.iter().skip(2);
    while let Some(option) = options.next() {
        if any_flag(&[option], &["NX", "XX"]) {
            checked = true;
        } else if any_flag(&[option], &["IFEQ", "IFNE", "IFDEQ", "IFDNE"]) {
            checked = true;
            // Its operand is a value, which may read like an option.
            options.next();
        } else if eq(option, "GET") {
            get = true;
        } else if any_flag(&[option], &["EX", "PX", "EXAT", "PXAT"]) {
            options.next();
        }
    }
    match (checked, get) {
        // With GET the reply is a value: on replay, the one the first run wrote.
        (_, true) => ReplyDiffers,
        (true, false) => Checked,
        (false, false) => LastWins,
    }
}

/// A relative expiry at least this long cannot pass before a replay is sent (retries end
/// within seconds).
const LONGER_THAN_ANY_REPLAY_SECS: i64 = 10;

/// `LTRIM key start stop`: trimming again what a trim left changes nothing only when the
/// range is anchored at the head (`0 … n`, `0 … -1`) or keeps the tail (`-n … -1`).
fn ltrim(rest: &[&[u8]]) -> CommandCategory {
    let index = |i: usize| rest.get(i).and_then(|a| parse_i64(a));
    match (index(1), index(2)) {
        (Some(0), Some(stop)) if stop >= 0 || stop == -1 => LastWins,
        (Some(start), Some(-1)) if start < 0 => LastWins,
        _ => Accumulating,
    }
}

/// A command that stores into `dest` what it computes from `sources`: a replay computes
/// it again from its own result when `dest` is one of them.
fn store(dest: Option<&&[u8]>, sources: Option<&[&[u8]]>) -> CommandCategory {
    match (dest, sources) {
        (Some(dest), Some(sources)) if !sources.contains(dest) => LastWins,
        _ => Accumulating,
    }
}

/// `ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member …`.
fn zadd(rest: &[&[u8]]) -> CommandCategory {
    let flags: Vec<&[u8]> = rest
        .iter()
        .skip(1)
        .take_while(|a| any_flag(&[a], &["NX", "XX", "GT", "LT", "CH", "INCR"]))
        .copied()
        .collect();
    let conditional = any_flag(&flags, &["NX", "XX", "GT", "LT"]);
    if any_flag(&flags, &["INCR"]) && !any_flag(&flags, &["NX"]) {
        Accumulating
    } else if conditional {
        Checked
    } else {
        ReplyDiffers
    }
}

/// `GEOADD key [NX|XX] [CH] longitude latitude member …`.
fn geoadd(rest: &[&[u8]]) -> CommandCategory {
    let flags: Vec<&[u8]> = rest
        .iter()
        .skip(1)
        .take_while(|a| any_flag(&[a], &["NX", "XX", "CH"]))
        .copied()
        .collect();
    if any_flag(&flags, &["NX", "XX"]) {
        Checked
    } else {
        ReplyDiffers
    }
}

/// `BITFIELD key [GET …] [SET …] [INCRBY …] [OVERFLOW …]`: the operands are types and
/// integers, never read as operations.
fn bitfield(rest: &[&[u8]]) -> CommandCategory {
    let ops = rest.get(1..).unwrap_or_default();
    if any_flag(ops, &["INCRBY"]) {
        Accumulating
    } else if any_flag(ops, &["SET"]) {
        ReplyDiffers
    } else {
        ReadOnly
    }
}

/// The options of `XREAD`/`XREADGROUP`, up to `STREAMS` (whose keys and ids follow).
fn options_before_streams<'a>(rest: &'a [&'a [u8]]) -> &'a [&'a [u8]] {
    let end = rest
        .iter()
        .position(|a| eq(a, "STREAMS"))
        .unwrap_or(rest.len());
    &rest[..end]
}

fn parse_i64(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// How a command that blocks on the server waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Blocking {
    /// It blocks up to this long (`None`: without a limit — `BLPOP q 0`, or a block time
    /// that does not parse, which the server answers at once with an error).
    For(Option<Duration>),
    /// `WAIT`/`WAITAOF` (named): about the writes of the connection it is sent on;
    /// meaningless on a connection shared with other users.
    ConnectionBound(&'static str, Option<Duration>),
}

/// How long the server may take to answer a request: `response_timeout`, plus the block
/// time of a request that blocks; `None` when either is unbounded.
pub(crate) fn reply_bound(
    blocking: Option<Blocking>,
    response_timeout: Option<Duration>,
) -> Option<Duration> {
    let block = match blocking {
        None => Duration::ZERO,
        Some(Blocking::For(block) | Blocking::ConnectionBound(_, block)) => block?,
    };
    response_timeout?.checked_add(block)
}

/// Whether `cmd` blocks on the server, and how long. Cheap for every other command: this
/// runs on the hot path.
#[inline]
pub(crate) fn blocking(cmd: &Cmd) -> Option<Blocking> {
    let name = name_of(cmd)?;
    // Every blocking command starts with B, X or W: one comparison for all others.
    if !matches!(name.first(), Some(b'B' | b'b' | b'X' | b'x' | b'W' | b'w')) {
        return None;
    }
    blocking_slow(cmd, name)
}

#[cold]
fn blocking_slow(cmd: &Cmd, name: &[u8]) -> Option<Blocking> {
    /// Where each command puts its block time.
    enum At {
        Last,
        First,
        BlockOption,
        Connection,
    }
    const BLOCKING: &[(&str, At)] = &[
        ("BLPOP", At::Last),
        ("BRPOP", At::Last),
        ("BLMOVE", At::Last),
        ("BRPOPLPUSH", At::Last),
        ("BZPOPMIN", At::Last),
        ("BZPOPMAX", At::Last),
        ("BLMPOP", At::First),
        ("BZMPOP", At::First),
        ("XREAD", At::BlockOption),
        ("XREADGROUP", At::BlockOption),
        ("WAIT", At::Connection),
        ("WAITAOF", At::Connection),
    ];
    let (name, at) = BLOCKING.iter().find(|(n, _)| eq(name, n))?;
    let args: Vec<&[u8]> = args_of(cmd).skip(1).collect();
    let seconds = |arg: Option<&&[u8]>| Blocking::For(arg.and_then(|a| block_time(a, 1.0)));
    Some(match at {
        At::Last => seconds(args.last()),
        At::First => seconds(args.first()),
        At::BlockOption => {
            // Without BLOCK, XREAD is a plain read.
            let options = options_before_streams(&args);
            let at = options.iter().position(|a| eq(a, "BLOCK"))?;
            Blocking::For(options.get(at + 1).and_then(|a| block_time(a, 0.001)))
        }
        // WAIT numreplicas timeout, WAITAOF numlocal numreplicas timeout: milliseconds.
        At::Connection => {
            Blocking::ConnectionBound(name, args.last().and_then(|a| block_time(a, 0.001)))
        }
    })
}

/// A block time in `unit` seconds; `None` for 0 (wait forever) or anything that is not a
/// finite, non-negative number the server would accept as one.
fn block_time(arg: &[u8], unit: f64) -> Option<Duration> {
    let value: f64 = std::str::from_utf8(arg).ok()?.trim().parse().ok()?;
    if value == 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(value * unit).ok()
}

/// How `pipeline` blocks on the server: its block times add up; `None` when no command of
/// it blocks, or it is a transaction (the server does not block inside one).
pub(crate) fn pipeline_blocking(pipeline: &Pipeline) -> Option<Blocking> {
    let mut blocks = pipeline.cmd_iter().filter_map(blocking).peekable();
    blocks.peek()?;
    if is_transaction(pipeline) {
        return None;
    }
    let mut total = Some(Duration::ZERO);
    for block in blocks {
        match block {
            bound @ Blocking::ConnectionBound(..) => return Some(bound),
            Blocking::For(time) => total = total.zip(time).and_then(|(a, b)| a.checked_add(b)),
        }
    }
    Some(Blocking::For(total))
}

#[cfg(test)]
mod real_server;
#[cfg(test)]
mod tests {
    use super::*;

    fn cat(parts: &[&str]) -> CommandCategory {
        let mut cmd = redis::cmd(parts[0]);
        for p in &parts[1..] {
            cmd.arg(*p);
        }
        command_category(&cmd)
    }

    #[test]
    fn set_is_last_wins_unless_a_flag_makes_it_conditional_or_return_the_old_value() {
        assert_eq!(cat(&["set", "k", "v"]), LastWins);
        assert_eq!(cat(&["SET", "k", "v", "EX", "5"]), LastWins);
        assert_eq!(cat(&["SET", "k", "v", "KEEPTTL"]), LastWins);
        for flag in ["NX", "xx"] {
            assert_eq!(cat(&["SET", "k", "v", flag]), Checked, "{flag}");
        }
        for flag in ["IFEQ", "IFNE", "IFDEQ", "ifdne"] {
            assert_eq!(cat(&["SET", "k", "v", flag, "old"]), Checked, "{flag}");
        }
        assert_eq!(cat(&["SET", "k", "v", "GET"]), ReplyDiffers);
        assert_eq!(cat(&["SET", "k", "v", "NX", "GET"]), ReplyDiffers);
        assert_eq!(cat(&["SET", "k", "v", "XX", "GET"]), ReplyDiffers);
        // Keys, values and operands that read like options are not options.
        assert_eq!(cat(&["SET", "NX", "GET"]), LastWins);
        assert_eq!(cat(&["SET", "k", "v", "IFEQ", "GET"]), Checked);
        assert_eq!(cat(&["SET", "k", "v", "EX", "NX"]), LastWins);
    }

    #[test]
    fn expire_flags_and_times_decide() {
        assert_eq!(cat(&["EXPIRE", "k", "60"]), LastWins);
        assert_eq!(cat(&["EXPIRE", "k", "10"]), LastWins);
        assert_eq!(cat(&["PEXPIRE", "k", "60000"]), LastWins);
        // Short enough to expire before a replay.
        assert_eq!(cat(&["EXPIRE", "k", "9"]), ReplyDiffers);
        assert_eq!(cat(&["PEXPIRE", "k", "1"]), ReplyDiffers);
        assert_eq!(cat(&["EXPIRE", "k", "0"]), ReplyDiffers);
        assert_eq!(cat(&["EXPIRE", "k", "-1"]), ReplyDiffers);
        for flag in ["NX", "XX", "GT", "lt"] {
            assert_eq!(cat(&["EXPIRE", "k", "60", flag]), Checked, "{flag}");
            assert_eq!(cat(&["PEXPIREAT", "k", "1", flag]), Checked, "{flag}");
        }
        assert_eq!(cat(&["EXPIREAT", "k", "4102444800"]), ReplyDiffers);
        assert_eq!(cat(&["GETEX", "k", "EX", "5"]), LastWins);
        assert_eq!(cat(&["GETEX", "k", "EXAT", "5"]), ReplyDiffers);
        // A key named like a flag is not a flag.
        assert_eq!(cat(&["EXPIRE", "NX", "60"]), LastWins);
    }

    #[test]
    fn replies_that_count_or_return_old_values_differ_on_replay() {
        for parts in [
            &["SADD", "s", "a"][..],
            &["SREM", "s", "a"],
            &["HSET", "h", "f", "v"],
            &["HDEL", "h", "f"],
            &["ZREM", "z", "m"],
            &["ZADD", "z", "1", "m"],
            &["ZADD", "z", "CH", "1", "m"],
            &["PFADD", "p", "a"],
            &["PERSIST", "k"],
            &["DEL", "k"],
            &["UNLINK", "k"],
            &["GETSET", "k", "v"],
            &["GETDEL", "k"],
            &["LREM", "l", "0", "v"],
            &["BITFIELD", "b", "SET", "u8", "0", "1"],
        ] {
            assert_eq!(cat(parts), ReplyDiffers, "{parts:?}");
        }
    }

    #[test]
    fn counters_pushes_pops_and_increments_accumulate() {
        for parts in [
            &["INCR", "n"][..],
            &["incrby", "n", "2"],
            &["HINCRBY", "h", "f", "1"],
            &["ZINCRBY", "z", "1", "m"],
            &["ZADD", "z", "INCR", "1", "m"],
            &["ZADD", "z", "XX", "INCR", "1", "m"],
            &["LPUSH", "l", "v"],
            &["XADD", "s", "*", "f", "v"],
            &["LPOP", "l"],
            &["LREM", "l", "1", "v"],
            &["APPEND", "k", "v"],
            &["PUBLISH", "c", "m"],
            &["BITFIELD", "b", "INCRBY", "u8", "0", "1"],
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        ] {
            assert_eq!(cat(parts), Accumulating, "{parts:?}");
        }
    }

    #[test]
    fn conditional_writes_are_checked() {
        for parts in [
            &["SETNX", "k", "v"][..],
            &["HSETNX", "h", "f", "v"],
            &["MSETNX", "a", "1", "b", "2"],
            &["ZADD", "z", "NX", "1", "m"],
            &["ZADD", "z", "GT", "CH", "1", "m"],
            &["ZADD", "z", "NX", "INCR", "1", "m"],
            &["GEOADD", "g", "NX", "1", "2", "m"],
            &["RENAMENX", "a", "b"],
            &["COPY", "a", "b"],
            &["RESTORE", "k", "0", "payload"],
            &["XGROUP", "CREATE", "s", "g", "$"],
            &["FUNCTION", "LOAD", "#!lua name=x\n"],
        ] {
            assert_eq!(cat(parts), Checked, "{parts:?}");
        }
        assert_eq!(cat(&["COPY", "a", "b", "REPLACE"]), LastWins);
        assert_eq!(cat(&["FUNCTION", "LOAD", "REPLACE", "code"]), LastWins);
    }

    #[test]
    fn admin_commands_scripts_transactions_and_unknown_commands() {
        assert_eq!(cat(&["FLUSHALL"]), Admin);
        assert_eq!(cat(&["FLUSHDB", "ASYNC"]), Admin);
        assert_eq!(cat(&["CONFIG", "SET", "maxmemory", "1"]), Admin);
        assert_eq!(cat(&["config", "get", "maxmemory"]), ReadOnly);
        assert_eq!(cat(&["SCRIPT", "FLUSH"]), Admin);
        assert_eq!(cat(&["SCRIPT", "LOAD", "return 1"]), LastWins);
        assert_eq!(cat(&["CLIENT", "KILL", "ID", "1"]), Admin);
        assert_eq!(cat(&["CLIENT", "SETNAME", "x"]), Never);
        assert_eq!(cat(&["EVAL", "return 1", "0"]), Never);
        assert_eq!(cat(&["EVAL_RO", "return 1", "0"]), ReadOnly);
        assert_eq!(cat(&["MULTI"]), Never);
        assert_eq!(cat(&["JSON.SET", "k", "$", "1"]), Never);
        assert_eq!(command_category(&Cmd::new()), Never);
        assert_eq!(cat(&["XREAD", "STREAMS", "s", "0"]), ReadOnly);
        assert_eq!(cat(&["XREAD", "BLOCK", "10", "STREAMS", "s", "0"]), Never);
        // A stream named BLOCK is not the option.
        assert_eq!(cat(&["XREAD", "STREAMS", "BLOCK", "0"]), ReadOnly);
    }

    #[test]
    fn reads_are_read_only() {
        for parts in [
            &["GET", "k"][..],
            &["MGET", "a", "b"],
            &["HGETALL", "h"],
            &["ZRANGE", "z", "0", "-1"],
            &["SORT", "l"],
            &["SCAN", "0"],
            &["PING"],
            &["OBJECT", "ENCODING", "k"],
        ] {
            assert_eq!(cat(parts), ReadOnly, "{parts:?}");
        }
        assert_eq!(cat(&["SORT", "l", "STORE", "d"]), LastWins);
    }

    #[test]
    fn stores_into_a_source_and_trims_that_cut_again_accumulate() {
        assert_eq!(cat(&["LTRIM", "l", "0", "9"]), LastWins);
        assert_eq!(cat(&["LTRIM", "l", "0", "-1"]), LastWins);
        assert_eq!(cat(&["LTRIM", "l", "-3", "-1"]), LastWins);
        assert_eq!(cat(&["LTRIM", "l", "1", "-1"]), Accumulating);
        assert_eq!(cat(&["LTRIM", "l", "0", "-2"]), Accumulating);
        assert_eq!(cat(&["LTRIM", "l", "x", "-1"]), Accumulating);
        assert_eq!(cat(&["ZUNIONSTORE", "d", "2", "a", "b"]), LastWins);
        assert_eq!(cat(&["ZUNIONSTORE", "z", "2", "z", "b"]), Accumulating);
        assert_eq!(
            cat(&["ZINTERSTORE", "z", "2", "a", "z", "WEIGHTS", "1", "2"]),
            Accumulating
        );
        // A key after the counted ones (a WEIGHTS value, say) is not a source.
        assert_eq!(
            cat(&["ZINTERSTORE", "d", "1", "a", "WEIGHTS", "d"]),
            LastWins
        );
        assert_eq!(cat(&["ZUNIONSTORE", "d", "99", "a"]), Accumulating);
        assert_eq!(cat(&["ZRANGESTORE", "d", "z", "0", "-1"]), LastWins);
        assert_eq!(cat(&["ZRANGESTORE", "z", "z", "1", "-1"]), Accumulating);
        assert_eq!(cat(&["BITOP", "AND", "d", "a", "b"]), LastWins);
        assert_eq!(cat(&["BITOP", "NOT", "b", "b"]), Accumulating);
        assert_eq!(
            cat(&["SORT", "l", "LIMIT", "1", "10", "STORE", "l"]),
            Accumulating
        );
        assert_eq!(cat(&["SORT", "l", "STORE"]), Accumulating);
        assert_eq!(cat(&["ACL", "LOG"]), ReadOnly);
        assert_eq!(cat(&["ACL", "LOG", "RESET"]), Admin);
    }

    #[test]
    fn pipelines_take_their_most_hazardous_command_and_any_multi_makes_a_transaction() {
        let mut p = redis::pipe();
        p.get("a").set("b", 1);
        assert_eq!(pipeline_category(&p), LastWins);
        p.incr("n", 1);
        assert_eq!(pipeline_category(&p), Accumulating);
        let mut p = redis::pipe();
        p.cmd("MULTI").get("a").cmd("EXEC");
        assert!(is_transaction(&p));
        assert_eq!(pipeline_category(&p), Never);
        let mut p = redis::pipe();
        p.atomic().get("a");
        assert_eq!(pipeline_category(&p), Never);
        assert_eq!(pipeline_category(&redis::pipe()), ReadOnly);
    }

    fn blocks(parts: &[&str]) -> Option<Blocking> {
        let mut cmd = redis::cmd(parts[0]);
        for p in &parts[1..] {
            cmd.arg(*p);
        }
        blocking(&cmd)
    }

    #[test]
    fn block_times_are_read_where_each_command_puts_them() {
        let secs = |s: f64| Some(Blocking::For(Some(Duration::from_secs_f64(s))));
        assert_eq!(blocks(&["BLPOP", "a", "b", "3"]), secs(3.0));
        assert_eq!(blocks(&["brpop", "a", "0.5"]), secs(0.5));
        assert_eq!(
            blocks(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "2"]),
            secs(2.0)
        );
        assert_eq!(blocks(&["BRPOPLPUSH", "a", "b", "1"]), secs(1.0));
        assert_eq!(blocks(&["BZPOPMIN", "z", "1"]), secs(1.0));
        assert_eq!(blocks(&["BLMPOP", "4", "1", "l", "LEFT"]), secs(4.0));
        assert_eq!(blocks(&["BZMPOP", "4", "1", "z", "MIN"]), secs(4.0));
        assert_eq!(
            blocks(&["XREAD", "COUNT", "1", "BLOCK", "250", "STREAMS", "s", "$"]),
            secs(0.25)
        );
        assert_eq!(
            blocks(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "100",
                "STREAMS",
                "s",
                ">"
            ]),
            secs(0.1)
        );
        assert_eq!(blocks(&["BLPOP", "q", "0"]), Some(Blocking::For(None)));
        assert_eq!(
            blocks(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]),
            Some(Blocking::For(None))
        );
        // Nonsense block times: the server answers at once; no deadline of ours.
        for t in ["x", "-1", "inf", "nan", "1e400"] {
            assert_eq!(blocks(&["BLPOP", "q", t]), Some(Blocking::For(None)), "{t}");
        }
        assert_eq!(
            blocks(&["wait", "1", "100"]),
            Some(Blocking::ConnectionBound(
                "WAIT",
                Some(Duration::from_millis(100))
            ))
        );
        assert_eq!(
            blocks(&["WAIT", "1", "0"]),
            Some(Blocking::ConnectionBound("WAIT", None))
        );
        assert_eq!(
            blocks(&["WAITAOF", "1", "0", "100"]),
            Some(Blocking::ConnectionBound(
                "WAITAOF",
                Some(Duration::from_millis(100))
            ))
        );
        assert_eq!(blocks(&["XREAD", "STREAMS", "s", "0"]), None);
        assert_eq!(blocks(&["GET", "k"]), None);
        assert_eq!(blocks(&["BITCOUNT", "k"]), None);
        assert_eq!(blocking(&Cmd::new()), None);
    }

    #[test]
    fn a_pipeline_blocks_when_a_command_of_it_does_outside_a_transaction() {
        let mut p = redis::pipe();
        p.get("a")
            .cmd("BLPOP")
            .arg("q")
            .arg(1)
            .cmd("BRPOP")
            .arg("q")
            .arg(2);
        assert_eq!(
            pipeline_blocking(&p),
            Some(Blocking::For(Some(Duration::from_secs(3))))
        );
        p.cmd("BLPOP").arg("q").arg(0);
        assert_eq!(pipeline_blocking(&p), Some(Blocking::For(None)));
        p.cmd("WAIT").arg(1).arg(0);
        assert_eq!(
            pipeline_blocking(&p),
            Some(Blocking::ConnectionBound("WAIT", None))
        );
        p.atomic();
        assert_eq!(pipeline_blocking(&p), None);
        let mut p = redis::pipe();
        p.get("a");
        assert_eq!(pipeline_blocking(&p), None);
    }
}
